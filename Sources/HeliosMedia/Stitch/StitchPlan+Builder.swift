#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StitchPlan {
    /// Plans a growing list of inputs, one step per arrival, in time independent of how many came before.
    ///
    /// `StitchPlan(inputs:output:)` is one step of a fresh builder, so both give the same plan by construction.
    /// Input `i` is placed once input `i + 1` is known (its audio keeps the packets that end before the next
    /// input's first kept one); the newest input is placed on a scratch copy each step and rolled back. Whatever
    /// depends on every input is folded one input at a time: the frame clock's predicates, the output's decode
    /// delay (the largest of any input), the master timeline. When one of those changes (a longer B-frame delay,
    /// a chunk that contradicts the declared frame rate), the step places every input again (`replans`).
    /// Opus laid end to end sample-exactly (`trimmedAudio`) trims each input against the next: that case is
    /// planned whole on every step.
    ///
    /// The inputs given to a step must extend those of the step before; a caller whose earlier inputs changed
    /// (re-normalized) starts a new builder. A step's plan shares the builder's arrays (placements, boundaries):
    /// a caller that lets go of each plan before the next step keeps every step's time independent of the inputs
    /// before it; one that keeps plans makes the next step copy those arrays.
    public struct Builder: Sendable {
        public let output: OutputCapabilities?
        /// The inputs a caller expects in all, when it knows: the arrays that grow with the inputs (the timeline, the
        /// rows, each lane's boundaries and drifts) get room for that many at the first step instead of growing by
        /// doubling, which at 10,000 inputs leaves a third of each empty and holds two buffers at once as it grows.
        /// A hint only: more inputs grow them as before; at most ``reservedInputsLimit`` are reserved.
        public let expectedInputs: Int?
        /// The most inputs any stitch reserves room for ahead of them, whatever it expects (a hint beyond it is
        /// trusted no further).
        static let reservedInputsLimit = 1 << 16
        /// How many steps placed inputs again from input 1 because something every input depends on changed.
        public private(set) var replans = 0
        /// How many times the lanes started over (a replan, trimmed audio planned whole, a shorter list of inputs):
        /// what a step reports about earlier inputs can differ from the step before only when this changes.
        public private(set) var resets = 0
        /// Inputs placed for good, counted over every step (each input once while nothing they depend on changes).
        public private(set) var placedForGood = 0

        /// Inputs folded into the predicates below (every input given so far).
        private var seen = 0
        /// Whether an input's stream count differs from input 1's (the inputs cannot be planned).
        private var layoutMismatch = false
        private var clock: FrameClockFold?
        /// Per stream, whether every input so far declares its audio priming without flagging packets for discard
        /// (Opus pre-skip): with a container that trims packets, such audio is laid end to end sample-exactly.
        private var declaresPriming: [Bool] = []
        /// Per stream, the largest decode delay so far (in frames on the frame clock for a gridded master; in plan
        /// ticks otherwise), for the frame clock it was folded with.
        private var delays: (clock: Rational?, checked: Int, frames: [Int64], ticks: [Int64]) = (nil, 0, [], [])
        /// What the placed inputs were placed with.
        private var globals: Globals?
        var timeline = MasterTimeline()
        var lanes: [Lane] = []
        /// `placements[input][stream]` of the inputs placed for good (every input but the newest), then the newest
        /// input's row while the plan that holds it lives (`hasProvisionalRow`). The plan shares this array: a step
        /// appends to it in place when the previous step's plan is gone, and copies it (once) when not.
        private var placements: [[Placement]] = []
        private var hasProvisionalRow = false
        /// Where each lane was before the newest input was placed: rolled back at the start of the next step, once
        /// the plan that shares the lanes' arrays is gone (rolling back at once would copy them).
        private var provisionalMarks: [LaneMark]?
        /// The rows a replan (or `takeRows()`) let go of: what the inputs were placed with before it.
        public private(set) var discardedRows: [[Placement]] = []
        /// Rows before this index are let go of at the next step (`releaseRows(before:)`); how many are gone.
        private var releaseBefore = 0
        private(set) var releasedRows = 0

        public init(output: OutputCapabilities? = nil, expectedInputs: Int? = nil) {
            self.output = output
            self.expectedInputs = expectedInputs
        }

        /// Everything a placement depends on that every input can change.
        struct Globals: Equatable {
            var masterIndex: Int
            var frameClock: Rational?
            var outputDelayFrames: [Int64]
            var outputDelays: [Int64]
            var trimmed: [Bool]
        }

        /// Where each input starts on the master timeline: a running sum, exact in frames on a frame clock.
        struct MasterTimeline {
            var starts: [Int64] = []
            var framesBeforeInput: [Int64] = []
            var cursor: Int64 = 0
            var framesBefore: Int64 = 0
        }

        /// One stream's running placement: what input `i` needs from the inputs before it.
        struct Lane {
            var cursor: Int64? = nil
            var lastDts: Int64? = nil
            var written = 0
            var decodedCount: Int64 = 0
            var samplesBefore: Int64 = 0
            /// Audio's offset from the video where the current run of inputs that continue each other started.
            var driftStart: Int64 = 0
            var boundaries: [BoundaryReport] = []
            var drifts: [InputDrift] = []
            var violations: [DtsViolation] = []
            /// Opus laid end to end: every input's trimmed placement, planned whole.
            var trimmed: [TrimmedAudio]? = nil

            /// Undoes what placing inputs after `mark` did (the arrays stay uniquely owned: no copy).
            mutating func rollBack(to mark: LaneMark) {
                (cursor, lastDts, written, decodedCount, samplesBefore, driftStart) = mark.scalars
                boundaries.removeSubrange(mark.boundaries...)
                if let last = mark.lastBoundary { boundaries[boundaries.count - 1] = last }
                drifts.removeSubrange(mark.drifts...)
                if let last = mark.lastDrift { drifts[drifts.count - 1] = last }
                violations.removeSubrange(mark.violations...)
            }
        }

        /// A lane's state to roll back to: its scalars, array lengths, last boundary and last drift (the next
        /// input's placement fills in that boundary's audio discontinuity, and clears that drift when it continues
        /// the input).
        struct LaneMark {
            var scalars: (Int64?, Int64?, Int, Int64, Int64, Int64)
            var boundaries: Int, drifts: Int, violations: Int
            var lastBoundary: BoundaryReport?
            var lastDrift: InputDrift?

            init(_ lane: Lane) {
                scalars = (lane.cursor, lane.lastDts, lane.written, lane.decodedCount, lane.samplesBefore, lane.driftStart)
                boundaries = lane.boundaries.count
                drifts = lane.drifts.count
                violations = lane.violations.count
                lastBoundary = lane.boundaries.last
                lastDrift = lane.drifts.last
            }
        }

        /// Lets go of the rows of inputs before `end` at the next step, when the builder's array is its own again
        /// (a caller that wrote those inputs needs their rows no more): each becomes empty. A replan or a reset
        /// places every input again and forgets this. A caller comparing rows after a replan (`discardedRows`,
        /// `takeRows()`) sees the released ones empty, so they never compare equal to rows placed again.
        public mutating func releaseRows(before end: Int) {
            releaseBefore = max(releaseBefore, end)
        }

        /// Hands over the rows the last replan let go of (see `discardedRows`), clearing them.
        public mutating func takeDiscardedRows() -> [[Placement]] {
            defer { discardedRows = [] }
            return discardedRows
        }

        /// Hands over the rows placed so far (the newest input's excluded) and clears `discardedRows`: for a caller
        /// about to start a new builder that needs to compare what it wrote with what the new one places.
        public mutating func takeRows() -> [[Placement]] {
            dropProvisionalRow()
            discardedRows = []
            return placements
        }

        /// Undoes the newest input's provisional placement (its row and what it added to the lanes).
        private mutating func dropProvisionalRow() {
            if hasProvisionalRow { placements.removeLast() }
            hasProvisionalRow = false
            if let marks = provisionalMarks {
                for s in lanes.indices { lanes[s].rollBack(to: marks[s]) }
                provisionalMarks = nil
            }
        }

        /// The plan of `inputs` (see the type's notes: they must extend the previous step's).
        public mutating func plan(_ inputs: [ProbedInput]) -> StitchPlan {
            guard let first = inputs.first, let masterIndex = first.masterStreamIndex else { return .empty }
            if inputs.count < seen {
                let resets = self.resets
                self = Builder(output: output, expectedInputs: expectedInputs)
                self.resets = resets + 1
            }
            dropProvisionalRow()
            if clock == nil {
                clock = FrameClockFold(first: first.streams[masterIndex])
                declaresPriming = Array(repeating: true, count: first.streams.count)
            }
            while seen < inputs.count, !layoutMismatch {
                let input = inputs[seen]
                seen += 1
                layoutMismatch = input.streams.count != first.streams.count
                if layoutMismatch { break }
                clock!.add(input.streams[masterIndex])
                for (s, stream) in input.streams.enumerated() where declaresPriming[s] {
                    declaresPriming[s] = stream.leadingDiscardPackets == 0 && stream.initialPadding > 0
                }
            }
            if layoutMismatch { return .empty }

            let g = fold(inputs, masterIndex: masterIndex)
            // Where the output's first frame presents: at 0 where edit lists let the container say so (MP4, MOV), so
            // fragmented chunks or chunks shifted for their audio priming still start the output at 0; elsewhere
            // where input 1's did.
            let context = Context(inputs: inputs, first: first, g: g, origin: output?.presentsFromZero == true ? 0 : first.streams[masterIndex].contentStart)
            if g.trimmed.contains(true) || g != globals {
                // Placed inputs depend on what changed (or, for trimmed audio, on every later input): start over.
                if let globals, globals != g, !placements.isEmpty {
                    replans += 1
                    discardedRows = placements
                }
                globals = g
                resets += 1
                timeline = MasterTimeline(cursor: context.origin)
                lanes = Array(repeating: Lane(), count: first.streams.count)
                placements = []
                (releaseBefore, releasedRows) = (0, 0)
            }
            // The previous step's plan is gone (or this copies the array once): empty the released rows in place.
            while releasedRows < min(releaseBefore, placements.count) {
                placements[releasedRows] = []
                releasedRows += 1
            }
            // The master timeline depends on no later input: extend it. When the time base cannot hold a frame
            // duration (1/30 s in Matroska's milliseconds), every chunk's duration is rounded, and summing them would
            // drift: count frames instead and round each start once.
            let room = max(inputs.count, min(expectedInputs ?? 0, Self.reservedInputsLimit))
            timeline.starts.reserveForBatch(upTo: room)
            timeline.framesBeforeInput.reserveForBatch(upTo: room)
            while timeline.starts.count < inputs.count {
                let master = inputs[timeline.starts.count].streams[masterIndex]
                timeline.framesBeforeInput.append(timeline.framesBefore)
                if let frameClock = g.frameClock {
                    timeline.cursor = context.origin + Ticks.rescale(timeline.framesBefore, from: frameClock, to: context.masterTB)
                }
                timeline.starts.append(timeline.cursor)
                timeline.cursor += Ticks.rescale(master.contentEnd - master.contentStart, from: master.timeBase, to: context.masterTB)
                timeline.framesBefore += Int64(master.packetCount)
            }
            let timelineEnd = g.frameClock.map { context.origin + Ticks.rescale(timeline.framesBefore, from: $0, to: context.masterTB) }
                ?? timeline.cursor
            for s in lanes.indices where g.trimmed[s] {
                lanes[s].trimmed = trimmedAudio(context, stream: s)
            }
            // Every input but the newest is placed for good once the input after it is known.
            placements.reserveForBatch(upTo: room)
            for s in lanes.indices {
                lanes[s].boundaries.reserveForBatch(upTo: room - 1)
                if first.streams[s].signature.kind == .audio { lanes[s].drifts.reserveForBatch(upTo: room) }
            }
            while placements.count < inputs.count - 1 {
                let i = placements.count
                placements.append(lanes.indices.map { place(i, stream: $0, context, timelineEnd: timelineEnd) })
                placedForGood += 1
            }
            // The newest is placed, then rolled back: the next step places it again, knowing the input after it.
            let marks = lanes.map(LaneMark.init)
            placements.append(lanes.indices.map { place(inputs.count - 1, stream: $0, context, timelineEnd: timelineEnd) })
            hasProvisionalRow = true
            provisionalMarks = marks
            return finish(context, timelineEnd: timelineEnd)
        }

        /// Folds the inputs not seen yet into the decode delays (for the frame clock folded so far), and the
        /// globals every placement depends on.
        private mutating func fold(_ inputs: [ProbedInput], masterIndex: Int) -> Globals {
            let first = inputs[0]
            let frameClock = clock!.frameClock
            let count = first.streams.count
            if delays.clock != frameClock || delays.frames.count != count {
                delays = (frameClock, 0, Array(repeating: .min, count: count), Array(repeating: .min, count: count))
            }
            while delays.checked < inputs.count {
                let input = inputs[delays.checked]
                for s in 0..<count {
                    let stream = input.streams[s]
                    if let frameClock, s == masterIndex {
                        delays.frames[s] = max(delays.frames[s], Ticks.rescale(stream.decodeDelay, from: stream.timeBase, to: frameClock))
                    }
                    delays.ticks[s] = max(delays.ticks[s], Ticks.rescale(stream.decodeDelay, from: stream.timeBase, to: first.streams[s].timeBase))
                }
                delays.checked += 1
            }
            var outputDelays = delays.ticks
            var outputDelayFrames = Array(repeating: Int64(0), count: count)
            if let frameClock {
                outputDelayFrames[masterIndex] = delays.frames[masterIndex]
                outputDelays[masterIndex] = Ticks.rescale(delays.frames[masterIndex], from: frameClock, to: first.streams[masterIndex].timeBase)
            }
            let trimmed = (0..<count).map { s in
                let stream = first.streams[s]
                return stream.signature.kind == .audio && output?.trimsAudioPackets == true && Context.grid(stream) != nil
                    && declaresPriming[s]
            }
            return Globals(masterIndex: masterIndex, frameClock: frameClock, outputDelayFrames: outputDelayFrames,
                           outputDelays: outputDelays, trimmed: trimmed)
        }

        /// The plan from every input's placements (the newest's provisional) and the lanes' running state.
        private func finish(_ c: Context, timelineEnd: Int64) -> StitchPlan {
            var durations: [Int64] = [], packets: [Int] = [], decoded: [Int64?] = []
            for (s, lane) in lanes.enumerated() {
                let isAudio = c.first.streams[s].signature.kind == .audio
                let start = c.map(c.first.streams[s].contentStart, 0, s, timeline)
                durations.append(s == c.g.masterIndex && !isAudio
                    ? Ticks.rescale(timelineEnd - timeline.starts[0], from: c.masterTB, to: c.timeBases[s]) : (lane.cursor ?? start) - start)
                packets.append(lane.written)
                decoded.append(isAudio ? lane.decodedCount : nil)
            }
            let kinds = c.first.streams.map(\.signature.kind)
            return StitchPlan(
                timeBases: c.timeBases, placements: placements, boundaries: lanes.map(\.boundaries),
                inputDrifts: lanes.map(\.drifts), outputDtsViolations: lanes.map(\.violations),
                outputDurations: durations, outputPackets: packets, decodedSamples: decoded, masterFrameDuration: c.g.frameClock,
                outputDecodeDelays: zip(kinds, c.g.outputDelays).map { $0 == .video ? $1 : 0 }, videoOrigin: c.origin)
        }
    }

    /// What every placement of one step reads: the inputs, input 1 and the globals.
    struct Context {
        let inputs: [ProbedInput]
        let first: ProbedInput
        let g: Builder.Globals
        let origin: Int64
        let masterTB: Rational
        let timeBases: [Rational]

        init(inputs: [ProbedInput], first: ProbedInput, g: Builder.Globals, origin: Int64) {
            self.inputs = inputs
            self.first = first
            self.g = g
            self.origin = origin
            masterTB = first.streams[g.masterIndex].timeBase
            timeBases = first.streams.map(\.timeBase)
        }

        /// For frame-based audio, one packet in plan ticks (nil for sample-exact audio, video and unknown durations).
        static func grid(_ stream: ProbedStream) -> Int64? {
            stream.signature.kind == .audio && !stream.signature.isSampleExactAudio && stream.typicalPacketDuration > 0
                ? stream.typicalPacketDuration : nil
        }

        /// Whether input `i` continues input `i - 1`'s timestamps (`ProbedInput.continues`).
        func continues(_ i: Int) -> Bool {
            i > 0 && inputs[i].continues(inputs[i - 1])
        }

        /// Input `i`'s leading packets of stream `s` dropped as priming, and the pts of its first packet kept.
        func firstKept(_ i: Int, _ s: Int) -> (dropped: Int, pts: Int64) {
            inputs[i].streams[s].firstKept(after: inputs[i].streams[g.masterIndex], continuing: continues(i))
        }

        /// Maps a tick of input i's stream s onto the output timeline, keeping its distance to the master start.
        func map(_ value: Int64, _ i: Int, _ s: Int, _ timeline: Builder.MasterTimeline) -> Int64 {
            let tb = timeBases[s]
            let stream = inputs[i].streams[s].timeBase, master = inputs[i].streams[g.masterIndex]
            return Ticks.rescale(value, from: stream, to: tb)
                + Ticks.rescale(timeline.starts[i], from: masterTB, to: tb)
                - Ticks.rescale(master.contentStart, from: master.timeBase, to: tb)
        }
    }
}
