#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Each step's validation and plan, the writes they allow, and the commit that makes the output durable.
extension IncrementalStitch {
    /// Forgets every plan and check of the inputs so far, and what was written of them: input 1 changed.
    func restartPlanning() {
        if session != nil { restarts += 1 }
        session = nil
        temp?.discard()
        temp = nil
        renormalizedFrom = nil
        target = nil
        forgetPlans()
    }

    /// Lets go of every plan, check and normalized input, and of what the written inputs were planned with.
    private func forgetPlans() {
        normalizer = InputNormalizer()
        exactAudioChecked = 0
        checks = nil
        builder = nil
        continuity = StitchValidator.ContinuityChecks()
        lastStep = nil
        written = nil
        writtenRows = nil
        replacedFrom = nil
    }

    /// A report naming each chunk a stand-in took the place of, not the stand-in.
    private func presented(_ report: StitchReport) -> StitchReport { standIns.presenting(report) }

    /// Issue codes about an input on its own or against input 1's signatures: inputs arriving later cannot clear
    /// them, so a step refuses the input at once. Timing issues (continuity, cadence, drift, output dts) can still
    /// clear when later inputs arrive (a 2-frame chunk's first frame counts as stretched only once a longer chunk
    /// shows the frame duration): a step that has them about inputs before the newest writes nothing more, and
    /// `finish()` decides.
    static let settledCodes: Set<IssueCode> = [
        .noInputs, .noStreams, .streamLayoutMismatch, .codecMismatch, .timeBaseMismatch, .firstPacketNotKeyframe,
        .missingTimestamps, .nonIncreasingDts, .ptsBeforeDts, .corruptPackets, .emptyStream, .unsupportedByContainer,
        .unsupportedCodec, .hiddenFrames,
    ]

    /// The inputs so far, normalized, validated and planned. Throws `.invalidInputs` with the batch stitch's report
    /// at `finish`, or before it for a settled issue; nil before `finish` while timing issues stand.
    func validated(final: Bool) throws(StitchError) -> (inputs: [ProbedInput], plan: StitchPlan, issues: [StitchIssue])? {
        let normalized: [ProbedInput], issues: [StitchIssue], plan: StitchPlan
        if let step = lastStep, step.inputs.count == probed.count {
            // No input since the last step (finish() right after append): its plan and verdict stand.
            (normalized, plan, issues) = step
        } else {
            let capabilities = target!.capabilities
            let renormalized: Int?
            (normalized, renormalized) = normalizer.normalize(probed)
            let changedFrom = [renormalized, replacedFrom].compactMap { $0 }.min()
            replacedFrom = nil
            if changedFrom != nil || checks == nil || builder == nil {
                // Inputs normalized earlier changed: check and plan them all again.
                if let changedFrom {
                    epoch += 1
                    renormalizedFrom = min(renormalizedFrom ?? changedFrom, changedFrom)
                }
                if written != nil, writtenRows == nil, builder != nil { writtenRows = builder!.takeRows() }
                checks = StitchValidator.InputChecks(output: capabilities, lenient: stitcher.options.lenient,
                                                     audio: stitcher.options.audio)
                builder = StitchPlan.Builder(output: capabilities, expectedInputs: expectedInputs)
                continuity = StitchValidator.ContinuityChecks()
            }
            try Remuxer.checkExactAudio(normalized, mode: stitcher.options.audio, from: changedFrom ?? exactAudioChecked)
            exactAudioChecked = normalized.count
            let replans = builder!.replans
            plan = builder!.plan(normalized)
            if builder!.replans != replans {
                epoch += 1
                let discarded = builder!.takeDiscardedRows()
                if written != nil, writtenRows == nil { writtenRows = discarded }
            }
            checks!.check(normalized)
            if continuity.generation != builder!.resets { continuity = StitchValidator.ContinuityChecks(generation: builder!.resets) }
            issues = StitchValidator.validate(normalized, checked: checks!, plan: plan, continuity: &continuity) + standIns.issues
            lastStep = (normalized, plan, issues)
        }
        let errors = issues.filter { $0.severity == .error }
        if !final, !errors.isEmpty {
            guard errors.contains(where: { Self.settledCodes.contains($0.code) }) else {
                // Timing issues of the newest input alone leave the inputs before it to be written: its placement is
                // provisional, and the next input may clear them (a segment of one stream ends its audio before its
                // video, and the next segment carries on from there). Any other holds every write back.
                return errors.allSatisfy({ $0.inputIndex == normalized.count - 1 }) ? (normalized, plan, issues) : nil
            }
            let report = presented(StitchReport(inputs: normalized.map(InputSummary.init), boundaries: plan.boundaries, issues: issues, output: nil))
            for issue in issues { stitcher.logger.debug("\(issue)") }
            discard()
            throw .invalidInputs(report)
        }
        return (normalized, plan, issues)
    }

    /// The remuxer settings for `inputs` planned by `plan`.
    private func remuxer(_ inputs: [ProbedInput], _ plan: StitchPlan) -> Remuxer {
        let options = stitcher.options
        var reserved = options.reservedIndexBytes
        // The estimate sizes the header of a session about to open (it sums every input's packets), so it is made
        // only then, not on every step.
        if reserved == nil, session == nil, let expectedInputs, expectedInputs > inputs.count {
            // Sized from the inputs so far, scaled to the expected count with a quarter to spare.
            let estimate = Remuxer.reservedIndexEstimate(inputs)
            reserved = estimate + (estimate * Int64(expectedInputs - inputs.count) / Int64(inputs.count)) * 5 / 4
        }
        return Remuxer(inputs: inputs, plan: plan, outputPath: outputPath, formatName: target!.formatName,
                       faststart: options.faststart, audio: options.audio, marksAudioPriming: target!.capabilities.marksAudioPriming,
                       sync: options.sync, reservedIndexBytes: reserved, logger: stitcher.logger, progress: stitcher.progress,
                       cancellation: cancellation, parsesEveryInput: options.parsesEveryInput,
                       kernelCopyMinimumInputBytes: options.kernelCopyMinimumInputBytes, firstStreams: reference?.streams,
                       writebackStride: options.writebackStride)
    }

    /// Whether the inputs written so far are planned by `plan` as they were written. Without a re-normalization
    /// or a replan since they were written, they are by construction; with one, their placements are compared (a
    /// released row, emptied by the builder, never matches).
    private func isSettled(_ plan: StitchPlan) -> Bool {
        guard let written, written.epoch != epoch else { return true }
        let n = written.count, rows = writtenRows ?? []
        return (renormalizedFrom ?? n) >= n && plan.timeBases == written.timeBases && plan.videoOrigin == written.origin
            && rows.count >= n && plan.placements.prefix(n).elementsEqual(rows.prefix(n))
    }

    /// Writes inputs up to (not including) `end`, starting the output again when the plan moved written inputs.
    func write(upTo end: Int, _ inputs: [ProbedInput], _ plan: StitchPlan) throws(StitchError) {
        if session != nil, !isSettled(plan) {
            restarts += 1
            stitcher.logger.debug("input \(inputs.count) changed the plan of the inputs already written; writing the output again")
            session = nil
            temp?.discard()
            temp = nil
            written = nil
            writtenRows = nil
        }
        let r = remuxer(inputs, plan)
        do {
            if session == nil, end > 0 {
                let temp = TemporaryOutput(outputPath: outputPath)
                self.temp = temp
                session = try RemuxSession(r, temp: temp.muxerPath, faststart: r.faststartMethod)
            }
            guard let session else { return }
            while session.inputsCopied < end {
                try session.copy(input: session.inputsCopied, r)
            }
        } catch {
            let failure = temp.map { r.stitchError(error, temp: $0) } ?? .outputFailed(path: outputPath, reason: "\(error)")
            discard()
            throw failure
        }
        let n = session?.inputsCopied ?? 0
        written = (n, plan.timeBases, plan.videoOrigin, epoch)
        writtenRows = nil
        renormalizedFrom = nil
        // Written inputs' rows are read again only to compare them after a replan, and a released row never
        // compares equal: a replan after this writes the output again (one more restart where the rows would have
        // matched) instead of holding every input's rows (about 2 MB at 10,000 inputs).
        builder?.releaseRows(before: n)
    }

    /// Validates the whole set, writes what is left and the trailer, fsyncs and renames the output into place
    /// (unless `checkOnly`): the output is durable when this returns, and `finish()` gives the report (and lets go of
    /// the planning state, which `commit()` leaves so as to return sooner). Throws what `finish()` throws; after an
    /// error the stitch is discarded.
    public func commit() throws(StitchError) {
        guard !isClosed, committed == nil else { throw .usage("the stitch into \(outputPath) is already finished or discarded") }
        guard !probed.isEmpty else { throw .usage("no inputs given") }
        do throws(StitchError) {
            try padTail(of: probed.count - 1, isLast: true)
            committed = try writeAll()
        } catch {
            discard()
            throw error
        }
    }

    /// Lets go of what only a later input could need, after the durable point and before the report is built (about
    /// 6 MB at 10,000 inputs: the raw probes, the builder's rows and lanes, the checks, and the placements, which the
    /// report does not read). Not in `commit()`: freeing it took 3 ms of a 10,000-chunk job's merge tail.
    private func releasePlanningState() {
        if committed != nil { committed!.plan = committed!.plan.droppingPlacements() }
        probed = []
        identities = [:]
        forgetPlans()
    }

    /// Commits (unless `commit()` did) and returns the same report a batch stitch gives. The report is built after
    /// the output is durable: a job's merge tail does not wait for it.
    public func finish() throws(StitchError) -> StitchReport {
        if committed == nil { try commit() }
        defer { discard() }
        releasePlanningState()
        guard var done = committed else { throw .usage("the stitch into \(outputPath) is already finished or discarded") }
        committed = nil
        // Moved out, so that the probes below are uniquely held and each is freed as its summary is made.
        var inputs: [ProbedInput] = [], plan = StitchPlan.empty
        swap(&inputs, &done.inputs)
        swap(&plan, &done.plan)
        let (issues, written, formatName) = (done.issues, done.written, done.formatName)
        var boundaries = plan.boundaries
        let output = written.map {
            stitcher.outputSummary($0, inputs: inputs, plan: plan, path: outputPath, formatName: formatName,
                                   started: started, boundaries: &boundaries)
        }
        plan = .empty
        // Each probe is let go as its summary is made: the probes and the summaries never all live at once.
        var summaries: [InputSummary] = []
        summaries.reserveCapacity(inputs.count)
        while let input = inputs.popLast() { summaries.append(InputSummary(input)) }
        summaries.reverse()
        let report = presented(StitchReport(inputs: summaries, boundaries: boundaries, issues: issues, output: output))
        // The probes and plan just freed (about 15 MB at 10,000 inputs) sit in this thread's malloc arena, which
        // what comes next (encoding the report, storing it) on other threads does not reuse: hand them back, after
        // the durable point, so a job's peak memory is not both at once.
        releaseFreeMemory()
        return report
    }

    /// What `commit()` made durable (nothing with `checkOnly`), kept for the report.
    typealias Committed = (inputs: [ProbedInput], plan: StitchPlan, issues: [StitchIssue], written: Remuxer.Written?, formatName: String)

    private func writeAll() throws(StitchError) -> Committed {
        guard let (inputs, plan, verdict) = try validated(final: true) else { throw .usage("validation gave no verdict") }
        let issues = stitcher.options.audio == .copy ? verdict + StitchValidator.audioShortfall(plan, inputs) : verdict
        for issue in issues { stitcher.logger.debug("\(issue)") }
        guard !issues.contains(where: { $0.severity == .error }) else {
            throw .invalidInputs(presented(StitchReport(inputs: inputs.map(InputSummary.init), boundaries: plan.boundaries, issues: issues, output: nil)))
        }
        if stitcher.options.checkOnly { return (inputs, plan, issues, nil, "") }

        let r = remuxer(inputs, plan)
        var result: Remuxer.Written?
        if writesProgressively {
            let clock = ContinuousClock(), t0 = clock.now
            try write(upTo: inputs.count, inputs, plan)
            if let session, let temp {
                do {
                    let t1 = clock.now
                    result = try session.close(r)
                    let t2 = clock.now
                    try temp.commit(cancellation: cancellation, sync: r.sync)
                    stitcher.logger.debug("commit", metadata: [
                        "inputs": "\(inputs.count)", "write": "\(Self.us(t1 - t0))", "trailer": "\(Self.us(t2 - t1))",
                        "sync": "\(Self.us(clock.now - t2))",
                    ])
                } catch is Remuxer.ReservedIndexExceeded {
                    stitcher.logger.debug("the index outgrew the space reserved for it; writing the output again")
                    temp.discard()
                } catch {
                    throw r.stitchError(error, temp: temp)
                }
            }
        }
        if result == nil {
            // Written from input 1 in one pass: with every row (the builder let go of the written inputs' rows).
            let released = (builder?.releasedRows ?? 0) > 0
            var batch = released ? remuxer(inputs, StitchPlan(inputs: inputs, output: target!.capabilities)) : r
            batch.reservedIndexBytes = stitcher.options.reservedIndexBytes
            result = try batch.run()
        }
        session = nil
        temp = nil
        stitcher.logger.debug("stitched \(inputs.count) inputs into \(outputPath) (\(restarts) restarts)")
        return (inputs, plan, issues, result, r.formatName)
    }
}
