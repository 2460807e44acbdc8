/// What probing found about one stream of one input. Timestamps are in the stream's time base.
///
/// **Compact storage.** A stitch keeps every input's probe until its output is durable, so at 10,000 inputs with
/// audio this struct is the largest thing it holds. Its fields live in one immutable box that inputs share: chunks
/// rendered alike probe alike (the same frames, timestamps, priming and packet timings; only their sizes differ),
/// and a stitch hands each input the box of the input before it when their fields match
/// (`sharingStorage(with:)`), so 10,000 such inputs hold one copy of it. The byte count, which differs from chunk to
/// chunk, is stored beside the box: 16 bytes a stream, where each stream held 216. Setting a field copies the box
/// unless this value holds the only reference. Within the box, optional timestamps are stored as `Int64.min` for
/// nil (it is `AV_NOPTS_VALUE`, never a timestamp), counts and packet indices as `Int32` (`Int32.min` for nil; a
/// count beyond `Int32.max` is clamped, which would take a file of two billion packets), and a nil frame rate as
/// 0/0 (see `CompactStorage.swift`). The public properties keep their types, and the JSON its keys.
public struct ProbedStream: Sendable, Hashable {
    /// Every stored field but `payloadBytes`, declared widest first so that nothing is padded.
    struct Fields: Codable, Sendable, Hashable {
        var signature: CodecSignature
        var frameCount: Int64
        @OptionalTicks var firstPts: Int64?
        @OptionalTicks var firstDts: Int64?
        @OptionalTicks var lastPts: Int64?
        @OptionalTicks var lastDts: Int64?
        @OptionalTicks var startPts: Int64?
        @OptionalTicks var endPts: Int64?
        var leadingDiscardDuration: Int64
        var primingSamples: Int64
        var trailingPaddingSamples: Int64
        var typicalPacketDuration: Int64
        var leadingPackets: [PacketTiming]
        var initialPadding: Int64
        var trailingPackets: [PacketTiming]
        @OptionalTicks var firstFrameGap: Int64?
        var leadingStretch: Int64
        var timeBase: Rational
        @OptionalRational var frameRate: Rational?
        @Count32 var index: Int
        @Count32 var packetCount: Int
        @Count32 var leadingDiscardPackets: Int
        @Count32 var irregularDurationCount: Int
        @Count32 var missingTimestampCount: Int
        @OptionalCount32 var firstNonIncreasingDts: Int?
        @OptionalCount32 var firstPtsBeforeDts: Int?
        @Count32 var corruptPacketCount: Int
        @OptionalCount32 var derivedDtsDelay: Int?
        @Count32 var missingPtsCount: Int
        @Count32 var missingDtsOnlyCount: Int
        @Count32 var unflaggedPrimingPackets: Int
        @OptionalCount32 var parserKeyframes: Int?
        var firstPacketIsKeyframe: Bool
        var endInferred: Bool = false
    }

    /// Mutated only through `fields`, which copies it first unless it is uniquely referenced.
    private final class Box: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private var fields: Fields {
        get { box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    /// Bytes of all packets read (for an audio re-encode at about the input's bit rate).
    public var payloadBytes: Int64

    public var signature: CodecSignature { get { box.fields.signature } set { fields.signature = newValue } }
    /// Frames: video packets, or decoded audio samples for audio.
    public var frameCount: Int64 { get { box.fields.frameCount } set { fields.frameCount = newValue } }
    public var firstPts: Int64? { get { box.fields.firstPts } set { fields.firstPts = newValue } }
    public var firstDts: Int64? { get { box.fields.firstDts } set { fields.firstDts = newValue } }
    public var lastPts: Int64? { get { box.fields.lastPts } set { fields.lastPts = newValue } }
    public var lastDts: Int64? { get { box.fields.lastDts } set { fields.lastDts = newValue } }
    /// Smallest pts of a packet that is not discarded (the start of presentation).
    public var startPts: Int64? { get { box.fields.startPts } set { fields.startPts = newValue } }
    /// Largest pts + duration (the end of presentation).
    public var endPts: Int64? { get { box.fields.endPts } set { fields.endPts = newValue } }
    /// Total duration in ticks of the `leadingDiscardPackets`.
    public var leadingDiscardDuration: Int64 { get { box.fields.leadingDiscardDuration } set { fields.leadingDiscardDuration = newValue } }
    /// Samples the decoder skips at the start (Opus pre-skip, AAC priming), from side data or codec delay.
    public var primingSamples: Int64 { get { box.fields.primingSamples } set { fields.primingSamples = newValue } }
    /// Samples trimmed from the last packet (discard padding), when the container says so.
    public var trailingPaddingSamples: Int64 { get { box.fields.trailingPaddingSamples } set { fields.trailingPaddingSamples = newValue } }
    /// The most common packet duration (frame duration for video, frame size for audio), in ticks.
    public var typicalPacketDuration: Int64 { get { box.fields.typicalPacketDuration } set { fields.typicalPacketDuration = newValue } }
    /// Timing of the first few packets, in read order (enough to see priming packets).
    public var leadingPackets: [PacketTiming] { get { box.fields.leadingPackets } set { fields.leadingPackets = newValue } }
    /// Samples of encoder delay the codec parameters declare (Opus pre-skip, AAC priming), 0 when unknown.
    public var initialPadding: Int64 { get { box.fields.initialPadding } set { fields.initialPadding = newValue } }
    /// Timing of the last few packets, in read order (enough to trim end padding packet by packet).
    public var trailingPackets: [PacketTiming] { get { box.fields.trailingPackets } set { fields.trailingPackets = newValue } }
    /// For video: the gap between the first two presented frames, when the first packet read presents first.
    public var firstFrameGap: Int64? { get { box.fields.firstFrameGap } set { fields.firstFrameGap = newValue } }
    /// Ticks by which the first frame was stretched backwards and is moved forward again (see
    /// `ProbedInput.normalizingLeadingStretch`); 0 when it sits on the frame grid.
    public var leadingStretch: Int64 { get { box.fields.leadingStretch } set { fields.leadingStretch = newValue } }
    public var timeBase: Rational { get { box.fields.timeBase } set { fields.timeBase = newValue } }
    /// Nominal frame rate of a video stream, as the container declares it (nil when unknown or for audio).
    public var frameRate: Rational? { get { box.fields.frameRate } set { fields.frameRate = newValue } }
    public var index: Int { get { box.fields.index } set { fields.index = newValue } }
    /// Packets read.
    public var packetCount: Int { get { box.fields.packetCount } set { fields.packetCount = newValue } }
    /// Packets flagged to be discarded at the start (AAC priming).
    public var leadingDiscardPackets: Int { get { box.fields.leadingDiscardPackets } set { fields.leadingDiscardPackets = newValue } }
    /// Packets whose duration differs from the typical one by more than one tick (the last packet excluded).
    public var irregularDurationCount: Int { get { box.fields.irregularDurationCount } set { fields.irregularDurationCount = newValue } }
    /// Packets lacking a dts or pts.
    public var missingTimestampCount: Int { get { box.fields.missingTimestampCount } set { fields.missingTimestampCount = newValue } }
    /// Index (in the stream) of the first packet whose dts did not increase, if any.
    public var firstNonIncreasingDts: Int? { get { box.fields.firstNonIncreasingDts } set { fields.firstNonIncreasingDts = newValue } }
    /// Index of the first packet whose pts is smaller than its dts, if any.
    public var firstPtsBeforeDts: Int? { get { box.fields.firstPtsBeforeDts } set { fields.firstPtsBeforeDts = newValue } }
    /// Packets flagged corrupt by the demuxer.
    public var corruptPacketCount: Int { get { box.fields.corruptPacketCount } set { fields.corruptPacketCount = newValue } }
    /// For video whose decode timestamps were derived from presentation timestamps (Matroska stores none), the
    /// reorder delay in frames that derived them (see `DtsDeriver`); nil when the container's dts were used.
    public var derivedDtsDelay: Int? { get { box.fields.derivedDtsDelay } set { fields.derivedDtsDelay = newValue } }
    /// Of the packets lacking timestamps, those without a pts, and those with a pts but no dts (0 when unknown).
    public var missingPtsCount: Int { get { box.fields.missingPtsCount } set { fields.missingPtsCount = newValue } }
    public var missingDtsOnlyCount: Int { get { box.fields.missingDtsOnlyCount } set { fields.missingDtsOnlyCount = newValue } }
    /// Leading audio packets found to be encoder priming although no flag or edit list says so (see
    /// `ProbedInput.markingUnflaggedPriming`).
    public var unflaggedPrimingPackets: Int { get { box.fields.unflaggedPrimingPackets } set { fields.unflaggedPrimingPackets = newValue } }
    /// For MP4/MOV: packets read as key frames beyond those the sync sample table marks, that is, the key frames
    /// libavformat's parser added (H.264 recovery points); nil for other containers and for fragmented MP4, whose
    /// fragments may leave sample durations to the parser. 0 means packets read without the parser are the same
    /// packets, so the remux can skip it (see `ProbedInput.remuxesWithoutParser`).
    public var parserKeyframes: Int? { get { box.fields.parserKeyframes } set { fields.parserKeyframes = newValue } }
    /// Whether the first packet read carries the keyframe flag.
    public var firstPacketIsKeyframe: Bool { get { box.fields.firstPacketIsKeyframe } set { fields.firstPacketIsKeyframe = newValue } }
    /// Whether the end of presentation was inferred: the last frame came without a duration (a fragmented MP4's
    /// HEVC), and `endPts` gives it one `typicalPacketDuration`.
    public var endInferred: Bool { get { box.fields.endInferred } set { fields.endInferred = newValue } }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.payloadBytes == rhs.payloadBytes && (lhs.box === rhs.box || lhs.box.fields == rhs.box.fields)
    }

    public func hash(into hasher: inout Hasher) {
        box.fields.hash(into: &hasher)
        hasher.combine(payloadBytes)
    }

    /// Whether this stream and `other` hold one stored copy of their fields (not merely equal ones).
    package func sharesStorage(with other: ProbedStream) -> Bool { box === other.box }

    /// This stream holding `other`'s copy of its fields when they are equal (`payloadBytes` aside), so that inputs
    /// probed alike keep one copy between them; itself otherwise.
    package func sharingStorage(with other: ProbedStream) -> ProbedStream {
        guard box !== other.box, box.fields == other.box.fields else { return self }
        var shared = self
        shared.box = other.box
        return shared
    }


    func withEndInferred(_ inferred: Bool) -> ProbedStream {
        var stream = self
        stream.endInferred = inferred
        return stream
    }

    /// Frames presented: the packets read, less those flagged to be discarded at the start (the frames an edit list
    /// hides, AAC's priming).
    public var shownFrames: Int { packetCount - leadingDiscardPackets }

    /// Duration of presentation, endPts - startPts.
    public var duration: Int64 { (endPts ?? 0) - (startPts ?? 0) }

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
        box = Box(Fields(
            signature: signature,
            frameCount: frameCount,
            firstPts: firstPts,
            firstDts: firstDts,
            lastPts: lastPts,
            lastDts: lastDts,
            startPts: startPts,
            endPts: endPts,
            leadingDiscardDuration: leadingDiscardDuration,
            primingSamples: primingSamples,
            trailingPaddingSamples: trailingPaddingSamples,
            typicalPacketDuration: typicalPacketDuration,
            leadingPackets: leadingPackets,
            initialPadding: initialPadding,
            trailingPackets: trailingPackets,
            firstFrameGap: firstFrameGap,
            leadingStretch: leadingStretch,
            timeBase: timeBase,
            frameRate: frameRate,
            index: index,
            packetCount: packetCount,
            leadingDiscardPackets: leadingDiscardPackets,
            irregularDurationCount: irregularDurationCount,
            missingTimestampCount: missingTimestampCount,
            firstNonIncreasingDts: firstNonIncreasingDts,
            firstPtsBeforeDts: firstPtsBeforeDts,
            corruptPacketCount: corruptPacketCount,
            derivedDtsDelay: derivedDtsDelay,
            missingPtsCount: missingPtsCount,
            missingDtsOnlyCount: missingDtsOnlyCount,
            unflaggedPrimingPackets: unflaggedPrimingPackets,
            parserKeyframes: parserKeyframes,
            firstPacketIsKeyframe: firstPacketIsKeyframe,
            endInferred: false
        ))
        self.payloadBytes = payloadBytes
    }
}

extension ProbedStream: Codable {
    private enum PayloadKey: String, CodingKey { case payloadBytes }

    /// One JSON object: the box's fields and `payloadBytes` beside them, as when every field was stored.
    public init(from decoder: any Decoder) throws {
        box = Box(try Fields(from: decoder))
        payloadBytes = try decoder.container(keyedBy: PayloadKey.self).decode(Int64.self, forKey: .payloadBytes)
    }

    public func encode(to encoder: any Encoder) throws {
        try box.fields.encode(to: encoder)
        var container = encoder.container(keyedBy: PayloadKey.self)
        try container.encode(payloadBytes, forKey: .payloadBytes)
    }
}
