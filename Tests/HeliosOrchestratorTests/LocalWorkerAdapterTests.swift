import Foundation
import HeliosOrchestrator
import Testing

// The time limit turns a hang (a child that is never killed) into a failure instead of a blocked CI job.
@Suite("LocalWorkerAdapter runs real processes", .timeLimit(.minutes(6)))
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

    @Test("a script still open for writing (Text file busy) is launched once it is closed, not failed")
    func busyExecutableIsRetried() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let script = dir.url.appendingPathComponent("render.sh")
        try Data("#!/bin/sh\necho ran\n".utf8).write(to: script)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        // Open for writing, as in a child another thread forked while the script was being written.
        let writer = try FileHandle(forWritingTo: script)
        let release = Task {
            try await Task.sleep(for: .milliseconds(60))
            try writer.close()
        }
        let result = try await worker.execute(WorkerJob(jobId: "j", chunkId: "c", command: "./render.sh", workingDirectory: dir.url))
        try await release.value
        #expect(result.exitCode == 0)
        #expect(result.stdout == "ran\n")
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
        // The shell and its background child ignore SIGTERM (an ignored signal stays ignored across fork and exec)
        // and never end by themselves, so once they are gone they were SIGKILLed: the escalation after the grace period.
        //
        // The only race left is the command's start against the timeout: SIGTERM may arrive before the shell has
        // reached `trap`, and then it simply dies of SIGTERM without recording its pids. That proves nothing about the
        // escalation, so the attempt is repeated with a longer timeout until the command was seen ignoring SIGTERM.
        // Normally the first attempt (0.3 s) is it; the longer ones exist only for a badly starved machine.
        var checked = false
        for timeout in [Duration.milliseconds(300), .seconds(2), .seconds(10)] where !checked {
            try? FileManager.default.removeItem(atPath: dir.path("shell.pid"))
            try? FileManager.default.removeItem(atPath: dir.path("child.pid"))
            let job = WorkerJob(jobId: "j", chunkId: "slow",
                                command: "/bin/sh -c 'trap \"\" TERM; \(runForever) & echo $! > child.pid; echo $$ > shell.pid; wait'",
                                workingDirectory: dir.url, timeout: timeout)
            let error = try await #require(throws: OrchestratorError.self) { _ = try await worker.execute(job) }
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            #expect(error == .timedOut(chunkId: "slow", seconds: seconds))
            #expect(error.isRetryable)
            guard let shell = pid(in: dir.path("shell.pid")), let child = pid(in: dir.path("child.pid")) else { continue }
            checked = true
            defer { killSurvivors([shell, child]) }
            // The background child is reparented and reaped asynchronously, hence waiting (a hang guard, not a deadline).
            #expect(await waitUntil { !isProcessAlive(shell) }, "the SIGTERM-ignoring shell \(shell) survived the timeout")
            #expect(await waitUntil { !isProcessAlive(child) }, "the SIGTERM-ignoring background child \(child) survived the timeout")
        }
        #expect(checked, "the command never got as far as ignoring SIGTERM before its timeout")
    }

    @Test func cancellationKillsTheChildsProcessGroup() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let worker = self.worker
        let job = WorkerJob(jobId: "j", chunkId: "c", command: "/bin/sh -c '\(runForever) & echo $! > child.pid; echo $$ > shell.pid; wait'",
                            workingDirectory: dir.url)
        let task = Task { try await worker.execute(job) }
        // Both pids are recorded before cancelling: the whole group exists when the cancellation arrives.
        try #require(await waitUntil { pid(in: dir.path("shell.pid")) != nil && pid(in: dir.path("child.pid")) != nil })
        let shell = try #require(pid(in: dir.path("shell.pid"))), child = try #require(pid(in: dir.path("child.pid")))
        defer { killSurvivors([shell, child]) }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        // Neither process ends by itself, so gone means killed.
        #expect(await waitUntil { !isProcessAlive(shell) }, "shell \(shell) survived the cancellation")
        #expect(await waitUntil { !isProcessAlive(child) }, "background child \(child) survived the cancellation")
    }
}

final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}

@Suite("Local worker: descendants that leave the process group", .timeLimit(.minutes(6)))
struct LocalWorkerEscapeeTests {
    /// A grandchild that calls setsid (own session and group, empty environment) is not reached by the group's
    /// signals; a timeout still leaves nothing behind.
    @Test func aTimeoutKillsAGrandchildThatCalledSetsid() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let command = "/bin/sh -c '/usr/bin/env -i /usr/bin/setsid /bin/sh -c \"echo \\$\\$ > g.tmp; mv g.tmp g; exec /bin/sleep 100000\" & wait'"
        let adapter = LocalWorkerAdapter(killGracePeriod: .milliseconds(200))
        let job = WorkerJob(jobId: "j", chunkId: "c", command: command, workingDirectory: dir.url, timeout: .seconds(2))
        await #expect(throws: OrchestratorError.self) { _ = try await adapter.execute(job) }
        let grandchild = try #require(pid(in: dir.path("g")), "the grandchild never started")
        defer { killSurvivors([grandchild]) }
        #expect(await waitUntil(timeout: .seconds(10)) { !isProcessAlive(grandchild) }, "setsid grandchild \(grandchild) survived the timeout")
    }
}
