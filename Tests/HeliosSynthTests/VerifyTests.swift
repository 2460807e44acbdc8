import Foundation
import Testing
@testable import HeliosSynth

@Suite struct VerifyTests {
    init() { SynthRenderer.quietLibraryLogs() }

    /// Renders h264+pcm mkv chunks (start, count) and joins them with ffmpeg's concat demuxer, stream copy.
    func joined(_ chunks: [(Int, Int)], in dir: Scratch) throws -> URL {
        var list = ""
        for (i, c) in chunks.enumerated() {
            let url = dir.file("c\(i).mkv")
            try SynthRenderer.render(small(c.0, c.1, .h264, .pcm, to: url))
            list += "file '\(url.path)'\n"
        }
        try list.write(to: dir.file("list.txt"), atomically: true, encoding: .utf8)
        let out = dir.file("joined.mkv")
        try tool("ffmpeg", ["-v", "error", "-f", "concat", "-safe", "0", "-i", dir.file("list.txt").path, "-c", "copy", out.path])
        return out
    }

    @Test func correctJoinPasses() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = try joined([(0, 30), (30, 30)], in: dir)
        let report = try SynthVerifier.verify(url: url, expectFrames: 60, boundaries: [30])
        #expect(report.passed, "\(report.text)")
        #expect(report.audio?.boundaries.first?.discontinuity == 0)
        #expect(report.audio?.driftSamples == 0)
    }

    @Test func droppedFrameIsCaughtWithItsAudioJump() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = try joined([(0, 30), (31, 30)], in: dir)
        let report = try SynthVerifier.verify(url: url, expectFrames: 60, boundaries: [30])
        #expect(!report.passed)
        #expect(report.firstProblem == FrameProblem(position: 30, kind: .dropped, expectedIndex: 30, foundIndex: 31))
        #expect(report.droppedFrames == 1)
        // The second chunk's audio starts one frame (1600 samples) late.
        #expect(report.audio?.boundaries.first?.discontinuity == 1600)
    }

    @Test func duplicatedFrameIsCaught() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = try joined([(0, 30), (29, 31)], in: dir)
        let report = try SynthVerifier.verify(url: url, expectFrames: 60, boundaries: [30])
        #expect(!report.passed)
        #expect(report.firstProblem == FrameProblem(position: 30, kind: .duplicated, expectedIndex: 30, foundIndex: 29))
        #expect(report.duplicatedFrames == 1)
    }

    @Test func reorderedFramesAreCaught() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = try joined([(0, 20), (25, 5), (20, 5), (30, 10)], in: dir)
        let report = try SynthVerifier.verify(url: url, expectFrames: 40)
        #expect(!report.passed)
        #expect(report.firstProblem == FrameProblem(position: 20, kind: .reordered, expectedIndex: 20, foundIndex: 25))
        #expect(report.reorderedFrames == 5)
        #expect(report.droppedFrames == 0)
    }

    @Test func frameDroppedByFilterIsCaught() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let source = dir.file("src.mkv"), broken = dir.file("broken.mkv")
        try SynthRenderer.render(small(0, 30, .ffv1, .none, to: source))
        try tool("ffmpeg", ["-v", "error", "-i", source.path, "-vf", "select='not(eq(n\\,12))',setpts=N/30/TB",
                            "-c:v", "ffv1", broken.path])
        let report = try SynthVerifier.verify(url: broken, expectFrames: 30)
        #expect(report.firstProblem == FrameProblem(position: 12, kind: .dropped, expectedIndex: 12, foundIndex: 13))
        #expect(report.decodedFrames == 29)
    }

    @Test(arguments: ["mp4", "mkv"])
    func seekingLandsOnTheExactFrame(ext: String) throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = dir.file("seek.\(ext)")
        try SynthRenderer.render(small(500, 90, .h264, .aac, to: url, gop: 30))
        let reader = try VideoFileReader(url: url)
        for frame in [45, 0, 89, 29, 30, 31, 1, 77, 60, 59, 13] {
            #expect(try reader.index(atFrame: frame) == 500 + frame, "frame \(frame)")
        }
        #expect(throws: SynthError.self) { try reader.index(atFrame: 90) }
    }
}
