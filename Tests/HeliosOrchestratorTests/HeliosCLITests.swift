import Foundation
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Drives the built `helios` executable as a user would, across processes.
@Suite("helios job CLI")
struct HeliosJobCLITests {
    /// Writes a spec whose chunks log each run, sleep, and write their index; merged with `cat`.
    func writeSpec(_ dir: TempDir, id: String, chunks: Int, body: String) throws -> String {
        let spec = makeSpec(id: id, chunks: chunks, mergeCommand: "/bin/sh -c 'out=$1; shift; cat \"$@\" > \"$out\"' merge {output} {inputs}") { i in
            "/bin/sh -c 'echo c\(i) >> runs.log; \(body); printf \(i), > out/c\(i).bin'"
        }
        let path = dir.path("\(id).json")
        try JobSpec.makeEncoder().encode(spec).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func resumeAfterSIGKILLRerunsOnlyUnfinishedChunksAndProducesTheSameOutput() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let spec = try writeSpec(dir, id: "killme", chunks: 8, body: "sleep 1")  // long enough that a loaded machine cannot finish before the kill
        let store = dir.path("store")
        let runner = try startHelios(["job", "run", spec, "--store", store, "--concurrency", "2", "--output-check", "nonempty"], logDir: dir.url, tag: "run1")
        let repo = try SQLiteJobRepository(path: store + "/jobs.sqlite")
        #expect(await waitUntil { ((try? await repo.load("killme"))?.completedChunks ?? 0) >= 3 })
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        #expect(runner.terminationReason == .uncaughtSignal)

        let interrupted = try await repo.load("killme")
        #expect(interrupted.state == .running)  // the killed runner could not say otherwise
        let doneBeforeKill = interrupted.completedChunkIds
        #expect(doneBeforeKill.count >= 3 && doneBeforeKill.count < 8)

        let status = try await runHelios(["job", "resume", "killme", "--store", store], logDir: dir.url, tag: "resume")
        #expect(status == 0, "resume failed: \(dir.read("resume.err") ?? "")")
        #expect(dir.read("killme.bin") == (0..<8).map { "\($0)," }.joined())
        let runs = (dir.read("runs.log") ?? "").split(separator: "\n").map(String.init)
        for chunk in doneBeforeKill { #expect(runs.filter { $0 == chunk }.count == 1, "\(chunk) re-ran") }
        #expect(Set(runs) == Set((0..<8).map { "c\($0)" }))
        let final = try await repo.load("killme")
        #expect(final.state == .completed && final.completedChunks == 8)
        #expect(dir.read("resume.out")?.contains("job killme: completed, 8/8 chunks") == true)
    }

    @Test func pauseFromAnotherProcessStopsTheRunnerAndItsChildren() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let spec = makeSpec(id: "pausable", chunks: 4) { i in "/bin/sh -c 'sleep 30 & echo $! > pids/\(i); wait'" }
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("p.json"))
        let store = dir.path("store")
        let runner = try startHelios(["job", "run", dir.path("p.json"), "--store", store, "--concurrency", "2", "--no-merge", "--output-check", "nonempty"], logDir: dir.url, tag: "run")
        #expect(await waitUntil { pids(in: dir.path("pids")).count == 2 })
        #expect(try await runHelios(["job", "pause", "pausable", "--store", store], logDir: dir.url, tag: "pause") == 0)
        let requested = ContinuousClock.now
        #expect(await waitUntil(timeout: .seconds(5)) { !runner.isRunning })
        #expect(ContinuousClock.now - requested < .seconds(2))
        #expect(runner.terminationStatus == 5)
        for pid in pids(in: dir.path("pids")) { #expect(await waitUntil(timeout: .seconds(2)) { !isProcessAlive(pid) }) }
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
        let spec = makeSpec(id: "interrupted", chunks: 2) { i in "/bin/sh -c 'sleep 30 & echo $! > pids/\(i); wait'" }
        try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("i.json"))
        let runner = try startHelios(["job", "run", dir.path("i.json"), "--store", dir.path("store"), "--no-merge"], logDir: dir.url, tag: "run")
        #expect(await waitUntil { pids(in: dir.path("pids")).count == 2 })
        kill(runner.processIdentifier, SIGINT)
        #expect(await waitUntil(timeout: .seconds(5)) { !runner.isRunning })
        #expect(runner.terminationStatus == 5)
        for pid in pids(in: dir.path("pids")) { #expect(await waitUntil(timeout: .seconds(2)) { !isProcessAlive(pid) }) }
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
}
