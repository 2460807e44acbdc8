import Foundation
import HeliosMedia
import Testing

extension E2E {
    /// `helios-synth verify` (the executable) catches frames that a wrong plan dropped, duplicated or reordered, in
    /// files the stitcher accepted: each chunk is well formed, only the frames it carries are wrong.
    /// (HeliosSynthTests checks the same through the library on ffmpeg-concatenated files.)
    @Suite("helios-synth verify catches bad frame sequences")
    struct VerifyCLIE2ETests {
        struct BadPlan: Sendable, CustomTestStringConvertible {
            var name: String
            /// (start frame, frame count) of each chunk, in stitch order.
            var chunks: [(Int, Int)]
            var expectFrames: Int
            var expectedLine: String
            var testDescription: String { name }
        }

        static let plans: [BadPlan] = [
            BadPlan(name: "dropped", chunks: [(0, 30), (31, 29)], expectFrames: 59,
                    expectedLine: "first problem at frame 30: dropped, expected 30, found 31"),
            BadPlan(name: "duplicated", chunks: [(0, 30), (29, 31)], expectFrames: 61,
                    expectedLine: "first problem at frame 30: duplicated, expected 30, found 29"),
            BadPlan(name: "reordered", chunks: [(0, 20), (25, 5), (20, 5), (30, 10)], expectFrames: 40,
                    expectedLine: "first problem at frame 20: reordered, expected 20, found 25"),
        ]

        /// Renders the chunks with `helios-synth render` (FFV1+PCM, Matroska) and stitches them in process.
        func renderAndStitch(_ chunks: [(Int, Int)], in dir: WorkDirectory) async throws -> URL {
            var urls: [URL] = []
            for (k, chunk) in chunks.enumerated() {
                let url = dir.file("chunk-\(k).mkv")
                _ = try await Tool.checked(Tool.product("helios-synth"), [
                    "render", "--start-frame", "\(chunk.0)", "--frame-count", "\(chunk.1)", "--size", "128x72",
                    "--video-codec", "ffv1", "--audio-codec", "pcm", "-o", url.path,
                ])
                urls.append(url)
            }
            let output = dir.file("final.mkv")
            let report = try await NativeStitcher().stitch(urls, to: output)
            #expect(report.isValid, "the stitcher cannot see wrong content: \(report.issues)")
            return output
        }

        @Test("verify exits 0 on a correct plan")
        func passes() async throws {
            let dir = try WorkDirectory("verify-ok")
            defer { dir.remove() }
            let output = try await renderAndStitch([(0, 30), (30, 30)], in: dir)
            let verify = try await Tool.run(Tool.product("helios-synth"), ["verify", output.path, "--expect-frames", "60", "--boundaries", "30"])
            #expect(verify.status == 0, "\(verify.text)\(verify.stderr)")
            #expect(verify.text.contains(": PASS"), "\(verify.text)")
        }

        @Test("verify exits 1 and names the first bad frame", arguments: plans)
        func catches(_ plan: BadPlan) async throws {
            let dir = try WorkDirectory("verify-\(plan.name)")
            defer { dir.remove() }
            let output = try await renderAndStitch(plan.chunks, in: dir)
            let synth = Tool.product("helios-synth")

            let verify = try await Tool.run(synth, ["verify", output.path, "--expect-frames", "\(plan.expectFrames)"])
            #expect(verify.status == 1, "\(verify.text)\(verify.stderr)")
            #expect(verify.text.contains(": FAIL"), "\(verify.text)")
            #expect(verify.text.contains(plan.expectedLine), "\(verify.text)")
        }
    }
}
