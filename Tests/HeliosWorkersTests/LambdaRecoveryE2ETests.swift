import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import Testing
@testable import HeliosWorkers

/// What happens to a Lambda job when things go wrong between the orchestrator and its workers: the runner killed
/// mid-job, an invoke cancelled, an attempt that lands after its timeout. Real emulators running the real worker,
/// the real `helios` binary, a real SeaweedFS, and a fault proxy counting what crosses the wire.
@Suite(.serialized) struct LambdaRecoveryE2ETests {
    typealias Setup = LambdaJobE2ETests.Setup

    @Test("kill -9 of helios job run while the 5th invoke's answer is on its way, then helios job resume: only the chunks without a recorded output are invoked, the interrupted one under the next attempt number, and the job merges frame-exact")
    func resumeAfterKillInvokesOnlyMissingChunks() async throws {
        let setup = try await Setup(emulators: 1)
        defer { setup.stop() }
        let proxy = try FaultProxy(upstreamPort: setup.emulators[0].port)
        defer { proxy.stop() }
        // The 5th invoke runs in the emulator (its chunk lands in the store) but its answer is held back, so the
        // runner is killed at a point known exactly, however slowly this machine schedules the test.
        proxy.holdAnswers(fromRequest: 5)
        let specFile = try setup.write(LambdaJobE2ETests.spec(id: "lambdakill"))
        let runner = try setup.start(["job", "run", specFile.path, "--workers", "lambda:function@1", "--audio", "exact", "--quiet"],
                                     endpoints: proxy.endpoint)
        try #require(await pollUntil { proxy.heldAnswerCount >= 1 || !runner.isRunning }, "the 5th invoke never finished")
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        try #require(runner.terminationReason == .uncaughtSignal, "helios was killed, it did not finish: \(setup.emulators[0].output)")
        let sentBeforeKill = proxy.requestCount
        #expect(sentBeforeKill == 5, "one invoke at a time: the 6th cannot start before the 5th is answered")
        proxy.releaseAnswers()

        let before = try await setup.chunkOutputs("lambdakill")
        #expect(before.count == 4, "\(before.count) recorded after \(sentBeforeKill) invokes, the 5th unanswered")
        let store = try LocalArtifactStore(root: setup.home.appendingPathComponent("artifacts"))
        // Chunks whose first attempt reached the store without being recorded (the one whose answer was held).
        var landedUnrecorded: [String] = []
        for index in LambdaJobE2ETests.sizes.indices {
            let id = String(format: "c%02d", index)
            if before[id] == nil, try await store.exists(try ArtifactKey("helios-jobs/lambdakill/chunks/\(id)/attempt-1/\(id).mp4")) {
                landedUnrecorded.append(id)
            }
        }
        #expect(landedUnrecorded.count == 1, "recorded \(before.keys.sorted()), landed unrecorded \(landedUnrecorded)")

        let resume = try await setup.helios(["job", "resume", "lambdakill", "--quiet"], endpoints: proxy.endpoint)
        #expect(resume.status == 0, "\(resume.stdout)\n\(resume.stderr)\n\(setup.emulators[0].output)")
        #expect(proxy.requestCount - sentBeforeKill == 12 - before.count, "the resume invoked exactly the chunks without a recorded output")
        let after = try await setup.chunkOutputs("lambdakill")
        #expect(after.count == 12)
        for (id, record) in before {
            #expect(after[id]?["uri"] as? String == record["uri"] as? String, "\(id): a recorded output is kept, not re-rendered")
        }
        // An attempt key already in the store is never reused: the interrupted chunk's retry is attempt 2.
        for id in landedUnrecorded {
            #expect(after[id]?["attempt"] as? Int == 2, "\(id): \(String(describing: after[id]))")
            #expect((after[id]?["uri"] as? String)?.hasSuffix("/chunks/\(id)/attempt-2/\(id).mp4") == true)
        }
        let merged = specFile.deletingLastPathComponent().appendingPathComponent("lambdakill.mp4")
        let verify = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                         ["verify", merged.path, "--expect-frames", "60", "--boundaries", LambdaJobE2ETests.boundaries])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test("cancelling a chunk mid-invoke closes its connection: the proxy in front of the emulator sees the caller hang up")
    func cancellationClosesTheConnection() async throws {
        let slow = RenderJobChunk(id: "slow", startFrame: 0, frameCount: 1, outputFile: "slow.mp4", command: "sleep 30")
        let harness = try await LambdaHarness(chunks: [slow])
        defer { harness.stop() }
        let proxy = try FaultProxy(upstreamPort: harness.emulator.port)
        defer { proxy.stop() }
        let invoker = AwsLambdaInvoker(functionName: "function", endpoint: URL(string: proxy.endpoint)!, region: "us-east-1",
                                       credentials: StaticCredentialProvider(S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "x")))
        let adapter = AwsLambdaAdapter(spec: harness.spec, store: harness.store, storePrefix: try ArtifactKey("renders"),
                                       invokers: InvokerPool([invoker], capacity: 1), maximumConcurrency: 1, invokeTimeout: .seconds(60))
        let job = WorkerJob(jobId: harness.spec.id, chunkId: "slow", command: slow.command, workingDirectory: harness.home)
        let invoke = Task { try await adapter.execute(job) }
        // The request reached the worker: its command is running.
        #expect(await pollUntil { harness.emulator.output.contains("INVOKE START") && proxy.activeCount == 1 })
        invoke.cancel()
        let result = await invoke.result
        #expect(throws: (any Error).self) { try result.get() }
        #expect(await pollUntil { proxy.abandonedCount == 1 }, "the invoke's connection was closed by the caller")
        #expect(proxy.requestCount == 1, "cancelled, not retried")
    }

    @Test("an attempt that lands after its timeout never replaces the accepted one: its upload held past the invoke's timeout, the retry is accepted and merged, the late object lands under its own attempt key")
    func lateAttemptNeverReplacesTheAcceptedOne() async throws {
        let server = try await SeaweedFS.shared()
        let s3proxy = try FaultProxy(upstreamPort: server.s3Port)
        defer { s3proxy.stop() }
        // Attempt 1's upload is held well past the orchestrator's wait for its invoke (--timeout 15: 15 + 5 s); the
        // timeout leaves attempt 2 room to finish on a loaded machine.
        s3proxy.hold(method: "PUT", pathContains: "/attempt-1/", seconds: 40)
        let bucket = "helios-late-\(UUID().uuidString.prefix(8).lowercased())"
        let direct = ["AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_ACCESS_KEY_ID": SeaweedFS.accessKey,
                      "AWS_SECRET_ACCESS_KEY": SeaweedFS.secretKey, "AWS_REGION": SeaweedFS.region]
        let store = S3ArtifactStore(configuration: try S3Configuration.fromEnvironment(bucket: bucket, environment: direct))
        try await store.createBucket()
        let setup = try await Setup(emulators: 2, environment: ["AWS_ENDPOINT_URL_S3": s3proxy.endpoint, "AWS_ACCESS_KEY_ID": SeaweedFS.accessKey,
                                                                "AWS_SECRET_ACCESS_KEY": SeaweedFS.secretKey, "AWS_REGION": SeaweedFS.region])
        defer { setup.stop() }
        var spec = LambdaJobE2ETests.spec(id: "lambdalate")
        spec.chunks = [RenderJobChunk(id: "c00", startFrame: 0, frameCount: 9, outputFile: "chunks/c00.mp4",
                                      command: "helios-synth render --start-frame 0 --frame-count 9 --size 160x96 -o chunks/c00.mp4")]
        spec.metadata = JobMetadata(totalFrames: 9, fps: 30, width: 160, height: 96)
        let specFile = try setup.write(spec)
        let run = try await setup.helios(["job", "run", specFile.path, "--workers", "lambda:function@1", "--storage", "s3://\(bucket)/jobs",
                                          "--timeout", "15", "--quiet"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(setup.emulators.map(\.output).joined())")
        let outputs = try await setup.chunkOutputs("lambdalate")
        let accepted = try ArtifactKey("jobs/lambdalate/chunks/c00/attempt-2/c00.mp4")
        #expect(outputs["c00"]?["attempt"] as? Int == 2, "\(outputs)")
        #expect(outputs["c00"]?["uri"] as? String == "s3://\(bucket)/\(accepted.rawValue)")
        let acceptedHash = try await store.metadata(accepted).sha256
        #expect(outputs["c00"]?["sha256"] as? String == acceptedHash)
        #expect(run.stdout.contains("stored: s3://\(bucket)/jobs/lambdalate/output/lambdalate.mp4"), "\(run.stdout)")

        // Attempt 1 finishes late: its upload is released after the job completed and lands under its own key.
        let late = try ArtifactKey("jobs/lambdalate/chunks/c00/attempt-1/c00.mp4")
        #expect(await pollUntil(timeout: .seconds(90)) { (try? await store.exists(late)) == true }, "\(setup.emulators.map(\.output).joined())")
        let final = try await setup.chunkOutputs("lambdalate")
        #expect(final["c00"]?["attempt"] as? Int == 2, "the record still names the accepted attempt")
        #expect(try await store.metadata(accepted).sha256 == acceptedHash, "the accepted object is unchanged")
        let merged = specFile.deletingLastPathComponent().appendingPathComponent("lambdalate.mp4")
        let verify = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                         ["verify", merged.path, "--expect-frames", "9"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

extension LambdaJobE2ETests.Setup {
    /// Starts `helios` in the background (to be killed); output goes to files in the home directory.
    func start(_ arguments: [String], endpoints: String) throws -> Process {
        var env = environment
        env["HELIOS_LAMBDA_ENDPOINTS"] = endpoints
        let process = Process()
        process.executableURL = builtProductsDirectory().appendingPathComponent("helios")
        process.arguments = arguments
        process.environment = env
        let log = home.appendingPathComponent("helios-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The job's recorded chunk outputs, from `helios job status --json`.
    func chunkOutputs(_ job: String) async throws -> [String: [String: Any]] {
        let status = try await helios(["job", "status", job, "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        return json?["chunkOutputs"] as? [String: [String: Any]] ?? [:]
    }
}
