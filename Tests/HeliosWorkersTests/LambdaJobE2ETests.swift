import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import Testing
@testable import HeliosWorkers

/// A job dispatched to Lambda end to end on loopback: `helios job run --workers lambda:function@2` invoking two
/// Runtime Interface Emulators that run the real `helios-worker lambda`, with the spec and every chunk output going
/// through the store both sides share, then merged and verified frame-exact with `helios-synth verify`.
@Suite(.serialized) struct LambdaJobE2ETests {
    /// 60 frames in 12 uneven chunks, 1-frame chunks among them: H.264 (B-frames) + AAC from helios-synth.
    static let sizes = [1, 5, 9, 1, 2, 13, 1, 7, 3, 1, 8, 9]

    static func spec(id: String, failing: String? = nil, short: String? = nil, slow: String? = nil) -> JobSpec {
        var start = 0
        let chunks = sizes.enumerated().map { index, count -> RenderJobChunk in
            defer { start += count }
            let id = String(format: "c%02d", index)
            // With a slow chunk, the others take the spec's size and rate from the worker's environment.
            let command = id == failing ? "sh -c 'echo cannot load font Inter-Bold.ttf >&2; exit 1'"
                : slow != nil && id != slow
                ? "sh -c 'helios-synth render --start-frame \(start) --frame-count \(count) --size ${HELIOS_WIDTH}x${HELIOS_HEIGHT} --fps $HELIOS_FPS -o chunks/\(id).mp4'"
                : "helios-synth render --start-frame \(start) --frame-count \(id == short ? count - 1 : count) --size 160x96"
                    + (id == slow ? " --fps 25" : "") + " -o chunks/\(id).mp4"
            return RenderJobChunk(id: id, startFrame: start, frameCount: count, outputFile: "chunks/\(id).mp4", command: command)
        }
        return JobSpec(id: id, metadata: JobMetadata(totalFrames: 60, fps: 30, width: 160, height: 96), chunks: chunks)
    }

    /// Where chunks begin, for the verifier's audio-lag check at each boundary. Frame 1 (after the first, 1-frame
    /// chunk) is left out: the verifier's tone measurement needs more than 1,600 samples before a boundary.
    static var boundaries: String {
        var starts: [Int] = []
        var start = 0
        for size in sizes.dropLast() { start += size; starts.append(start) }
        return starts.filter { $0 > 1 }.map(String.init).joined(separator: ",")
    }

    struct Setup {
        let home: URL
        let environment: [String: String]
        let emulators: [LambdaEmulator]

        init(emulators count: Int, environment extra: [String: String] = [:]) async throws {
            home = try makeTemporaryDirectory()
            let products = builtProductsDirectory().path
            var env = ["HELIOS_HOME": home.path, "PATH": "\(products):/usr/bin:/bin",
                       "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "emulator-ignores-it", "AWS_REGION": "us-east-1"]
            env.merge(extra) { _, new in new }
            var emulators: [LambdaEmulator] = []
            for _ in 0..<count {
                emulators.append(try await LambdaEmulator(command: "\(products)/helios-worker", arguments: ["lambda"], environment: env))
            }
            self.emulators = emulators
            env["HELIOS_LAMBDA_ENDPOINTS"] = emulators.map { "http://127.0.0.1:\($0.port)" }.joined(separator: ",")
            environment = env
        }

        /// Invocations the emulators received.
        var invocations: Int { emulators.map { $0.output.components(separatedBy: "INVOKE START").count - 1 }.reduce(0, +) }

        func helios(_ arguments: [String], endpoints: String? = nil) async throws -> Shell.Result {
            var env = environment
            if let endpoints { env["HELIOS_LAMBDA_ENDPOINTS"] = endpoints }
            return try await runHelios(arguments, environment: env)
        }

        func write(_ spec: JobSpec) throws -> URL { try writeJobSpec(spec, under: home) }

        func stop() {
            emulators.forEach { $0.stop() }
            try? FileManager.default.removeItem(at: home)
        }
    }

    @Test("12 uneven chunks (1-frame ones among them) on two emulators: every chunk through the store, merged frame-exact with sample-exact audio")
    func twelveChunksOnTwoEmulators() async throws {
        let setup = try await Setup(emulators: 2)
        defer { setup.stop() }
        let specFile = try setup.write(Self.spec(id: "lambda12"))
        let run = try await setup.helios(["job", "run", specFile.path, "--workers", "lambda:function@2", "--audio", "exact", "--quiet"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(setup.emulators.map(\.output).joined())")
        #expect(setup.invocations == 12, "one invoke per chunk")
        // Every output is in the store under its attempt-1 key, and the spec beside them.
        let store = try LocalArtifactStore(root: setup.home.appendingPathComponent("artifacts"))
        #expect(try await store.exists(try ArtifactKey("helios-jobs/lambda12/spec.json")))
        for index in Self.sizes.indices {
            let id = String(format: "c%02d", index)
            #expect(try await store.exists(try ArtifactKey("helios-jobs/lambda12/chunks/\(id)/attempt-1/\(id).mp4")), "\(id)")
        }
        // The job store records each chunk's stored output: URI, bytes, SHA-256, attempt and where it ran.
        let status = try await setup.helios(["job", "status", "lambda12", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let outputs = try #require(json?["chunkOutputs"] as? [String: [String: Any]], "\(status.stdout)")
        #expect(outputs.count == 12)
        for (id, record) in outputs {
            let key = try ArtifactKey("helios-jobs/lambda12/chunks/\(id)/attempt-1/\(id).mp4")
            #expect(record["uri"] as? String == store.uri(for: key))
            #expect(record["sha256"] as? String == (try await store.metadata(key)).sha256)
            #expect(record["attempt"] as? Int == 1)
            #expect((record["worker"] as? String)?.hasPrefix("lambda:function@127.0.0.1:") == true)
        }
        let merged = specFile.deletingLastPathComponent().appendingPathComponent("lambda12.mp4")
        let verify = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                         ["verify", merged.path, "--expect-frames", "60", "--boundaries", Self.boundaries])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(try await Oracle.frameHashes(merged).count == 60)
    }

    @Test("the same job with S3 (a real SeaweedFS) as the store both sides use: spec and every chunk output in the bucket, merged frame-exact")
    func twelveChunksThroughS3() async throws {
        try await Self.runThroughS3(outage: [])
    }

    @Test("an S3 outage (503 SlowDown and connection resets on the first requests, worker and orchestrator alike) is retried and the job completes exactly")
    func s3OutageIsRetried() async throws {
        try await Self.runThroughS3(outage: [.slowDown, .reset, .internalError, .slowDown, .reset, .slowDown])
    }

    static func runThroughS3(outage: [FaultProxy.Fault]) async throws {
        let server = try await SeaweedFS.shared()
        let proxy = try FaultProxy(upstreamPort: server.s3Port)
        defer { proxy.stop() }
        let bucket = "helios-lambda-\(UUID().uuidString.prefix(8).lowercased())"
        let direct = ["AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_ACCESS_KEY_ID": SeaweedFS.accessKey,
                      "AWS_SECRET_ACCESS_KEY": SeaweedFS.secretKey, "AWS_REGION": SeaweedFS.region]
        let store = S3ArtifactStore(configuration: try S3Configuration.fromEnvironment(bucket: bucket, environment: direct))
        try await store.createBucket()
        proxy.plan(outage)
        let s3 = ["AWS_ENDPOINT_URL_S3": proxy.endpoint, "AWS_ACCESS_KEY_ID": SeaweedFS.accessKey,
                  "AWS_SECRET_ACCESS_KEY": SeaweedFS.secretKey, "AWS_REGION": SeaweedFS.region]
        let setup = try await Setup(emulators: 2, environment: s3)
        defer { setup.stop() }
        let specFile = try setup.write(Self.spec(id: "lambdas3"))
        let run = try await setup.helios(["job", "run", specFile.path, "--workers", "lambda:function@2", "--storage", "s3://\(bucket)/jobs",
                                          "--audio", "exact", "--quiet"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(setup.emulators.map(\.output).joined())")
        #expect(setup.invocations == 12)
        #expect(try await store.exists(try ArtifactKey("jobs/lambdas3/spec.json")))
        let status = try await setup.helios(["job", "status", "lambdas3", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let outputs = try #require(json?["chunkOutputs"] as? [String: [String: Any]], "\(status.stdout)")
        #expect(outputs.count == 12)
        for (id, record) in outputs {
            let key = try ArtifactKey("jobs/lambdas3/chunks/\(id)/attempt-1/\(id).mp4")
            #expect(record["uri"] as? String == "s3://\(bucket)/\(key.rawValue)")
            #expect(record["sha256"] as? String == (try await store.metadata(key)).sha256)
        }
        // The merge fetched the outputs from the bucket (nothing was downloaded into the job directory before it) and
        // published the merged file there, create-only, with a presigned URL to fetch it.
        #expect(!FileManager.default.fileExists(atPath: specFile.deletingLastPathComponent().appendingPathComponent("chunks/c00.mp4").path))
        let published = try ArtifactKey("jobs/lambdas3/output/lambdas3.mp4")
        #expect(run.stdout.contains("stored: s3://\(bucket)/\(published.rawValue)"), "\(run.stdout)")
        let url = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("url: ") }, "\(run.stdout)")
        #expect(url.contains("lambdas3/output/lambdas3.mp4?") && url.contains("X-Amz-Expires=3600"), "a presigned GET for an hour: \(url)")
        let merged = specFile.deletingLastPathComponent().appendingPathComponent("lambdas3.mp4")
        #expect(try await store.metadata(published).sha256 == (try await FileHash.sha256(of: merged)).sha256)
        let verify = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                         ["verify", merged.path, "--expect-frames", "60", "--boundaries", Self.boundaries])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(proxy.faultCount == outage.count, "every planned fault was served")
    }

    @Test("a chunk command that exits 1 fails the job naming the chunk and its stderr, and is not retried")
    func deterministicFailureIsNotRetried() async throws {
        let setup = try await Setup(emulators: 1)
        defer { setup.stop() }
        let specFile = try setup.write(Self.spec(id: "lambdafail", failing: "c03"))
        let run = try await setup.helios(["job", "run", specFile.path, "--workers", "lambda:function@1", "--quiet", "--retries", "3"])
        #expect(run.status != 0)
        let text = run.stdout + run.stderr
        #expect(text.contains("c03") && text.contains("cannot load font"), "\(text)")
        // c00-c02 rendered, c03 ran once and was not retried, nothing after it started (one invoke at a time).
        #expect(setup.invocations == 4, "\(setup.invocations) invocations")
        let store = try LocalArtifactStore(root: setup.home.appendingPathComponent("artifacts"))
        #expect(try await store.exists(try ArtifactKey("helios-jobs/lambdafail/chunks/c03/attempt-2/c03.mp4")) == false)
    }

    @Test("a worker whose command renders a frame too few fails the job naming the chunk and both counts, and is not retried")
    func shortChunkIsNotRetried() async throws {
        let setup = try await Setup(emulators: 1)
        defer { setup.stop() }
        let specFile = try setup.write(Self.spec(id: "lambdashort", short: "c02"))
        let run = try await setup.helios(["job", "run", specFile.path, "--workers", "lambda:function@1", "--quiet", "--retries", "3"])
        #expect(run.status != 0)
        let text = run.stdout + run.stderr
        let count = Self.sizes[2]
        #expect(text.contains("c02") && text.contains("holds \(count - 1) video frame") && text.contains("but chunk c02 is \(count) frame"), "\(text)")
        #expect(setup.invocations == 3, "\(setup.invocations) invocations")

        // The worker also compares the video's rate with the spec's: a chunk rendered at 25 fps in a 30 fps job
        // (c00, before it, renders at HELIOS_WIDTH x HELIOS_HEIGHT and HELIOS_FPS, which the worker sets).
        let slowFile = try setup.write(Self.spec(id: "lambdaslow", slow: "c01"))
        let slow = try await setup.helios(["job", "run", slowFile.path, "--workers", "lambda:function@1", "--quiet", "--retries", "3"])
        #expect(slow.status != 0)
        let slowText = slow.stdout + slow.stderr
        #expect(slowText.contains("c01") && slowText.contains("holds video at 25 fps") && slowText.contains("but the job is 30 fps"), "\(slowText)")
        #expect(setup.invocations == 5, "\(setup.invocations) invocations")
    }

    @Test("throttling (429) halves the invokes in flight instead of failing the job; the throttled chunks are retried and the job completes")
    func throttlingLowersConcurrency() async throws {
        let setup = try await Setup(emulators: 2)
        defer { setup.stop() }
        let proxy = try FaultProxy(upstreamPort: setup.emulators[0].port, faults: Array(repeating: .tooManyRequests, count: 3))
        defer { proxy.stop() }
        let spec = Self.spec(id: "lambda429")
        let jobDirectory = setup.home.appendingPathComponent("job")
        try FileManager.default.createDirectory(at: jobDirectory.appendingPathComponent("chunks"), withIntermediateDirectories: true)
        let store = try LocalArtifactStore(root: setup.home.appendingPathComponent("artifacts"))
        let credentials = StaticCredentialProvider(S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "x"))
        let invokers = InvokerPool([proxy.endpoint, "http://127.0.0.1:\(setup.emulators[1].port)"].map {
            AwsLambdaInvoker(functionName: "function", endpoint: URL(string: $0)!, region: "us-east-1", credentials: credentials)
        }, capacity: 1)
        let adapter = AwsLambdaAdapter(spec: spec, store: store, storePrefix: try ArtifactKey("helios-jobs"), invokers: invokers,
                                       maximumConcurrency: 2, invokeTimeout: .seconds(120))
        let executor = JobExecutor(worker: adapter, retryPolicy: RetryPolicy(maxAttempts: 6, initialBackoff: .milliseconds(50)), concurrency: 2)
        let completed = Counter()
        try await executor.runChunks(of: spec, in: jobDirectory, skipping: [], onEvent: { _ in }, onChunkCompleted: { _ in await completed.add() })
        #expect(await completed.value == 12)
        #expect(proxy.faultCount == 3)
        #expect(await adapter.gate.lowestLimit == 1, "429s lowered the limit from 2")
        #expect(setup.invocations == 12, "throttled invokes never reached a worker")
        // Retried chunks went to their next attempt's key; nothing was overwritten.
        let keys = try await collectKeys(store, prefix: "helios-jobs/lambda429/chunks")
        #expect(keys.filter { $0.hasSuffix(".mp4") }.count == 12)
        // The outputs stay in the store (the adapter only checks them there); each holds its chunk's frames.
        for index in Self.sizes.indices {
            let id = String(format: "c%02d", index)
            let key = try #require(keys.first { $0.hasPrefix("helios-jobs/lambda429/chunks/\(id)/") && $0.hasSuffix(".mp4") })
            let file = URL(fileURLWithPath: try #require(URL(string: store.uri(for: try ArtifactKey(key)))).path)
            #expect(try await Oracle.frameHashes(file).count == Self.sizes[index])
        }
        #expect(!FileManager.default.fileExists(atPath: jobDirectory.appendingPathComponent("chunks/c00.mp4").path), "nothing downloaded")
    }

    func collectKeys(_ store: LocalArtifactStore, prefix: String) async throws -> [String] {
        var keys: [String] = []
        for try await item in store.list(prefix: try ArtifactKey(prefix)) { keys.append(item.key.rawValue) }
        return keys
    }
}

actor Counter {
    var value = 0
    func add() { value += 1 }
}
