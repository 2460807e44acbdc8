#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StitchValidator {
    /// The continuity findings of a plan: gaps and overlaps at boundaries, audio-video drift within inputs, output
    /// dts that would not increase. For a plan that grows one input at a time (`StitchPlan.Builder`), the entries
    /// no later input can change are checked once and their findings kept: a progressive stitch validates on every
    /// step, and walking every boundary each time made a 10,000-input job quadratic.
    ///
    /// An entry of input `i` (a boundary into input `i`, a drift or violation of input `i`) is settled once input
    /// `i + 1` is placed for good: placing an input fills in the boundary into it, and the newest input's placement
    /// is provisional. With `n` inputs, entries of inputs up to `n - 3` are kept (one input to spare).
    /// The kept findings hold while the builder places nothing again: the caller starts new checks when the
    /// builder's `resets` changes (`generation`) or it starts a new builder. A lane with fewer entries than kept
    /// starts again.
    public struct ContinuityChecks: Sendable {
        /// The builder's `resets` when these checks started.
        public let generation: Int
        /// Per kind of entry (boundaries, drifts, violations), per lane: entries kept and their findings.
        private var kept: [[Kept]] = [[], [], []]

        struct Kept: Sendable {
            var count = 0
            var issues: [StitchIssue] = []
        }

        public init(generation: Int = 0) {
            self.generation = generation
        }

        /// Every continuity finding of `plan` (of `inputs`), in the order `validate` lists them: boundaries, then
        /// drifts, then dts violations, each stream after stream.
        mutating func issues(_ plan: StitchPlan, _ inputs: [ProbedInput], lenient: Leniency) -> [StitchIssue] {
            let settledBelow = inputs.count - 2
            var issues: [StitchIssue] = []
            func add(_ found: inout [StitchIssue], _ code: IssueCode, _ input: Int, _ stream: Int, _ message: String) {
                found.append(InputChecks.issue(.error, code, input, stream, message, inputs, lenient: lenient))
            }
            walk(0, plan.boundaryLanes, input: \.index, settledBelow: settledBelow, into: &issues) { boundary, found in
                // Every stream tolerates at least one tick (`continuityTolerance`), so a boundary within one tick
                // needs no lookup.
                guard abs(boundary.gapTicks) > 1, boundary.kind == .audio || boundary.kind == .video else { return }
                // Read in place: a copy of the stream per boundary would dominate a 10,000-input validation.
                let tolerance = inputs[boundary.index].streams[boundary.stream].continuityTolerance
                guard abs(boundary.gapTicks) > tolerance else { return }
                let what = boundary.gapTicks > 0 ? "gap" : "overlap"
                add(&found, .discontinuity, boundary.index, boundary.stream,
                    "\(what) of \(formatMs(abs(boundary.gapMilliseconds))) in \(boundary.kind.rawValue) at the boundary after input \(boundary.index) "
                    + "(\(abs(boundary.gapTicks)) ticks of \(inputs[boundary.index].streams[boundary.stream].timeBase); at most \(tolerance) allowed)")
            }
            walk(1, plan.driftLanes, input: \.input, settledBelow: settledBelow, into: &issues) { drift, found in
                // The last input's audio is cut where the picture ends, so it may run on by a second frame: the
                // encoder's flush at the end of a stream, which MPEG-TS cannot mark as padding (GStreamer's last
                // segment), beside the frame any input may have.
                let last = drift.input == inputs.count - 1 && drift.ticks > 0
                guard abs(drift.ticks) > (last ? 2 * drift.tolerance : drift.tolerance) else { return }
                add(&found, .avDrift, drift.input, drift.stream,
                    "audio lasts \(formatMs(abs(drift.milliseconds))) \(drift.ticks > 0 ? "longer" : "shorter") than video "
                    + (last ? "(at most two audio frames, \(2 * drift.tolerance) ticks, allowed at the end)"
                            : "(at most one audio frame, \(drift.tolerance) ticks, allowed)")
                    + (drift.ticks < 0 ? Self.lateStart(inputs[drift.input], stream: drift.stream, shortBy: drift.milliseconds) : ""))
            }
            walk(2, plan.violationLanes, input: \.input, settledBelow: settledBelow, into: &issues) { violation, found in
                add(&found, .outputDtsNotIncreasing, violation.input, violation.stream,
                    "output dts would not increase across the boundary before this input (\(violation.previous) then \(violation.next))")
            }
            return issues
        }

        /// Where a chunk's audio is short because its sound starts after its picture (timestamps offset, as
        /// `ffmpeg -itsoffset` writes a soundtrack that begins inside the chunk), says so and what stitches; "" otherwise.
        static func lateStart(_ input: ProbedInput, stream: Int, shortBy milliseconds: Double) -> String {
            guard let span = SilentTrack.soundSpans(input).first(where: { $0.stream == stream }) else { return "" }
            let perMs = Double(input.streams[stream].signature.sampleRate) / 1000
            let late = Double(span.start - span.pictureStart) / perMs, tolerance = Double(span.tolerance) / perMs
            guard late > tolerance, abs(late - abs(milliseconds)) <= tolerance else { return "" }
            return "; its sound starts \(formatMs(late)) after its picture (offset timestamps, as -itsoffset writes): render that "
                + "silence into the chunk instead (ffmpeg's adelay or apad filter)"
        }

        /// Checks the entries of each lane after those kept, keeps the leading ones that are settled, and appends
        /// every finding (kept ones first) to `issues`.
        private mutating func walk<Entry>(_ kind: Int, _ lanes: [[Entry]], input: KeyPath<Entry, Int>, settledBelow: Int,
                                          into issues: inout [StitchIssue], check: (Entry, inout [StitchIssue]) -> Void) {
            if kept[kind].count != lanes.count { kept[kind] = Array(repeating: Kept(), count: lanes.count) }
            for (s, lane) in lanes.enumerated() {
                var lane = lane[...]
                if kept[kind][s].count > lane.count { kept[kind][s] = Kept() }
                lane = lane.dropFirst(kept[kind][s].count)
                issues += kept[kind][s].issues
                var settling = true
                for entry in lane {
                    var found: [StitchIssue] = []
                    check(entry, &found)
                    issues += found
                    if settling, entry[keyPath: input] < settledBelow {
                        kept[kind][s].count += 1
                        kept[kind][s].issues += found
                    } else {
                        settling = false
                    }
                }
            }
        }
    }
}
