extension ProbedStream: Codable {
    /// The JSON shape: one key per public property, as before the storage was made compact.
    private struct Wire: Codable {
        var index: Int
        var signature: CodecSignature
        var timeBase: Rational
        var packetCount: Int
        var frameCount: Int64
        var firstPts: Int64?
        var firstDts: Int64?
        var lastPts: Int64?
        var lastDts: Int64?
        var startPts: Int64?
        var endPts: Int64?
        var firstPacketIsKeyframe: Bool
        var leadingDiscardPackets: Int
        var leadingDiscardDuration: Int64
        var primingSamples: Int64
        var trailingPaddingSamples: Int64
        var typicalPacketDuration: Int64
        var irregularDurationCount: Int
        var missingTimestampCount: Int
        var firstNonIncreasingDts: Int?
        var firstPtsBeforeDts: Int?
        var corruptPacketCount: Int
        var leadingPackets: [PacketTiming]
        var initialPadding: Int64
        var trailingPackets: [PacketTiming]
        var frameRate: Rational?
        var derivedDtsDelay: Int?
        var firstFrameGap: Int64?
        var missingPtsCount: Int
        var missingDtsOnlyCount: Int
        var leadingStretch: Int64
        var unflaggedPrimingPackets: Int
        var payloadBytes: Int64
        var parserKeyframes: Int?
    }

    public init(from decoder: any Decoder) throws {
        let w = try Wire(from: decoder)
        self.init(index: w.index, signature: w.signature, timeBase: w.timeBase, packetCount: w.packetCount,
                  frameCount: w.frameCount, firstPts: w.firstPts, firstDts: w.firstDts, lastPts: w.lastPts,
                  lastDts: w.lastDts, startPts: w.startPts, endPts: w.endPts, firstPacketIsKeyframe: w.firstPacketIsKeyframe,
                  leadingDiscardPackets: w.leadingDiscardPackets, leadingDiscardDuration: w.leadingDiscardDuration,
                  primingSamples: w.primingSamples, trailingPaddingSamples: w.trailingPaddingSamples,
                  typicalPacketDuration: w.typicalPacketDuration, irregularDurationCount: w.irregularDurationCount,
                  missingTimestampCount: w.missingTimestampCount, firstNonIncreasingDts: w.firstNonIncreasingDts,
                  firstPtsBeforeDts: w.firstPtsBeforeDts, corruptPacketCount: w.corruptPacketCount,
                  leadingPackets: w.leadingPackets, initialPadding: w.initialPadding, trailingPackets: w.trailingPackets,
                  frameRate: w.frameRate, derivedDtsDelay: w.derivedDtsDelay, firstFrameGap: w.firstFrameGap,
                  missingPtsCount: w.missingPtsCount, missingDtsOnlyCount: w.missingDtsOnlyCount,
                  leadingStretch: w.leadingStretch, unflaggedPrimingPackets: w.unflaggedPrimingPackets,
                  payloadBytes: w.payloadBytes, parserKeyframes: w.parserKeyframes)
    }

    public func encode(to encoder: any Encoder) throws {
        try Wire(index: index, signature: signature, timeBase: timeBase, packetCount: packetCount, frameCount: frameCount,
                 firstPts: firstPts, firstDts: firstDts, lastPts: lastPts, lastDts: lastDts, startPts: startPts,
                 endPts: endPts, firstPacketIsKeyframe: firstPacketIsKeyframe, leadingDiscardPackets: leadingDiscardPackets,
                 leadingDiscardDuration: leadingDiscardDuration, primingSamples: primingSamples,
                 trailingPaddingSamples: trailingPaddingSamples, typicalPacketDuration: typicalPacketDuration,
                 irregularDurationCount: irregularDurationCount, missingTimestampCount: missingTimestampCount,
                 firstNonIncreasingDts: firstNonIncreasingDts, firstPtsBeforeDts: firstPtsBeforeDts,
                 corruptPacketCount: corruptPacketCount, leadingPackets: leadingPackets, initialPadding: initialPadding,
                 trailingPackets: trailingPackets, frameRate: frameRate, derivedDtsDelay: derivedDtsDelay,
                 firstFrameGap: firstFrameGap, missingPtsCount: missingPtsCount, missingDtsOnlyCount: missingDtsOnlyCount,
                 leadingStretch: leadingStretch, unflaggedPrimingPackets: unflaggedPrimingPackets,
                 payloadBytes: payloadBytes, parserKeyframes: parserKeyframes).encode(to: encoder)
    }
}
