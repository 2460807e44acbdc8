import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// The chunk sets real encoders and renderers write, stitched in process and checked with ffmpeg/ffprobe:
/// containers × codecs × B-frames on and off × chunks down to 1 frame and 1-frame remainders, and files written by
/// other tools (mkvmerge, GStreamer). Sets come from `Fixtures/generate.sh` (`matrix-*`, `mkvmerge-*`, `gst-*`).
@Suite("Chunk matrix: B-frames, Matroska, fragmented MP4, MPEG-TS, other muxers", .serialized)
struct ChunkMatrixTests {
    static let splits: [Character: [Int]] = ["a": [2, 9, 1, 30], "b": [30, 30, 30, 1], "c": [1, 1, 2, 1, 5, 1], "d": [240, 240]]
    static let sets = [
        "matrix-mp4-h264-bf0-a", "matrix-mp4-h264-bf3-a", "matrix-mp4-h264-bf3-b", "matrix-mp4-h264-bf3-c",
        "matrix-mp4-hevc-bf4-a", "matrix-mov-h264-bf3-a",
        "matrix-mkv-h264-bf0-a", "matrix-mkv-h264-bf3-a", "matrix-mkv-h264-bf3-c", "matrix-mkv-hevc-bf4-b",
        "matrix-webm-vp9-bf0-c", "matrix-ts-h264-bf3-a", "matrix-ts-h264-bf0-b",
        "matrix-fmp4-h264-bf0-a", "matrix-fmp4-h264-bf3-a", "matrix-fmp4-h264-bf3-c",
        "matrix-fmp4-hevc-bf3-a", "matrix-fmp4-hevc-bf0-c", "matrix-dfmp4-h264-bf3-a", "matrix-dfmp4-hevc-bf3-c",
        "matrix-cmaf-h264-bf0-c", "matrix-cmaf-h264-bf3-a", "matrix-cmaf-hevc-bf3-a", "matrix-cmaf-hevc-bf3-c",
        "matrix-fmp4-h264-bf0-d", "matrix-fmp4-hevc-bf0-d", "matrix-mkv-h264-bf3-d",
        "mkvmerge-h264-bf3-a", "gst-mp4-bf3-a", "gst-mkv-bf3-b", "gst-fmp4-bf3-a", "gst-fmp4-bf3-c",
    ]

    @Test("frames exact, no decode warnings, frame rate and durations as rendered", arguments: sets)
    func stitch(set: String) async throws {
        let frames = Self.splits[set.last!]!.reduce(0, +)
        let stitched = try await StitchedSet(set)
        defer { stitched.remove() }
        let (output, report) = (stitched.output, stitched.report)
        #expect(stitched.chunks.count == Self.splits[set.last!]!.count)
        #expect(report.isValid)
        #expect(report.output?.videoFrames == Int64(frames))

        #expect(try await Oracle.decodeWarnings(output) == [])
        let expected = try await stitched.chunkFrameHashes()
        let actual = try await Oracle.frameHashes(output)
        #expect(actual.count == frames)
        #expect(actual == expected, "decoded frames differ from the chunks' frames")

        let timing = try await Oracle.timing(output)
        let video = try #require(timing.first { $0.kind == "video" })
        let audio = try #require(timing.first { $0.kind == "audio" })
        let seconds = Double(frames) / 30
        // GStreamer and CMAF store the AAC encoder's priming frame as content (no edit list), so their chunks
        // themselves present their audio one frame late: that frame is allowed on top of copy mode's one-frame bound.
        let primingAsContent = set.hasPrefix("gst-") || set.hasPrefix("matrix-cmaf-")
        let extra = primingAsContent ? 1024.0 / 48000 : 0
        let halfFrame = 0.5 / 30, aacFrame = 1024.0 / 48000 + 0.001 + extra
        #expect(video.averageFrameRate == "30/1")
        #expect(video.packets == frames)
        #expect(abs(video.packetSpan - seconds) <= halfFrame, "video spans \(video.packetSpan) s for \(frames) frames")
        if let stated = video.statedDuration { #expect(abs(stated - seconds) <= halfFrame, "video stream lasts \(stated) s") }
        #expect(abs(audio.packetSpan - video.packetSpan) <= aacFrame, "audio spans \(audio.packetSpan) s, video \(video.packetSpan) s")
        if let stated = audio.statedDuration, let videoStated = video.statedDuration {
            #expect(abs(stated - videoStated) <= aacFrame, "audio stream lasts \(stated) s, video \(videoStated) s")
        }
        let decoded = try await Oracle.decodedAudioSamples(output)
        let bound = primingAsContent ? 2048 : 1024
        #expect(abs(decoded - frames * 1600) <= bound, "decoded audio: \(decoded) samples for \(frames * 1600)")
    }

    /// FFmpeg's fragmented MP4 stretches a first frame over AAC priming, and libavformat counts the stretch into the
    /// frame rate it declares (460800/15401 fps for 240 frames): into Matroska, whose frames take their default
    /// duration from that rate, the output declares the rate the frames have.
    @Test("fragmented MP4 with stretched first frames into Matroska: 30 fps, not the stretch's 29.92")
    func stretchedRateIntoMatroska() async throws {
        let stitched = try await StitchedSet("matrix-fmp4-h264-bf0-d", container: "mkv")
        defer { stitched.remove() }
        #expect(stitched.report.output?.videoFrames == 480)
        let video = try #require(try await Oracle.timing(stitched.output).first { $0.kind == "video" })
        #expect(video.averageFrameRate == "30/1")
        #expect(video.packets == 480)
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())
    }
}
