import Foundation
import HeliosStorage
import HeliosTestSupport

/// Stores on the shared SeaweedFS, one fresh bucket per test.
enum S3Fixture {
    static func bucketName(_ label: String) -> String {
        "helios-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A store on `endpoint` (default: the server itself; pass a proxy's to go through it).
    static func store(server: SeaweedFS, bucket: String, endpoint: String? = nil, secret: String = SeaweedFS.secretKey,
                      threshold: Int64 = 5 << 20, partSize: Int64 = 5 << 20, concurrency: Int = 4,
                      retry: S3RetryPolicy = S3RetryPolicy(maximumAttempts: 5, baseDelay: 0.02, maximumDelay: 0.2),
                      prefix: String? = nil, now: @escaping @Sendable () -> Date = { Date() }) throws -> S3ArtifactStore {
        let configuration = S3Configuration(
            bucket: bucket, prefix: prefix, endpoint: try S3Endpoint(url: endpoint ?? server.endpoint, addressing: .path),
            region: SeaweedFS.region,
            credentials: StaticCredentialProvider(S3Credentials(accessKeyID: SeaweedFS.accessKey, secretAccessKey: secret)),
            multipartThreshold: threshold, partSize: partSize, maximumConcurrentParts: concurrency, retry: retry)
        return S3ArtifactStore(configuration: configuration, now: now)
    }

    /// A store on a new bucket.
    static func freshStore(_ label: String, threshold: Int64 = 5 << 20, concurrency: Int = 4) async throws
        -> (SeaweedFS, S3ArtifactStore) {
        let server = try await SeaweedFS.shared()
        let store = try store(server: server, bucket: bucketName(label), threshold: threshold, concurrency: concurrency)
        try await store.createBucket()
        return (server, store)
    }

    /// A file of `size` pseudo-random bytes (seeded, so failures reproduce).
    static func randomFile(_ directory: URL, size: Int, seed: UInt64 = 42) throws -> URL {
        let url = directory.appendingPathComponent("random-\(size).bin")
        var state = seed &+ UInt64(size)
        var bytes = [UInt8](repeating: 0, count: size)
        var index = 0
        while index < size {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var word = state
            for _ in 0..<8 where index < size {
                bytes[index] = UInt8(truncatingIfNeeded: word >> 56)
                word <<= 8
                index += 1
            }
        }
        try Data(bytes).write(to: url)
        return url
    }

    /// A sparse file of `size` bytes with a distinct marker at every MiB, so misplaced parts are caught without
    /// writing the whole file.
    static func sparseMarkedFile(_ directory: URL, size: Int64) throws -> URL {
        let url = directory.appendingPathComponent("sparse-\(size).bin")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var offset: Int64 = 0
        while offset < size {
            let marker = Array("<mib \(offset >> 20)>".utf8)
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: marker.prefix(Int(size - offset)))
            offset += 1 << 20
        }
        try handle.truncate(atOffset: UInt64(size))
        return url
    }

    /// `sha256sum`, the independent oracle for file hashes.
    static func sha256sum(_ url: URL) async throws -> String {
        let result = try await Shell.run("sha256sum", [url.path])
        return String(result.stdout.prefix(64))
    }
}
