import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// The step-by-step cores an incremental stitch runs on every append (normalization, per-input checks, the plan
/// builder) must give, after each input, exactly what their batch forms give for the inputs so far.
@Suite("Plan builder: step by step equals the batch plan (pure)")
struct StitchPlanBuilderTests {
    /// What stepping through `inputs` one at a time differs from the batch forms in, at each prefix (empty when none),
    /// and how many steps replanned.
    static func differences(_ inputs: [ProbedInput], output: OutputCapabilities) -> (differences: [String], replans: Int) {
        var normalizer = InputNormalizer()
        var checks = StitchValidator.InputChecks(output: output)
        // Told the count, as an incremental stitch is.
        var builder = StitchPlan.Builder(output: output, expectedInputs: inputs.count)
        var continuity = StitchValidator.ContinuityChecks()
        var differences: [String] = []
        for k in 1...inputs.count {
            let prefix = Array(inputs.prefix(k))
            let (normalized, changedFrom) = normalizer.normalize(prefix)
            if changedFrom != nil {
                checks = StitchValidator.InputChecks(output: output)
                builder = StitchPlan.Builder(output: output, expectedInputs: inputs.count)
                continuity = StitchValidator.ContinuityChecks()
            }
            let batchInputs = ProbedInput.normalized(prefix)
            if normalized != batchInputs { differences.append("\(k) inputs: normalized differently") }
            let plan = builder.plan(normalized)
            let batchPlan = StitchPlan(inputs: batchInputs, output: output)
            if plan != batchPlan { differences.append("\(k) inputs: plan \(plan) vs batch \(batchPlan)") }
            checks.check(normalized)
            if continuity.generation != builder.resets { continuity = StitchValidator.ContinuityChecks(generation: builder.resets) }
            // The continuity findings kept from earlier steps, as an incremental stitch keeps them.
            let issues = StitchValidator.validate(normalized, checked: checks, plan: plan, continuity: &continuity)
            let batchIssues = StitchValidator.validate(batchInputs, output: output)
            if issues != batchIssues { differences.append("\(k) inputs: issues \(issues) vs batch \(batchIssues)") }
        }
        return (differences, builder.replans)
    }

    static func output(for file: URL) -> OutputCapabilities {
        switch file.pathExtension {
        case "mkv": OutputCapabilities(formatName: "matroska")
        case "webm": OutputCapabilities(formatName: "webm")
        case "ts": OutputCapabilities(formatName: "mpegts")
        case "mov": OutputCapabilities(formatName: "mov")
        default: OutputCapabilities(formatName: "mp4")
        }
    }

    /// Every fixture set (the chunk matrix, other muxers' files, the bad sets), probed as a stitch probes them, into
    /// its own container and into MPEG-TS (which marks no priming and starts no timeline at 0).
    @Test(arguments: ProbeModeTests.sets)
    func fixtureSets(set: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        var reference: ProbeReference?
        var inputs: [ProbedInput] = []
        for file in files {
            // A file that does not probe ends the set: a stitch refuses it on arrival.
            guard let input = try? MediaProbe.probe(file, reference: &reference, cancellation: nil, mode: .index) else { break }
            inputs.append(input)
        }
        try #require(!inputs.isEmpty, "\(set): nothing probed")
        for output in [Self.output(for: files[0]), OutputCapabilities(formatName: "mpegts")] {
            let (differences, _) = Self.differences(inputs, output: output)
            #expect(differences.isEmpty, "\(set) into \(output.formatName): \(differences.prefix(3))")
        }
    }

    /// B-frame chunks whose decode delay grows along the job (a 1-frame chunk first, B-pyramids later), or whose
    /// frame clock breaks late: the builder replans, and every step still equals the batch plan.
    @Test(arguments: BFrameChunks.Style.allCases)
    func replansWhenWhatEveryInputDependsOnChanges(style: BFrameChunks.Style) {
        let output = OutputCapabilities(formatName: style == .matroska ? "matroska" : "mp4")
        var replans = 0
        for (sizes, delays) in [([1, 1, 2, 5, 9, 1, 3], [0, 0, 1, 2, 2, 0, 2]), ([3, 1, 4, 1, 5, 9, 2, 6], [0, 1, 0, 1, 2, 2, 1, 2])] {
            let inputs = sizes.indices.map {
                BFrameChunks.chunk($0, packets: BFrameChunks.packets(frames: sizes[$0], delay: delays[$0], style: style), style: style)
            }
            let result = Self.differences(inputs, output: output)
            #expect(result.differences.isEmpty, "\(sizes) delays \(delays): \(result.differences.prefix(3))")
            replans += result.replans
        }
        #expect(replans > 0, "no step replanned: the growing decode delay was not seen")
    }

    /// Continuity findings of early inputs (a short and a long audio track: gaps, overlaps, drift) are kept from the
    /// step that settled them, not found again: every step still lists exactly the batch's findings.
    @Test func continuityFindingsKeptFromEarlierStepsEqualTheBatch() {
        let samples: [Int: Int64] = [2: 40_000, 5: 53_000]
        let inputs = (0..<9).map { Probes.input($0, audio: Probes.audio(samples: samples[$0] ?? 48_000)) }
        let mp4 = OutputCapabilities(formatName: "mp4")
        let (differences, _) = Self.differences(inputs, output: mp4)
        #expect(differences.isEmpty, "\(differences.prefix(3))")
        let continuity = StitchValidator.validate(inputs, output: mp4).filter(\.code.isContinuity)
        #expect(Set(continuity.map(\.code)) == [.discontinuity, .avDrift], "\(continuity)")
        #expect(Set(continuity.compactMap(\.inputIndex)).isSuperset(of: [2, 5]), "\(continuity)")
    }

    /// A step's cost does not grow with the inputs before it: placing input k+1 after k placed inputs does not
    /// place them again (counted, not timed: the builder's committed placements are reused by reference).
    @Test func placesEachInputOnceWhenNothingChanges() {
        let inputs = (0..<200).map { BFrameChunks.chunk($0, packets: BFrameChunks.packets(frames: 3, delay: 1, style: .mp4EditList), style: .mp4EditList) }
        var builder = StitchPlan.Builder(output: OutputCapabilities(formatName: "mp4"))
        for k in 1...inputs.count { _ = builder.plan(Array(inputs.prefix(k))) }
        #expect(builder.replans == 0)
        #expect(builder.placedForGood == inputs.count - 1)
        #expect(builder.plan(inputs) == StitchPlan(inputs: inputs, output: OutputCapabilities(formatName: "mp4")))
    }

    /// Rows a caller released are emptied at the next step and nowhere else: every other part of each step's plan
    /// is the batch plan's, the unreleased rows too; a replan places every input again and forgets the release,
    /// and the rows it let go of show the released ones empty (so they never compare equal to rows placed again).
    @Test func releasedRowsEmptiedUntilAReplan() {
        let mp4 = OutputCapabilities(formatName: "mp4")
        let sizes = [3, 3, 3, 3, 3, 9], delays = [1, 1, 1, 1, 1, 2]
        let inputs = sizes.indices.map {
            BFrameChunks.chunk($0, packets: BFrameChunks.packets(frames: sizes[$0], delay: delays[$0], style: .mp4EditList), style: .mp4EditList)
        }
        var builder = StitchPlan.Builder(output: mp4)
        for k in 1...5 {
            let prefix = Array(inputs.prefix(k))
            let plan = builder.plan(prefix), batch = StitchPlan(inputs: prefix, output: mp4)
            let released = max(k - 3, 0)
            #expect(builder.releasedRows == released, "\(k) inputs")
            #expect(plan.placements.prefix(released).allSatisfy { $0.isEmpty }, "\(k) inputs")
            #expect(Array(plan.placements.dropFirst(released)) == Array(batch.placements.dropFirst(released)), "\(k) inputs")
            #expect(plan.boundaries == batch.boundaries && plan.outputDurations == batch.outputDurations, "\(k) inputs")
            #expect(plan.droppingPlacements() == batch.droppingPlacements(), "\(k) inputs")
            // A caller that wrote the inputs before the newest two lets go of their rows.
            builder.releaseRows(before: k - 2)
        }
        // A longer B-frame delay moves every input: all placed again, none released. The rows let go of are those
        // placed for good before it (the newest input's was provisional), the released ones empty.
        let plan = builder.plan(inputs)
        #expect(builder.replans == 1 && builder.releasedRows == 0)
        #expect(plan == StitchPlan(inputs: inputs, output: mp4))
        let discarded = builder.takeDiscardedRows()
        #expect(discarded.count == 4 && discarded.prefix(2).allSatisfy { $0.isEmpty } && discarded[2...].allSatisfy { !$0.isEmpty })
    }

    /// Told how many inputs will come, the builder gives the arrays that grow with them their room at the first step
    /// (one buffer each, no doubling), and plans exactly as one that was not told.
    @Test func expectedInputsGiveTheGrowingArraysTheirRoomAtOnce() {
        let mp4 = OutputCapabilities(formatName: "mp4")
        let inputs = (0..<40).map {
            BFrameChunks.chunk($0, packets: BFrameChunks.packets(frames: 3, delay: 1, style: .mp4EditList), style: .mp4EditList)
        }
        var hinted = StitchPlan.Builder(output: mp4, expectedInputs: inputs.count), plain = StitchPlan.Builder(output: mp4)
        var firstRoom: [Int] = []
        for k in 1...inputs.count {
            let prefix = Array(inputs.prefix(k))
            #expect(hinted.plan(prefix) == plain.plan(prefix), "\(k) inputs")
            if k == 2 {
                firstRoom = hinted.lanes.map(\.boundaries.capacity) + [hinted.timeline.starts.capacity]
                #expect(firstRoom.allSatisfy { $0 >= inputs.count - 1 }, "\(firstRoom)")
                #expect(plain.lanes.allSatisfy { $0.boundaries.capacity < inputs.count - 1 })
            }
        }
        #expect(hinted.lanes.map(\.boundaries.capacity) + [hinted.timeline.starts.capacity] == firstRoom)
        #expect(hinted.plan(inputs) == StitchPlan(inputs: inputs, output: mp4))
    }
}
