import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// A Matroska recording remuxed into MP4 (`ffmpeg -c copy`, as OBS remuxes its recordings) keeps millisecond
/// timestamps in a 1/16000 time base: 1/30 s is 528 or 544 ticks, never 533. Such chunks stitch as their Matroska
/// originals do; a dropped frame or another frame rate in them is still refused.
@Suite("Millisecond timestamps in a finer time base", .serialized)
struct MillisecondTimestampTests {
    @Test("the clock timestamps were rounded to: the gaps' common divisor where a frame spans 8 of it, else a tick")
    func quantum() {
        #expect(StreamAccumulator.quantum([528, 544], mode: 528) == 16)
        #expect(StreamAccumulator.quantum([0, 528, 544, 1072], mode: 528) == 16)
        #expect(StreamAccumulator.quantum([512], mode: 512) == 1, "one gap: nothing to tell rounding from the frame")
        #expect(StreamAccumulator.quantum([512, 1024], mode: 512) == 1, "a hole in an exact stream is a frame, not rounding")
        #expect(StreamAccumulator.quantum([2999, 3000, 3001], mode: 3000) == 1)
        #expect(StreamAccumulator.quantum([64, 72], mode: 64) == 8)
        #expect(StreamAccumulator.quantum([64, 80], mode: 64) == 1, "a divisor of a quarter frame is too coarse to be rounding")
    }

    /// Chunks of `frames` frames at 30 fps, recorded to Matroska and remuxed to MP4. `drop` leaves that frame out
    /// of the first chunk with its timestamps kept (a hole); chunk `slow` has its timestamps stretched to 25 fps (the
    /// same bitstream, so only its timing differs); `audio` adds AAC.
    static func chunks(_ frames: [Int], drop: Int? = nil, slow: Int? = nil, audio: Bool = true, in dir: URL) async throws -> [URL] {
        func ffmpeg(_ arguments: [String]) async throws {
            let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-y"] + arguments)
            try #require(result.status == 0, "\(result.stderr)")
        }
        var urls: [URL] = [], start = 0
        for (k, n) in frames.enumerated() {
            let mkv = dir.appendingPathComponent("rec\(k).mkv"), mp4 = dir.appendingPathComponent("rec\(k).mp4")
            var video = "testsrc2=size=160x96:rate=30,trim=start_frame=\(start):end_frame=\(start + n),setpts=PTS-STARTPTS"
            if k == 0, let drop { video += ",select='not(eq(n\\,\(drop)))'" }
            let sound = audio ? ["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "\(Double(n) / 30)", "-c:a", "aac"] : []
            try await ffmpeg(["-f", "lavfi", "-i", video] + sound + ["-fps_mode", "passthrough", "-c:v", "libx264", "-bf", "3", mkv.path])
            if k == slow {
                let stretched = dir.appendingPathComponent("slow\(k).mkv")
                try await ffmpeg(["-itsscale", "1.2", "-i", mkv.path, "-map", "0", "-c", "copy", stretched.path])
                try await ffmpeg(["-i", stretched.path, "-map", "0", "-c", "copy", mp4.path])
            } else {
                try await ffmpeg(["-i", mkv.path, "-map", "0", "-c", "copy", mp4.path])
            }
            urls.append(mp4)
            start += n
        }
        return urls
    }

    @Test("recordings of 1, 2, 8 and 45 frames stitch with every frame, as the Matroska files they came from do")
    func remuxedRecordingsStitch() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.chunks([1, 2, 8, 45], in: dir)
        let probe = try MediaProbe.probe(chunks[3])
        #expect(probe.streams[0].timeBase == Rational(1, 16000) && probe.streams[0].irregularDurationCount == 0)
        let output = dir.appendingPathComponent("out.mp4")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        #expect(report.isValid)
        var expected: [String] = []
        for chunk in chunks { expected += try await Oracle.frameHashes(chunk) }
        #expect(try await Oracle.frameHashes(output) == expected)
        #expect(try await Oracle.decodeWarnings(output) == [])
    }

    @Test("a dropped frame, or a recording at 25 fps among 30, is still refused")
    func holesAndRatesRefused() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let holed = try await Self.chunks([30, 30], drop: 10, in: dir)
        let hole = await #expect(throws: StitchError.self) { try await NativeStitcher().stitch(holed, to: output) }
        guard case .invalidInputs(let report)? = hole else { Issue.record("\(String(describing: hole))"); return }
        #expect(report.issues.contains { $0.code == .irregularFrameDuration && $0.inputIndex == 0 }, "\(report.issues)")

        let mixed = try await Self.chunks([30, 8, 30], slow: 1, audio: false, in: dir)
        let rate = await #expect(throws: StitchError.self) { try await NativeStitcher().stitch(mixed, to: output) }
        guard case .invalidInputs(let report)? = rate else { Issue.record("\(String(describing: rate))"); return }
        #expect(report.issues.contains { $0.code == .frameDurationMismatch && $0.inputIndex == 1 }, "\(report.issues)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }
}
