/// What probing found about one stream of one input. Timestamps are in the stream's time base.
///
/// **Compact storage.** A stitch keeps every input's probe until its output is durable, so at 10,000 inputs with
/// audio this struct is the largest thing it holds. Optional timestamps are stored as `Int64.min` for nil (it is
/// `AV_NOPTS_VALUE`, never a timestamp), counts and packet indices as `Int32` (`Int32.min` for nil; a count beyond
/// `Int32.max` is clamped, which would take a file of two billion packets), and a nil frame rate as 0/0 (see
/// `CompactStorage.swift`): 216 bytes a stream instead of 360. The public properties keep their types, and the
/// JSON its shape. Declared widest first, so that nothing is padded.
public struct ProbedStream: Codable, Sendable, Hashable {
    public var signature: CodecSignature
    /// Frames: video packets, or decoded audio samples for audio.
    public var frameCount: Int64
    @OptionalTicks public var firstPts: Int64?
    @OptionalTicks public var firstDts: Int64?
    @OptionalTicks public var lastPts: Int64?
    @OptionalTicks public var lastDts: Int64?
    /// Smallest pts of a packet that is not discarded (the start of presentation).
    @OptionalTicks public var startPts: Int64?
    /// Largest pts + duration (the end of presentation).
    @OptionalTicks public var endPts: Int64?
    /// Total duration in ticks of the `leadingDiscardPackets`.
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
    /// For video: the gap between the first two presented frames, when the first packet read presents first.
    @OptionalTicks public var firstFrameGap: Int64?
    /// Ticks by which the first frame was stretched backwards and is moved forward again (see
    /// `ProbedInput.normalizingLeadingStretch`); 0 when it sits on the frame grid.
    public var leadingStretch: Int64
    /// Bytes of all packets read (for an audio re-encode at about the input's bit rate).
    public var payloadBytes: Int64
    public var timeBase: Rational
    /// Nominal frame rate of a video stream, as the container declares it (nil when unknown or for audio).
    @OptionalRational public var frameRate: Rational?
    @Count32 public var index: Int
    /// Packets read.
    @Count32 public var packetCount: Int
    /// Packets flagged to be discarded at the start (AAC priming).
    @Count32 public var leadingDiscardPackets: Int
    /// Packets whose duration differs from the typical one by more than one tick (the last packet excluded).
    @Count32 public var irregularDurationCount: Int
    /// Packets lacking a dts or pts.
    @Count32 public var missingTimestampCount: Int
    /// Index (in the stream) of the first packet whose dts did not increase, if any.
    @OptionalCount32 public var firstNonIncreasingDts: Int?
    /// Index of the first packet whose pts is smaller than its dts, if any.
    @OptionalCount32 public var firstPtsBeforeDts: Int?
    /// Packets flagged corrupt by the demuxer.
    @Count32 public var corruptPacketCount: Int
    /// For video whose decode timestamps were derived from presentation timestamps (Matroska stores none), the
    /// reorder delay in frames that derived them (see `DtsDeriver`); nil when the container's dts were used.
    @OptionalCount32 public var derivedDtsDelay: Int?
    /// Of the packets lacking timestamps, those without a pts, and those with a pts but no dts (0 when unknown).
    @Count32 public var missingPtsCount: Int
    @Count32 public var missingDtsOnlyCount: Int
    /// Leading audio packets found to be encoder priming although no flag or edit list says so (see
    /// `ProbedInput.markingUnflaggedPriming`).
    @Count32 public var unflaggedPrimingPackets: Int
    /// For MP4/MOV: packets read as key frames beyond those the sync sample table marks, that is, the key frames
    /// libavformat's parser added (H.264 recovery points); nil for other containers and for fragmented MP4, whose
    /// fragments may leave sample durations to the parser. 0 means packets read without the parser are the same
    /// packets, so the remux can skip it (see `ProbedInput.remuxesWithoutParser`).
    @OptionalCount32 public var parserKeyframes: Int?
    /// Whether the first packet read carries the keyframe flag.
    public var firstPacketIsKeyframe: Bool
    /// Whether the end of presentation was inferred: the last frame came without a duration (a fragmented MP4's
    /// HEVC), and `endPts` gives it one `typicalPacketDuration`.
    public var endInferred: Bool = false

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
        self.signature = signature
        self.frameCount = frameCount
        self.firstPts = firstPts
        self.firstDts = firstDts
        self.lastPts = lastPts
        self.lastDts = lastDts
        self.startPts = startPts
        self.endPts = endPts
        self.leadingDiscardDuration = leadingDiscardDuration
        self.primingSamples = primingSamples
        self.trailingPaddingSamples = trailingPaddingSamples
        self.typicalPacketDuration = typicalPacketDuration
        self.leadingPackets = leadingPackets
        self.initialPadding = initialPadding
        self.trailingPackets = trailingPackets
        self.firstFrameGap = firstFrameGap
        self.leadingStretch = leadingStretch
        self.payloadBytes = payloadBytes
        self.timeBase = timeBase
        self.frameRate = frameRate
        self.index = index
        self.packetCount = packetCount
        self.leadingDiscardPackets = leadingDiscardPackets
        self.irregularDurationCount = irregularDurationCount
        self.missingTimestampCount = missingTimestampCount
        self.firstNonIncreasingDts = firstNonIncreasingDts
        self.firstPtsBeforeDts = firstPtsBeforeDts
        self.corruptPacketCount = corruptPacketCount
        self.derivedDtsDelay = derivedDtsDelay
        self.missingPtsCount = missingPtsCount
        self.missingDtsOnlyCount = missingDtsOnlyCount
        self.unflaggedPrimingPackets = unflaggedPrimingPackets
        self.parserKeyframes = parserKeyframes
        self.firstPacketIsKeyframe = firstPacketIsKeyframe
    }
}
