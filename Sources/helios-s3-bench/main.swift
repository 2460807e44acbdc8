// A benchmark-only driver for the S3 store (Benchmarks/s3.py): `helios-s3-bench put FILE s3://BUCKET/KEY`,
// `helios-s3-bench get s3://BUCKET/KEY FILE`, `helios-s3-bench mb s3://BUCKET`. Endpoint, region and credentials
// come from AWS's variables, as for the real CLI. Prints one JSON line with bytes and seconds; exit 1 on error.
import Foundation
import HeliosStorage

@main
struct S3Bench {
    static func main() async {
        let arguments = CommandLine.arguments.dropFirst().map { $0 }
        do {
            let start = Date()
            var bytes: Int64 = 0
            switch arguments.first {
            case "put" where arguments.count == 3:
                let (store, key) = try target(arguments[2])
                bytes = try await store.put(file: URL(fileURLWithPath: arguments[1]), to: key).size
            case "get" where arguments.count == 3:
                let (store, key) = try target(arguments[1])
                bytes = try await store.download(key, to: URL(fileURLWithPath: arguments[2])).size
            case "mb" where arguments.count == 2:
                let bucket = String(arguments[1].dropFirst("s3://".count))
                try await S3ArtifactStore(configuration: .fromEnvironment(bucket: bucket)).createBucket()
            default:
                FileHandle.standardError.write(Data("usage: helios-s3-bench put FILE s3://B/K | get s3://B/K FILE | mb s3://B\n".utf8))
                exit(2)
            }
            let seconds = Date().timeIntervalSince(start)
            print("{\"bytes\": \(bytes), \"seconds\": \(seconds)}")
        } catch {
            FileHandle.standardError.write(Data("helios-s3-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func target(_ uri: String) throws -> (S3ArtifactStore, ArtifactKey) {
        guard uri.hasPrefix("s3://"), let slash = uri.dropFirst(5).firstIndex(of: "/") else {
            throw StorageError(.invalidURI, "expected s3://bucket/key, got \(uri)")
        }
        let bucket = String(uri.dropFirst(5)[..<slash])
        let key = try ArtifactKey(String(uri[uri.index(after: slash)...]))
        var configuration = try S3Configuration.fromEnvironment(bucket: bucket)
        // Tuning knobs for the benchmark (MiB and parts in flight).
        let environment = ProcessInfo.processInfo.environment
        if let mib = environment["HELIOS_BENCH_PART_MIB"].flatMap(Int64.init) { configuration.partSize = mib << 20 }
        if let mib = environment["HELIOS_BENCH_THRESHOLD_MIB"].flatMap(Int64.init) { configuration.multipartThreshold = mib << 20 }
        if let parts = environment["HELIOS_BENCH_PARTS_IN_FLIGHT"].flatMap(Int.init) { configuration.maximumConcurrentParts = parts }
        return (S3ArtifactStore(configuration: configuration), key)
    }
}
