import Foundation
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

// The time limit turns a hang (a process never killed, a gate never opened) into a failure instead of a blocked CI job.
@Suite("JobManager and JobExecutor with real processes", .timeLimit(.minutes(6)))
struct JobExecutionTests {
    @Test func concurrencyLimitIsNeverExceededAndOutputsMergeInOrder() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try SQLiteJobRepository(path: dir.path("store/jobs.sqlite")))
        // Every chunk records that it started, then blocks until the gate opens: the first three are then in flight
        // together however slowly they were started, so the peak is exactly the limit rather than "3 if the machine
        // was quick enough that no chunk ended before the third began".
        try FileManager.default.createDirectory(atPath: dir.path("started"), withIntermediateDirectories: true)
        let spec = makeSpec(id: "limit", chunks: 12) { i in "/bin/sh -c 'touch started/\(i); \(waitForFile("go")); printf \(i), > out/c\(i).bin'" }
        try await manager.submit(spec, jobDirectory: dir.url)
        let counter = InFlightCounter(LocalWorkerAdapter())
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self)
        let collected = Task { await events.reduce(into: [JobEvent]()) { $0.append($1) } }
        let run = Task { try await manager.run("limit", options: testOptions(concurrency: 3, worker: counter), events: continuation) }
        #expect(await waitUntil { (try? FileManager.default.contentsOfDirectory(atPath: dir.path("started")).count) == 3 })
        try openGate("go", in: dir)
        let status = try await run.value
        let all = await collected.value

        #expect(status.state == .completed)
        #expect(counter.peak == 3)
        #expect(counter.total == 12)
        #expect(dir.read("limit.bin") == (0..<12).map { "\($0)," }.joined())
        #expect(status.result?.merge?.bytes == Int64(dir.read("limit.bin")?.utf8.count ?? -1))
        #expect(status.completedChunkIds.count == 12 && status.progress == 1)
        #expect(all.filter { if case .chunkCompleted = $0 { true } else { false } }.count == 12)
        #expect(all.contains(.progress(done: 12, total: 12)))
        #expect(all.contains(.merging(chunks: 12)))
        #expect(all.last.map { if case .completed = $0 { true } else { false } } == true)
        // The stored record is the final one.
        let stored = try await manager.repository.load("limit")
        #expect(stored.state == .completed && stored.completedChunkIds == status.completedChunkIds && stored.result == status.result)
    }

    @Test func retriesWithExponentialFullJitterBackoffThenSucceeds() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        // Fails twice (exit 3, "boom"), succeeds on the third attempt.
        let flaky = "/bin/sh -c 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; if [ $n -ge 3 ]; then printf ok > out/c0.bin; else echo boom >&2; exit 3; fi'"
        try await manager.submit(makeSpec(id: "flaky", chunks: 1) { _ in flaky }, jobDirectory: dir.url)
        let clock = RecordingClock()
        let policy = RetryPolicy(maxAttempts: 5, initialBackoff: .seconds(1), maximumBackoff: .seconds(10), jitter: { 0.5 })
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self)
        let collected = Task { await events.reduce(into: [JobEvent]()) { $0.append($1) } }
        let status = try await manager.run("flaky", options: testOptions(retry: policy, clock: clock), events: continuation)
        #expect(status.state == .completed)
        #expect(status.metrics.chunks["c0"]?.attempts == 3)
        #expect(await clock.sleeps == [.milliseconds(500), .seconds(1)])
        let retries = await collected.value.compactMap { event -> Int? in
            if case .chunkRetrying(let chunk, let attempt, let error, _) = event, chunk == "c0", error.contains("boom") { return attempt }
            return nil
        }
        #expect(retries == [1, 2])
    }

    @Test func backoffCeilingDoublesUpToTheMaximum() {
        let policy = RetryPolicy(maxAttempts: 10, initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(700), jitter: { 1 })
        #expect((1...5).map { policy.delay(afterFailures: $0) } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(700), .milliseconds(700)])
        let zero = RetryPolicy(jitter: { 0 })
        #expect(zero.delay(afterFailures: 3) == .zero)
        #expect(!policy.isRetryable(CancellationError()))
        #expect(!policy.isRetryable(OrchestratorError.commandFailed(chunkId: "c", exitCode: 127, stderrTail: "")))
        #expect(policy.isRetryable(OrchestratorError.commandFailed(chunkId: "c", exitCode: 1, stderrTail: "")))
    }

    @Test func permanentFailureCancelsRunningChunksAndNamesTheChunkWithItsStderr() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        // Chunk 2 fails only once chunks 0 and 1 have both started their never-ending children (a pid file is non-empty
        // once written: echo writes it in one call), so the failure always has running chunks to cancel.
        let spec = makeSpec(id: "doomed", chunks: 3) { i in
            i == 2 ? "/bin/sh -c 'while [ ! -s pids/0 ] || [ ! -s pids/1 ]; do sleep 0.02; done; echo render exploded at frame 2 >&2; exit 4'"
                   : "/bin/sh -c '\(runForever) & echo $! > pids/\(i); wait'"
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        let clock = RecordingClock()
        let status = try await manager.run("doomed", options: testOptions(concurrency: 3, retry: RetryPolicy(maxAttempts: 2, jitter: { 1 }), clock: clock))
        let children = pids(in: dir.path("pids"))
        defer { killSurvivors(children) }
        #expect(status.state == .failed)
        let error = try #require(status.error)
        #expect(error.contains("chunk 'c2' failed after 2 attempts"))
        #expect(error.contains("render exploded at frame 2"))
        #expect(await clock.sleeps == [.milliseconds(500)])
        #expect(status.completedChunkIds.isEmpty)
        // run() returning at all shows the other chunks were stopped (they never end by themselves); their children
        // being gone shows their whole process groups were killed.
        #expect(children.count == 2)
        for pid in children { #expect(await waitUntil { !isProcessAlive(pid) }, "chunk child \(pid) survived") }
    }

    @Test func nonRetryableExitAndTimeoutsAreHandled() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(makeSpec(id: "notfound", chunks: 1) { _ in "/bin/sh -c 'exit 127'" }, jobDirectory: dir.url)
        let clock = RecordingClock()
        let failed = try await manager.run("notfound", options: testOptions(retry: RetryPolicy(maxAttempts: 5), clock: clock))
        #expect(failed.state == .failed)
        #expect(failed.error?.contains("after 1 attempt") == true)
        #expect(await clock.sleeps.isEmpty)

        // Each attempt records its pid (then becomes a sleep that never ends by itself) in its own file.
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        try await manager.submit(makeSpec(id: "hang", chunks: 1) { _ in "/bin/sh -c 'echo $$ > pids/$$; exec \(runForever)'" }, jobDirectory: dir.url)
        let hung = try await manager.run("hang", options: testOptions(retry: RetryPolicy(maxAttempts: 2, jitter: { 0 }), timeout: .milliseconds(200)))
        let attempts = pids(in: dir.path("pids"))
        defer { killSurvivors(attempts) }
        #expect(hung.state == .failed)
        #expect(hung.error?.contains("chunk 'c0'") == true)
        #expect(hung.error?.contains("timed out after 0.2 s") == true)
        #expect(hung.error?.contains("after 2 attempts") == true)
        // An attempt killed before it wrote its pid leaves nothing to check; every recorded one must be dead.
        for pid in attempts { #expect(await waitUntil { !isProcessAlive(pid) }, "timed-out attempt \(pid) survived") }
    }

    @Test func missingOrEmptyOutputDoesNotCountAsDone() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(makeSpec(id: "empty", chunks: 1) { _ in "/usr/bin/touch out/c0.bin" }, jobDirectory: dir.url)
        let status = try await manager.run("empty", options: testOptions())
        #expect(status.state == .failed)
        #expect(status.completedChunkIds.isEmpty)
        #expect(status.error?.contains("output \(dir.path("out/c0.bin")) is empty") == true)
    }

    /// How soon the runner notices the request is `RunOptions.controlPollInterval` (50 ms in these tests): a latency,
    /// which belongs in a benchmark. The test checks what the request does, not how fast.
    @Test func cancelRequestedThroughTheRepositoryStopsTheJobAndItsChildren() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let store = dir.path("store/jobs.sqlite")
        let manager = JobManager(repository: try SQLiteJobRepository(path: store))
        try await manager.submit(makeSpec(id: "long", chunks: 6) { i in "/bin/sh -c '\(runForever) & echo $! > pids/\(i); wait'" }, jobDirectory: dir.url)
        let run = Task { try await manager.run("long", options: testOptions(concurrency: 3)) }
        try #require(await waitUntil { pids(in: dir.path("pids")).count == 3 })
        let children = pids(in: dir.path("pids"))
        defer { killSurvivors(children) }
        // Another "process": a second manager on the same database.
        let other = JobManager(repository: try SQLiteJobRepository(path: store))
        #expect(try await other.get("long").state == .running)
        try await other.cancel("long")
        // The chunks never end by themselves, so run() returning at all means the request was observed and acted on.
        let status = try await run.value
        #expect(status.state == .cancelled)
        #expect(status.completedChunkIds.isEmpty)
        #expect(pids(in: dir.path("pids")).count == 3, "no chunk beyond the first three was started")
        for pid in children { #expect(await waitUntil { !isProcessAlive(pid) }, "chunk child \(pid) survived the cancel") }
        #expect(try await other.get("long").state == .cancelled)
        await #expect(throws: OrchestratorError.invalidState(id: "long", state: .cancelled, action: "run")) { _ = try await manager.run("long") }
    }

    /// A cancel that finds the runner's lease expired (its heartbeat late: the runner was suspended, the machine
    /// overloaded) stops the job itself and kills its chunks. The runner then ends cancelled, as the request says,
    /// instead of reporting that another runner took the job over.
    @Test func cancelWhileTheRunnersLeaseHasExpiredEndsTheRunCancelled() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let store = dir.path("store/jobs.sqlite")
        let manager = JobManager(repository: try SQLiteJobRepository(path: store))
        try await manager.submit(makeSpec(id: "late", chunks: 4) { i in "/bin/sh -c '\(runForever) & echo $! > pids/\(i); wait'" }, jobDirectory: dir.url)
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self)
        let collected = Task { await events.reduce(into: [JobEvent]()) { $0.append($1) } }
        let run = Task { try await manager.run("late", options: testOptions(concurrency: 2), events: continuation) }
        try #require(await waitUntil { pids(in: dir.path("pids")).count == 2 })
        let children = pids(in: dir.path("pids"))
        defer { killSurvivors(children) }
        // Another process whose clock reads an hour later: for it the runner's 30-second lease has expired.
        let other = JobManager(repository: try SQLiteJobRepository(path: store), now: { Date() + 3600 })
        #expect(try await other.cancel("late").state == .cancelled)
        let status = try await run.value
        #expect(status.state == .cancelled && status.lease == nil)
        #expect(status.error == "cancelled by request")
        for pid in children { #expect(await waitUntil { !isProcessAlive(pid) }, "chunk child \(pid) survived the cancel") }
        #expect(await collected.value.last == .cancelled)
        #expect(try await other.get("late").state == .cancelled)
    }

    /// The runner keeps which chunks completed, not their details (those are in the store until its last write): a
    /// running job's status still shows each completed chunk's output, timings and log, and the final status, as
    /// returned and as stored, has every chunk's.
    @Test(arguments: StoreKind.allCases)
    func runningStatusShowsCompletedChunksDetailsFromTheStore(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repository = try kind.make(dir)
        let manager = JobManager(repository: repository)
        let spec = makeSpec(id: "details", chunks: 3) { i in
            "/bin/sh -c '" + (i == 2 ? "\(waitForFile("go")); " : "") + "echo said \(i) >&2; printf \(i) > out/c\(i).bin'"
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        let run = Task { try await manager.run("details", options: testOptions(concurrency: 3)) }
        try #require(await waitUntil { (try? await manager.get("details").completedChunks) == 2 })
        let running = try await manager.get("details")
        #expect(running.state == .running)
        #expect(Set(running.completedChunkIds) == ["c0", "c1"])
        for id in ["c0", "c1"] {
            let record = try #require(running.chunkOutputs?[id], "\(id)")
            #expect(record.bytes == 1 && record.uri.hasSuffix("/out/\(id).bin") && record.sha256.count == 64)
            #expect(running.metrics.chunks[id]?.attempts == 1)
            #expect(running.chunkLogs[id]?.contains("said \(id.dropFirst())") == true)
        }
        try openGate("go", in: dir)
        let done = try await run.value
        #expect(done.state == .completed && done.completedChunks == 3)
        #expect(Set(done.chunkOutputs?.keys.map { $0 } ?? []) == ["c0", "c1", "c2"])
        #expect(Set(done.metrics.chunks.keys) == ["c0", "c1", "c2"] && done.chunkLogs.count == 3)
        #expect(done.chunkOutputs?["c0"] == running.chunkOutputs?["c0"])
        // As JSON: the store keeps times to the millisecond.
        let encoder = JobSpec.makeEncoder()
        #expect(try encoder.encode(try await repository.load("details")) == encoder.encode(done))
        #expect(try encoder.encode(try await kind.make(dir).load("details")) == encoder.encode(done))
        #expect(dir.read("details.bin") == "012")
    }

    @Test func pausedJobResumesRunningOnlyUnfinishedChunks() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        // Chunk 3 blocks until the file "go" exists; every run is logged.
        let spec = makeSpec(id: "resumable", chunks: 5) { i in
            "/bin/sh -c 'echo c\(i) >> runs.log; " + (i == 3 ? "while [ ! -e go ]; do sleep 0.02; done; " : "") + "printf \(i) > out/c\(i).bin'"
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        let run = Task { try await manager.run("resumable", options: testOptions(concurrency: 1)) }
        // Pause only once chunk 3 has logged its start and is blocked: pausing earlier could stop it before its
        // shell wrote to runs.log, and the log below would depend on how fast the machine is.
        try #require(await waitUntil {
            (try? await manager.get("resumable").completedChunks) == 3 && dir.read("runs.log")?.contains("c3") == true
        })
        try await manager.pause("resumable")
        let paused = try await run.value
        #expect(paused.state == .paused)
        #expect(paused.completedChunkIds == ["c0", "c1", "c2"])
        try Data().write(to: dir.url.appendingPathComponent("go"))
        let done = try await manager.resume("resumable", options: testOptions(concurrency: 1))
        #expect(done.state == .completed)
        #expect(dir.read("resumable.bin") == "01234")
        #expect(dir.read("runs.log") == "c0\nc1\nc2\nc3\nc3\nc4\n")
    }

    @Test func interruptedJobIsTakenOverUnlessItsOwnerIsStillAlive() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try FileJobRepository(directory: dir.url.appendingPathComponent("store"))
        let manager = JobManager(repository: repo)
        try await manager.submit(makeSpec(id: "owned", chunks: 2) { i in "/bin/sh -c 'printf \(i) > out/c\(i).bin'" }, jobDirectory: dir.url)
        let owner = Process()
        owner.executableURL = URL(fileURLWithPath: "/bin/sleep")
        owner.arguments = ["100000"]  // killed below; it must stay alive however long the test takes
        try owner.run()
        defer { kill(owner.processIdentifier, SIGKILL); owner.waitUntilExit() }
        let stat = try String(contentsOfFile: "/proc/\(owner.processIdentifier)/stat", encoding: .utf8)
        let startTime = try #require(UInt64(stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")[19]))

        var status = try await repo.load("owned")
        status.state = .running
        let now = Date()
        status.lease = JobLease(token: "other", pid: owner.processIdentifier, startTime: startTime, host: ProcessIdentity.hostName,
                                acquiredAt: now, heartbeatAt: now, expiresAt: now + 3600)
        try await repo.save(status)
        await #expect(throws: OrchestratorError.alreadyRunning(id: "owned", pid: owner.processIdentifier, host: ProcessIdentity.hostName)) {
            _ = try await manager.run("owned", options: testOptions())
        }
        // Same pid, but a different process start time: the recorded owner is gone (pid reused).
        status.lease?.startTime = startTime + 1
        try await repo.save(status)
        #expect(try await manager.run("owned", options: testOptions()).state == .completed)
    }

    @Test func mergeCommandRunsThroughTheWorker() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        let spec = makeSpec(id: "cmdmerge", chunks: 3, mergeCommand: "/bin/sh -c 'out=$1; shift; cat \"$@\" > \"$out\"' merge {output} {inputs}") { i in
            "/bin/sh -c 'printf [\(i)] > out/c\(i).bin'"
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        var options = testOptions()
        options.output = dir.url.appendingPathComponent("final/all.bin")
        try FileManager.default.createDirectory(atPath: dir.path("final"), withIntermediateDirectories: true)
        let status = try await manager.run("cmdmerge", options: options)
        #expect(status.state == .completed)
        #expect(dir.read("final/all.bin") == "[0][1][2]")
        #expect(status.result?.outputPath == dir.path("final/all.bin"))
        #expect(status.result?.merge?.bytes == 9)
    }

    @Test func thousandChunkJobCompletesAtConcurrencyEight() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try SQLiteJobRepository(path: dir.path("store/jobs.sqlite")))
        try await manager.submit(makeSpec(id: "big", chunks: 1000) { i in "/bin/sh -c 'printf \(i % 10) > out/c\(i).bin'" }, jobDirectory: dir.url)
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .bufferingNewest(64))
        let drained = Task { var n = 0; for await _ in events { n += 1 }; return n }
        let status = try await manager.run("big", options: testOptions(concurrency: 8), events: continuation)
        _ = await drained.value
        // How long it takes is a benchmark's business, not this test's. Its memory is measured in a process of its
        // own (below): this process's RSS moved by -5 to +105 MiB with the tests running beside it.
        #expect(status.state == .completed)
        #expect(status.completedChunks == 1000)
        #expect(dir.read("big.bin")?.count == 1000)
    }

    @Test("a runner's memory grows by a few KiB a chunk: peak RSS of helios job run at 100 and 1,000 chunks, 8 at once",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/time")))
    func runnerMemoryPerChunk() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var peaks: [Int] = []
        for chunks in [100, 1000] {
            let spec = makeSpec(id: "m\(chunks)", chunks: chunks) { i in "/bin/sh -c 'printf \(i % 10) > out/c\(i).bin'" }
            let path = dir.path("m\(chunks).json")
            try JobSpec.makeEncoder().encode(spec).write(to: URL(fileURLWithPath: path))
            let tag = "run\(chunks)"
            let code = try await runHelios(["job", "run", path, "--store", dir.path("store"), "--concurrency", "8", "--no-merge",
                                            "--output-check", "nonempty", "--quiet"],
                                           logDir: dir.url, tag: tag, via: ["/usr/bin/time", "-f", "%M", "-o", dir.path("\(tag).rss")])
            try #require(code == 0, "\(dir.read("\(tag).err") ?? "")")
            peaks.append(try #require(Int((dir.read("\(tag).rss") ?? "").split(separator: "\n").last.map(String.init) ?? "")))
        }
        let perChunk = Double(peaks[1] - peaks[0]) * 1024 / 900
        print("runner memory: peak \(peaks[0]) KiB at 100 chunks, \(peaks[1]) KiB at 1,000; \(Int(perChunk)) bytes a chunk")
        // About 3 KB a chunk in a release build's 10,000-chunk job; a leak of a chunk's output or log would be far more.
        #expect(perChunk < 32 * 1024)
    }
}
