import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Segments cut from one encode by ffmpeg's `segment` and HLS muxers (`Fixtures/generate.sh`, `segments-*`): the
/// timestamps continue from segment to segment, and each segment's audio starts a few packets before its video (the
/// packets the segmenter wrote while the segment was open), so a segment's audio is not its video's span. Stitched,
/// they must give back the encode they were cut from, which the fixture also writes in one file (`-whole`).
@Suite("Segments of one encode: HLS and ffmpeg's segment muxer", .serialized)
struct SegmentedStreamTests {
    /// TS without B-frames in segments of 1, 1, 1, 30, 27 and 30 frames; TS with 3 B-frames in 30, 1, 30, 14 and
    /// 15; Matroska with 2 B-frames in 30, 1, 1, 30 and 28; MP4 with 2 B-frames in 30, 1, 30, 14 and 15; the HLS
    /// muxer's 1-second TS segments.
    /// WebM with VP9 and Opus in segments of 1, 1, 29, 30, 14 and 15 frames, each header declaring the encoder's
    /// pre-skip. The TS, Matroska and MP4 cuts again with `-reset_timestamps 1`: each file's timestamps start afresh,
    /// its audio still before its video by the packets carried over (which an MP4 file's edit list hides).
    static let sets = ["segments-ts-h264-bf0", "segments-ts-h264-bf3", "segments-mkv-h264-bf2", "segments-mp4-h264-bf2",
                       "segments-hls-h264-bf3", "segments-webm-vp9-opus", "segments-reset-ts-h264-bf3", "segments-reset-mkv-h264-bf2",
                       "segments-reset-mp4-h264-bf2"]

    /// Each AAC set into MP4, Matroska and MPEG-TS; the Opus set into WebM and Matroska. (Not into MP4: FFmpeg 5.1's
    /// Matroska muxer writes Opus blocks without adding the CodecDelay that readers subtract, so its files, read as
    /// the specification says, hold the audio 7 ms before the encode's; an MP4 written from them keeps that.)
    static let outputs = sets.flatMap { set in (set.hasSuffix("opus") ? ["webm", "mkv"] : ["mp4", "mkv", "ts"]).map { (set, $0) } }

    @Test("the segments' stitch decodes to the whole encode: every frame, every audio sample after the priming",
          arguments: outputs)
    func givesBackTheEncode(set: String, container: String) async throws {
        let stitched = try await StitchedSet(set, container: container)
        defer { stitched.remove() }
        let report = stitched.report
        #expect(report.isValid)
        #expect(report.issues.isEmpty, "\(report.issues)")
        let whole = try #require(try await FixtureCache.shared.files("\(set)-whole").first)

        // Every boundary continues the audio where the segment before left it: no gap, no dropped packet. The gap the
        // timestamps show is a tick at most, or in MP4 segments (whose video and audio starts are each rounded to the
        // edit list's millisecond) two milliseconds.
        let audioBoundaries = report.boundaries.filter { $0.kind == .audio }
        #expect(audioBoundaries.count == stitched.chunks.count - 1)
        for boundary in audioBoundaries {
            let rounding = set.contains("mp4") ? abs(boundary.gapMilliseconds) <= 2 : abs(boundary.gapTicks) <= 1
            #expect(boundary.audioDiscontinuitySamples == 0 && rounding && boundary.droppedPackets == 0,
                    "boundary into input \(boundary.index + 1): \(boundary)")
        }

        #expect(try await Oracle.frameHashes(stitched.output) == Oracle.frameHashes(whole), "decoded frames differ from the encode's")
        #expect(try await Oracle.decodeWarnings(stitched.output) == [])

        // The whole file decodes its 1024-sample priming frame as sound when it has no edit list to skip it
        // (MPEG-TS, Matroska); the output skips it (MP4's edit list), or drops its packet (Matroska and MPEG-TS,
        // which cannot mark it) and decodes its first frame without the one before. From the third output frame on,
        // every sample is the encode's, as ffmpeg decodes it, shifted by that priming: to the sample, or within the
        // millisecond that MP4 segments' edit lists round their start to.
        let output = try await Oracle.decodedAudio(stitched.output), reference = try await Oracle.decodedAudio(whole)
        let videoSamples = 90 * 48000 / 30
        #expect(output.count >= videoSamples && output.count < videoSamples + 1024, "\(output.count) samples for \(videoSamples)")
        // Opus's pre-skip is skipped by the decoder in both files.
        let priming = whole.pathExtension == "mp4" || set.hasSuffix("opus") ? 0 : 1024
        let window = 48000..<52096
        let shift = try #require((-2048...2048).first { shift in
            window.allSatisfy { output[$0] == reference[$0 + shift] }
        }, "the output's audio is not the encode's at any shift")
        #expect(abs(shift - priming) <= (set.contains("mp4") ? 48 : 0), "shifted by \(shift) samples")
        let differing = (2048..<min(output.count, reference.count - shift)).filter { output[$0] != reference[$0 + shift] }
        #expect(differing.isEmpty, "\(differing.count) samples differ from the encode's, the first at \(differing.first ?? 0)")
    }

    @Test("a segment's audio before its video is the segment before's sound: a set cut short ends early, named")
    func truncatedSetDrifts() async throws {
        // The first two TS segments with B-frames: the first segment's audio stops before its video ends (the rest is
        // in the second), and so does the second's, whose successor is missing: the output's audio ends early.
        let files = Array(try await FixtureCache.shared.files("segments-ts-h264-bf3").prefix(3))
        let inputs = try files.map { try MediaProbe.probe($0) }
        let plan = StitchPlan(inputs: ProbedInput.normalized(inputs), output: OutputCapabilities(formatName: "mp4"))
        let drifts = plan.inputDrifts
        #expect(drifts.count == 3)
        // Inputs continued by the next carry no drift of their own; the last carries the run's.
        #expect(drifts.prefix(2).allSatisfy { $0.ticks == 0 }, "\(drifts)")
        #expect(drifts[2].ticks < 0, "\(drifts)")
    }

    /// GStreamer's splitmuxsink converts nanoseconds to MPEG-TS's 90 kHz one timestamp at a time, so 1/30 s frames
    /// last 2999, 3000 or 3001 ticks; its last segment ends with the AAC encoder's flush frame, unmarked. Both were
    /// refused (`9 frame(s) deviate from the frame duration of 2999 ticks`, `audio lasts 29.344 ms longer than video`).
    @Test("GStreamer's splitmuxsink MPEG-TS segments: a tick of rounding is no irregular frame, the last flush frame is cut")
    func splitmuxSegments() async throws {
        let stitched = try await StitchedSet("splitmux-ts", container: "mp4")
        defer { stitched.remove() }
        #expect(stitched.report.isValid && stitched.report.issues.isEmpty, "\(stitched.report.issues)")
        let probes = try stitched.chunks.map { try MediaProbe.probe($0) }
        #expect(probes.allSatisfy { $0.streams[0].typicalPacketDuration == 3000 && $0.streams[0].irregularDurationCount == 0 })
        let expected = try await stitched.chunkFrameHashes()
        #expect(expected.count == 90)
        #expect(try await Oracle.frameHashes(stitched.output) == expected)
        #expect(try await Oracle.decodeWarnings(stitched.output) == [])
        let timing = try await Oracle.timing(stitched.output)
        let video = try #require(timing.first { $0.kind == "video" }), audio = try #require(timing.first { $0.kind == "audio" })
        // The source's audio runs 8 ms past the picture (141 buffers of 1,024 samples); the flush frame after it is cut.
        #expect(abs(audio.packetSpan - video.packetSpan) <= 1024.0 / 48000, "audio \(audio.packetSpan) s, video \(video.packetSpan) s")
    }

    @Test("--audio exact is refused, naming the first segment that continues the one before: the copy is exact")
    func exactAudioRefused() async throws {
        let files = try await FixtureCache.shared.files("segments-hls-h264-bf3")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let error = await #expect(throws: StitchError.self) {
            try await NativeStitcher(options: StitchOptions(audio: .exact)).stitch(files, to: output)
        }
        guard case .usage(let message)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(message.contains("input 2 (chunk001.ts) continues the timestamps of input 1"), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
