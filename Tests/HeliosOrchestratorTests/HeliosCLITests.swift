import Foundation
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Drives the built `helios` executable as a user would, across processes.
///
/// The time limit turns a hang (a runner that never exits, a gate never opened) into a failure instead of a blocked CI job.
@Suite("helios job CLI", .timeLimit(.minutes(6)))
struct HeliosJobCLITests {
    /// Writes a spec whose chunks log each run, record their shell's pid (the chunk's process group) in `pids/cN`
    /// (after logging, so a recorded pid implies a logged run), run `body(i)`, and write their index; merged with `cat`.
    func writeSpec(_ dir: TempDir, id: String, chunks: Int, body: (Int) -> String) throws -> String {
        let spec = makeSpec(id: id, chunks: chunks, mergeCommand: "/bin/sh -c 'out=$1; shift; cat \"$@\" > \"$out\"' merge {output} {inputs}") { i in
            "/bin/sh -c 'echo c\(i) >> runs.log; echo $$ > pids/c\(i); \(body(i)); printf \(i), > out/c\(i).bin'"
        }
        let path = dir.path("\(id).json")
        try JobSpec.makeEncoder().encode(spec).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func resumeAfterSIGKILLRerunsOnlyUnfinishedChunksAndProducesTheSameOutput() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        // Chunks 3 and up block until the gate exists. With concurrency 2 the runner therefore completes exactly
        // chunks 0-2 and then sits with chunks 3 and 4 started and blocked: a known state to kill it in, however
        // fast or slow the machine is.
        let spec = try writeSpec(dir, id: "killme", chunks: 8) { i in i >= 3 ? waitForFile("gate") : "true" }
        let store = dir.path("store")
        let runner = try startHelios(["job", "run", spec, "--store", store, "--concurrency", "2", "--output-check", "nonempty"], logDir: dir.url, tag: "run1")
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
        let repo = try SQLiteJobRepository(path: store + "/jobs.sqlite")
        let started = { Set(pids(in: dir.path("pids"))) }
        try #require(await waitUntil {
            ((try? await repo.load("killme"))?.completedChunks ?? 0) == 3
                && pid(in: dir.path("pids/c3")) != nil && pid(in: dir.path("pids/c4")) != nil
        }, "the runner did not reach chunks 0-2 completed, 3-4 blocked: \(dir.read("run1.err") ?? "")")
        let blocked = try [3, 4].map { try #require(pid(in: dir.path("pids/c\($0)"))) }
        #expect(started().count == 5, "no chunk beyond 4 was started")
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        #expect(runner.terminationReason == .uncaughtSignal)
        #expect(runner.terminationStatus == SIGKILL)

        let interrupted = try await repo.load("killme")
        #expect(interrupted.state == .running)  // the killed runner could not say otherwise
        #expect(Set(interrupted.completedChunkIds) == ["c0", "c1", "c2"])

        // A SIGKILLed runner cannot stop its children: chunks 3 and 4 (each its own process group) are still waiting
        // for the gate. Once the gate opened they would write out/c3.bin and out/c4.bin while a resumed run writes the
        // same files, so the resuming runner must kill them (they carry the dead owner's mark) before re-running.
        for group in blocked { #expect(isProcessAlive(group), "orphaned chunk \(group) already gone") }
        let resumer = try startHelios(["job", "resume", "killme", "--store", store], logDir: dir.url, tag: "resume")
        defer { if resumer.isRunning { kill(resumer.processIdentifier, SIGKILL) } }
        for group in blocked { #expect(await waitUntil { !isProcessAlive(group) }, "orphaned chunk \(group) survived the takeover") }
        try openGate("gate", in: dir)
        #expect(await waitUntil { !resumer.isRunning })
        #expect(resumer.terminationStatus == 0, "resume failed: \(dir.read("resume.err") ?? "")")
        #expect(dir.read("killme.bin") == (0..<8).map { "\($0)," }.joined())
        // Chunks 0-2 ran once; 3 and 4 twice (killed, then re-run); 5-7 only in the resumed run.
        let runs = (dir.read("runs.log") ?? "").split(separator: "\n").map(String.init)
        let counts = Dictionary(runs.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts == ["c0": 1, "c1": 1, "c2": 1, "c3": 2, "c4": 2, "c5": 1, "c6": 1, "c7": 1])
        let final = try await repo.load("killme")
        #expect(final.state == .completed && final.completedChunks == 8)
        #expect(dir.read("resume.out")?.contains("job killme: completed, 8/8 chunks") == true)
    }

    @Test func pauseFromAnotherProcessStopsTheRunnerAndItsChildren() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let spec = makeSpec(id: "pausable", chunks: 4) { i in "/bin/sh -c '\(runForever) & echo $! > pids/\(i); wait'" }
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("p.json"))
        let store = dir.path("store")
        let runner = try startHelios(["job", "run", dir.path("p.json"), "--store", store, "--concurrency", "2", "--no-merge", "--output-check", "nonempty"], logDir: dir.url, tag: "run")
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
        try #require(await waitUntil { pids(in: dir.path("pids")).count == 2 })
        let children = pids(in: dir.path("pids"))
        defer { killSurvivors(children) }
        #expect(try await runHelios(["job", "pause", "pausable", "--store", store], logDir: dir.url, tag: "pause") == 0)
        // The chunks never end by themselves, so the runner exiting at all means it observed the request. How soon it
        // does is the control poll interval (RunOptions.controlPollInterval, 200 ms in the CLI): a benchmark's business.
        try #require(await waitUntil { !runner.isRunning }, "the runner ignored the pause request")
        #expect(runner.terminationReason == .exit)
        #expect(runner.terminationStatus == 5)  // paused
        for pid in children { #expect(await waitUntil { !isProcessAlive(pid) }, "chunk child \(pid) survived the pause") }
        #expect(pids(in: dir.path("pids")).count == 2, "no chunk beyond the first two was started")
        #expect(try await runHelios(["job", "status", "pausable", "--store", store, "--json"], logDir: dir.url, tag: "status") == 0)
        let status = try JobSpec.makeDecoder().decode(JobStatus.self, from: Data((dir.read("status.out") ?? "").utf8))
        #expect(status.state == .paused)
        #expect(try await runHelios(["job", "cancel", "pausable", "--store", store], logDir: dir.url, tag: "cancel") == 0)
        #expect(try await runHelios(["job", "resume", "pausable", "--store", store], logDir: dir.url, tag: "resume") == 4)
        #expect(try await runHelios(["job", "delete", "pausable", "--store", store], logDir: dir.url, tag: "delete") == 0)
        #expect(try await runHelios(["job", "status", "pausable", "--store", store], logDir: dir.url, tag: "gone") == 3)
    }

    @Test func ctrlCPausesTheJobAndStopsItsChildren() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let spec = makeSpec(id: "interrupted", chunks: 2) { i in "/bin/sh -c '\(runForever) & echo $! > pids/\(i); wait'" }
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("i.json"))
        let runner = try startHelios(["job", "run", dir.path("i.json"), "--store", dir.path("store"), "--no-merge"], logDir: dir.url, tag: "run")
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
        try #require(await waitUntil { pids(in: dir.path("pids")).count == 2 })
        let children = pids(in: dir.path("pids"))
        defer { killSurvivors(children) }
        kill(runner.processIdentifier, SIGINT)
        try #require(await waitUntil { !runner.isRunning }, "the runner ignored SIGINT")
        #expect(runner.terminationReason == .exit, "SIGINT must pause the job, not kill the runner")
        #expect(runner.terminationStatus == 5)  // paused
        for pid in children { #expect(await waitUntil { !isProcessAlive(pid) }, "chunk child \(pid) survived Ctrl-C") }
        #expect(dir.read("run.out")?.contains("job interrupted: paused, 0/2 chunks") == true)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg") && FileManager.default.isExecutableFile(atPath: "/usr/bin/ffprobe")))
    func chunksRenderedByFFmpegMergeIntoOnePlayableFile() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let spec = try JobPlanner(
            id: "media", totalFrames: 50, fps: 25, width: 64, height: 48, split: .chunkCount(3),
            commandTemplate: "/usr/bin/ffmpeg -y -v error -f lavfi -i testsrc2=size=64x48:rate=25 -vf trim=start_frame={start},setpts=PTS-STARTPTS -frames:v {count} -c:v libx264 -g 25 -pix_fmt yuv420p {output}",
            outputPattern: "chunks/part-{chunk}.mp4",
            mergeCommand: "/usr/bin/ffmpeg -y -v error -f concat -safe 0 -i {list} -c copy {output}").plan()
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("media.json"))
        let code = try await runHelios(["job", "run", dir.path("media.json"), "--store", dir.path("store"), "--output-check", "nonempty", "--concurrency", "3"],
                                       logDir: dir.url, tag: "run")
        #expect(code == 0, "\(dir.read("run.err") ?? "")")
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/ffprobe")
        probe.arguments = ["-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", dir.path("media.mp4")]
        let pipe = Pipe()
        probe.standardOutput = pipe
        try probe.run()
        let frames = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        probe.waitUntilExit()
        #expect(frames.trimmingCharacters(in: .whitespacesAndNewlines) == "50")
    }

    @Test func invalidSpecExitsWithCode2ListingProblems() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var spec = makeSpec(id: "bad", chunks: 2) { _ in "" }
        spec.chunks[1].outputFile = "../x.bin"
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("bad.json"))
        let code = try await runHelios(["job", "submit", dir.path("bad.json"), "--store", dir.path("store")], logDir: dir.url, tag: "submit")
        #expect(code == 2)
        let err = dir.read("submit.err") ?? ""
        #expect(err.contains("chunk 'c0': command is empty"))
        #expect(err.contains("chunk 'c1': outputFile '../x.bin' must not contain '..'"))
    }

    @Test("a soft open-file limit too low for the concurrency is raised as far as it needs, no further; a hard limit too low is refused before the job exists")
    func openFileLimit() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path("out"), withIntermediateDirectories: true)
        let spec = try writeSpec(dir, id: "fds", chunks: 24) { i in "sleep 0.2; ulimit -n > limit-\(i)" }
        // 8 chunks at once hold up to 56 descriptors of the runner's: more than a soft limit of 24 leaves. Without the
        // raise, the subprocess library stopped the runner with a fatal error ("FileDescriptor ... was not closed").
        let raised = try await runHelios(["job", "run", spec, "--store", dir.path("store"), "--concurrency", "8", "--output-check", "nonempty", "--quiet"],
                                         logDir: dir.url, tag: "raised", via: ["/usr/bin/prlimit", "--nofile=24:4096"])
        #expect(raised == 0, "\(dir.read("raised.err") ?? "")")
        #expect(try await SQLiteJobRepository(path: dir.path("store") + "/jobs.sqlite").load("fds").completedChunks == 24)
        // 8 x 7 + 64: what the chunk commands inherit, not the hard limit.
        #expect(dir.read("limit-0")?.trimmingCharacters(in: .whitespacesAndNewlines) == "120")

        let refused = try await runHelios(["job", "run", spec, "--store", dir.path("store2"), "--concurrency", "8", "--output-check", "nonempty"],
                                          logDir: dir.url, tag: "refused", via: ["/usr/bin/prlimit", "--nofile=40:40"])
        #expect(refused == 2)
        #expect(dir.read("refused.err")?.contains("8 chunks at once need about 120 open files (7 for each chunk while its command starts, "
                                                  + "and 64 more), but this process may open 40 (ulimit -n; hard limit 40)") == true, "\(dir.read("refused.err") ?? "")")
        let status = try await runHelios(["job", "status", "fds", "--store", dir.path("store2")], logDir: dir.url, tag: "status")
        #expect(status == 3, "the refused job was submitted: \(dir.read("status.out") ?? "")")
    }
}
