import Foundation
@testable import HeliosMedia
import Testing

/// Chunks written without edit lists, as FFmpeg's fragmented-MP4 muxer writes them with AAC and no B-frames:
/// the priming frame is stored as content at 0 and the first video frame is stretched backwards over it.
enum EditlessChunk {
    /// An `frames`-frame chunk at 30 fps (1/15360) with 1,600 samples of 48 kHz AAC per frame and one priming frame.
    /// `stretchesFirstFrame`: written by FFmpeg's fragmented-MP4 muxer, whose track run states the first frame
    /// `stretch` longer, 840 ticks, even in a 1-frame chunk (false: CMAF or GStreamer, which leave every frame where
    /// it is, 512 ticks long, and the audio content a frame late).
    static func make(frames: Int, stretch: Int64 = 328, frameDuration: Int64 = 512, timeBase: Rational = Rational(1, 15360),
                     stretchesFirstFrame: Bool = true) -> ProbedInput {
        var video = StreamAccumulator(index: 0, signature: Probes.signature(.video), timeBase: timeBase)
        for k in 0..<frames {
            let pts = k == 0 ? 0 : stretch + Int64(k) * frameDuration
            video.add(PacketTiming(pts: pts, dts: pts, duration: frameDuration, isDiscard: false), isKeyframe: k == 0)
        }
        var audio = StreamAccumulator(index: 1, signature: Probes.signature(.audio), timeBase: Rational(1, 48000))
        let packets = 1 + (frames * 1600 + 1023) / 1024
        for k in 0..<packets {
            audio.add(PacketTiming(pts: Int64(k) * 1024, dts: Int64(k) * 1024, duration: k == 0 ? 0 : 1024, isDiscard: false), isKeyframe: true)
        }
        return ProbedInput(path: "chunk.mp4", formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 1000,
                           streams: [video.finish(), audio.finish()], containerDurationMicroseconds: nil,
                           statedFirstFrameDuration: frameDuration + (stretchesFirstFrame ? max(stretch, 328) : 0)).markingUnflaggedPriming()
    }
}

@Suite("Chunks without edit lists (pure)")
struct EditlessInputTests {
    /// Inputs that normalize to themselves come back as the array given, not a copy of it; the first that changes
    /// (a stretched first frame) makes the normalizer keep its own, and every step still equals the batch form.
    @Test func normalizerCopiesNothingUntilAnInputChanges() {
        let inputs = [0, 0, 0, 328, 0].map { EditlessChunk.make(frames: 60, stretch: $0) }
        func storage(_ array: [ProbedInput]) -> UnsafeRawPointer? { array.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }
        var normalizer = InputNormalizer()
        for k in 1...inputs.count {
            let prefix = Array(inputs.prefix(k))
            let (normalized, changedFrom) = normalizer.normalize(prefix)
            var batch = InputNormalizer()
            #expect(normalized == batch.normalize(prefix).inputs && changedFrom == nil, "\(k) inputs")
            if k <= 3 {
                #expect(storage(normalized) == storage(prefix) && normalized == prefix, "\(k) inputs: copied")
            } else {
                #expect(storage(normalized) != storage(prefix) && normalized[3].streams[0].leadingStretch == 328, "\(k) inputs")
                #expect(Array(normalized.prefix(3)) == Array(prefix.prefix(3)) && normalized[3] != prefix[3])
            }
        }
    }

    @Test func stretchedFirstFrameGoesBackOnTheGrid() {
        let raw = EditlessChunk.make(frames: 30)
        #expect(raw.streams[0].irregularDurationCount == 1)
        let input = ProbedInput.normalized([raw])[0]
        #expect(input.streams[0].leadingStretch == 328)
        #expect(input.streams[0].startPts == 328)
        #expect(input.streams[0].irregularDurationCount == 0)
        #expect(input.streams[0].decodeDelay == 0)
        // The priming packet (at 0, duration unset: filled from the frame size) ends where the video starts.
        #expect(input.streams[1].unflaggedPrimingPackets == 1)
        #expect(input.streams[1].startPts == 1024)
    }

    @Test("the frame rate libavformat derives from a stretched first frame is put right, and is no frame clock")
    func stretchedRateIsPutRight() {
        // libavformat declares 240 frames over 123,208 ticks, 460800/15401 fps: 513.4 ticks a frame, within a tick of
        // 512, and used as the output's clock its frames fell on a grid 0.07% too coarse (frames 187 and 188 of every
        // chunk on the same tick). A 1-frame chunk's stretched frame declares 128/7 fps.
        func chunk(_ frames: Int, rate: Rational) -> ProbedInput {
            var input = EditlessChunk.make(frames: frames)
            input.streams[0].frameRate = rate
            return input
        }
        let inputs = ProbedInput.normalized([chunk(240, rate: Rational(460800, 15401)), chunk(1, rate: Rational(128, 7)),
                                             chunk(240, rate: Rational(460800, 15401))])
        #expect(inputs.map { $0.streams[0].frameRate } == Array(repeating: Rational(30, 1), count: 3))
        let plan = StitchPlan(inputs: inputs)
        #expect(plan.masterFrameDuration == nil)
        #expect(plan.outputDtsViolations.isEmpty)
        // Frame by frame within a tick, but 328 ticks off over the stream: no clock.
        var declared = Probes.video(frames: 240)
        declared.frameRate = Rational(460800, 15401)
        #expect(StitchPlan.frameClock([Probes.input(0, video: declared, audio: nil)], master: 0) == nil)
        // A millisecond clock that holds no frame exactly but agrees with the rate over the stream is one.
        #expect(StitchPlan.frameClock([Probes.input(0, video: Probes.webmVideo(frames: 240), audio: nil)], master: 0) == Rational(1, 30))
    }

    @Test("at 60 fps the stretch over AAC's priming frame outlasts a frame, and is still one; another gap is not")
    func stretchLongerThanAFrame() {
        // 1,024 samples are 328 ticks of 1/15360, where a 60 fps frame lasts 256.
        let input = ProbedInput.normalized([EditlessChunk.make(frames: 60, frameDuration: 256)])[0]
        #expect(input.streams[0].leadingStretch == 328)
        #expect(input.streams[0].startPts == 328)
        #expect(input.streams[0].irregularDurationCount == 0)
        #expect(input.streams[1].startPts == 1024)
        // A first gap the audio's first packet does not account for is a missing frame or two, not a stretch.
        let gap = ProbedInput.normalized([EditlessChunk.make(frames: 60, stretch: 400, frameDuration: 256)])[0]
        #expect(gap.streams[0].leadingStretch == 0)
        #expect(gap.streams[0].irregularDurationCount == 1)
        // A 1-frame chunk whose track run states the stretch, beside its neighbours.
        let inputs = ProbedInput.normalized([EditlessChunk.make(frames: 60, frameDuration: 256), EditlessChunk.make(frames: 1, frameDuration: 256)])
        #expect(inputs[1].streams[0].leadingStretch == 328)
        #expect(inputs[1].streams[0].startPts == 328)
    }

    @Test func twoAndOneFrameChunksFollowTheirNeighbours() {
        let inputs = ProbedInput.normalized([EditlessChunk.make(frames: 30), EditlessChunk.make(frames: 2), EditlessChunk.make(frames: 1)])
        #expect(inputs[1].streams[0].leadingStretch == 328)
        #expect(inputs[1].streams[0].typicalPacketDuration == 512)
        // A single frame shows no stretch; its unflagged priming starts with it, so it moves to the audio content.
        #expect(inputs[2].streams[1].unflaggedPrimingPackets == 1)
        #expect(inputs[2].streams[0].leadingStretch == 328)
        #expect(inputs[2].streams[0].startPts == 328)
        let errors = StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4")).filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(errors.map(\.message))")
    }

    @Test func cmafChunksKeepTheirFramesWhereTheyAre() {
        // CMAF: no stretch, each track from 0; the 1-frame chunk is written the same way as its neighbours.
        let inputs = ProbedInput.normalized([
            EditlessChunk.make(frames: 30, stretch: 0, stretchesFirstFrame: false),
            EditlessChunk.make(frames: 1, stretch: 0, stretchesFirstFrame: false),
            EditlessChunk.make(frames: 8, stretch: 0, stretchesFirstFrame: false),
        ])
        #expect(inputs.allSatisfy { $0.streams[0].leadingStretch == 0 && $0.streams[0].startPts == 0 })
        #expect(inputs.allSatisfy { $0.streams[1].unflaggedPrimingPackets == 1 && $0.streams[1].startPts == 1024 })
        // The priming starts with the video: stored as content, the sound a frame later than it belongs.
        #expect(inputs.allSatisfy { $0.streams[1].primingStoredAsContent(masterStart: 0, masterTimeBase: Rational(1, 15360)) })
        let errors = StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4")).filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(errors.map(\.message))")
        // FFmpeg's own fragmented MP4 moved the video past the priming: that priming ends where the video starts.
        let stretched = ProbedInput.normalized([EditlessChunk.make(frames: 30)])[0]
        #expect(!stretched.streams[1].primingStoredAsContent(masterStart: stretched.streams[0].startPts!, masterTimeBase: Rational(1, 15360)))
    }

    /// A 9-frame chunk with a reorder delay of two frames (1/3000, 100 ticks a frame) and AAC from 0, as a
    /// fragmented MP4 holds it without an edit list: its first frame presents 200 ticks after it decodes.
    static func delayedVideo(audioGap: Int64) -> ProbedInput {
        var video = StreamAccumulator(index: 0, signature: Probes.signature(.video), timeBase: Rational(1, 3000))
        for k in 0..<9 {
            video.add(PacketTiming(pts: Int64(k) * 100 + 200, dts: Int64(k) * 100, duration: 100, isDiscard: false), isKeyframe: k == 0)
        }
        var audio = StreamAccumulator(index: 1, signature: Probes.signature(.audio), timeBase: Rational(1, 48000))
        for k in 0..<16 {
            let pts = k == 0 ? 0 : audioGap + Int64(k) * 1024
            audio.add(PacketTiming(pts: pts, dts: pts, duration: 1024, isDiscard: false), isKeyframe: true)
        }
        return ProbedInput(path: "chunk.mp4", formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 1000,
                           streams: [video.finish(), audio.finish()], containerDurationMicroseconds: nil)
    }

    @Test func missingEditListTakenOffWhenNoTrackIsStretched() {
        // GStreamer: the audio runs on from 0, the picture presents two frames late.
        let gst = Self.delayedVideo(audioGap: 0)
            .applyingFragmentFacts([FragmentFacts(compositionShift: 0, firstDuration: 100, firstComposition: 200),
                                    FragmentFacts(compositionShift: 0, firstDuration: 1024, firstComposition: 0)])
        #expect(gst.streams[0].startPts == 0)
        #expect(gst.streams[0].firstDts == -200)
        #expect(gst.streams[0].endPts == 900)
        #expect(gst.timestampShifts == [200, 0])
        #expect(gst.statedFirstFrameDuration == 100)
        // FFmpeg: it moved the audio along, stretching its first packet to where the picture starts (3,200 samples).
        let ffmpeg = Self.delayedVideo(audioGap: 2176)
            .applyingFragmentFacts([FragmentFacts(compositionShift: 0, firstDuration: 100, firstComposition: 200),
                                    FragmentFacts(compositionShift: 0, firstDuration: 3200, firstComposition: 0)])
        #expect(ffmpeg.streams[0].startPts == 200)
        #expect(ffmpeg.timestampShifts == [])
        // An edit list in the track (FFmpeg's delay_moov) is applied by libavformat already: nothing is missing.
        let edited = Self.delayedVideo(audioGap: 0)
            .applyingFragmentFacts([FragmentFacts(compositionShift: 0, firstDuration: 100, firstComposition: 200, hasEditList: true),
                                    FragmentFacts(compositionShift: 0, firstDuration: 1024, firstComposition: 0, hasEditList: true)])
        #expect(edited.streams[0].startPts == 200)
        #expect(edited.timestampShifts == [])
    }

    @Test func anAudioPacketWithoutPtsIsRefusedNotPlannedIntoAnOverflow() {
        // A damaged program stream (found by the fuzz suite): its one MP2 packet lost its pts. The plan still lays
        // every input out, for the report; it must not do arithmetic on AV_NOPTS_VALUE.
        var damaged = EditlessChunk.make(frames: 1, stretch: 0, stretchesFirstFrame: false)
        // Nor its parameters: no sample rate, no frame size.
        var signature = Probes.signature(.audio)
        signature.sampleRate = 0
        signature.frameSize = 0
        var audio = StreamAccumulator(index: 1, signature: signature, timeBase: Rational(1, 90000))
        audio.add(PacketTiming(pts: AV.noPTS, dts: AV.noPTS, duration: 0, isDiscard: false), isKeyframe: true)
        damaged.streams[1] = audio.finish()
        let inputs = [damaged, EditlessChunk.make(frames: 30, stretch: 0, stretchesFirstFrame: false)]
        let plan = StitchPlan(inputs: inputs, output: OutputCapabilities(formatName: "mp4"))
        #expect(plan.placements.count == 2)
        let codes = StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4")).map(\.code)
        #expect(codes.contains(.missingTimestamps))
    }

    @Test func aDifferentFrameRateIsNotAStretch() {
        // 25 fps in 1/12800 (512 ticks) beside 30 fps in 1/15360: a cadence mismatch, not a stretched frame.
        let inputs = ProbedInput.normalized([
            EditlessChunk.make(frames: 30, stretch: 0), EditlessChunk.make(frames: 25, stretch: 0, timeBase: Rational(1, 12800)),
        ])
        #expect(inputs.allSatisfy { $0.streams[0].leadingStretch == 0 })
        let codes = StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4")).map(\.code)
        #expect(codes.contains(.frameDurationMismatch))
    }

    @Test func aGapOfAFrameOrMoreStaysIrregular() {
        let input = ProbedInput.normalized([EditlessChunk.make(frames: 30, stretch: 600)])[0]
        #expect(input.streams[0].leadingStretch == 0)
        #expect(input.streams[0].irregularDurationCount == 1)
    }
}
