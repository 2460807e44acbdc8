import Foundation
import HeliosOrchestrator
import Testing

@Suite("LocalWorkerAdapter runs real processes")
struct LocalWorkerAdapterTests {
    let worker = LocalWorkerAdapter(killGracePeriod: .milliseconds(300))

    @Test func runsWithoutAShellInTheJobDirectoryWithMergedEnvironment() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let job = WorkerJob(jobId: "j", chunkId: "c", command: #"/bin/sh -c 'pwd; echo "$HELIOS_X/$HOME_SET"; echo err >&2; exit 7' *.mp4"#,
                            workingDirectory: dir.url, environment: ["HELIOS_X": "x y"])
        let result = try await worker.execute(job)
        #expect(result.exitCode == 7)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path } == dir.url.resolvingSymlinksInPath().path)
        #expect(lines.last == "x y/")
        #expect(result.stderr == "err\n")

        // No globbing or variable expansion: the arguments arrive literally.
        let literal = try await worker.execute(WorkerJob(jobId: "j", chunkId: "c", command: "/bin/echo *.mp4 $HOME '$(id)'", workingDirectory: dir.url))
        #expect(literal.stdout == "*.mp4 $HOME $(id)\n")

        // A relative executable path is found in the job directory.
        try Data("#!/bin/sh\necho script \"$1\"\n".utf8).write(to: dir.url.appendingPathComponent("render.sh"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path("render.sh"))
        #expect(try await worker.execute(WorkerJob(jobId: "j", chunkId: "c", command: "./render.sh 'a b'", workingDirectory: dir.url)).stdout == "script a b\n")
    }

    @Test func missingExecutableIsANonRetryableSpawnFailureNamingTheChunk() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let error = try await #require(throws: OrchestratorError.self) {
            _ = try await worker.execute(WorkerJob(jobId: "j", chunkId: "chunk-9", command: "/nonexistent/render --x", workingDirectory: dir.url))
        }
        guard case .spawnFailed(let chunk, _, _) = error else { Issue.record("\(error)"); return }
        #expect(chunk == "chunk-9")
        #expect(!error.isRetryable)
    }

    @Test func capturedOutputKeepsTheLast64KiBAndStreamsEverything() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let streamed = ByteCounter()
        // 200,000 bytes: 'a' x 199,990 then "0123456789".
        let job = WorkerJob(jobId: "j", chunkId: "c", command: "/bin/sh -c 'head -c 199990 /dev/zero | tr \"\\\\0\" a; printf 0123456789'",
                            workingDirectory: dir.url, onOutput: { kind, data in if kind == .stdout { streamed.add(data.count) } })
        let result = try await worker.execute(job)
        #expect(result.exitCode == 0)
        #expect(result.stdout.utf8.count == 64 * 1024)
        #expect(result.stdout.hasSuffix("aaa0123456789"))
        #expect(streamed.value == 200_000)
    }

    @Test func timeoutEscalatesToSIGKILLAndKillsTheWholeGroup() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // The shell and its background child ignore SIGTERM; only SIGKILL stops them.
        let job = WorkerJob(jobId: "j", chunkId: "slow", command: "/bin/sh -c 'trap \"\" TERM; sleep 30 & echo $! > child.pid; wait'",
                            workingDirectory: dir.url, timeout: .milliseconds(300))
        let start = ContinuousClock.now
        let error = try await #require(throws: OrchestratorError.self) { _ = try await worker.execute(job) }
        #expect(error == .timedOut(chunkId: "slow", seconds: 0.3))
        #expect(error.isRetryable)
        #expect(ContinuousClock.now - start < .seconds(3))
        let child = try #require(Int32(dir.read("child.pid")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(await waitUntil(timeout: .seconds(2)) { !isProcessAlive(child) })
    }

    @Test func cancellationKillsTheChildsProcessGroup() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let worker = self.worker
        let job = WorkerJob(jobId: "j", chunkId: "c", command: "/bin/sh -c 'sleep 30 & echo $! > child.pid; echo $$ > shell.pid; wait'",
                            workingDirectory: dir.url)
        let task = Task { try await worker.execute(job) }
        #expect(await waitUntil { dir.read("shell.pid") != nil && dir.read("child.pid") != nil })
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(ContinuousClock.now - start < .seconds(2))
        for file in ["shell.pid", "child.pid"] {
            let pid = try #require(Int32(dir.read(file)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
            #expect(await waitUntil(timeout: .seconds(2)) { !isProcessAlive(pid) }, "\(file) \(pid) survived")
        }
    }
}

final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}
