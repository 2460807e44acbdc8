import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import Testing

/// One job over every kind of pool at once, on loopback: local processes, a Lambda Runtime Interface Emulator running
/// `helios-worker lambda`, and two `helios-worker serve` instances that verify every ID token (keys from the metadata
/// stand-in), one of them behind google_peer.py's front end (google-auth checks each token there too). All share a
/// real SeaweedFS bucket; `helios job run` with four `--workers` pools merges, and `helios-synth verify` checks the
/// result frame-exact.
@Suite(.serialized) struct DistributedE2ETests {
    /// 24 uneven chunks, 1-frame ones among them: 120 frames.
    static let sizes = [1, 5, 9, 1, 2, 13, 1, 7, 3, 1, 8, 9, 4, 6, 1, 3, 11, 2, 5, 1, 7, 4, 6, 10]
    static var totalFrames: Int { sizes.reduce(0, +) }

    /// Chunks that sleep `delay` seconds before rendering; with a `gate`, they first wait until that file exists, so a
    /// test can act on a chunk while it is surely still running, however slowly the machine schedules the test.
    static func spec(id: String, delay: Double = 0, gate: URL? = nil) -> JobSpec {
        var start = 0
        let chunks = sizes.enumerated().map { index, count -> RenderJobChunk in
            defer { start += count }
            let id = String(format: "c%02d", index)
            let render = "helios-synth render --start-frame \(start) --frame-count \(count) --size 160x96 -o chunks/\(id).mp4"
            return RenderJobChunk(id: id, startFrame: start, frameCount: count, outputFile: "chunks/\(id).mp4",
                                  command: gate.map { "sh -c 'until [ -e \($0.path) ]; do sleep 0.05; done; sleep \(delay) && exec \(render)'" }
                                      ?? (delay > 0 ? "sh -c 'sleep \(delay) && exec \(render)'" : render))
        }
        return JobSpec(id: id, metadata: JobMetadata(totalFrames: totalFrames, fps: 30, width: 160, height: 96), chunks: chunks)
    }

    static var boundaries: String {
        var starts: [Int] = []
        var start = 0
        for size in sizes.dropLast() { start += size; starts.append(start) }
        return starts.filter { $0 > 1 }.map(String.init).joined(separator: ",")
    }

    struct Cluster {
        let home: URL
        let bucket: String
        let store: S3ArtifactStore
        let metadata: GooglePeer
        let servers: [WorkerServerProcess]
        let front: GooglePeer
        let emulator: LambdaEmulator
        let environment: [String: String]
        /// The Cloud Run pools' URLs: the front (before server 0) and server 1 directly.
        var serviceURLs: [String] { [front.url, servers[1].url] }

        init(tokenLifetime: Int = 3600, serverArguments: [String] = []) async throws {
            home = try makeTemporaryDirectory()
            let seaweed = try await SeaweedFS.shared()
            bucket = "helios-mixed-\(UUID().uuidString.prefix(8).lowercased())"
            let s3 = ["AWS_ENDPOINT_URL_S3": seaweed.endpoint, "AWS_ACCESS_KEY_ID": SeaweedFS.accessKey,
                      "AWS_SECRET_ACCESS_KEY": SeaweedFS.secretKey, "AWS_REGION": SeaweedFS.region]
            store = S3ArtifactStore(configuration: try S3Configuration.fromEnvironment(bucket: bucket, environment: s3))
            try await store.createBucket()
            let products = builtProductsDirectory().path
            var env = s3.merging(["HELIOS_HOME": home.path, "PATH": "\(products):/usr/bin:/bin"]) { $1 }
            metadata = try await GooglePeer.metadata(lifetime: tokenLifetime)
            let ports = try loopbackPorts(2)
            front = try await GooglePeer.front(upstream: "http://127.0.0.1:\(ports[0])", audience: "", certsURL: metadata.pemCertsURL)
            var servers: [WorkerServerProcess] = []
            for (index, port) in ports.enumerated() {
                let audience = index == 0 ? front.url : "http://127.0.0.1:\(port)"
                servers.append(try await WorkerServerProcess(
                    command: "\(products)/helios-worker",
                    arguments: ["serve", "--verify-id-token", "--audience", audience, "--certs-url", metadata.jwksURL] + serverArguments,
                    environment: env, port: port))
            }
            self.servers = servers
            emulator = try await LambdaEmulator(command: "\(products)/helios-worker", arguments: ["lambda"], environment: env)
            env["HELIOS_LAMBDA_ENDPOINTS"] = "http://127.0.0.1:\(emulator.port)"
            env["GCE_METADATA_HOST"] = metadata.host
            environment = env
        }

        var workers: [String] {
            ["--workers", "local@2", "--workers", "lambda:function@1"] + serviceURLs.flatMap { ["--workers", "cloudrun:\($0)@1"] }
        }

        func helios(_ arguments: [String]) async throws -> Shell.Result {
            try await runHelios(arguments, environment: environment)
        }

        func write(_ spec: JobSpec) throws -> URL { try writeJobSpec(spec, under: home) }

        func keys(under prefix: String) async throws -> [String] {
            var keys: [String] = []
            for try await item in store.list(prefix: try ArtifactKey(prefix), recursive: true) { keys.append(item.key.rawValue) }
            return keys.sorted()
        }

        /// The merged output is frame-exact, every recorded output is the object in the bucket (size and SHA-256
        /// from a HEAD) at its attempt's key, and every object under the chunks is some chunk's whole output.
        func verify(jobId: String, specFile: URL) async throws -> [String: [String: Any]] {
            let merged = specFile.deletingLastPathComponent().appendingPathComponent("\(jobId).mp4")
            let verify = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                             ["verify", merged.path, "--expect-frames", String(DistributedE2ETests.totalFrames),
                                              "--boundaries", DistributedE2ETests.boundaries])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            #expect(try await Oracle.frameHashes(merged).count == DistributedE2ETests.totalFrames)
            let status = try await helios(["job", "status", jobId, "--json"])
            let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            let outputs = json?["chunkOutputs"] as? [String: [String: Any]] ?? [:]
            for (id, record) in outputs where !((record["worker"] as? String) ?? "local").hasPrefix("local") {
                let attempt = record["attempt"] as? Int ?? 0
                let key = try ArtifactKey("jobs/\(jobId)/chunks/\(id)/attempt-\(attempt)/\(id).mp4")
                #expect(record["uri"] as? String == "s3://\(bucket)/\(key.rawValue)")
                let stored = try await store.metadata(key)
                #expect(record["sha256"] as? String == stored.sha256, "\(id)")
                #expect(record["bytes"] as? Int64 == stored.size || record["bytes"] as? Int == Int(stored.size), "\(id)")
            }
            // No torn objects: everything stored under the chunks decodes to exactly its chunk's frames.
            for key in try await keys(under: "jobs/\(jobId)/chunks") where key.hasSuffix(".mp4") {
                let id = String(key.split(separator: "/")[3])
                let local = home.appendingPathComponent("check-\(UUID().uuidString).mp4")
                _ = try await store.download(try ArtifactKey(key), to: local)
                let frames = try await Oracle.frameHashes(local).count
                #expect(frames == DistributedE2ETests.sizes[Int(id.dropFirst())!], "\(key): \(frames) frames")
            }
            return outputs
        }

        func stop() {
            servers.forEach { $0.stop() }
            front.stop()
            metadata.stop()
            emulator.stop()
            try? FileManager.default.removeItem(at: home)
        }
    }

    @Test("24 uneven chunks over local, Lambda and two Cloud Run servers: 503s from the front are resent, tokens that expire mid-job are refreshed, every token checked by google-auth and our server, merged frame-exact")
    func mixedPoolsWithFaults() async throws {
        // Tokens live 302 s: cached only until 5 minutes before expiry, so each is renewed about every 2 s of the job.
        let cluster = try await Cluster(tokenLifetime: 302)
        defer { cluster.stop() }
        try await cluster.front.control(["fail": 3, "status": 503])
        let specFile = try cluster.write(Self.spec(id: "mixed24", delay: 0.5))
        let run = try await cluster.helios(["job", "run", specFile.path] + cluster.workers
                                           + ["--storage", "s3://\(cluster.bucket)/jobs", "--audio", "exact", "--quiet"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(cluster.servers.map(\.output).joined())")
        let outputs = try await cluster.verify(jobId: "mixed24", specFile: specFile)

        // Every pool rendered some chunks, and status says which.
        let workers = Set(outputs.values.compactMap { $0["worker"] as? String })
        #expect(workers.contains { $0.hasPrefix("lambda:function") }, "\(workers)")
        #expect(workers.contains("cloudrun:127.0.0.1:\(cluster.front.port)"), "\(workers)")
        #expect(workers.contains("cloudrun:127.0.0.1:\(cluster.servers[1].port)"), "\(workers)")
        let text = try await cluster.helios(["job", "status", "mixed24"])
        #expect(text.stdout.contains("chunks by worker:"), "\(text.stdout)")
        #expect(text.stdout.contains("local"), "local chunks are counted: \(text.stdout)")

        // The front served its three 503s; every token it saw was valid for it (google-auth), none was refused.
        let front = try await cluster.front.log()
        #expect(front.filter { $0["event"] as? String == "fault" }.count == 3)
        let tokens = front.filter { $0["event"] as? String == "token" }
        #expect(!tokens.isEmpty && tokens.allSatisfy { $0["valid"] as? Bool == true }, "\(tokens)")
        // Tokens were renewed as they neared expiry: more identity requests than audiences.
        let identity = try await cluster.metadata.log().filter { $0["event"] as? String == "identity" }
        #expect(identity.count > 2, "\(identity.count) identity requests")
        // Our servers refused nothing either.
        for server in cluster.servers { #expect(!server.logLines.contains { $0["message"] as? String == "unauthorized" }) }
    }

    @Test("kill -9 of one server and SIGTERM of the other mid-chunk: their chunks are retried elsewhere, nothing torn or duplicated, merged frame-exact")
    func serversDieMidChunk() async throws {
        let cluster = try await Cluster(serverArguments: ["--shutdown-grace", "0.2"])
        defer { cluster.stop() }
        // Every chunk waits for the gate, opened once both servers have been stopped mid-chunk.
        let gate = cluster.home.appendingPathComponent("gate")
        let specFile = try cluster.write(Self.spec(id: "mixedfault", delay: 0.2, gate: gate))
        let run = Task { try await cluster.helios(["job", "run", specFile.path] + cluster.workers
                                                  + ["--storage", "s3://\(cluster.bucket)/jobs", "--retries", "6", "--audio", "exact", "--quiet"]) }
        // Once each server holds a chunk: SIGKILL the first (behind the front), SIGTERM the second.
        try await waitUntil { (try? await busyCount(cluster.servers[0])) == 1 }
        cluster.servers[0].kill9()
        try await waitUntil { (try? await busyCount(cluster.servers[1])) == 1 }
        cluster.servers[1].signal(SIGTERM)
        #expect(await cluster.servers[1].waitForExit() == 0, "graceful exit after SIGTERM")
        try Data().write(to: gate)
        let result = try await run.value
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let stopped = cluster.servers[1].logLines.filter { $0["message"] as? String == "chunk" && $0["stopped"] as? String == "true" }
        #expect(stopped.count == 1, "the SIGTERMed chunk was stopped and answered retryable")
        let outputs = try await cluster.verify(jobId: "mixedfault", specFile: specFile)
        #expect(outputs.count <= Self.sizes.count)
        // No duplicates: one accepted record per chunk, and no chunk has two stored outputs.
        let stored = try await cluster.keys(under: "jobs/mixedfault/chunks").filter { $0.hasSuffix(".mp4") }
        let perChunk = Dictionary(grouping: stored) { $0.split(separator: "/")[3] }
        #expect(perChunk.values.allSatisfy { $0.count == 1 }, "\(perChunk.filter { $0.value.count > 1 })")
        let status = try await cluster.helios(["job", "status", "mixedfault", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let metrics = (json?["metrics"] as? [String: Any])?["chunks"] as? [String: [String: Any]] ?? [:]
        let retried = metrics.filter { ($0.value["attempts"] as? Int ?? 1) > 1 }
        #expect(retried.count >= 2, "the two interrupted chunks were retried: \(metrics)")
    }
}
