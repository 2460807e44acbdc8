extension StitchPlan {
    /// Where one packet goes on the output timeline, in plan ticks.
    public struct MappedPacket: Sendable, Hashable {
        public var pts: Int64
        public var dts: Int64
        public var duration: Int64
        /// Samples to discard from the end of this packet (replacing its skip-samples side data), when set.
        public var trimEnd: Int64?
        /// Whether a discard flag read on the packet must be cleared (only input 1's priming stays marked).
        public var clearsDiscard: Bool
    }

    /// Maps the packets of one stream of one input, fed in read (decode) order: a pure function of the plan and
    /// the packets' timestamps, shared by the remuxer and the tests that check every packet of a plan.
    ///
    /// It derives decode timestamps where the probe did (Matroska video: see `DtsDeriver`), fills durations the
    /// container left unset, drops what the plan drops, lays input 1's kept audio priming end to end before its
    /// content, and moves every dts back by the input's share of the output's decode delay.
    public struct PacketMapper: Sendable {
        let placement: Placement
        let input: ProbedStream
        let planTimeBase: Rational
        let clearsDiscard: Bool
        /// Read-order index of the output's very last packet of this stream, which keeps its own duration.
        let finalIndex: Int?
        var deriver: DtsDeriver?
        var index = 0

        /// A mapper for stream `stream` of input `index` of `inputs`, planned by `plan`.
        public init(plan: StitchPlan, inputs: [ProbedInput], input index: Int, stream: Int) {
            placement = plan.placements[index][stream]
            input = inputs[index].streams[stream]
            planTimeBase = plan.timeBases[stream]
            clearsDiscard = index > 0
            finalIndex = index == inputs.count - 1 ? input.packetCount - 1 : nil
            if let delay = input.derivedDtsDelay {
                deriver = DtsDeriver(delay: delay, firstPts: input.startPts ?? 0, frameDuration: max(input.typicalPacketDuration, 1))
            }
        }

        /// The packet's place on the output, or nil when the plan drops it. `AV.noPTS` passes through unchanged.
        public mutating func map(pts: Int64, dts: Int64, duration: Int64) -> MappedPacket? {
            let k = index
            index += 1
            var pts = pts, dts = dts
            if k == 0, input.leadingStretch > 0 {
                // The stretched first frame, back on its grid (see `ProbedInput.normalizingLeadingStretch`).
                if pts != AV.noPTS { pts += input.leadingStretch }
                if dts != AV.noPTS { dts += input.leadingStretch }
            }
            if deriver != nil, pts != AV.noPTS { dts = deriver!.next(pts: pts) }
            let n = k - placement.dropLeading
            guard n >= 0, n < placement.keep else { return nil }
            let tb = input.timeBase, planTB = planTimeBase
            let signature = input.signature
            // A frame without a duration (a fragment's last sample, when no parser supplies one) lasts one frame.
            let filled = duration <= 0 && signature.kind == .video && input.typicalPacketDuration > 0 ? input.typicalPacketDuration
                : PacketTiming.filledDuration(duration, kind: signature.kind, frameSize: signature.frameSize,
                                              sampleRate: signature.sampleRate, timeBase: tb)
            var out = MappedPacket(pts: pts, dts: dts, duration: Ticks.rescale(filled, from: tb, to: planTB),
                                   trimEnd: nil, clearsDiscard: clearsDiscard)
            if let grid = placement.frameGrid {
                if pts != AV.noPTS { out.pts = grid.map(pts, from: tb, to: planTB) }
                if dts != AV.noPTS { out.dts = grid.mapDts(dts, from: tb, to: planTB) }
            } else {
                if pts != AV.noPTS { out.pts = Ticks.rescale(pts, from: tb, to: planTB) + placement.offset }
                if dts != AV.noPTS { out.dts = Ticks.rescale(dts, from: tb, to: planTB) + placement.offset - placement.dtsShift }
            }
            if let grid = placement.gridDuration {
                if n < placement.primingPackets {
                    let before = Int64(placement.primingPackets - n) * placement.primingFrameSamples
                    out.pts = placement.contentStart - Ticks.rescale(before, from: Rational(1, max(signature.sampleRate, 1)), to: planTB)
                    out.dts = out.pts
                }
                if k != finalIndex { out.duration = grid }
            }
            if let trim = placement.trimEnd, n == placement.keep - 1 { out.trimEnd = trim }
            return out
        }
    }
}
