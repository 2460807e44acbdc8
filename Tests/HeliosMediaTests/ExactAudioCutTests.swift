import Foundation
@testable import HeliosMedia
import Testing

/// The pure part of `--audio exact`: which decoded samples of a chunk are content, and each chunk's share of the
/// output, by integer arithmetic on timestamps. No I/O.
@Suite("Exact audio cut")
struct ExactAudioCutTests {
    /// `count` AAC packets of 1024 samples in a 1/48000 time base, the first at `firstPts`.
    static func aac(_ count: Int, firstPts: Int64 = -1024) -> [ExactAudio.PacketFacts] {
        (0..<count).map { ExactAudio.PacketFacts(pts: firstPts + Int64($0) * 1024, decodedSamples: 1024) }
    }
    static let samples = Rational(1, 48000)

    @Test("MP4 edit list: the discard-flagged priming packet is left out, the cut starts on the first content sample")
    func editListPriming() {
        let cut = ExactAudio.cut(packets: Self.aac(49), primingPackets: 1, timeBase: Self.samples, sampleRate: 48000,
                                 videoStart: 0, videoTimeBase: Rational(1, 15360), count: 48000)
        #expect(cut == ExactAudio.Cut(from: 1024, count: 48000, contentStart: 1024, contentEnd: 49 * 1024, videoOffset: 0))
        #expect(cut.silentSamples == 0)
    }

    @Test("priming stored as content (CMAF, GStreamer's MP4): the sound belongs where the priming packet starts, not a frame later")
    func primingStoredAsContent() {
        // The priming frame at 0 with the video, the content from 1024: read as the timestamps say, the cut would take
        // 1024 samples of silence before the content and leave its last 1024 out.
        let packets = Self.aac(50, firstPts: 0)
        let literal = ExactAudio.cut(packets: packets, primingPackets: 1, timeBase: Self.samples, sampleRate: 48000,
                                     videoStart: 0, videoTimeBase: Rational(1, 15360), count: 48000)
        #expect(literal.videoOffset == -1024)
        #expect(literal.silentSamples == 1024)
        let cut = ExactAudio.cut(packets: packets, primingPackets: 1, primingStoredAsContent: true, timeBase: Self.samples,
                                 sampleRate: 48000, videoStart: 0, videoTimeBase: Rational(1, 15360), count: 48000)
        #expect(cut == ExactAudio.Cut(from: 1024, count: 48000, contentStart: 1024, contentEnd: 50 * 1024, videoOffset: 0))
        #expect(cut.silentSamples == 0)
    }

    @Test("a partial edit list (skip samples on the first content packet) moves the content start inside the packet")
    func skipSamplesInsidePacket() {
        var packets = Self.aac(50, firstPts: -2048)
        packets[1].skipStart = 64  // 2112 samples of priming: one whole packet, then 1088 of the next
        packets[1].pts = -64
        let cut = ExactAudio.cut(packets: packets, primingPackets: 1, timeBase: Self.samples, sampleRate: 48000,
                                 videoStart: 0, videoTimeBase: Self.samples, count: 1600)
        #expect(cut.contentStart == 1088)
        #expect(cut.from == 1088)
        #expect(cut.videoOffset == 0)
    }

    @Test("a frame marked as partly priming stays content after its skip, though it ends within 1 ms of the video (MP3's LAME delay)")
    func partlyPrimingFrame() {
        // ffmpeg's LAME: 1,105 samples of delay in a 1,152-sample frame, marked by the MP4 edit list as skip samples.
        // The frame ends 47 samples (under a millisecond) after the video starts, so copy mode's priming count takes
        // it whole; its last 47 samples are the chunk's first sound.
        var packets = (0..<45).map { ExactAudio.PacketFacts(pts: -1105 + Int64($0) * 1152, decodedSamples: 1152) }
        packets[0].skipStart = 1105
        let cut = ExactAudio.cut(packets: packets, primingPackets: 1, timeBase: Self.samples, sampleRate: 48000,
                                 videoStart: 0, videoTimeBase: Rational(1, 15360), count: 49600)
        #expect(cut == ExactAudio.Cut(from: 1105, count: 49600, contentStart: 1105, contentEnd: 45 * 1152, videoOffset: 0))
        #expect(cut.silentSamples == 0)
        // Wholly priming (a discard flag and no skip, as AAC's first frame): still left out.
        packets[0].skipStart = 0
        let whole = ExactAudio.cut(packets: packets, primingPackets: 1, timeBase: Self.samples, sampleRate: 48000,
                                   videoStart: 0, videoTimeBase: Rational(1, 15360), count: 49600)
        #expect(whole.contentStart == 1152)
    }

    @Test("Opus pre-skip the decoder applies on its own is priming; a millisecond time base cannot tell 1 ms apart")
    func opusPreSkipInMilliseconds() {
        // Matroska: 20 ms packets, read 7 ms early, video at 0; 312 samples of pre-skip; 48 samples per tick.
        let packets = (0..<10).map { ExactAudio.PacketFacts(pts: -7 + Int64($0) * 20, decodedSamples: 960) }
        let cut = ExactAudio.cut(packets: packets, primingPackets: 0, decoderPriming: 312, timeBase: Rational(1, 1000),
                                 sampleRate: 48000, videoStart: 0, videoTimeBase: Rational(1, 1000), count: 8000)
        #expect(cut.contentStart == 312)
        #expect(cut.videoOffset == 0, "-7 ms + 312 samples is 24 samples from the video: below one tick")
        #expect(cut.from == 312)
        // Skip side data on the first packet takes precedence over the declared delay.
        var flagged = packets
        flagged[0].skipStart = 312
        #expect(ExactAudio.cut(packets: flagged, primingPackets: 0, decoderPriming: 999, timeBase: Rational(1, 1000),
                               sampleRate: 48000, videoStart: 0, videoTimeBase: Rational(1, 1000), count: 8000).from == 312)
    }

    @Test("a video start that the timestamps place away from the audio content moves the cut by exactly that much")
    func videoOffset() {
        // Video starts 3 ms after the audio content: 144 samples, three ticks, so it is resolved.
        let packets = (0..<10).map { ExactAudio.PacketFacts(pts: Int64($0) * 20, decodedSamples: 960) }
        let cut = ExactAudio.cut(packets: packets, primingPackets: 0, timeBase: Rational(1, 1000), sampleRate: 48000,
                                 videoStart: 3, videoTimeBase: Rational(1, 1000), count: 1600)
        #expect(cut.videoOffset == 144)
        #expect(cut.from == 144)
        // In a sample time base even one sample counts.
        let fine = ExactAudio.cut(packets: Self.aac(10, firstPts: 0), primingPackets: 0, timeBase: Self.samples, sampleRate: 48000,
                                  videoStart: 1, videoTimeBase: Self.samples, count: 1600)
        #expect(fine.from == 1)
    }

    @Test("audio shorter than its video, or starting after it: the missing samples are silence, counted")
    func silence() {
        // Audio content starts 100 samples after the video.
        let late = ExactAudio.cut(packets: Self.aac(3, firstPts: 100), primingPackets: 0, timeBase: Self.samples, sampleRate: 48000,
                                  videoStart: 0, videoTimeBase: Self.samples, count: 1600)
        #expect(late.from == -100)
        #expect(late.silentSamples == 100)
        // End padding marked on the last packet, and a video longer than the content.
        var packets = Self.aac(3, firstPts: 0)
        packets[2].skipEnd = 500
        let short = ExactAudio.cut(packets: packets, primingPackets: 0, timeBase: Self.samples, sampleRate: 48000,
                                   videoStart: 0, videoTimeBase: Self.samples, count: 3000)
        #expect(short.contentEnd == 3 * 1024 - 500)
        #expect(short.silentSamples == 3000 - (3 * 1024 - 500))
    }

    /// Inputs with one video stream of `frames[i]` frames at 30 fps in `timeBase`, and nothing else.
    static func inputs(_ frames: [Int], timeBase: Rational) -> [ProbedInput] {
        frames.map { n in
            let frame = Ticks.rescale(1, from: Rational(1, 30), to: timeBase)
            var s = StreamAccumulator(index: 0, signature: Probes.signature(.video), timeBase: timeBase, frameRate: Rational(30, 1))
            for k in 0..<n {
                let pts = Ticks.rescale(Int64(k), from: Rational(1, 30), to: timeBase)
                s.add(PacketTiming(pts: pts, dts: pts, duration: frame, isDiscard: false), isKeyframe: k == 0)
            }
            return ProbedInput(path: "x", formatName: "matroska,webm", fileSize: 0, streams: [s.finish()])
        }
    }

    @Test("each chunk's share is rounded once from its exact start: 1-frame chunks in milliseconds add up with no drift")
    func sharesDoNotDrift() {
        let frames = Array(repeating: 1, count: 1000) + [2, 9, 30]
        for tb in [Rational(1, 1000), Rational(1, 15360)] {
            let starts = ExactAudio.videoStartSamples(inputs: Self.inputs(frames, timeBase: tb), sampleRate: 48000)
            #expect(starts.count == frames.count + 1)
            #expect(starts.last == Int64(frames.reduce(0, +)) * 1600, "time base \(tb)")
            #expect(zip(starts.dropFirst(), frames).allSatisfy { $0.0 > 0 })
        }
        // 44.1 kHz: 1470 samples a frame, exact; shares of 1-frame chunks all 1470.
        let starts = ExactAudio.videoStartSamples(inputs: Self.inputs([1, 1, 1], timeBase: Rational(1, 1000)), sampleRate: 44100)
        #expect(starts == [0, 1470, 2940, 4410])
    }
}
