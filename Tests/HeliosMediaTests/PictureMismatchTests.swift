import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// A job's chunk must be the spec's size and frame rate (`ProbedInput.pictureMismatch`, the check `helios job run`
/// and the workers make): no chunk of any fixture set, each at its own size and rate, may be refused by it, and each
/// must be refused at another rate and size.
@Suite("Picture check: a chunk's size and frame rate against a job's")
struct PictureMismatchTests {
    @Test("the rate check: the frames' typical duration (whole ticks where they can be) and all frames' duration (two ticks, 0.05%) must both disagree")
    func rateArithmetic() {
        let mp4 = Rational(1, 15360), ms = Rational(1, 1000), ts = Rational(1, 90000), ntsc = Rational(1, 30000)
        func rate(_ duration: Int64, _ frames: Int, _ typical: Int64, _ tb: Rational, _ fps: Double) -> Double? {
            ProbedInput.measuredRate(duration: duration, frames: frames, typicals: [typical], timeBase: tb, fps: fps)
        }
        // The spec's rate passes; another is named, measured over the frames.
        #expect(rate(512 * 300, 300, 512, mp4, 30) == nil)
        #expect(rate(3600 * 7, 7, 3600, ts, 30) == 25)
        #expect(rate(3000 * 7, 7, 3000, ts, 25) == 30)
        #expect(rate(3600 * 7, 7, 3600, ts, 25) == nil)
        // 30000/1001 is 29.97 fps; in a 1/30000 time base its frames' 1001 ticks are not 30 fps's 1000.
        #expect(rate(1001 * 300, 300, 1001, ntsc, 29.97) == nil)
        #expect(rate(1001 * 300, 300, 1001, ntsc, 30000.0 / 1001) == nil)
        let slow = rate(1001 * 300, 300, 1001, ntsc, 30)
        #expect(slow.map { abs($0 - 30000.0 / 1001) < 1e-9 } == true)
        // In 1/90000, 3003 ticks a frame against 30 fps's 3000.
        #expect(rate(3003 * 300, 300, 3003, ts, 30) != nil)
        // Milliseconds: 30 fps frames last 33 or 34; 40 ms frames are 25 fps.
        for (duration, frames, typical) in [(33, 1, 33), (66, 2, 33), (233, 7, 33), (10_000, 300, 33), (10_000, 300, 34)] {
            #expect(rate(Int64(duration), frames, Int64(typical), ms, 30) == nil)
        }
        #expect(rate(40, 1, 40, ms, 30) == 25)
        // A last frame stored with a wrong duration (a fragmented MP4's 2-frame chunk: 512 + 840): its typical
        // duration is 30 fps, so it passes; the same at 25 fps is refused.
        #expect(rate(1352, 2, 512, mp4, 30) == nil)
        #expect(rate(1352, 2, 512, mp4, 25) != nil)
        // Only one measure: the typical duration alone, or the frames' duration alone.
        #expect(rate(0, 1, 3600, ts, 30) == 25)
        #expect(rate(0, 1, 3000, ts, 30) == nil)
        #expect(rate(3600, 1, 0, ts, 30) == 25)
        // Nothing to measure, or a broken time base or rate.
        #expect(rate(0, 1, 0, ms, 30) == nil)
        #expect(rate(33, 1, 33, Rational(0, 1), 30) == nil)
        #expect(rate(33, 1, 33, ms, .nan) == nil)
    }

    /// Every set whose chunks share one picture, with video.
    static var sets: [String] {
        let realWorld = RealWorldChunkTests.sets.map(\.0)
        return (ProbeModeTests.sets + realWorld + ["copycut-mp4", "copycut-keyframes-mp4", "gst-fmp4-bf3-a", "gst-mkv-bf3-b", "gst-mp4-bf3-a",
                                                   "mkvmerge-h264-bf3-a", "alpha-webm-vp9", "exact-mp4-single", "mp4-tiny-1000"])
            .filter { !$0.hasPrefix("bad-") && $0 != "m4a-audio-only" }
            .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }

    @Test("every fixture set's chunks pass at the set's own size and rate, and are refused at 5/4 of the rate and at another size",
          arguments: sets)
    func fixtureSets(set: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let first = try #require(files.first)
        let shown = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,r_frame_rate",
                                                    "-of", "csv=p=0", first.path])
        let fields = (shown.stdout.split(separator: "\n").first ?? "").split(separator: ",")
        try #require(fields.count == 3, "\(set): ffprobe said \(shown.stdout) \(shown.stderr)")
        let width = Int(fields[0])!, height = Int(fields[1])!
        let stated = fields[2].split(separator: "/").compactMap { Double($0) }
        let fps = RealWorldChunkTests.sets.first { $0.0 == set }?.1 ?? stated[0] / stated[1]
        for file in files {
            let input = try MediaProbe.probe(file)
            #expect(input.pictureMismatch(width: width, height: height, fps: fps) == nil,
                    "\(set)/\(file.lastPathComponent) at \(width)x\(height), \(fps) fps")
            // Cover art is not the video a stitch times by: a file of sound and its cover is not checked.
            guard let m = input.masterStreamIndex, input.streams[m].signature.kind == .video else { continue }
            #expect(input.pictureMismatch(width: width + 16, height: height, fps: fps) == .size(width: width, height: height),
                    "\(set)/\(file.lastPathComponent)")
            let faster = input.pictureMismatch(width: width, height: height, fps: fps * 1.25)
            guard case .frameRate(let measured, _, _)? = faster else {
                Issue.record("\(set)/\(file.lastPathComponent) passes at \(fps * 1.25) fps: \(String(describing: faster))")
                continue
            }
            #expect(abs(measured / fps - 1) < 0.05, "\(set)/\(file.lastPathComponent): measured \(measured) fps, not about \(fps)")
        }
    }
}
