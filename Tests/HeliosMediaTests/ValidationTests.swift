import Foundation
@testable import HeliosMedia
import Testing

/// Probed inputs built by hand: one H.264 video stream at 30 fps (1/15360) and one 48 kHz AAC stream, one second each.
enum Probes {
    static func video(frames: Int = 30, frameDuration: Int64 = 512) -> ProbedStream {
        ProbedStream(index: 0, signature: signature(.video), timeBase: Rational(1, 15360), packetCount: frames,
                     frameCount: Int64(frames), firstPts: 0, firstDts: -1024, lastPts: Int64(frames - 1) * frameDuration,
                     lastDts: Int64(frames - 3) * frameDuration, startPts: 0, endPts: Int64(frames) * frameDuration,
                     firstPacketIsKeyframe: true, leadingDiscardPackets: 0, leadingDiscardDuration: 0, primingSamples: 0,
                     trailingPaddingSamples: 0, typicalPacketDuration: frameDuration, irregularDurationCount: 0,
                     missingTimestampCount: 0, firstNonIncreasingDts: nil, firstPtsBeforeDts: nil, corruptPacketCount: 0,
                     leadingPackets: [], initialPadding: 0)
    }

    /// AAC with a discard-flagged priming packet at -1024 and the last packet trimmed to end at `samples`.
    static func audio(samples: Int64 = 48000) -> ProbedStream {
        let packets = Int((samples + 1023) / 1024)
        return ProbedStream(index: 1, signature: signature(.audio), timeBase: Rational(1, 48000), packetCount: packets + 1,
                            frameCount: samples, firstPts: -1024, firstDts: -1024, lastPts: Int64(packets - 1) * 1024,
                            lastDts: Int64(packets - 1) * 1024, startPts: 0, endPts: samples, firstPacketIsKeyframe: true,
                            leadingDiscardPackets: 1, leadingDiscardDuration: 1024, primingSamples: 1024,
                            trailingPaddingSamples: 0, typicalPacketDuration: 1024, irregularDurationCount: 0,
                            missingTimestampCount: 0, firstNonIncreasingDts: nil, firstPtsBeforeDts: nil, corruptPacketCount: 0,
                            leadingPackets: [PacketTiming(pts: -1024, dts: -1024, duration: 1024, isDiscard: true),
                                             PacketTiming(pts: 0, dts: 0, duration: 1024, isDiscard: false)],
                            initialPadding: 0)
    }

    /// WebM video: milliseconds, so a 30 fps frame lasts 33 or 34 ticks; the container declares 30 fps.
    static func webmVideo(frames: Int) -> ProbedStream {
        var stream = video(frames: frames, frameDuration: 33)
        stream.timeBase = Rational(1, 1000)
        stream.firstDts = 0
        stream.lastPts = Int64((Double(frames - 1) * 1000 / 30).rounded())
        stream.lastDts = stream.lastPts
        stream.endPts = stream.lastPts! + 33
        stream.frameRate = Rational(30, 1)
        return stream
    }

    /// Opus in WebM carrying `samples` of content: 312 samples of pre-skip (codec delay, no flagged packet),
    /// 20 ms packets on a millisecond clock, the last one's padding as discard-padding side data.
    static func opus(samples: Int64) -> ProbedStream {
        let preSkip: Int64 = 312
        let packets = Int((samples + preSkip + 959) / 960)
        let padding = Int64(packets) * 960 - samples - preSkip
        func timing(_ k: Int) -> PacketTiming {
            let pts = Int64((Double(Int64(k) * 960 - preSkip) / 48).rounded())
            return PacketTiming(pts: pts, dts: pts, duration: 20, isDiscard: false)
        }
        var signature = signature(.audio)
        signature.codec = "opus"
        signature.frameSize = 0
        return ProbedStream(index: 1, signature: signature, timeBase: Rational(1, 1000), packetCount: packets,
                            frameCount: Int64(packets) * 960, firstPts: timing(0).pts, firstDts: timing(0).pts,
                            lastPts: timing(packets - 1).pts, lastDts: timing(packets - 1).pts, startPts: timing(0).pts,
                            endPts: timing(packets - 1).pts + 20, firstPacketIsKeyframe: true, leadingDiscardPackets: 0,
                            leadingDiscardDuration: 0, primingSamples: 0, trailingPaddingSamples: padding,
                            typicalPacketDuration: 20, irregularDurationCount: 0, missingTimestampCount: 0,
                            firstNonIncreasingDts: nil, firstPtsBeforeDts: nil, corruptPacketCount: 0,
                            leadingPackets: (0..<min(packets, 16)).map(timing), initialPadding: preSkip,
                            trailingPackets: (max(packets - 8, 0)..<packets).map(timing))
    }

    static func signature(_ kind: MediaKind) -> CodecSignature {
        CodecSignature(kind: kind, codec: kind == .video ? "h264" : "aac", profile: kind == .video ? 100 : 1,
                       level: kind == .video ? 30 : -99, width: kind == .video ? 160 : 0, height: kind == .video ? 96 : 0,
                       pixelFormat: kind == .video ? "yuv420p" : nil, sampleAspectRatio: Rational(1, 1), fieldOrder: "progressive",
                       colorRange: "unknown", colorPrimaries: "unknown", colorTransfer: "unknown", colorSpace: "unknown",
                       sampleRate: kind == .audio ? 48000 : 0, channelLayout: kind == .audio ? "mono" : "unknown",
                       channels: kind == .audio ? 1 : 0, sampleFormat: kind == .audio ? "fltp" : nil,
                       frameSize: kind == .audio ? 1024 : 0, extradata: Data([1, 2, 3, 4]))
    }

    static func input(_ n: Int, video: ProbedStream = video(), audio: ProbedStream? = audio()) -> ProbedInput {
        ProbedInput(path: "chunk\(n).mp4", formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 1000,
                    streams: [video] + (audio.map { [$0] } ?? []), containerDurationMicroseconds: 1_000_000)
    }
}

@Suite("Validation over probed inputs (pure)")
struct ValidationTests {
    let mp4 = OutputCapabilities(formatName: "mp4")

    func codes(_ inputs: [ProbedInput], lenient: Bool = false, output: OutputCapabilities? = nil) -> [(IssueCode, IssueSeverity, Int?)] {
        StitchValidator.validate(inputs, output: output ?? mp4, lenient: lenient).map { ($0.code, $0.severity, $0.inputIndex) }
    }

    @Test func matchingInputsPass() {
        #expect(StitchValidator.validate((0..<5).map { Probes.input($0) }, output: mp4).isEmpty)
    }

    @Test func audioShortOfItsVideoAddsUpToAWarning() {
        // Each chunk's sound 896 samples short of its picture: 46 whole AAC frames for 48,000 samples.
        let short = (0..<10).map { Probes.input($0, audio: Probes.audio(samples: 46 * 1024)) }
        let issues = StitchValidator.audioShortfall(StitchPlan(inputs: short, output: mp4), short)
        #expect(issues.count == 1)
        #expect(issues.allSatisfy { $0.severity == .warning && $0.code == .avDrift && $0.stream == 1 && $0.message.contains("(8960 samples)") },
                "\(issues)")
        // Two such chunks fall 1,792 samples short, within two frames: nothing to say.
        let two = Array(short.prefix(2))
        #expect(StitchValidator.audioShortfall(StitchPlan(inputs: two, output: mp4), two).isEmpty)
        // Sound as long as the picture: nothing.
        let whole = (0..<10).map { Probes.input($0) }
        #expect(StitchValidator.audioShortfall(StitchPlan(inputs: whole, output: mp4), whole).isEmpty)
    }

    @Test func noInputs() {
        #expect(codes([]).map(\.0) == [.noInputs])
    }

    @Test func streamLayout() {
        let issues = codes([Probes.input(0), Probes.input(1, audio: nil)])
        #expect(issues.map(\.0) == [.streamLayoutMismatch])
        #expect(issues.first?.2 == 1)
    }

    @Test("an empty stream is one finding, not one per codec field its unknown parameters differ in")
    func emptyStreamIsNotAlsoACodecMismatch() {
        // An MPEG-TS segment whose audio has no packet: the parser never filled in its parameters.
        var empty = Probes.audio(samples: 0)
        empty.packetCount = 0
        empty.signature.profile = -99
        empty.signature.sampleRate = 0
        empty.signature.channels = 0
        empty.signature.frameSize = 0
        #expect(codes([Probes.input(0, audio: empty), Probes.input(1), Probes.input(2)]).map(\.0) == [.emptyStream])
        #expect(codes([Probes.input(0), Probes.input(1, audio: empty)]).map(\.0) == [.emptyStream])
    }

    @Test("every codec parameter is compared, and the message names the field", arguments: [
        ("codec", { @Sendable (s: inout CodecSignature) in s.codec = "hevc" }),
        ("profile", { @Sendable (s: inout CodecSignature) in s.profile = 77 }),
        ("level", { @Sendable (s: inout CodecSignature) in s.level = 40 }),
        ("width", { @Sendable (s: inout CodecSignature) in s.width = 320 }),
        ("height", { @Sendable (s: inout CodecSignature) in s.height = 180 }),
        ("pixel format", { @Sendable (s: inout CodecSignature) in s.pixelFormat = "yuv444p" }),
        ("sample aspect ratio", { @Sendable (s: inout CodecSignature) in s.sampleAspectRatio = Rational(4, 3) }),
        ("field order", { @Sendable (s: inout CodecSignature) in s.fieldOrder = "top first" }),
        ("color range", { @Sendable (s: inout CodecSignature) in s.colorRange = "pc" }),
        ("color primaries", { @Sendable (s: inout CodecSignature) in s.colorPrimaries = "bt709" }),
        ("color transfer", { @Sendable (s: inout CodecSignature) in s.colorTransfer = "bt709" }),
        ("color space", { @Sendable (s: inout CodecSignature) in s.colorSpace = "bt709" }),
        ("extradata", { @Sendable (s: inout CodecSignature) in s.extradata = Data([1, 2, 9, 4]) }),
    ] as [(String, @Sendable (inout CodecSignature) -> Void)])
    func videoParameter(field: String, change: @Sendable (inout CodecSignature) -> Void) {
        var video = Probes.video()
        change(&video.signature)
        let issues = StitchValidator.validate([Probes.input(0), Probes.input(1, video: video)], output: mp4)
        #expect(issues.map(\.code) == [.codecMismatch])
        #expect(issues.first?.message.hasPrefix(field + " is") == true, "\(issues)")
        #expect(issues.first?.stream == 0)
    }

    @Test("audio parameters are compared", arguments: [
        ("sample rate", { @Sendable (s: inout CodecSignature) in s.sampleRate = 44100 }),
        ("channel layout", { @Sendable (s: inout CodecSignature) in s.channelLayout = "stereo" }),
        ("channels", { @Sendable (s: inout CodecSignature) in s.channels = 2 }),
        ("sample format", { @Sendable (s: inout CodecSignature) in s.sampleFormat = "s16" }),
        ("frame size", { @Sendable (s: inout CodecSignature) in s.frameSize = 960 }),
    ] as [(String, @Sendable (inout CodecSignature) -> Void)])
    func audioParameter(field: String, change: @Sendable (inout CodecSignature) -> Void) {
        var audio = Probes.audio()
        change(&audio.signature)
        let issues = StitchValidator.validate([Probes.input(0), Probes.input(1, audio: audio)], output: mp4)
        #expect(issues.contains { $0.code == .codecMismatch && $0.message.hasPrefix(field + " is") && $0.stream == 1 }, "\(issues)")
        #expect(issues.allSatisfy { $0.severity == .error })
    }

    @Test func firstPacketMustBeKeyframe() {
        var video = Probes.video()
        video.firstPacketIsKeyframe = false
        #expect(codes([Probes.input(0), Probes.input(1, video: video)]).map(\.0) == [.firstPacketNotKeyframe])
    }

    @Test func timestampsWithinAnInput() {
        var video = Probes.video()
        video.missingTimestampCount = 2
        video.firstNonIncreasingDts = 7
        video.firstPtsBeforeDts = 9
        video.corruptPacketCount = 1
        let found = Set(codes([Probes.input(0, video: video)]).map(\.0))
        #expect(found == [.missingTimestamps, .nonIncreasingDts, .ptsBeforeDts, .corruptPackets])
    }

    @Test("a missing timestamp is named: no pts, or a pts without a dts")
    func missingTimestampMessages() {
        func message(pts: Int, dtsOnly: Int) -> String? {
            var audio = Probes.audio()
            audio.missingTimestampCount = pts + dtsOnly
            audio.missingPtsCount = pts
            audio.missingDtsOnlyCount = dtsOnly
            let issues = StitchValidator.validate([Probes.input(0, audio: audio)], output: OutputCapabilities(formatName: "mp4"))
            return issues.first { $0.code == .missingTimestamps }?.message
        }
        #expect(message(pts: 0, dtsOnly: 3) == "3 packet(s) have a pts but no dts")
        #expect(message(pts: 2, dtsOnly: 0) == "2 packet(s) have no pts")
        #expect(message(pts: 1, dtsOnly: 1) == "2 packet(s) lack timestamps (1 without pts, 1 with a pts but no dts)")
        // Video in AVI (H.264, or B-frames) and raw elementary streams say why, and what to do instead.
        var video = Probes.video()
        video.missingTimestampCount = 30
        video.missingPtsCount = 30
        var avi = Probes.input(0, video: video)
        avi.formatName = "avi"
        let issue = StitchValidator.validate([avi], output: OutputCapabilities(formatName: "avi")).first { $0.code == .missingTimestamps }
        #expect(issue?.message == "30 packet(s) have no pts; AVI stores no presentation times, and with B-frames or H.264 they "
            + "cannot be derived: render the chunks to MP4 or Matroska")
        avi.formatName = "h264"
        #expect(StitchValidator.validate([avi], output: OutputCapabilities(formatName: "mp4")).first { $0.code == .missingTimestamps }?.message
            == "30 packet(s) have no pts; a raw h264 stream stores no timestamps: render the chunks to MP4, Matroska or MPEG-TS")
    }

    @Test func frameDurationConsistency() {
        var irregular = Probes.video()
        irregular.irregularDurationCount = 3
        #expect(codes([Probes.input(0, video: irregular)]).map(\.0) == [.irregularFrameDuration])
        let pal = Probes.video(frames: 25, frameDuration: 614)
        #expect(codes([Probes.input(0), Probes.input(1, video: pal)]).contains { $0.0 == .frameDurationMismatch && $0.1 == .error })
    }

    @Test func audioGapIsADiscontinuityAndLenientDowngradesIt() {
        let short = Probes.audio(samples: 40000)  // audio stops 167 ms before the video
        let strict = codes([Probes.input(0), Probes.input(1, audio: short), Probes.input(2)])
        #expect(strict.contains { $0.0 == .discontinuity && $0.1 == .error })
        #expect(strict.contains { $0.0 == .avDrift && $0.1 == .error && $0.2 == 1 })
        let lenient = codes([Probes.input(0), Probes.input(1, audio: short), Probes.input(2)], lenient: true)
        #expect(lenient.allSatisfy { $0.1 == .warning })
        #expect(lenient.contains { $0.0 == .discontinuity })
    }

    @Test func lenientNeverDowngradesMismatches() {
        var video = Probes.video()
        video.signature.width = 320
        #expect(codes([Probes.input(0), Probes.input(1, video: video)], lenient: true).map(\.1) == [.error])
    }

    @Test("a raw FLAC output holds one input's frames: the second input is refused, saying what to write instead")
    func rawFLACHoldsOneInput() {
        var flac = Probes.input(0, video: Probes.audio(), audio: nil)
        flac.streams[0].index = 0
        let output = OutputCapabilities(formatName: "flac")
        #expect(StitchValidator.validate([flac], output: output).isEmpty)
        let issues = StitchValidator.validate([flac, flac], output: output).filter { $0.code == .unsupportedByContainer }
        #expect(issues.map(\.inputIndex) == [1])
        #expect(issues.first?.message.hasSuffix("write Matroska audio (.mka) or MP4 audio (.m4a)") == true)
    }

    @Test func containerMustHoldTheCodecs() {
        let webm = OutputCapabilities(formatName: "webm", unsupportedCodecs: ["h264", "aac"])
        let issues = StitchValidator.validate([Probes.input(0)], output: webm)
        #expect(issues.map(\.code) == [.unsupportedByContainer, .unsupportedByContainer])
        #expect(issues[0].message.contains("webm container cannot hold h264"))
    }

    @Test func timeBaseMismatchIsAWarning() {
        var video = Probes.video()
        video.timeBase = Rational(1, 30720)
        video.typicalPacketDuration = 1024
        video.endPts = 30 * 1024
        #expect(codes([Probes.input(0), Probes.input(1, video: video)]).map(\.0).contains(.timeBaseMismatch))
    }
}

@Suite("Timeline plan (pure)")
struct PlanTests {
    @Test("video offsets are exact after 10,000 inputs")
    func noDriftAfterTenThousand() {
        let inputs = (0..<10_000).map { Probes.input($0, audio: nil) }
        let plan = StitchPlan(inputs: inputs)
        #expect(plan.placements[9_999][0].offset == 9_999 * 15360)
        #expect(plan.outputDurations[0] == 10_000 * 15360)
        #expect(plan.outputDtsViolations.isEmpty)
    }

    @Test("AAC stays within half a frame of video at every boundary, with no priming on the timeline")
    func aacGrid() {
        let inputs = (0..<1_000).map { Probes.input($0) }
        let plan = StitchPlan(inputs: inputs)
        let audio = plan.boundaries.filter { $0.kind == .audio }
        #expect(audio.count == 999)
        #expect(audio.allSatisfy { abs($0.audioDiscontinuitySamples!) <= 512 })
        #expect(plan.placements.dropFirst().allSatisfy { $0[1].dropLeading == 1 })
        #expect(plan.placements[0][1].dropLeading == 0)
        // Input 1 keeps its priming packet (the decoder skips it) and all 47 frames: the 47th's midpoint is in time.
        #expect(plan.placements[0][1].keep == 48)
        // Decoded back to back: within half a frame (plus the last frame's padding) of 1,000 seconds of video.
        let drift = plan.decodedSamples[1]! - 1_000 * 48000
        #expect(abs(drift) <= 1024)
        #expect(plan.outputDtsViolations.isEmpty)
    }

    @Test("a chunk without the sound track the others have is refused with the likely cause and the fix, either way round")
    func silentChunkWithoutSoundTrack() {
        let mp4 = OutputCapabilities(formatName: "mp4")
        let later = StitchValidator.validate([Probes.input(0), Probes.input(1, audio: nil)], output: mp4).filter { $0.code == .streamLayoutMismatch }
        #expect(later.count == 1)
        #expect(later.first?.message.hasPrefix("has streams [video] but input 1 has [video, audio]; this chunk has no sound track") == true)
        #expect(later.first?.message.contains("anullsrc") == true)
        let first = StitchValidator.validate([Probes.input(0, audio: nil), Probes.input(1)], output: mp4).filter { $0.code == .streamLayoutMismatch }
        #expect(first.first?.message.contains("; input 1 has no sound track") == true)
        // Layouts that differ otherwise get no such guess.
        #expect(StitchValidator.silentChunkHint(["audio"], ["video", "audio"]) == "")
        #expect(StitchValidator.silentChunkHint(["video", "video"], ["video", "audio"]) == "")
    }

    @Test("video frames before an input's edit list start are refused, naming how many; audio's (priming) are not")
    func hiddenVideoFrames() {
        var video = Probes.video()
        video.leadingDiscardPackets = 2
        let inputs = [Probes.input(0), Probes.input(1, video: video)]
        let issues = StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4"))
        let hidden = issues.filter { $0.code == .hiddenFrames }
        #expect(hidden.count == 1)
        #expect(hidden.first?.inputIndex == 1 && hidden.first?.severity == .error)
        #expect(hidden.first?.message.hasPrefix("its first 2 video frames come before the start its edit list gives") == true)
        #expect(IncrementalStitch.settledCodes.contains(.hiddenFrames))
        // Probes.audio() has a discard-flagged priming packet: not a hidden frame.
        #expect(StitchValidator.validate([Probes.input(0), Probes.input(1)], output: OutputCapabilities(formatName: "mp4")).isEmpty)
    }

    @Test("millisecond time bases: frames are counted, so 10,000 one-frame inputs at 30 fps do not drift")
    func millisecondClockCountsFrames() throws {
        let inputs = (0..<10_000).map { Probes.input($0, video: Probes.webmVideo(frames: 1), audio: nil) }
        let plan = StitchPlan(inputs: inputs)
        #expect(plan.masterFrameDuration == Rational(1, 30))
        // Summing 33 ms per chunk would end at 330 s; the exact end is 333.333 s.
        #expect(plan.placements[9_999][0].offset == 333_300)
        #expect(plan.outputDurations[0] == 333_333)
        #expect(plan.outputDtsViolations.isEmpty)
        // Each frame's timestamp is its exact time rounded once: frame 8 at 266.67 ms is written as 267, not 233 + 33.
        let grid = try #require(plan.placements[8][0].frameGrid)
        #expect(grid.map(0, from: Rational(1, 1000), to: Rational(1, 1000)) == 267)
    }

    @Test("Opus into WebM: each input gives up the next one's pre-skip at its end, so content joins sample-exactly")
    func opusTrimmedJoin() {
        let webm = OutputCapabilities(formatName: "webm")
        // 31, 29, 1 and 30 frames at 30 fps: the trims land inside a packet, on a packet edge and across one.
        let frames = [31, 29, 1, 30]
        let inputs = frames.enumerated().map { i, n in
            Probes.input(i, video: Probes.webmVideo(frames: n), audio: Probes.opus(samples: Int64(n) * 1600))
        }
        let plan = StitchPlan(inputs: inputs, output: webm)
        #expect(plan.decodedSamples[1] == Int64(frames.reduce(0, +)) * 1600)
        for (i, n) in frames.enumerated() {
            let audio = inputs[i].streams[1], placement = plan.placements[i][1]
            let nextPreSkip: Int64 = i + 1 < frames.count ? 312 : 0
            // Samples decoded from the kept packets: everything minus the trimmed end, minus the decoder's skip on input 1.
            let kept = Int64(placement.keep) * 960 - (placement.trimEnd ?? 0)
            #expect(kept == audio.frameCount - audio.trailingPaddingSamples - nextPreSkip, "input \(i + 1) (\(n) frames)")
            #expect((placement.trimEnd ?? 0) < 960)
            #expect(placement.dropLeading == 0)
        }
        #expect(plan.boundaries.filter { $0.kind == .audio }.allSatisfy { $0.audioDiscontinuitySamples == 0 })
        #expect(plan.outputDtsViolations.isEmpty)
        // Without per-packet trimming (MP4) the same inputs stay on the frame grid instead.
        let grid = StitchPlan(inputs: inputs, output: OutputCapabilities(formatName: "mp4"))
        #expect(grid.placements.allSatisfy { $0[1].trimEnd == nil })
    }

    @Test("Opus into WebM: a content gap accepted with --lenient stays a gap on the timeline")
    func opusGapKept() {
        let inputs = [Probes.input(0, video: Probes.webmVideo(frames: 30), audio: Probes.opus(samples: 48000 - 4800)),
                      Probes.input(1, video: Probes.webmVideo(frames: 30), audio: Probes.opus(samples: 48000))]
        let plan = StitchPlan(inputs: inputs, output: OutputCapabilities(formatName: "webm"))
        let boundary = plan.boundaries.first { $0.kind == .audio }!
        // A gap is only known to the container's millisecond (48 samples).
        #expect(abs(boundary.audioDiscontinuitySamples! - 4800) <= 48)
        // Input 2's first packet starts its pre-skip before the second it belongs to: 1000 ms - 6.5 ms.
        let firstPacket = inputs[1].streams[1].leadingPackets[0].pts + plan.placements[1][1].offset
        #expect(abs(firstPacket - 993) <= 1)
        #expect(plan.outputDtsViolations.isEmpty)
    }

    @Test("a chunk shorter than half an audio frame keeps only its priming packet, and the next input's audio follows it")
    func chunkShorterThanHalfAnAudioFrame() {
        // 120 fps: one frame lasts 128 ticks of 1/15360, 400 samples, less than half of a 1,024-sample AAC frame.
        var frame = Probes.video(frames: 1, frameDuration: 128)
        frame.firstDts = 0
        frame.lastDts = 0
        let inputs = (0..<3).map { Probes.input($0, video: frame, audio: Probes.audio(samples: 400)) }
        let plan = StitchPlan(inputs: inputs)
        // Input 1 keeps its priming packet, which sits before the content: the next input's first packet starts
        // where input 1's content would have, after the last dts written.
        #expect(plan.placements[0][1].keep == 1)
        #expect(plan.outputDtsViolations.isEmpty)
        #expect(plan.placements[1][1].keep + plan.placements[2][1].keep >= 1)
    }

    @Test("the last input's audio may run on by a second frame (an encoder's flush, cut with the picture); no other input's may")
    func lastInputMayRunOn() {
        // 48,000 + 1,500 samples of AAC against a second of video: 1,500 over, more than one 1,024-sample frame.
        let long = Probes.audio(samples: 49_500)
        func drifts(_ inputs: [ProbedInput]) -> [Int?] {
            StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4")).filter { $0.code == .avDrift }.map(\.inputIndex)
        }
        #expect(drifts([Probes.input(0), Probes.input(1, audio: long)]) == [])
        #expect(drifts([Probes.input(0, audio: long), Probes.input(1)]).contains(0))
        // Beyond two frames the last input is held to it too.
        #expect(drifts([Probes.input(0), Probes.input(1, audio: Probes.audio(samples: 48_000 + 2_100))]) == [1])
    }

    @Test("an audio gap is measured in ticks and milliseconds")
    func gapMeasured() {
        let plan = StitchPlan(inputs: [Probes.input(0, audio: Probes.audio(samples: 47520)), Probes.input(1)])
        let boundary = plan.boundaries.first { $0.kind == .audio }!
        #expect(boundary.gapTicks == 480)
        #expect(boundary.gapMilliseconds == 10)
    }
}
