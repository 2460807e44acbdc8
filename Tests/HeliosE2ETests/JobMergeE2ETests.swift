import Foundation
import Testing

/// The whole pipeline through the CLIs: `helios job plan` → `helios job run` (local workers rendering real
/// media with ffmpeg) → the in-process native stitcher → ffprobe as an independent check.
@Suite("Job pipeline end to end")
struct JobMergeE2ETests {
    static var binDirectory: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("helios").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    func run(_ executable: String, _ arguments: [String], in directory: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let out = directory.appendingPathComponent(".stdout-\(UUID().uuidString)")
        let err = directory.appendingPathComponent(".stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    @Test("chunks rendered by local workers merge through the native stitcher into exactly the planned frames")
    func renderAndStitch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("helios-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let helios = Self.binDirectory.appendingPathComponent("helios").path
        let command = "ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=160x96:rate=25 "
            + "-vf trim=start_frame={start},setpts=PTS-STARTPTS -frames:v {count} "
            + "-c:v libx264 -threads 1 -preset ultrafast -g 25 -pix_fmt yuv420p {output}"
        let plan = try run(helios, ["job", "plan", "--id", "e2e", "--frames", "100", "--fps", "25", "--width", "160", "--height", "96",
                                    "--chunk-size", "25", "--command", command, "--output-pattern", "chunks/part-{chunk}.mp4",
                                    "-o", "spec.json"], in: dir)
        #expect(plan.status == 0, "\(plan.stderr)")
        let store = dir.appendingPathComponent("store").path
        let output = dir.appendingPathComponent("final.mp4").path
        let result = try run(helios, ["job", "run", "spec.json", "--store", store, "--output", output, "--concurrency", "2"], in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        let probe = try run("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                                 "stream=nb_read_frames", "-of", "csv=p=0", output], in: dir)
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "100")
        let decode = try run("/usr/bin/ffmpeg", ["-nostdin", "-v", "warning", "-i", output, "-f", "null", "-"], in: dir)
        #expect(decode.stderr.isEmpty, "decode warnings: \(decode.stderr)")
        let status = try run(helios, ["job", "status", "e2e", "--store", store, "--json"], in: dir)
        #expect(status.stdout.contains("\"completed\""), "\(status.stdout)")
    }
}
