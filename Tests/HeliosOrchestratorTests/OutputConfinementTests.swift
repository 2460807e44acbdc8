import Foundation
import HeliosOrchestrator
import Testing

/// Chunk and merged outputs stay inside the job directory for real: aliases are one file, symlinks are refused.
@Suite("Output confinement", .timeLimit(.minutes(6)))
struct OutputConfinementTests {
    @Test func outputPathsThatNameTheSameFileAreASpecError() {
        var spec = makeSpec(id: "alias", chunks: 4) { i in "render \(i)" }
        spec.chunks[0].outputFile = "chunks/a.mp4"
        spec.chunks[1].outputFile = "chunks//a.mp4"
        spec.chunks[2].outputFile = "./chunks/a.mp4"
        spec.chunks[3].outputFile = "chunks/a.mp4/inner.mp4"
        let problems = spec.problems()
        #expect(problems.contains("chunk 'c1': outputFile 'chunks//a.mp4' is the same file as the output of chunk 'c0' ('chunks/a.mp4')"))
        #expect(problems.contains("chunk 'c2': outputFile './chunks/a.mp4' is the same file as the output of chunk 'c0' ('chunks/a.mp4')"))
        #expect(problems.contains("chunk 'c3': outputFile 'chunks/a.mp4/inner.mp4' is inside the output file of chunk 'c0' ('chunks/a.mp4')"))
        #expect(OutputPath.normalize("./x//y/./z.bin") == .success("x/y/z.bin"))
        #expect(OutputPath.normalize("x/../y") == .failure(.parentReference))
        #expect(OutputPath.ancestors(of: "x/y/z.bin") == ["x", "x/y"])
    }

    /// The executor alone (no validation before it) still refuses to walk out with `..`.
    @Test func theExecutorRefusesParentReferencesEvenInAnUnvalidatedSpec() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Data("precious".utf8).write(to: dir.url.appendingPathComponent("victim.bin"))
        var spec = makeSpec(id: "raw", chunks: 1) { _ in "/bin/sh -c 'echo ran > ran.txt'" }
        spec.chunks[0].outputFile = "../victim.bin"
        let executor = testOptions().executor
        await #expect(throws: OrchestratorError.self) {
            try await executor.runChunks(of: spec, in: dir.url.appendingPathComponent("job"), skipping: [], onEvent: { _ in }, onChunkCompleted: { _ in })
        }
        #expect(dir.read("victim.bin") == "precious")
        #expect(dir.read("job/ran.txt") == nil)
    }

    /// `job/out -> ../outside`: the chunk writing `out/c0.bin` fails with a clear error before its command runs,
    /// and the file of the same name outside the job directory is neither deleted nor overwritten.
    @Test func aSymlinkedDirectoryPointingOutFailsTheChunkAndNothingOutsideIsTouched() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let job = dir.url.appendingPathComponent("job"), outside = dir.url.appendingPathComponent("outside")
        for d in [job, outside] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try Data("precious".utf8).write(to: outside.appendingPathComponent("c0.bin"))
        try FileManager.default.createSymbolicLink(atPath: job.appendingPathComponent("out").path, withDestinationPath: "../outside")
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(makeSpec(id: "escape", chunks: 1) { _ in "/bin/sh -c 'echo ran >> runs.log; printf new > out/c0.bin'" },
                                 jobDirectory: job)
        let status = try await manager.run("escape", options: testOptions())
        #expect(status.state == .failed)
        #expect(status.error?.contains("chunk 'c0': output 'out/c0.bin' refused: out is a symbolic link; outputs must not follow links out of the job directory") == true,
                "\(status.error ?? "")")
        #expect(dir.read("outside/c0.bin") == "precious")
        #expect(dir.read("job/runs.log") == nil, "the command ran although its output escapes the job directory")
    }

    @Test func anOutputThatIsItselfASymlinkOrADirectoryIsRefused() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let job = dir.url.appendingPathComponent("job")
        try FileManager.default.createDirectory(at: job.appendingPathComponent("out/c1.bin"), withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: dir.url.appendingPathComponent("target"))
        try FileManager.default.createSymbolicLink(atPath: job.appendingPathComponent("out/c0.bin").path, withDestinationPath: "../../target")
        let manager = JobManager(repository: try SQLiteJobRepository(path: dir.path("store/jobs.sqlite")))
        for (i, expected) in [(0, "out/c0.bin is a symbolic link"), (1, "out/c1.bin is a directory, not a file")] {
            try await manager.submit(makeSpec(id: "link\(i)", chunks: 2) { i in "/bin/sh -c 'printf x > out/c\(i).bin'" }, jobDirectory: job)
            var options = testOptions(concurrency: 1)
            options.executor.retryPolicy = RetryPolicy(maxAttempts: 3)
            let status = try await manager.run("link\(i)", options: options)
            #expect(status.state == .failed)
            #expect(status.error?.contains(expected) == true, "\(status.error ?? "")")
            #expect(status.error?.contains("after 1 attempt") == true, "a confinement refusal is not retried")
            try FileManager.default.removeItem(atPath: dir.path("job/out/c0.bin"))  // the next job meets the directory
        }
        #expect(dir.read("target") == "precious")
    }

    /// A command that replaces its output with a symlink does not get it validated (or merged) through the link.
    @Test func anOutputTurnedIntoASymlinkByTheCommandIsRefused() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Data("outside".utf8).write(to: dir.url.appendingPathComponent("elsewhere"))
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(makeSpec(id: "sneaky", chunks: 1) { _ in "/bin/ln -s ../elsewhere out/c0.bin" },
                                 jobDirectory: dir.url.appendingPathComponent("job"))
        // The job directory does not exist yet: the first attempt creates it, as before.
        let status = try await manager.run("sneaky", options: testOptions())
        #expect(status.state == .failed)
        #expect(status.error?.contains("out/c0.bin is a symbolic link") == true, "\(status.error ?? "")")
    }

    /// The merged output is replaced, never written through: a symlink (even to a file) or a directory is refused.
    @Test func theMergedOutputRefusesASymlinkOrANonRegularFile() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Data("precious".utf8).write(to: dir.url.appendingPathComponent("victim"))
        try FileManager.default.createSymbolicLink(atPath: dir.path("merged.bin"), withDestinationPath: "victim")
        try FileManager.default.createDirectory(atPath: dir.path("merged-dir"), withIntermediateDirectories: true)
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        for (id, target, expected) in [("viaLink", "merged.bin", "is a symbolic link"), ("intoDir", "merged-dir", "is a directory, not a file")] {
            try await manager.submit(makeSpec(id: id, chunks: 2) { i in "/bin/sh -c 'printf \(i) > out/c\(i).bin'" }, jobDirectory: dir.url)
            var options = testOptions()
            options.output = dir.url.appendingPathComponent(target)
            let status = try await manager.run(id, options: options)
            #expect(status.state == .failed)
            #expect(status.error?.contains("merge failed: output \(dir.path(target)): \(dir.path(target)) \(expected)") == true, "\(status.error ?? "")")
        }
        #expect(dir.read("victim") == "precious")
    }
}
