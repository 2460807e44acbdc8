import Foundation
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// After `helios job cancel` or `pause`, nothing of the job is left running: not its chunk processes, not their
/// descendants that left the process group with `setsid`, whether the runner is alive or was SIGKILLed.
@Suite("helios job cancel/pause: nothing left running", .timeLimit(.minutes(6)))
struct CancelSweepCLITests {
    enum Request: String, CaseIterable, Sendable { case cancel, pause }

    /// A chunk script: records its shell's pid (`pids/cN`), starts a grandchild that leaves the group and session
    /// with setsid (`pids/gN`), and with `daemon` also a double-forked daemon with an empty environment whose
    /// parent exits at once (`pids/dN`); then waits forever.
    func writeJob(_ dir: TempDir, id: String, daemon: Bool) throws -> String {
        let script = """
            i=$1
            /usr/bin/setsid /bin/sh -c 'echo $$ > pids/g'"$i"'.tmp; mv pids/g'"$i"'.tmp pids/g'"$i"'; exec /bin/sleep 100000' &
            \(daemon ? "( /usr/bin/env -i /usr/bin/setsid /bin/sh -c 'echo $$ > pids/d'\"$i\"'.tmp; mv pids/d'\"$i\"'.tmp pids/d'\"$i\"'; exec /bin/sleep 100000' & )" : "")
            echo $$ > pids/c$i.tmp; mv pids/c$i.tmp pids/c$i
            wait
            """
        try Data(script.utf8).write(to: dir.url.appendingPathComponent("chunk.sh"))
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let spec = makeSpec(id: id, chunks: 2) { i in "/bin/sh ./chunk.sh \(i)" }
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("\(id).json"))
        return dir.path("\(id).json")
    }

    func startRunner(_ dir: TempDir, spec: String, expecting files: Int) async throws -> Process {
        let runner = try startHelios(["job", "run", spec, "--store", dir.path("store"), "--no-merge", "--output-check", "nonempty", "--concurrency", "2"],
                                     logDir: dir.url, tag: "run")
        try #require(await waitUntil { pids(in: dir.path("pids")).count == files }, "chunks did not start: \(dir.read("run.err") ?? "")")
        return runner
    }

    @Test(arguments: Request.allCases)
    func stoppingALiveRunnersJobKillsEscapedDescendants(request: Request) async throws {
        let dir = try TempDir("live\(request.rawValue)")
        defer { dir.cleanup() }
        let runner = try await startRunner(dir, spec: try writeJob(dir, id: "live", daemon: true), expecting: 6)
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
        let all = pids(in: dir.path("pids"))
        defer { killSurvivors(all) }
        #expect(try await runHelios(["job", request.rawValue, "live", "--store", dir.path("store")], logDir: dir.url, tag: "stop") == 0)
        try #require(await waitUntil { !runner.isRunning }, "the runner ignored the \(request) request")
        #expect(runner.terminationStatus == (request == .cancel ? 6 : 5))
        for name in ["c0", "c1", "g0", "g1", "d0", "d1"] {
            let found = try #require(pid(in: dir.path("pids/\(name)")))
            #expect(await waitUntil(timeout: .seconds(10)) { !isProcessAlive(found) }, "\(name) (pid \(found)) survived \(request)")
        }
    }

    @Test(arguments: Request.allCases)
    func stoppingAJobWhoseRunnerWasKilledSweepsItsProcesses(request: Request) async throws {
        let dir = try TempDir("dead\(request.rawValue)")
        defer { dir.cleanup() }
        let runner = try await startRunner(dir, spec: try writeJob(dir, id: "orphaned", daemon: false), expecting: 4)
        let all = pids(in: dir.path("pids"))
        defer { killSurvivors(all) }
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        for pid in all { #expect(isProcessAlive(pid), "\(pid) died with the runner: the test proves nothing") }
        #expect(try await runHelios(["job", request.rawValue, "orphaned", "--store", dir.path("store")], logDir: dir.url, tag: "stop") == 0)
        // The command returns after the sweep: no waiting needed, but a zombie may take a moment to be reaped by init.
        for name in ["c0", "c1", "g0", "g1"] {
            let found = try #require(pid(in: dir.path("pids/\(name)")))
            #expect(await waitUntil(timeout: .seconds(10)) { !isProcessAlive(found) }, "\(name) (pid \(found)) survived \(request) of a dead runner's job")
        }
        #expect(dir.read("stop.out")?.contains("job orphaned is \(request == .cancel ? "cancelled" : "paused")") == true, "\(dir.read("stop.out") ?? "")")
        let status = try await SQLiteJobRepository(path: dir.path("store/jobs.sqlite")).load("orphaned")
        #expect(status.lease == nil && status.state == (request == .cancel ? .cancelled : .paused))
    }
}
