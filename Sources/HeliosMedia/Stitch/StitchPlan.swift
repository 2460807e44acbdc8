#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where every input's packets go on the output timeline. A pure function of the probed inputs.
///
/// The first video stream is the master clock: input `i` starts where input `i - 1`'s video ends, so
/// video is exact by construction and offsets are exact integers (no rounding through container durations).
/// Every other stream keeps its offset from the master within its input. Audio codecs that come in fixed-size
/// frames (AAC, Opus, ...) are laid end to end: later inputs lose their priming packets, and each input keeps
/// the packets whose midpoint lies before the next input's start, so the audio never drifts more than half a
/// frame from the video and no priming silence lands on the timeline. PCM, and lossless audio whose last block
/// holds only the samples left (FLAC, ALAC), is laid end to end sample-exactly, each packet with its own duration.
/// Codecs whose priming the decoder skips (Opus pre-skip) are laid end to end sample-exactly too when the output
/// container can trim single packets (Matroska's DiscardPadding): see `trimmedAudio`.
public struct StitchPlan: Sendable, Equatable {
    /// How to copy one stream of one input. Its counts are stored in 4 bytes, its optional ticks behind a
    /// sentinel and its frame grid behind a reference: 72 bytes instead of 136, two for each input of a stitch.
    public struct Placement: Sendable, Hashable {
        /// Added to a packet's pts and dts after rescaling them to the stream's plan time base.
        public var offset: Int64
        /// Packets at the start of the input to drop (priming of inputs after the first).
        @Count32 public var dropLeading: Int
        /// Packets to keep after the leading ones; the rest (end padding) are dropped.
        @Count32 public var keep: Int
        /// For frame-based audio, every kept packet but the output's last gets this duration (plan ticks).
        @OptionalTicks public var gridDuration: Int64?
        /// Samples to discard from the end of the last kept packet (its skip-samples side data is replaced);
        /// nil leaves packets' side data as read.
        @OptionalTicks public var trimEnd: Int64? = nil
        /// For the master video when frames are counted (see `masterFrameDuration`): timestamps are re-derived from
        /// the frame they fall on, so each is rounded once from its exact time instead of twice.
        @Boxed public var frameGrid: FrameGrid? = nil
        /// Subtracted from every dts (plan ticks) so that every input decodes `outputDecodeDelays` ahead of
        /// presentation: the output's one B-frame delay minus this input's own. Keeps dts increasing across every
        /// boundary whatever the chunk lengths, and pts >= dts within each input.
        public var dtsShift: Int64 = 0
        /// Leading packets kept that are encoder priming (input 1's, where the output can mark them for the
        /// decoder to skip): laid end to end on `gridDuration` before `contentStart`, however the input spaced them.
        @Count32 public var primingPackets: Int = 0
        /// Output pts of the first kept content packet, in plan ticks (meaningful with `primingPackets`).
        public var contentStart: Int64 = 0
        /// One audio frame in samples, exactly, for frame-based audio (0 otherwise).
        public var primingFrameSamples: Int64 = 0
    }

    /// Maps a master timestamp to the output by its frame: input ticks since `inputStart` are rounded to a frame
    /// number, `framesBefore` is added, and the exact time of that frame after `outputStart` is rounded to plan ticks.
    public struct FrameGrid: Sendable, Hashable {
        /// One frame, as a time base (1/30 for 30 fps).
        public var frame: Rational
        public var framesBefore: Int64
        /// The input's video start, in its own ticks.
        public var inputStart: Int64
        /// Input 1's video start, in plan ticks.
        public var outputStart: Int64
        /// Frames subtracted from every dts (see `Placement.dtsShift`).
        public var dtsShiftFrames: Int64 = 0

        /// `ticks` of the input (time base `timeBase`) on the output timeline, in plan ticks of `planTimeBase`.
        public func map(_ ticks: Int64, from timeBase: Rational, to planTimeBase: Rational, shiftFrames: Int64 = 0) -> Int64 {
            let frame = Ticks.rescale(ticks - inputStart, from: timeBase, to: self.frame)
            return outputStart + Ticks.rescale(framesBefore + frame - shiftFrames, from: self.frame, to: planTimeBase)
        }

        /// A dts of the input on the output timeline.
        public func mapDts(_ ticks: Int64, from timeBase: Rational, to planTimeBase: Rational) -> Int64 {
            map(ticks, from: timeBase, to: planTimeBase, shiftFrames: dtsShiftFrames)
        }
    }

    /// A boundary where a stream's first output dts would not exceed the previous input's last.
    public struct DtsViolation: Sendable, Hashable {
        public var input: Int
        public var stream: Int
        public var previous: Int64
        public var next: Int64
    }

    /// Audio duration minus video duration within one input.
    public struct InputDrift: Sendable, Hashable {
        public var ticks: Int64
        public var tolerance: Int64
        public var milliseconds: Double
        /// Counts in 4 bytes: 32 bytes a drift, one for each input with sound.
        @Count32 public var input: Int
        @Count32 public var stream: Int

        public init(input: Int, stream: Int, ticks: Int64, tolerance: Int64, milliseconds: Double) {
            (self.input, self.stream, self.ticks, self.tolerance, self.milliseconds) = (input, stream, ticks, tolerance, milliseconds)
        }
    }

    /// Per stream: the time base plan offsets are expressed in (input 1's).
    public let timeBases: [Rational]
    /// `placements[input][stream]`.
    public let placements: [[Placement]]
    /// Per stream, in input order: the boundaries, drifts and dts violations (`boundaries`, `inputDrifts` and
    /// `outputDtsViolations` list them stream after stream). Kept per stream as the builder's lanes hold them, so a
    /// step of a progressive stitch shares the lanes' arrays instead of joining them.
    let boundaryLanes: [[BoundaryReport]]
    let driftLanes: [[InputDrift]]
    let violationLanes: [[DtsViolation]]

    /// Every boundary between inputs, stream after stream, in input order within each stream.
    public var boundaries: [BoundaryReport] { Self.joined(boundaryLanes) }
    /// Every input's audio-video drift, stream after stream.
    public var inputDrifts: [InputDrift] { Self.joined(driftLanes) }
    /// Every boundary where a stream's output dts would not increase, stream after stream.
    public var outputDtsViolations: [DtsViolation] { Self.joined(violationLanes) }

    private static func joined<T>(_ lanes: [[T]]) -> [T] {
        lanes.count == 1 ? lanes[0] : lanes.flatMap { $0 }
    }
    /// Per stream: presentation end on the output timeline minus its start, in plan ticks.
    public let outputDurations: [Int64]
    /// Per stream: packets written.
    public let outputPackets: [Int]
    /// Per audio stream: samples a decoder produces playing all packets back to back (priming of input 1 excluded).
    public let decodedSamples: [Int64?]
    /// The video frame duration (seconds) that placed the inputs, when the master time base cannot hold it
    /// exactly and frames were counted instead of timestamps summed.
    public let masterFrameDuration: Rational?
    /// Per stream: how far the output's decoding runs ahead of presentation (plan ticks): the largest B-frame
    /// delay of any input. 0 for audio.
    public let outputDecodeDelays: [Int64]
    /// Where the output's first frame presents, in plan ticks of the master stream (0 where edit lists let the
    /// container say so, else where input 1's first frame did).
    public let videoOrigin: Int64

    /// The master's frame duration when every input declares the same constant frame rate and the master
    /// time base cannot express one frame in whole ticks; nil otherwise.
    static func frameClock(_ inputs: [ProbedInput], master: Int) -> Rational? {
        var clock = FrameClockFold(first: inputs[0].streams[master])
        for input in inputs { clock.add(input.streams[master]) }
        return clock.frameClock
    }

    /// `frameClock` as a fold over the inputs' master streams, one input at a time.
    struct FrameClockFold: Sendable, Hashable {
        let rate: Rational?
        /// Every master stream so far declares `rate`, has regular frames and timestamps that agree with the rate.
        private(set) var fits: Bool
        /// Every master stream so far has a time base that holds one frame in whole ticks.
        private(set) var exact = true

        init(first: ProbedStream) {
            rate = first.frameRate
            fits = first.frameRate != nil && first.signature.kind == .video
        }

        mutating func add(_ stream: ProbedStream) {
            guard fits, let rate else { return }
            // A declared rate the timestamps contradict is no clock: not frame by frame, and not over the whole stream,
            // where a rate off by less than a tick a frame adds up (FFmpeg's fragmented MP4 declares its 240 frames
            // over 8.021 s when its first frame is stretched over AAC priming: 513.4 ticks a frame for 512).
            let frame = Rational(rate.den, rate.num)
            fits = stream.frameRate == rate && stream.irregularDurationCount == 0
                && abs(Ticks.rescale(1, from: frame, to: stream.timeBase) - stream.typicalPacketDuration) <= 1
                && abs(Ticks.rescale(Int64(stream.packetCount), from: frame, to: stream.timeBase) - stream.duration) <= 2
            exact = exact && (Int64(rate.den) * Int64(stream.timeBase.den)) % (Int64(rate.num) * Int64(stream.timeBase.num)) == 0
        }

        var frameClock: Rational? {
            guard fits, !exact, let rate else { return nil }
            return Rational(rate.den, rate.num)
        }
    }

    /// Plans `inputs` for an output container with the given capabilities (nil: one that cannot trim packets).
    public init(inputs: [ProbedInput], output: OutputCapabilities? = nil) {
        var builder = Builder(output: output)
        self = builder.plan(inputs)
    }

    /// A plan from its parts (see `Builder`).
    init(timeBases: [Rational], placements: [[Placement]], boundaries: [[BoundaryReport]], inputDrifts: [[InputDrift]],
         outputDtsViolations: [[DtsViolation]], outputDurations: [Int64], outputPackets: [Int], decodedSamples: [Int64?],
         masterFrameDuration: Rational?, outputDecodeDelays: [Int64], videoOrigin: Int64) {
        self.timeBases = timeBases
        self.placements = placements
        boundaryLanes = boundaries
        driftLanes = inputDrifts
        violationLanes = outputDtsViolations
        self.outputDurations = outputDurations
        self.outputPackets = outputPackets
        self.decodedSamples = decodedSamples
        self.masterFrameDuration = masterFrameDuration
        self.outputDecodeDelays = outputDecodeDelays
        self.videoOrigin = videoOrigin
    }

    /// This plan without its placements (what a report reads after the output is written): at 10,000 inputs the
    /// placements are about 3 MB.
    func droppingPlacements() -> StitchPlan {
        StitchPlan(timeBases: timeBases, placements: [], boundaries: boundaryLanes, inputDrifts: driftLanes,
                   outputDtsViolations: violationLanes, outputDurations: outputDurations, outputPackets: outputPackets,
                   decodedSamples: decodedSamples, masterFrameDuration: masterFrameDuration,
                   outputDecodeDelays: outputDecodeDelays, videoOrigin: videoOrigin)
    }

    /// The plan of inputs that cannot be planned (none, no master stream, or differing stream counts).
    static let empty = StitchPlan(timeBases: [], placements: [], boundaries: [], inputDrifts: [], outputDtsViolations: [],
                                  outputDurations: [], outputPackets: [], decodedSamples: [], masterFrameDuration: nil,
                                  outputDecodeDelays: [], videoOrigin: 0)
}

extension ProbedStream {
    /// The largest content gap or overlap at a boundary accepted as continuous, in ticks of the stream's time base:
    /// a packet for audio, a tick otherwise.
    /// At least 1 (`StitchValidator` skips boundaries within one tick on that ground).
    public var continuityTolerance: Int64 {
        switch signature.kind {
        case .audio: max(typicalPacketDuration, 1) + 1
        default: 1
        }
    }

    /// Where presentation of real content starts: after priming that is not already flagged for discard.
    public var contentStart: Int64 {
        let start = startPts ?? 0
        guard signature.kind == .audio, leadingDiscardPackets == 0, initialPadding > 0, signature.sampleRate > 0 else { return start }
        return start + Ticks.rescale(initialPadding, from: Rational(1, signature.sampleRate), to: timeBase)
    }

    /// Where presentation of real content ends: before end padding the container marks.
    public var contentEnd: Int64 {
        let end = endPts ?? contentStart
        guard signature.kind == .audio, trailingPaddingSamples > 0, signature.sampleRate > 0 else { return end }
        return end - Ticks.rescale(trailingPaddingSamples, from: Rational(1, signature.sampleRate), to: timeBase)
    }

    /// Whether this stream's unflagged priming starts with the master (the video), not before it: stored as content
    /// by a muxer that cannot mark it, so the content starts a frame after where it belongs (see `ExactAudio.cut`).
    func primingStoredAsContent(masterStart: Int64, masterTimeBase: Rational) -> Bool {
        guard unflaggedPrimingPackets > 0, let first = leadingPackets.first else { return false }
        return Ticks.rescale(first.pts, from: timeBase, to: masterTimeBase) >= masterStart - 1
    }

    /// Leading packets that are priming: flagged for discard, or ending at or before the master's start, or within
    /// a millisecond after it: MP4's edit lists state a track's start in the movie's milliseconds, so an MP4 segment
    /// cut from a longer encode can start its video up to one early, and its priming frame then ends inside it.
    func leadingPacketsBefore(masterStart: Int64, masterTimeBase: Rational) -> Int {
        let start = Ticks.rescale(masterStart, from: masterTimeBase, to: timeBase) + Ticks.rescale(1, from: Rational(1, 1000), to: timeBase)
        var count = 0
        for packet in leadingPackets {
            if packet.isDiscard || packet.pts + packet.duration <= start { count += 1 } else { break }
        }
        return max(count, unflaggedPrimingPackets)
    }
}
