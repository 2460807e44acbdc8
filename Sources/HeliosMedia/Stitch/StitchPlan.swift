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
        /// Subtracted from every dts (plan ticks) so that every input decodes `outputDecodeDelays` ahead of
        /// presentation: the output's one B-frame delay minus this input's own. Keeps dts increasing across every
        /// boundary whatever the chunk lengths, and pts >= dts within each input.
        public var dtsShift: Int64 = 0
        /// Leading packets kept that are encoder priming (input 1's, where the output can mark them for the
        /// decoder to skip): laid end to end on `gridDuration` before `contentStart`, however the input spaced them.
        public var primingPackets: Int = 0
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
    /// Per stream: how far the output's decoding runs ahead of presentation (plan ticks): the largest B-frame
    /// delay of any input. 0 for audio.
    public let outputDecodeDelays: [Int64]
    /// Where the output's first frame presents, in plan ticks of the master stream (0 where edit lists let the
    /// container say so, else where input 1's first frame did).
    public let videoOrigin: Int64

    /// The master's frame duration when every input declares the same constant frame rate and the master
    /// time base cannot express one frame in whole ticks; nil otherwise.
    static func frameClock(_ inputs: [ProbedInput], master: Int) -> Rational? {
        // Lazily: a copy of every input's master stream would be the largest allocation of a 10,000-input stitch.
        let streams = inputs.lazy.map { $0.streams[master] }
        guard let rate = inputs[0].streams[master].frameRate, inputs[0].streams[master].signature.kind == .video,
              streams.allSatisfy({ $0.frameRate == rate && $0.irregularDurationCount == 0 }),
              // A declared rate the timestamps contradict (fragmented MP4 derives it from a stretched duration) is no clock.
              streams.allSatisfy({ abs(Ticks.rescale(1, from: Rational(rate.den, rate.num), to: $0.timeBase) - $0.typicalPacketDuration) <= 1 })
        else { return nil }
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
            self.masterFrameDuration = nil; self.outputDecodeDelays = []; self.videoOrigin = 0
            return
        }
        let streamCount = first.streams.count
        let masterTB = first.streams[masterIndex].timeBase
        // Start of every input on the output timeline, in master ticks of input 1. Exact when time bases agree.
        // When the time base cannot hold a frame duration (1/30 s in Matroska's milliseconds), every chunk's
        // duration is rounded, and summing them would drift: count frames instead and round each start once.
        let frameClock = Self.frameClock(inputs, master: masterIndex)
        // Where the output's first frame presents: at 0 where edit lists let the container say so (MP4, MOV), so
        // fragmented chunks or chunks shifted for their audio priming still start the output at 0; elsewhere
        // where input 1's did.
        let origin = output?.presentsFromZero == true ? 0 : first.streams[masterIndex].contentStart
        videoOrigin = origin
        var starts: [Int64] = []
        var cursor = origin
        var framesBefore: Int64 = 0
        var framesBeforeInput: [Int64] = []
        for input in inputs {
            let master = input.streams[masterIndex]
            framesBeforeInput.append(framesBefore)
            if let frameClock {
                cursor = origin + Ticks.rescale(framesBefore, from: frameClock, to: masterTB)
            }
            starts.append(cursor)
            cursor += Ticks.rescale(master.contentEnd - master.contentStart, from: master.timeBase, to: masterTB)
            framesBefore += Int64(master.packetCount)
        }
        if let frameClock {
            cursor = origin + Ticks.rescale(framesBefore, from: frameClock, to: masterTB)
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
        var decodeDelays: [Int64] = []

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
            /// The boundary into input `i` of this stream: the last one reported, at input `i - 1` (a search of
            /// every boundary instead would make planning quadratic in the number of inputs).
            func boundaryInto(_ i: Int, _ s: Int) -> Int? {
                guard let last = boundaries.indices.last, boundaries[last].index == i, boundaries[last].stream == s else { return nil }
                return last
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
            // One audio frame in samples, exactly: where the time base cannot hold it (a 1024-sample AAC frame is
            // 21.33 Matroska milliseconds), counting packets by their rounded durations would drift.
            let frameSamples: Int64 = grid == nil ? 0
                : first.streams[s].timeBase.num == 1 && Int64(first.streams[s].timeBase.den) % Int64(sampleTB.den) == 0
                    || first.streams[s].signature.frameSize <= 0
                ? Ticks.rescale(first.streams[s].typicalPacketDuration, from: first.streams[s].timeBase, to: sampleTB)
                : Int64(first.streams[s].signature.frameSize)
            /// `frames` audio frames, in plan ticks.
            func frames(_ frames: Int) -> Int64 { Ticks.rescale(Int64(frames) * frameSamples, from: sampleTB, to: tb) }
            /// An audio offset in ticks, in samples; a single tick is below what the timestamps can tell (a Matroska
            /// millisecond is 48 samples), so it counts as none.
            func samplesResolved(_ ticks: Int64) -> Int64 { abs(ticks) <= 1 ? 0 : Ticks.rescale(ticks, from: tb, to: sampleTB) }

            let trimmed = isAudio && output?.trimsAudioPackets == true && grid != nil
                && inputs.allSatisfy({ $0.streams[s].leadingDiscardPackets == 0 && $0.streams[s].initialPadding > 0 })
                ? Self.trimmedAudio(inputs: inputs, stream: s, timeBase: tb, firstOffset: map(0, 0),
                                    ideal: { map(inputs[$0].streams[s].contentStart, $0) }) : nil

            // One decode delay for the whole output: the largest any input needs (a 1-frame chunk has none, its
            // neighbours may have two). Every input's dts move back by the difference. Counted in frames on a grid.
            let gridded = s == masterIndex && frameClock != nil
            func delayFrames(_ stream: ProbedStream) -> Int64 {
                guard let frameClock else { return 0 }
                return Ticks.rescale(stream.decodeDelay, from: stream.timeBase, to: frameClock)
            }
            let outputDelayFrames = gridded ? inputs.map { delayFrames($0.streams[s]) }.max() ?? 0 : 0
            let outputDelay = gridded ? Ticks.rescale(outputDelayFrames, from: frameClock!, to: tb)
                : inputs.map { Ticks.rescale($0.streams[s].decodeDelay, from: $0.streams[s].timeBase, to: tb) }.max() ?? 0
            decodeDelays.append(kind == .video ? outputDelay : 0)

            for i in inputs.indices {
                let stream = inputs[i].streams[s]
                let master = inputs[i].streams[masterIndex]
                // Frame-based audio starts where its content does: after priming packets, which later inputs drop.
                // Input 1 keeps its priming where the output can mark it for the decoder to skip (an edit list, or
                // Matroska's negative-timestamp shift); an output that cannot (MPEG-TS) drops it too, so the audio
                // track starts with the video instead of one frame before it.
                let content = isAudio && grid != nil && trimmed == nil ? stream.firstKept(after: master)
                    : (dropped: 0, pts: stream.leadingPackets.first?.pts ?? stream.startPts ?? 0)
                let keepsPriming = i == 0 && (output?.marksAudioPriming ?? true)
                let kept = (dropped: keepsPriming ? 0 : content.dropped, pts: content.pts)
                let primingKept = keepsPriming ? content.dropped : 0
                let available = max(stream.packetCount - kept.dropped, 0)
                var placement = Placement(offset: map(0, i), dropLeading: kept.dropped, keep: available, gridDuration: nil)
                if kind == .video {
                    placement.dtsShift = outputDelay - Ticks.rescale(stream.decodeDelay, from: stream.timeBase, to: tb)
                }
                if s == masterIndex, let frameClock {
                    placement.frameGrid = FrameGrid(frame: frameClock, framesBefore: framesBeforeInput[i],
                                                    inputStart: master.contentStart, outputStart: origin,
                                                    dtsShiftFrames: outputDelayFrames - delayFrames(stream))
                }
                if let trimmed {
                    let t = trimmed[i]
                    placement.offset = t.offset
                    placement.keep = t.keep
                    placement.trimEnd = t.trimEnd
                    if i > 0, let index = boundaryInto(i, s) {
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
                        if let index = boundaryInto(i, s) {
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
                    placement.primingPackets = primingKept
                    placement.contentStart = place
                    var end = place + Ticks.rescale((stream.endPts ?? kept.pts) - kept.pts, from: stream.timeBase, to: tb)
                    // Where the next input's audio belongs; after the last input, the end of the video (audio an
                    // encoder padded past the last frame would make the track outlast the picture).
                    let nextIdeal: Int64? = i + 1 < inputs.count
                        ? map(inputs[i + 1].streams[s].firstKept(after: inputs[i + 1].streams[masterIndex]).pts, i + 1)
                        : first.streams[masterIndex].signature.kind == .video ? Ticks.rescale(timelineEnd, from: masterTB, to: tb) : nil
                    if grid != nil, let nextIdeal {
                        // Keep packet k while its midpoint, place + k*frame + frame/2, is at or before nextIdeal.
                        let room = Ticks.rescale(nextIdeal - place, from: tb, to: sampleTB) - frameSamples / 2
                        let keep = room < 0 ? 0 : Int(room / frameSamples) + 1
                        // Every packet but the output's last decodes to a whole frame: the grid is the real timeline.
                        placement.keep = min(primingKept + keep, available)
                        end = place + frames(placement.keep - primingKept)
                    }
                    if grid != nil {
                        placement.primingFrameSamples = frameSamples
                        decodedCount += Int64(placement.keep - primingKept) * frameSamples
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
                        : place + frames(max(placement.keep - primingKept - 1, 0))
                } else {
                    func outputDts(_ dts: Int64) -> Int64 {
                        if let grid = placement.frameGrid { return grid.mapDts(dts, from: stream.timeBase, to: tb) }
                        return Ticks.rescale(dts, from: stream.timeBase, to: tb) + placement.offset - placement.dtsShift
                    }
                    let firstDts = outputDts(stream.firstDts ?? 0)
                    if let lastDts, firstDts <= lastDts {
                        violations.append(DtsViolation(input: i, stream: s, previous: lastDts, next: firstDts))
                    }
                    lastDts = outputDts(stream.lastDts ?? 0)
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
            let start = map(first.streams[s].contentStart, 0)
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
        self.outputDecodeDelays = decodeDelays
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
        return max(count, unflaggedPrimingPackets)
    }
}
