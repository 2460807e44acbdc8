import Foundation
import Testing

/// The progress bar a user sees: drawn on a terminal, absent from pipes and logs.
@Suite("helios-stitch progress", .serialized)
struct ProgressCLITests {
    /// Runs the CLI on a pseudo-terminal (util-linux `script`), returning everything the terminal received.
    func onTerminal(_ args: [String]) async throws -> Shell.Result {
        let command = ([StitchCLITests.binary] + args).map { "'\($0)'" }.joined(separator: " ")
        return try await Shell.run("script", ["-qec", command, "/dev/null"])
    }

    @Test("a terminal gets a bar redrawn in place up to 100%, cleared before the summary")
    func barOnTerminal() async throws {
        let inputs = try await FixtureCache.shared.files("mp4-h264-aac").map(\.path)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await onTerminal(inputs + ["-o", dir.appendingPathComponent("out.mp4").path])
        #expect(result.status == 0, "\(result.stdout)")
        let screen = result.stdout
        #expect(screen.contains("\rprobing"), "\(screen.debugDescription)")
        #expect(screen.contains("\rstitching  [##############################] 100%"), "\(screen.debugDescription)")
        #expect(screen.contains("\r\u{1B}[K"), "the bar is cleared")
        #expect(screen.contains("3 inputs"), "summary after the bar: \(screen.debugDescription)")
    }

    @Test("no bar when stderr is not a terminal, nor with --quiet on one")
    func noBarElsewhere() async throws {
        let inputs = try await FixtureCache.shared.files("mp4-h264-aac").map(\.path)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let piped = try await Shell.run(StitchCLITests.binary, inputs + ["-o", dir.appendingPathComponent("a.mp4").path])
        #expect(piped.status == 0)
        #expect(!piped.stderr.contains("[#") && !piped.stderr.contains("\r"), "\(piped.stderr.debugDescription)")
        let quiet = try await onTerminal(inputs + ["-o", dir.appendingPathComponent("b.mp4").path, "--quiet"])
        #expect(quiet.status == 0)
        #expect(!quiet.stdout.contains("[#"), "\(quiet.stdout.debugDescription)")
    }
}

/// Ctrl-C as a user presses it: the stitch stops, exit code 130, and nothing is left beside the output.
@Suite("helios-stitch interrupted", .serialized, .timeLimit(.minutes(6)))
struct InterruptCLITests {
    @Test("SIGINT during the copy exits 130 and removes the temp file")
    func sigintDuringCopy() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The output is opened when the copy starts (after 1,000 inputs are probed and validated).
        let process = try await StitchSafetyCLITests.startWriting(into: dir)
        #expect(process.isRunning, "the stitch finished before it could be interrupted")
        StitchSafetyCLITests.deliver(SIGINT, to: process)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(process.terminationReason == .exit && process.terminationStatus == 130)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }
}
