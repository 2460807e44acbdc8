/// What probing found about one stream of one input. Timestamps are in the stream's time base.
///
/// **Compact storage.** A stitch keeps every input's probe until its output is durable, so at 10,000 inputs with
/// audio this struct is the largest thing it holds. Optional timestamps are stored as `Int64.min` for nil (it is
/// `AV_NOPTS_VALUE`, never a timestamp), counts and packet indices as `Int32` (`Int32.min` for nil; a count beyond
/// `Int32.max` is clamped, which would take a file of two billion packets), and a nil frame rate as 0/0: 216 bytes
/// a stream instead of 360. The public properties keep their types, and the JSON shape is unchanged (`Wire`).
public struct ProbedStream: Sendable, Hashable {
    public var signature: CodecSignature
    public var timeBase: Rational
    /// Frames: video packets, or decoded audio samples for audio.
    public var frameCount: Int64
    public var leadingDiscardDuration: Int64
    /// Samples the decoder skips at the start (Opus pre-skip, AAC priming), from side data or codec delay.
    public var primingSamples: Int64
    /// Samples trimmed from the last packet (discard padding), when the container says so.
    public var trailingPaddingSamples: Int64
    /// The most common packet duration (frame duration for video, frame size for audio), in ticks.
    public var typicalPacketDuration: Int64
    /// Timing of the first few packets, in read order (enough to see priming packets).
    public var leadingPackets: [PacketTiming]
    /// Samples of encoder delay the codec parameters declare (Opus pre-skip, AAC priming), 0 when unknown.
    public var initialPadding: Int64
    /// Timing of the last few packets, in read order (enough to trim end padding packet by packet).
    public var trailingPackets: [PacketTiming]
    /// Ticks by which the first frame was stretched backwards and is moved forward again (see
    /// `ProbedInput.normalizingLeadingStretch`); 0 when it sits on the frame grid.
    public var leadingStretch: Int64
    /// Bytes of all packets read (for an audio re-encode at about the input's bit rate).
    public var payloadBytes: Int64

    private var storedFirstPts: Int64, storedFirstDts: Int64, storedLastPts: Int64, storedLastDts: Int64
    private var storedStartPts: Int64, storedEndPts: Int64, storedFirstFrameGap: Int64
    private var storedFrameRate: Rational
    private var storedIndex: Int32, storedPacketCount: Int32, storedLeadingDiscardPackets: Int32
    private var storedIrregularDurationCount: Int32, storedMissingTimestampCount: Int32, storedCorruptPacketCount: Int32
    private var storedMissingPtsCount: Int32, storedMissingDtsOnlyCount: Int32, storedUnflaggedPrimingPackets: Int32
    private var storedFirstNonIncreasingDts: Int32, storedFirstPtsBeforeDts: Int32, storedDerivedDtsDelay: Int32
    private var storedParserKeyframes: Int32
    /// Whether the first packet read carries the keyframe flag. (Stored last: it packs behind the `Int32`s.)
    public var firstPacketIsKeyframe: Bool

    public var index: Int {
        get { Int(storedIndex) }
        set { storedIndex = Int32(clamping: newValue) }
    }
    /// Packets read.
    public var packetCount: Int {
        get { Int(storedPacketCount) }
        set { storedPacketCount = Int32(clamping: newValue) }
    }
    public var firstPts: Int64? {
        get { Self.time(storedFirstPts) }
        set { storedFirstPts = Self.time(newValue) }
    }
    public var firstDts: Int64? {
        get { Self.time(storedFirstDts) }
        set { storedFirstDts = Self.time(newValue) }
    }
    public var lastPts: Int64? {
        get { Self.time(storedLastPts) }
        set { storedLastPts = Self.time(newValue) }
    }
    public var lastDts: Int64? {
        get { Self.time(storedLastDts) }
        set { storedLastDts = Self.time(newValue) }
    }
    /// Smallest pts of a packet that is not discarded (the start of presentation).
    public var startPts: Int64? {
        get { Self.time(storedStartPts) }
        set { storedStartPts = Self.time(newValue) }
    }
    /// Largest pts + duration (the end of presentation).
    public var endPts: Int64? {
        get { Self.time(storedEndPts) }
        set { storedEndPts = Self.time(newValue) }
    }
    /// Duration of presentation, endPts - startPts.
    public var duration: Int64 { (endPts ?? 0) - (startPts ?? 0) }
    /// Packets flagged to be discarded at the start (AAC priming) and their total duration in ticks.
    public var leadingDiscardPackets: Int {
        get { Int(storedLeadingDiscardPackets) }
        set { storedLeadingDiscardPackets = Int32(clamping: newValue) }
    }
    /// Packets whose duration differs from the typical one by more than one tick (the last packet excluded).
    public var irregularDurationCount: Int {
        get { Int(storedIrregularDurationCount) }
        set { storedIrregularDurationCount = Int32(clamping: newValue) }
    }
    /// Packets lacking a dts or pts.
    public var missingTimestampCount: Int {
        get { Int(storedMissingTimestampCount) }
        set { storedMissingTimestampCount = Int32(clamping: newValue) }
    }
    /// Index (in the stream) of the first packet whose dts did not increase, if any.
    public var firstNonIncreasingDts: Int? {
        get { Self.count(storedFirstNonIncreasingDts) }
        set { storedFirstNonIncreasingDts = Self.count(newValue) }
    }
    /// Index of the first packet whose pts is smaller than its dts, if any.
    public var firstPtsBeforeDts: Int? {
        get { Self.count(storedFirstPtsBeforeDts) }
        set { storedFirstPtsBeforeDts = Self.count(newValue) }
    }
    /// Packets flagged corrupt by the demuxer.
    public var corruptPacketCount: Int {
        get { Int(storedCorruptPacketCount) }
        set { storedCorruptPacketCount = Int32(clamping: newValue) }
    }
    /// Nominal frame rate of a video stream, as the container declares it (nil when unknown or for audio).
    public var frameRate: Rational? {
        get { storedFrameRate.num == 0 && storedFrameRate.den == 0 ? nil : storedFrameRate }
        set { storedFrameRate = newValue ?? Rational(0, 0) }
    }
    /// For video whose decode timestamps were derived from presentation timestamps (Matroska stores none), the
    /// reorder delay in frames that derived them (see `DtsDeriver`); nil when the container's dts were used.
    public var derivedDtsDelay: Int? {
        get { Self.count(storedDerivedDtsDelay) }
        set { storedDerivedDtsDelay = Self.count(newValue) }
    }
    /// For video: the gap between the first two presented frames, when the first packet read presents first.
    public var firstFrameGap: Int64? {
        get { Self.time(storedFirstFrameGap) }
        set { storedFirstFrameGap = Self.time(newValue) }
    }
    /// Of the packets lacking timestamps, those without a pts, and those with a pts but no dts (0 when unknown).
    public var missingPtsCount: Int {
        get { Int(storedMissingPtsCount) }
        set { storedMissingPtsCount = Int32(clamping: newValue) }
    }
    public var missingDtsOnlyCount: Int {
        get { Int(storedMissingDtsOnlyCount) }
        set { storedMissingDtsOnlyCount = Int32(clamping: newValue) }
    }
    /// Leading audio packets found to be encoder priming although no flag or edit list says so (see
    /// `ProbedInput.markingUnflaggedPriming`).
    public var unflaggedPrimingPackets: Int {
        get { Int(storedUnflaggedPrimingPackets) }
        set { storedUnflaggedPrimingPackets = Int32(clamping: newValue) }
    }
    /// For MP4/MOV: packets read as key frames beyond those the sync sample table marks, that is, the key frames
    /// libavformat's parser added (H.264 recovery points); nil for other containers and for fragmented MP4, whose
    /// fragments may leave sample durations to the parser. 0 means packets read without the parser are the same
    /// packets, so the remux can skip it (see `ProbedInput.remuxesWithoutParser`).
    public var parserKeyframes: Int? {
        get { Self.count(storedParserKeyframes) }
        set { storedParserKeyframes = Self.count(newValue) }
    }

    /// How far decoding runs ahead of presentation at the start (first presented pts minus first dts), in ticks:
    /// the B-frame delay of this input's encode. 0 for audio and for video without reordering.
    public var decodeDelay: Int64 {
        guard signature.kind == .video, let start = startPts, let dts = firstDts else { return 0 }
        return max(start - dts, 0)
    }

    init(index: Int, signature: CodecSignature, timeBase: Rational, packetCount: Int, frameCount: Int64,
         firstPts: Int64?, firstDts: Int64?, lastPts: Int64?, lastDts: Int64?, startPts: Int64?, endPts: Int64?,
         firstPacketIsKeyframe: Bool, leadingDiscardPackets: Int, leadingDiscardDuration: Int64, primingSamples: Int64,
         trailingPaddingSamples: Int64, typicalPacketDuration: Int64, irregularDurationCount: Int,
         missingTimestampCount: Int, firstNonIncreasingDts: Int?, firstPtsBeforeDts: Int?, corruptPacketCount: Int,
         leadingPackets: [PacketTiming], initialPadding: Int64, trailingPackets: [PacketTiming] = [],
         frameRate: Rational? = nil, derivedDtsDelay: Int? = nil, firstFrameGap: Int64? = nil, missingPtsCount: Int = 0,
         missingDtsOnlyCount: Int = 0, leadingStretch: Int64 = 0, unflaggedPrimingPackets: Int = 0,
         payloadBytes: Int64 = 0, parserKeyframes: Int? = nil) {
        self.signature = signature
        self.timeBase = timeBase
        self.frameCount = frameCount
        self.leadingDiscardDuration = leadingDiscardDuration
        self.primingSamples = primingSamples
        self.trailingPaddingSamples = trailingPaddingSamples
        self.typicalPacketDuration = typicalPacketDuration
        self.leadingPackets = leadingPackets
        self.initialPadding = initialPadding
        self.trailingPackets = trailingPackets
        self.leadingStretch = leadingStretch
        self.payloadBytes = payloadBytes
        self.firstPacketIsKeyframe = firstPacketIsKeyframe
        (storedFirstPts, storedFirstDts, storedLastPts, storedLastDts) = (.min, .min, .min, .min)
        (storedStartPts, storedEndPts, storedFirstFrameGap) = (.min, .min, .min)
        storedFrameRate = Rational(0, 0)
        (storedIndex, storedPacketCount, storedLeadingDiscardPackets, storedIrregularDurationCount) = (0, 0, 0, 0)
        (storedMissingTimestampCount, storedCorruptPacketCount, storedMissingPtsCount) = (0, 0, 0)
        (storedMissingDtsOnlyCount, storedUnflaggedPrimingPackets) = (0, 0)
        (storedFirstNonIncreasingDts, storedFirstPtsBeforeDts, storedDerivedDtsDelay, storedParserKeyframes) = (.min, .min, .min, .min)
        self.index = index
        self.packetCount = packetCount
        self.firstPts = firstPts
        self.firstDts = firstDts
        self.lastPts = lastPts
        self.lastDts = lastDts
        self.startPts = startPts
        self.endPts = endPts
        self.leadingDiscardPackets = leadingDiscardPackets
        self.irregularDurationCount = irregularDurationCount
        self.missingTimestampCount = missingTimestampCount
        self.firstNonIncreasingDts = firstNonIncreasingDts
        self.firstPtsBeforeDts = firstPtsBeforeDts
        self.corruptPacketCount = corruptPacketCount
        self.frameRate = frameRate
        self.derivedDtsDelay = derivedDtsDelay
        self.firstFrameGap = firstFrameGap
        self.missingPtsCount = missingPtsCount
        self.missingDtsOnlyCount = missingDtsOnlyCount
        self.unflaggedPrimingPackets = unflaggedPrimingPackets
        self.parserKeyframes = parserKeyframes
    }

    /// A stored timestamp: `Int64.min` (`AV_NOPTS_VALUE`) for none.
    private static func time(_ stored: Int64) -> Int64? { stored == .min ? nil : stored }
    private static func time(_ value: Int64?) -> Int64 { value ?? .min }
    /// A stored packet index or count that may be absent: `Int32.min` for none.
    private static func count(_ stored: Int32) -> Int? { stored == .min ? nil : Int(stored) }
    private static func count(_ value: Int?) -> Int32 { value.map { Int32(clamping: $0) } ?? .min }
}
