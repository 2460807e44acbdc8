import Foundation
import Testing
@testable import HeliosSynth

@Suite struct RenderTests {
    init() { SynthRenderer.quietLibraryLogs() }

    @Test func renderedIndicesReadBackWithOurDecoderAndFFmpeg() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = dir.file("chunk.mp4")
        let summary = try SynthRenderer.render(small(120, 40, to: url))
        #expect(summary.videoFrames == 40)
        #expect(summary.firstSample == 192_000)
        #expect(summary.audioSamples == 64_000)
        let ours = try VideoFileReader(url: url).readAll()
        #expect(ours.map(\.index) == (120..<160).map { Optional($0) })
        #expect(ours.map(\.frame) == Array(0..<40), "timestamps start at 0 in every chunk")
        #expect(try indicesViaFFmpeg(url, width: 160, height: 96) == (120..<160).map { Optional($0) })
        #expect(try probe(url, stream: "v:0").frames == 40)
    }

    @Test(arguments: [
        (SynthVideoCodec.h264, SynthAudioCodec.aac, "mp4", "h264", "aac"),
        (.prores, .pcm, "mov", "prores", "pcm_s16le"),
        (.vp9, .opus, "webm", "vp9", "opus"),
        (.ffv1, .pcm, "mkv", "ffv1", "pcm_s16le"),
        (.hevc, .none, "mp4", "hevc", ""),
    ])
    func codecAndContainerMatrix(video: SynthVideoCodec, audio: SynthAudioCodec, ext: String, vName: String, aName: String) throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = dir.file("chunk.\(ext)")
        try SynthRenderer.render(small(30, 24, video, audio, to: url))
        let v = try probe(url, stream: "v:0")
        #expect(v.codec == vName)
        #expect(v.frames == 24)
        if audio != .none { #expect(try probe(url, stream: "a:0").codec == aName) }
        let report = try SynthVerifier.verify(url: url, expectFrames: 24, startFrame: 30)
        #expect(report.passed, "\(report.text)")
        #expect(report.audio?.startLag == (audio == .none ? nil : 0))
        if audio == .pcm || audio == .opus { #expect(report.audio?.driftSamples == 0) }
    }

    @Test(arguments: [("mp4", SynthVideoCodec.h264, SynthAudioCodec.aac), ("mov", .prores, .pcm), ("webm", .vp9, .opus), ("mkv", .hevc, .aac), ("mkv", .ffv1, .pcm)])
    func renderingTwiceIsByteIdentical(ext: String, video: SynthVideoCodec, audio: SynthAudioCodec) throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let a = dir.file("a.\(ext)"), b = dir.file("b.\(ext)")
        try SynthRenderer.render(small(7, 20, video, audio, to: a))
        try SynthRenderer.render(small(7, 20, video, audio, to: b))
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }

    @Test func losslessH264DecodesToTheExactPicture() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = dir.file("lossless.mkv")
        var request = small(5, 3, .h264, .none, to: url)
        request.lossless = true
        try SynthRenderer.render(request)
        let raw = try tool("ffmpeg", ["-v", "error", "-i", url.path, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        var expected: [UInt8] = []
        for i in 5..<8 {
            let image = FrameContent.image(index: i, width: 160, height: 96)
            expected += image.y + image.u + image.v
        }
        #expect(raw == Data(expected))
    }

    @Test func badRequestsNameTheFileAndProblem() throws {
        // A fresh directory: a fixed path such as /tmp/x.mp4 may be left there by any other program.
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let url = dir.file("x.avi")
        #expect(throws: SynthError.invalidRequest(path: url.path, reason: "unknown container extension '.avi' (use .mp4, .mov, .mkv, .webm or .ts)")) {
            try SynthRenderer.render(small(0, 1, to: url))
        }
        let mp4 = dir.file("x.mp4")
        #expect(throws: SynthError.invalidRequest(path: mp4.path, reason: "container .mp4 cannot carry pcm_s16le")) {
            try SynthRenderer.render(small(0, 1, .h264, .pcm, to: mp4))
        }
        // Rejected requests write nothing.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).isEmpty)
    }
}

@Suite struct ConcurrentRenderTests {
    @Test func concurrentRendersInOneProcessMatchASequentialRender() throws {
        let dir = try Scratch()
        defer { dir.cleanUp() }
        let reference = dir.file("ref.mp4")
        try SynthRenderer.render(small(3, 12, to: reference))
        let urls = (0..<3).map { dir.file("p\($0).mp4") }
        DispatchQueue.concurrentPerform(iterations: urls.count) { i in
            _ = try? SynthRenderer.render(small(3, 12, to: urls[i]))
        }
        let expected = try Data(contentsOf: reference)
        for url in urls { #expect(try Data(contentsOf: url) == expected) }
    }
}
