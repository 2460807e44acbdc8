import Foundation

/// Where every input's packets go on the output timeline. A pure function of the probed inputs.
///
/// The first video stream is the master clock: input `i` starts where input `i - 1`'s video ends, so
/// video is exact by construction and offsets are exact integers (no rounding through container durations).
/// Every other stream keeps its offset from the master within its input. Audio codecs that come in fixed-size
/// frames (AAC, Opus, ...) are laid end to end: later inputs lose their priming packets, and each input keeps
/// the packets whose midpoint lies before the next input's start, so the audio never drifts more than half a
/// frame from the video and no priming silence lands on the timeline. PCM is laid end to end sample-exactly.
/// Codecs whose priming the decoder skips (Opus pre-skip) are laid end to end sample-exactly too when the output
/// container can trim single packets (Matroska's DiscardPadding): see `trimmedAudio`.
public struct StitchPlan: Sendable {
    /// How to copy one stream of one input.
    public struct Placement: Sendable, Hashable {
        /// Added to a packet's pts and dts after rescaling them to the stream's plan time base.
        public var offset: Int64
        /// Packets at the start of the input to drop (priming of inputs after the first).
        public var dropLeading: Int
        /// Packets to keep after the leading ones; the rest (end padding) are dropped.
        public var keep: Int
        /// For frame-based audio, every kept packet but the output's last gets this duration (plan ticks).
        public var gridDuration: Int64?
        /// Samples to discard from the end of the last kept packet (its skip-samples side data is replaced);
        /// nil leaves packets' side data as read.
        public var trimEnd: Int64? = nil
        /// For the master video when frames are counted (see `masterFrameDuration`): timestamps are re-derived from
        /// the frame they fall on, so each is rounded once from its exact time instead of twice.
        public var frameGrid: FrameGrid? = nil
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

        /// `ticks` of the input (time base `timeBase`) on the output timeline, in plan ticks of `planTimeBase`.
        public func map(_ ticks: Int64, from timeBase: Rational, to planTimeBase: Rational) -> Int64 {
            let frame = Ticks.rescale(ticks - inputStart, from: timeBase, to: self.frame)
            return outputStart + Ticks.rescale(framesBefore + frame, from: self.frame, to: planTimeBase)
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
        public var input: Int
        public var stream: Int
        public var ticks: Int64
        public var tolerance: Int64
        public var milliseconds: Double
    }

    /// Per stream: the time base plan offsets are expressed in (input 1's).
    public let timeBases: [Rational]
    /// `placements[input][stream]`.
    public let placements: [[Placement]]
    public let boundaries: [BoundaryReport]
    public let inputDrifts: [InputDrift]
    public let outputDtsViolations: [DtsViolation]
    /// Per stream: presentation end on the output timeline minus its start, in plan ticks.
    public let outputDurations: [Int64]
    /// Per stream: packets written.
    public let outputPackets: [Int]
    /// Per audio stream: samples a decoder produces playing all packets back to back (priming of input 1 excluded).
    public let decodedSamples: [Int64?]
    /// The video frame duration (seconds) that placed the inputs, when the master time base cannot hold it
    /// exactly and frames were counted instead of timestamps summed.
    public let masterFrameDuration: Rational?

    /// The master's frame duration when every input declares the same constant frame rate and the master
    /// time base cannot express one frame in whole ticks; nil otherwise.
    static func frameClock(_ inputs: [ProbedInput], master: Int) -> Rational? {
        let streams = inputs.map { $0.streams[master] }
        guard let rate = streams[0].frameRate, streams[0].signature.kind == .video,
              streams.allSatisfy({ $0.frameRate == rate && $0.irregularDurationCount == 0 }) else { return nil }
        let exact = streams.allSatisfy { (Int64(rate.den) * Int64($0.timeBase.den)) % (Int64(rate.num) * Int64($0.timeBase.num)) == 0 }
        return exact ? nil : Rational(rate.den, rate.num)
    }

    /// The largest content gap or overlap at a boundary accepted as continuous, in ticks of `stream`'s time base.
    public func continuityTolerance(for stream: ProbedStream) -> Int64 {
        switch stream.signature.kind {
        case .audio: max(stream.typicalPacketDuration, 1) + 1
        default: 1
        }
    }

    /// Plans `inputs` for an output container with the given capabilities (nil: one that cannot trim packets).
    public init(inputs: [ProbedInput], output: OutputCapabilities? = nil) {
        guard let first = inputs.first, let masterIndex = first.masterStreamIndex,
              inputs.allSatisfy({ $0.streams.count == first.streams.count }) else {
            self.timeBases = []; self.placements = []; self.boundaries = []; self.inputDrifts = []
            self.outputDtsViolations = []; self.outputDurations = []; self.outputPackets = []; self.decodedSamples = []
            self.masterFrameDuration = nil
            return
        }
        let streamCount = first.streams.count
        let masterTB = first.streams[masterIndex].timeBase
        // Start of every input on the output timeline, in master ticks of input 1. Exact when time bases agree.
        // When the time base cannot hold a frame duration (1/30 s in Matroska's milliseconds), every chunk's
        // duration is rounded, and summing them would drift: count frames instead and round each start once.
        let frameClock = Self.frameClock(inputs, master: masterIndex)
        var starts: [Int64] = []
        var cursor = first.streams[masterIndex].contentStart
        var framesBefore: Int64 = 0
        var framesBeforeInput: [Int64] = []
        for input in inputs {
            let master = input.streams[masterIndex]
            framesBeforeInput.append(framesBefore)
            if let frameClock {
                cursor = first.streams[masterIndex].contentStart + Ticks.rescale(framesBefore, from: frameClock, to: masterTB)
            }
            starts.append(cursor)
            cursor += Ticks.rescale(master.contentEnd - master.contentStart, from: master.timeBase, to: masterTB)
            framesBefore += Int64(master.packetCount)
        }
        if let frameClock {
            cursor = first.streams[masterIndex].contentStart + Ticks.rescale(framesBefore, from: frameClock, to: masterTB)
        }
        let timelineEnd = cursor
        masterFrameDuration = frameClock
        timeBases = first.streams.map(\.timeBase)

        var placements = Array(repeating: [Placement](), count: inputs.count)
        var boundaries: [BoundaryReport] = []
        var drifts: [InputDrift] = []
        var violations: [DtsViolation] = []
        var durations: [Int64] = []
        var packets: [Int] = []
        var decoded: [Int64?] = []

        for s in 0..<streamCount {
            let tb = timeBases[s]
            let kind = first.streams[s].signature.kind
            /// Maps a tick of input i's stream onto the output timeline, keeping its distance to the master start.
            func map(_ value: Int64, _ i: Int) -> Int64 {
                let stream = inputs[i].streams[s], master = inputs[i].streams[masterIndex]
                return Ticks.rescale(value, from: stream.timeBase, to: tb)
                    + Ticks.rescale(starts[i], from: masterTB, to: tb)
                    - Ticks.rescale(master.contentStart, from: master.timeBase, to: tb)
            }
            let isAudio = kind == .audio
            let grid: Int64? = isAudio && !first.streams[s].signature.codec.hasPrefix("pcm_")
                && first.streams[s].typicalPacketDuration > 0
                ? Ticks.rescale(first.streams[s].typicalPacketDuration, from: first.streams[s].timeBase, to: tb) : nil
            var cursor: Int64? = nil
            var lastDts: Int64? = nil
            var written = 0
            var decodedCount: Int64 = 0
            var samplesBefore: Int64 = 0  // audio samples of the inputs before this one
            let sampleTB = Rational(1, max(first.streams[s].signature.sampleRate, 1))
            /// An audio offset in ticks, in samples; a single tick is below what the timestamps can tell (a Matroska
            /// millisecond is 48 samples), so it counts as none.
            func samplesResolved(_ ticks: Int64) -> Int64 { abs(ticks) <= 1 ? 0 : Ticks.rescale(ticks, from: tb, to: sampleTB) }

            let trimmed = isAudio && output?.trimsAudioPackets == true && grid != nil
                && inputs.allSatisfy({ $0.streams[s].leadingDiscardPackets == 0 && $0.streams[s].initialPadding > 0 })
                ? Self.trimmedAudio(inputs: inputs, stream: s, timeBase: tb, firstOffset: map(0, 0),
                                    ideal: { map(inputs[$0].streams[s].contentStart, $0) }) : nil

            for i in inputs.indices {
                let stream = inputs[i].streams[s]
                let master = inputs[i].streams[masterIndex]
                // Input 1 keeps its priming (the output's decoder skips it), so its first packet is the first kept.
                let kept = i == 0 || !isAudio || trimmed != nil
                    ? (dropped: 0, pts: stream.leadingPackets.first?.pts ?? stream.startPts ?? 0) : stream.firstKept(after: master)
                let available = max(stream.packetCount - kept.dropped, 0)
                var placement = Placement(offset: map(0, i), dropLeading: kept.dropped, keep: available, gridDuration: nil)
                if s == masterIndex, let frameClock {
                    placement.frameGrid = FrameGrid(frame: frameClock, framesBefore: framesBeforeInput[i],
                                                    inputStart: master.contentStart, outputStart: first.streams[masterIndex].contentStart)
                }
                if let trimmed {
                    let t = trimmed[i]
                    placement.offset = t.offset
                    placement.keep = t.keep
                    placement.trimEnd = t.trimEnd
                    if i > 0, let index = boundaries.firstIndex(where: { $0.index == i && $0.stream == s }) {
                        // Against the video, as far as the timestamps can tell.
                        let tickError = t.contentStart - map(stream.contentStart, i)
                        boundaries[index].audioDiscontinuitySamples = t.contentOffsetSamples
                            + samplesResolved(tickError)
                    }
                    decodedCount += t.decodedSamples
                    cursor = t.contentEnd
                    if let lastDts, t.firstDts <= lastDts {
                        violations.append(DtsViolation(input: i, stream: s, previous: lastDts, next: t.firstDts))
                    }
                    lastDts = t.lastDts
                } else if isAudio {
                    let ideal = map(kept.pts, i)
                    var place = ideal
                    if i > 0, let previousEnd = cursor {
                        let tolerance = (grid ?? 0) + 1
                        place = abs(previousEnd - ideal) <= tolerance ? previousEnd : max(ideal, previousEnd)
                        if let index = boundaries.firstIndex(where: { $0.index == i && $0.stream == s }) {
                            var discontinuity = Ticks.rescale(place - ideal, from: tb, to: sampleTB)
                            if grid == nil, let frameClock, place == previousEnd {
                                // PCM laid end to end, against the exact frame clock: samples, not rounded ticks.
                                let within = Ticks.rescale(stream.contentStart, from: stream.timeBase, to: tb)
                                    - Ticks.rescale(master.contentStart, from: master.timeBase, to: tb)
                                let ideal = Ticks.rescale(framesBeforeInput[i], from: frameClock, to: sampleTB)
                                    + samplesResolved(within)
                                discontinuity = samplesBefore - ideal
                            }
                            boundaries[index].audioDiscontinuitySamples = discontinuity
                        }
                    }
                    placement.offset = place - Ticks.rescale(kept.pts, from: stream.timeBase, to: tb)
                    placement.gridDuration = grid
                    var end = place + Ticks.rescale((stream.endPts ?? kept.pts) - kept.pts, from: stream.timeBase, to: tb)
                    if let grid, i + 1 < inputs.count {
                        let next = inputs[i + 1].streams[s].firstKept(after: inputs[i + 1].streams[masterIndex])
                        let nextIdeal = map(next.pts, i + 1)
                        // Keep packet k while its midpoint, place + k*grid + grid/2, is at or before nextIdeal.
                        let room = nextIdeal - place - grid / 2
                        let keep = room < 0 ? 0 : Int(room / grid) + 1
                        // Every packet but the output's last decodes to a whole frame: the grid is the real timeline.
                        placement.keep = min(keep, available)
                        end = place + Int64(placement.keep) * grid
                    }
                    if let grid {
                        let frameSamples = Ticks.rescale(grid, from: tb, to: sampleTB)
                        decodedCount += Int64(placement.keep - (i == 0 ? stream.leadingDiscardPackets : 0)) * frameSamples
                    } else {
                        decodedCount += stream.frameCount  // PCM: every sample the input carries, counted exactly
                    }
                    samplesBefore += stream.frameCount
                    cursor = end
                    let firstDts = place
                    if let lastDts, firstDts <= lastDts {
                        violations.append(DtsViolation(input: i, stream: s, previous: lastDts, next: firstDts))
                    }
                    lastDts = placement.keep == available
                        ? Ticks.rescale(stream.lastDts ?? 0, from: stream.timeBase, to: tb) + placement.offset
                        : place + Int64(max(placement.keep - 1, 0)) * (grid ?? 0)
                } else {
                    let firstDts = Ticks.rescale(stream.firstDts ?? 0, from: stream.timeBase, to: tb) + placement.offset
                    if let lastDts, firstDts <= lastDts {
                        violations.append(DtsViolation(input: i, stream: s, previous: lastDts, next: firstDts))
                    }
                    lastDts = Ticks.rescale(stream.lastDts ?? 0, from: stream.timeBase, to: tb) + placement.offset
                    cursor = Ticks.rescale(stream.contentEnd, from: stream.timeBase, to: tb) + placement.offset
                }
                written += placement.keep
                placements[i].append(placement)

                // The content gap between this input and the next, measured against the master.
                if i + 1 < inputs.count {
                    let next = inputs[i + 1].streams[s], nextMaster = inputs[i + 1].streams[masterIndex]
                    let endRel = Ticks.rescale(stream.contentEnd, from: stream.timeBase, to: tb)
                        - Ticks.rescale(master.contentEnd, from: master.timeBase, to: tb)
                    let startRel = Ticks.rescale(next.contentStart, from: next.timeBase, to: tb)
                        - Ticks.rescale(nextMaster.contentStart, from: nextMaster.timeBase, to: tb)
                    let gap = startRel - endRel
                    boundaries.append(BoundaryReport(
                        index: i + 1, stream: s, kind: kind, gapTicks: gap,
                        gapMilliseconds: Ticks.milliseconds(gap, in: tb),
                        audioDiscontinuitySamples: isAudio ? 0 : nil,
                        droppedPackets: (available - placement.keep) + (isAudio && trimmed == nil ? next.firstKept(after: nextMaster).dropped : 0)))
                }
                if isAudio {
                    let audio = Ticks.rescale(stream.contentEnd - stream.contentStart, from: stream.timeBase, to: tb)
                    let video = Ticks.rescale(master.contentEnd - master.contentStart, from: master.timeBase, to: tb)
                    let tolerance = (grid ?? Ticks.rescale(max(master.typicalPacketDuration, 1), from: master.timeBase, to: tb)) + 1
                    drifts.append(InputDrift(input: i, stream: s, ticks: audio - video, tolerance: tolerance,
                                             milliseconds: Ticks.milliseconds(audio - video, in: tb)))
                }
            }
            let start = Ticks.rescale(first.streams[s].contentStart, from: first.streams[s].timeBase, to: tb)
            durations.append(s == masterIndex && !isAudio ? Ticks.rescale(timelineEnd - starts[0], from: masterTB, to: tb) : (cursor ?? start) - start)
            packets.append(written)
            decoded.append(isAudio ? decodedCount : nil)
        }
        self.placements = placements
        self.boundaries = boundaries
        self.inputDrifts = drifts
        self.outputDtsViolations = violations
        self.outputDurations = durations
        self.outputPackets = packets
        self.decodedSamples = decoded
    }
}

extension ProbedStream {
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

    /// For an input after the first: its leading priming packets, dropped, and the pts of the first packet kept.
    func firstKept(after master: ProbedStream) -> (dropped: Int, pts: Int64) {
        let dropped = leadingPacketsBefore(masterStart: master.contentStart, masterTimeBase: master.timeBase)
        return (dropped, leadingPackets.indices.contains(dropped) ? leadingPackets[dropped].pts : (startPts ?? 0))
    }

    /// Leading packets that are priming: flagged for discard, or ending at or before the master's start.
    func leadingPacketsBefore(masterStart: Int64, masterTimeBase: Rational) -> Int {
        let start = Ticks.rescale(masterStart, from: masterTimeBase, to: timeBase)
        var count = 0
        for packet in leadingPackets {
            if packet.isDiscard || packet.pts + packet.duration <= start { count += 1 } else { break }
        }
        return count
    }
}
