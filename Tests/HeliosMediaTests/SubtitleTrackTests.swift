import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Chunks that carry a subtitle track (`Fixtures/generate.sh`, `subtitles-*`): one cue per chunk, 0.1 s to 0.6 s into
/// it, in chunks of 30, 20 and 30 frames. MP4's mov_text from ffmpeg has one sample more than the demuxer hands out
/// (an empty one after the last cue), which is no lost frame.
@Suite("Subtitle tracks: cues keep their place in their chunk", .serialized)
struct SubtitleTrackTests {
    @Test("every cue lands at its chunk's start plus its time within the chunk, with its text", arguments: ["subtitles-mp4", "subtitles-mkv"])
    func cuesFollowTheirChunks(set: String) async throws {
        let stitched = try await StitchedSet(set)
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())

        // ffmpeg's own reading of the output's subtitle track, as SubRip.
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", stitched.output.path, "-map", "0:s:0", "-f", "srt", "-"])
        #expect(result.status == 0, "\(result.stderr)")
        let cues = result.stdout.components(separatedBy: "\n\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            .map { $0.split(separator: "\n").dropFirst().map(String.init) }
        let starts = [0.0, 30.0 / 30, 50.0 / 30]
        #expect(cues.count == 3, "\(cues)")
        for (k, cue) in cues.enumerated() where k < starts.count {
            #expect(cue.last == "chunk \(k)", "\(cue)")
            let expected = "\(Self.srtTime(starts[k] + 0.1)) --> \(Self.srtTime(starts[k] + 0.6))"
            #expect(cue.first == expected, "cue \(k + 1): \(cue.first ?? "") instead of \(expected)")
        }
    }

    /// `seconds` as SubRip writes a time, to the millisecond.
    static func srtTime(_ seconds: Double) -> String {
        let ms = Int((seconds * 1000).rounded())
        return String(format: "%02d:%02d:%02d,%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
    }
}
