import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import Testing
@testable import HeliosWorkers

/// `helios-worker lambda` under AWS's Lambda Runtime Interface Emulator, invoked through `AwsLambdaInvoker`:
/// the real runtime API, the real worker binary, real chunk commands and a real local store.
@Suite(.serialized) struct LambdaWorkerTests {
    typealias Harness = LambdaHarness

    static func synthChunk(_ id: String, start: Int, count: Int) -> RenderJobChunk {
        LambdaHarness.synthChunk(id, start: start, count: count)
    }

    @Test("a chunk renders, is probed, and is uploaded create-only under its attempt's key; a second delivery of the same attempt is accepted only with identical bytes")
    func rendersAndUploadsCreateOnly() async throws {
        let chunk = Self.synthChunk("c1", start: 7, count: 1)
        let harness = try await Harness(chunks: [Self.synthChunk("c0", start: 0, count: 7), chunk])
        defer { harness.stop() }

        let response = try await harness.invoker.invoke(harness.request(chunk), timeout: .seconds(120))
        #expect(response.status == .succeeded, "\(response.error?.description ?? "") \(harness.emulator.output)")
        let output = try #require(response.output)
        let key = try ArtifactKey("renders/job1/chunks/c1/attempt-1/c1.mp4")
        #expect(output.uri == harness.store.uri(for: key))
        let stored = try await harness.store.metadata(key)
        #expect(stored.sha256 == output.sha256)
        #expect(stored.size == output.bytes)
        // An independent decoder sees exactly the chunk's one frame.
        let local = harness.home.appendingPathComponent("c1.mp4")
        _ = try await harness.store.download(key, to: local)
        #expect(try await Oracle.frameHashes(local).count == 1)

        // The same attempt delivered again renders the same bytes (helios-synth is deterministic): accepted, not rewritten.
        let again = try await harness.invoker.invoke(harness.request(chunk), timeout: .seconds(120))
        #expect(again.status == .succeeded)
        #expect(again.output?.sha256 == output.sha256)

        // Another object already at attempt 2's key is never overwritten.
        let attempt2 = try ArtifactKey("renders/job1/chunks/c1/attempt-2/c1.mp4")
        _ = try await harness.store.put(bytes: Array("late".utf8), to: attempt2)
        let late = try await harness.invoker.invoke(harness.request(chunk, attempt: 2), timeout: .seconds(120))
        #expect(late.status == .failed)
        #expect(late.error?.message.contains("not overwritten") == true, "\(String(describing: late.error))")
        #expect(try await harness.store.get(attempt2) == Array("late".utf8))
    }

    @Test("malformed requests get badRequest answers and the worker keeps serving")
    func badRequestsAreAnswered() async throws {
        let chunk = Self.synthChunk("c1", start: 0, count: 2)
        let harness = try await Harness(chunks: [chunk])
        defer { harness.stop() }
        var escaping = harness.request(chunk)
        escaping.chunk.outputFile = "../../etc/x.mp4"
        var unknownVersion = harness.request(chunk)
        unknownVersion.version = 7
        var ftp = harness.request(chunk)
        ftp.spec = .url("ftp://example.com/spec.json")
        var forged = harness.request(chunk)
        forged.chunk.command = "sh -c 'touch /tmp/pwned'"
        let cases: [(Data, String)] = [
            (Data("not json".utf8), "not JSON"),
            (Data("{\"version\":1}".utf8), "missing field"),
            (try JSONEncoder().encode(escaping), "escapes the workspace"),
            (try JSONEncoder().encode(unknownVersion), "unsupported protocol version 7"),
            (try JSONEncoder().encode(ftp), "unsupported scheme 'ftp'"),
            (try JSONEncoder().encode(forged), "only commands from the spec"),
        ]
        for (payload, expected) in cases {
            let response = try await harness.invoker.invoke(payload: payload, chunk: "case \(expected)", timeout: .seconds(60))
            #expect(response.status == .failed)
            #expect(response.error?.type == .badRequest, "\(expected): \(String(describing: response.error))")
            #expect(response.error?.message.contains(expected) == true, "\(String(describing: response.error?.message))")
        }
        // Still serving: a good request after all of them.
        #expect(try await harness.invoker.invoke(harness.request(chunk), timeout: .seconds(120)).status == .succeeded)
    }

    @Test("a command that exits 1 or crashes is a deterministic failure carrying its exit code and stderr tail, one killed from outside (SIGKILL, SIGTERM) a retryable one; an executable outside the allow-list is refused")
    func failuresAreTyped() async throws {
        let failing = RenderJobChunk(id: "bad", startFrame: 0, frameCount: 1, outputFile: "bad.mp4",
                                     command: "sh -c 'echo rendering failed: no such font >&2; exit 1'")
        let killed = [("KILL", 137), ("TERM", 143), ("SEGV", 139)].enumerated().map { k, signal in
            (RenderJobChunk(id: "sig\(signal.0)", startFrame: 2 + k, frameCount: 1, outputFile: "sig\(signal.0).mp4",
                            command: "sh -c 'echo about to die >&2; kill -\(signal.0) $$'"), Int32(signal.1), signal.0 != "SEGV")
        }
        let good = Self.synthChunk("ok", start: 1, count: 1)
        let harness = try await Harness(chunks: [failing, good] + killed.map(\.0), environment: ["HELIOS_WORKER_ALLOWED_COMMANDS": "helios-synth,sh"])
        defer { harness.stop() }
        let response = try await harness.invoker.invoke(harness.request(failing), timeout: .seconds(60))
        #expect(response.status == .failed)
        #expect(response.error?.type == .deterministic)
        #expect(response.exitCode == 1)
        #expect(response.stderrTail.contains("no such font"))
        #expect(try await harness.store.exists(try ArtifactKey("renders/job1/chunks/bad/attempt-1/bad.mp4")) == false)
        for (chunk, status, retryable) in killed {
            let answer = try await harness.invoker.invoke(harness.request(chunk), timeout: .seconds(60))
            #expect(answer.status == .failed)
            #expect(answer.exitCode == status, "\(chunk.id)")
            #expect(answer.error?.type == (retryable ? .retryable : .deterministic), "\(chunk.id): \(answer.error?.description ?? "")")
            #expect(answer.stderrTail.contains("about to die"))
            if retryable { #expect(answer.error?.message.contains("killed by SIG") == true) }
        }

        let strict = try await Harness(chunks: [failing], environment: ["HELIOS_WORKER_ALLOWED_COMMANDS": "helios-synth"])
        defer { strict.stop() }
        let refused = try await strict.invoker.invoke(strict.request(failing), timeout: .seconds(60))
        #expect(refused.error?.type == .badRequest)
        #expect(refused.error?.message.contains("HELIOS_WORKER_ALLOWED_COMMANDS") == true)
    }

    @Test("a worker that cannot work with its configuration fails its init (POST /runtime/init/error), and the invoke is a badRequest saying why, not a retry")
    func initErrorOnBadConfiguration() async throws {
        let chunk = LambdaHarness.synthChunk("c0", start: 0, count: 1)
        let harness = try await LambdaHarness(chunks: [chunk], environment: ["HELIOS_STORAGE": "s3://helios-renders/jobs"])
        defer { harness.stop() }
        do {
            let answer = try await harness.invoker.invoke(harness.request(chunk), timeout: .seconds(60))
            Issue.record("expected the init to fail, got \(answer)")
        } catch {
            #expect(error.failure.type == .badRequest, "\(error)")
            #expect(error.failure.message.contains("HELIOS_ALLOW_CLOUD_DEFAULT"), "\(error)")
        }
        #expect(harness.emulator.output.contains("HELIOS_ALLOW_CLOUD_DEFAULT"), "the worker logged why to stderr")
    }

    @Test("the worker stops a command before the function's deadline and answers a retryable timeout; a worker killed mid-chunk is a retryable failure")
    func deadlinesAndCrashes() async throws {
        let slow = RenderJobChunk(id: "slow", startFrame: 0, frameCount: 1, outputFile: "slow.mp4", command: "sleep 60")
        let harness = try await Harness(chunks: [slow], timeout: 6)
        defer { harness.stop() }
        let started = ContinuousClock.now
        let response = try await harness.invoker.invoke(harness.request(slow), timeout: .seconds(60))
        #expect(response.error?.type == .timeout, "\(String(describing: response.error))")
        #expect(response.error?.isRetryable == true)
        #expect(ContinuousClock.now - started < .seconds(30), "the sleep was stopped, not waited for")

        // The chunk command kills its worker (as an out-of-memory kill would): the emulator reports the runtime's exit.
        let killer = RenderJobChunk(id: "kill", startFrame: 0, frameCount: 1, outputFile: "k.mp4", command: "sh -c 'kill -9 $PPID; sleep 5'")
        let crashing = try await Harness(chunks: [killer])
        defer { crashing.stop() }
        do {
            let answer = try await crashing.invoker.invoke(crashing.request(killer), timeout: .seconds(60))
            Issue.record("expected a failure, got \(answer)")
        } catch {
            #expect(error.failure.type == .retryable, "\(error)")
        }
    }
}
