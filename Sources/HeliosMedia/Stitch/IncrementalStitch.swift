import CHeliosShims
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// A stitch fed one input at a time: each input is probed and validated when it arrives, and written to the output
/// as soon as the inputs after it can no longer change where its packets go. After the last input only that input
/// and the trailer are left to write, so a job that stitches while its chunks render waits only for the tail.
///
/// **One-input lookahead.** Input k is written when input k+1 has arrived: the audio kept at the end of input k
/// depends on input k+1's first kept audio packet (its priming), and the last input keeps its own last packet's
/// duration. `commit()` writes the last input and makes the output durable; `finish()` reports.
///
/// **Same output as a batch stitch.** Each step plans the inputs so far with the same pure `StitchPlan` a batch
/// stitch uses. A later input can still change the placement of inputs already written (a longer B-frame delay
/// raises the whole output's decode delay; a new majority frame duration re-grids a stretched first frame): the
/// step sees that the plan of the written inputs changed and writes the output again from input 1 (`restarts`
/// counts these). So `finish()` always commits exactly the bytes a batch stitch of the same inputs writes.
///
/// **Validation** runs on every step: an input that does not fit throws the same `StitchError` (the same issues and
/// messages) as a batch stitch as soon as it arrives, when later inputs cannot change the verdict (`settledCodes`);
/// timing issues hold the writes back until later inputs clear them or `finish()` refuses the set. Repeated inputs
/// and an output that is an input are refused as they arrive.
///
/// **Writes are deferred to `finish()`** (the stitch is then a batch one) for `checkOnly`, `--audio exact` (its
/// audio cuts look at every input) and MP4/MOV `--faststart` without `expectedInputs` (the index space reserved at
/// the front is sized from the packet count).
///
/// **Silent chunks.** An input without the sound track the others have is read from a stand-in: its packets beside a
/// silent track made like theirs (`SilentTrack`). When the first inputs are the silent ones, the first with sound
/// gives them stand-ins made like it, and planning and writing start again from input 1.
///
/// **Crash safety.** The partial output is an unnamed file (`O_TMPFILE`) where the filesystem allows, so a killed
/// process leaves nothing; elsewhere a hidden temp file that the next stitch into the same output removes. The
/// output's name appears only through the rename after fsync: never on a partial file.
///
/// Not thread-safe: call it from one thread at a time (every call blocks on file I/O); `cancel()` may come from any.
public final class IncrementalStitch {
    /// Where the output goes.
    public let output: URL
    /// How many times a later input moved the placement of inputs already written, so the output was written again
    /// from input 1.
    public private(set) var restarts = 0
    /// Inputs whose packets are in the output so far.
    public var inputsWritten: Int { session?.inputsCopied ?? 0 }
    /// Inputs appended so far.
    public private(set) var inputCount = 0

    let stitcher: NativeStitcher
    let expectedInputs: Int?
    let cancellation: CancellationFlag?
    private let started = ContinuousClock.now
    private let outputPath: String
    private var identities: [FileIdentity: Int] = [:]
    private var probed: [ProbedInput] = []
    private var reference: ProbeReference?
    private var target: (capabilities: OutputCapabilities, formatName: String)?
    /// Inputs are refused when they are the output (nil with `checkOnly`, which writes nothing).
    private let outputIdentity: OutputIdentity?
    /// Inputs a batch caller checked already (repeats, the output among them) before the first append.
    private let checkedInputs: Int
    private var temp: TemporaryOutput?
    private var session: RemuxSession?
    /// Each step's work is proportional to the inputs it brings, not to all inputs so far: the inputs are
    /// normalized, checked and planned once each (again only when something every input depends on changes).
    private var normalizer = InputNormalizer()
    /// Inputs `Remuxer.checkExactAudio` has seen (it looks at each input once, with the one before it).
    private var exactAudioChecked = 0
    private var checks: StitchValidator.InputChecks?
    /// The findings of boundaries no later input can change, for the builder's current generation.
    private var continuity = StitchValidator.ContinuityChecks()
    private var builder: StitchPlan.Builder?
    /// Counts the steps where inputs normalized or planned earlier may have changed (a re-normalization, a replan).
    private var epoch = 0
    /// The first input read from a stand-in since the last step (`padTail`): it is planned again from there.
    private var replacedFrom: Int?
    /// The first input whose normalized form changed since the last write, if one did.
    private var renormalizedFrom: Int?
    /// What the written inputs were planned with: they must be planned the same for the output to stay valid.
    private var written: (count: Int, timeBases: [Rational], origin: Int64, epoch: Int)?
    /// The placements the written inputs were written with, taken from the builder when a replan or a
    /// re-normalization lets go of them (until then the builder holds them as written). Not kept otherwise: the
    /// builder appends to the array each plan shares, in place only while nothing else holds it.
    private var writtenRows: [[StitchPlan.Placement]]?
    private var isClosed = false
    /// The last step's inputs, plan and issues, reused by `finish()` when no input arrived since (the merge tail of
    /// a job plans its inputs once, not twice).
    private var lastStep: (inputs: [ProbedInput], plan: StitchPlan, issues: [StitchIssue])?
    /// Set once `commit()` made the output durable.
    private var committed: Committed?
    /// Temp files with a silent track that stand in for chunks without the sound track input 1 has; removed with
    /// the stitch.
    private var standIns = SilentTrack.StandIns()

    /// A stitch into `output` (which must not exist unless `options.force`, in a writable directory).
    /// `expectedInputs`, when known, sizes the progress and the index reserved by MP4/MOV `--faststart`.
    public convenience init(output: URL, options: StitchOptions = StitchOptions(), expectedInputs: Int? = nil,
                            logger: Logger = Logger(label: "helios.stitch"),
                            progress: (@Sendable (StitchProgress) -> Void)? = nil) throws(StitchError) {
        try self.init(NativeStitcher(options: options, logger: logger, progress: progress), output: output,
                      expectedInputs: expectedInputs, cancellation: CancellationFlag())
    }

    init(_ stitcher: NativeStitcher, output: URL, expectedInputs: Int?, cancellation: CancellationFlag?,
         checked: (inputs: Int, identities: [FileIdentity: Int]) = (0, [:])) throws(StitchError) {
        self.stitcher = stitcher
        self.output = output
        self.expectedInputs = expectedInputs
        self.cancellation = cancellation
        outputPath = output.standardizedFileURL.path
        outputIdentity = stitcher.options.checkOnly ? nil : OutputIdentity(path: outputPath)
        checkedInputs = checked.inputs
        identities = checked.identities
        if !stitcher.options.checkOnly { try stitcher.checkOutputPath(outputPath, inputs: [], identities: [:]) }
        // Room for the inputs a caller announced, without doubling's slack (bounded: the count is only a hint).
        if let expectedInputs { probed.reserveCapacity(min(max(expectedInputs, 0), 1 << 16)) }
    }

    deinit { discard() }

    /// Stops a running `append` or `finish` promptly (it throws `.cancelled`); callable from any thread.
    public func cancel() { cancellation?.cancel() }

    /// Removes the partial output (idempotent). The stitch cannot be used afterwards.
    public func discard() {
        session = nil
        standIns.discard()
        temp?.discard()
        temp = nil
        written = nil
        writtenRows = nil
        lastStep = nil
        committed = nil
        isClosed = true
    }

    /// Whether the inputs are written as they arrive (see the type's notes on deferred writes).
    var writesProgressively: Bool {
        let options = stitcher.options
        guard !options.checkOnly, options.audio != .exact else { return false }
        let isMP4 = target.map { $0.formatName == "mp4" || $0.formatName == "mov" } ?? false
        return !(options.faststart && isMP4 && expectedInputs == nil && options.reservedIndexBytes == nil)
    }

    /// Probes and validates `input`, then writes every input before it whose placement is settled.
    public func append(_ input: URL) throws(StitchError) {
        try append(contentsOf: [input])
    }

    /// Probes and validates `inputs` in order, then writes every input before the last whose placement is settled.
    /// One plan for the lot: a caller that received several inputs at once should pass them together.
    public func append(contentsOf inputs: some Sequence<URL>) throws(StitchError) {
        guard !isClosed, committed == nil else { throw .usage("the stitch into \(outputPath) is already finished or discarded") }
        lastStep = nil
        let clock = ContinuousClock(), t0 = clock.now
        // Input 1 first: its probe decodes its start for the parameters later inputs share. After it, inputs of the
        // minimum size are gathered and probed two at a time, up to the first smaller one; from there on one at a time
        // (without holding the rest of the sequence: a caller's 10,000 URLs are made one by one).
        var rest = inputs.makeIterator(), batch: [URL] = []
        let minimum = stitcher.options.concurrentProbeMinimumInputBytes
        var gathers = ConcurrentProbes.enabled(minimumBytes: minimum)
        while let url = rest.next() {
            if gathers, reference != nil, ConcurrentProbes.isLarge(url, minimumBytes: minimum) {
                batch.append(url)
                continue
            }
            gathers = gathers && reference == nil
            try probe(batch)
            batch = []
            try probe(url)
        }
        try probe(batch)
        guard writesProgressively, probed.count >= 2 else { return }
        let t1 = clock.now
        guard let (normalized, plan, _) = try validated(final: false) else { return }
        let t2 = clock.now
        try write(upTo: normalized.count - 1, normalized, plan)
        let t3 = clock.now
        // What is written now reaches the disk while later chunks render, not in the final fsync (without one, the
        // kernel's flusher writes it back in its own time).
        if stitcher.options.sync { temp?.startWriteback() }
        stitcher.logger.debug("step", metadata: [
            "inputs": "\(probed.count)", "probe": "\(Self.us(t1 - t0))", "plan": "\(Self.us(t2 - t1))",
            "write": "\(Self.us(t3 - t2))", "writeback": "\(Self.us(clock.now - t3))",
        ])
    }

    /// Microseconds, for the debug log of each step.
    static func us(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }

    private func probe(_ url: URL) throws(StitchError) {
        let index = try admit(url)
        stitcher.progress?(.probing(index: index, count: max(expectedInputs ?? 0, index + 1)))
        try accept(Result { () throws(StitchError) -> ProbedInput in try probeFile(url.path) }, index: index)
    }

    /// The probe of the file at `path`, with the stitch's reference and options (the reference is set by the first).
    private func probeFile(_ path: String) throws(StitchError) -> ProbedInput {
        try MediaProbe.probeCounting(URL(fileURLWithPath: path), reference: &reference, cancellation: cancellation,
                                     mode: stitcher.options.probe, everyMatroska: stitcher.options.walksEveryMatroska).input
    }

    /// Probes `urls`, inputs after the first, two at a time when there are two or more (see `ConcurrentProbes`), then
    /// takes them in order as `probe` does one by one: the same checks, the same first error.
    private func probe(_ urls: [URL]) throws(StitchError) {
        guard urls.count >= 2, let reference else {
            for url in urls { try probe(url) }
            return
        }
        let base = inputCount, count = max(expectedInputs ?? 0, base + urls.count), progress = stitcher.progress
        let results = ConcurrentProbes.probe(urls, reference: reference, mode: stitcher.options.probe,
                                             everyMatroska: stitcher.options.walksEveryMatroska, cancellation: cancellation) { done in
            progress?(.probing(index: base + done - 1, count: count))
        }
        for (url, result) in zip(urls, results) {
            let index = try admit(url)
            guard let result else { throw .cancelled }
            try accept(result, index: index)
        }
    }

    /// Checks input `inputCount` before it is probed (cancellation, a repeat, the output among the inputs); its index.
    private func admit(_ url: URL) throws(StitchError) -> Int {
        if cancellation.isCancelled { throw .cancelled }
        let index = inputCount
        if index >= checkedInputs {
            let identity = try stitcher.admit(url, index: index, seen: &identities)
            if let outputIdentity, outputIdentity.isNamed(by: url, identity: identity) { throw .outputIsInput(path: outputPath) }
        }
        return index
    }

    /// Takes the probe of input `index` (or throws its error, naming the input).
    private func accept(_ result: Result<ProbedInput, StitchError>, index: Int) throws(StitchError) {
        do {
            let input = try result.get()
            // The input before a chunk without sound is its last sound: where it ends before its picture, silence
            // carries it to the end of the picture.
            if index > 0, let first = probed.first, SilentTrack.isMissingAudio(input, first: first) { try padTail(of: index - 1, isLast: false) }
            probed.append(try padHead(of: try standIn(for: input, index: index), index: index))
        } catch .damagedInput(nil, let path, let reason) {
            throw .damagedInput(index: index, path: path, reason: reason)
        }
        inputCount += 1
        // Each probe frees libavformat's contexts and buffers between results that live on; glibc keeps the freed
        // pages, which grows peak RSS by megabytes per thousand inputs. Hand them back every 256 inputs, but not at
        // the last one expected: its step is the merge tail a job waits for, and the trim walks the whole heap
        // (about 1 ms at 768 inputs); `finish()` lets go of the probes once the output is durable.
        if inputCount % 256 == 0, inputCount != expectedInputs { helios_release_free_memory() }
        if target == nil {
            let detected = try OutputCapabilities.detect(outputPath: outputPath, format: stitcher.options.format, first: probed[0])
            target = (detected.0, detected.1)
        }
    }

    /// `input`, or where it lacks the sound track input 1 has, the probe of the stand-in made for it (`SilentTrack`).
    /// Where `input` is the first with a sound track, the inputs before it (silent, input 1 among them) get stand-ins
    /// made like it, the stitch starts again from the first of them, and `input` is taken as it is.
    private func standIn(for input: ProbedInput, index: Int) throws(StitchError) -> ProbedInput {
        guard index > 0, let first = probed.first else { return input }
        let directory = standInDirectory
        if SilentTrack.isMissingAudio(input, first: first), let parameters = reference?.streams {
            guard let path = try standIns.write(for: input, index: index, like: first, likeIndex: 0, parameters: parameters,
                                                directory: directory, cancellation: cancellation, logger: stitcher.logger) else { return input }
            return try probeStandIn(path, fallback: input)
        }
        guard SilentTrack.isMissingAudio(first, first: input), probed.allSatisfy({ SilentTrack.isMissingAudio($0, first: input) }) else { return input }
        // The silent inputs so far are given a sound track made like this one's, and probed again from the first.
        let parameters: StreamParameters
        do {
            parameters = try StreamParameters(Demuxer(path: input.path, findStreamInfo: true, cancellation: cancellation, format: input.formatName))
        } catch {
            if error.isInterrupted { throw .cancelled }
            return input
        }
        var paths: [String] = []
        for (j, silent) in probed.enumerated() {
            guard let path = try standIns.write(for: silent, index: j, like: input, likeIndex: index, parameters: parameters,
                                                directory: directory, cancellation: cancellation, logger: stitcher.logger) else {
                for path in paths { standIns.drop(path) }
                return input
            }
            paths.append(path)
        }
        let previous = reference
        reference = nil
        var filled: [ProbedInput] = []
        do {
            for path in paths {
                filled.append(try probeFile(path))
            }
        } catch {
            if case .cancelled = error { throw .cancelled }
            for path in paths { standIns.drop(path) }
            reference = previous
            return input
        }
        probed = filled
        restartPlanning()
        return input
    }

    /// Where input `i`'s sound ends before its picture and no input after it carries the sound on (the next has no
    /// sound track, or `i` is the last), reads input `i` from a stand-in with silence after its sound, and plans the
    /// inputs again from `i` (an input not yet written: it waits for the one after it).
    private func padTail(of i: Int, isLast: Bool) throws(StitchError) {
        guard i >= 0, i < probed.count, i >= inputsWritten else { return }
        let tails = SilentTrack.shortTails(probed[i])
        guard !tails.isEmpty, let path = try standIns.write(for: probed[i], index: i, tails: tails, isLast: isLast, directory: standInDirectory,
                                                            cancellation: cancellation, logger: stitcher.logger) else { return }
        let padded = try probeStandIn(path, fallback: probed[i])
        guard padded.path == path else { return }
        probed[i] = padded
        normalizer = InputNormalizer()
        replacedFrom = min(replacedFrom ?? i, i)
        lastStep = nil
    }

    /// `input` (input `index`), or where its sound starts after its picture and no input before it has sound of its
    /// own (it is the first, or the one before it is a silent stand-in), the probe of a stand-in with silence before
    /// its sound: where a soundtrack that starts late begins.
    private func padHead(of input: ProbedInput, index: Int) throws(StitchError) -> ProbedInput {
        guard index == 0 || standIns.isSilent(probed[index - 1].path) else { return input }
        let heads = SilentTrack.lateHeads(input)
        guard !heads.isEmpty, let path = try standIns.write(for: input, index: index, heads: heads, directory: standInDirectory,
                                                            cancellation: cancellation, logger: stitcher.logger) else { return input }
        return try probeStandIn(path, fallback: input)
    }

    /// Where stand-ins are written: beside the output (or in the temp directory for `checkOnly`).
    private var standInDirectory: URL {
        stitcher.options.checkOnly ? FileManager.default.temporaryDirectory : output.deletingLastPathComponent()
    }

    /// Probes the stand-in at `path`; `fallback` (and the stand-in forgotten) where that fails.
    private func probeStandIn(_ path: String, fallback: ProbedInput) throws(StitchError) -> ProbedInput {
        do {
            return try probeFile(path)
        } catch {
            if case .cancelled = error { throw .cancelled }
            standIns.drop(path)
            return fallback
        }
    }

    /// Forgets every plan and check of the inputs so far, and what was written of them: input 1 changed.
    private func restartPlanning() {
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
    private func validated(final: Bool) throws(StitchError) -> (inputs: [ProbedInput], plan: StitchPlan, issues: [StitchIssue])? {
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
                checks = StitchValidator.InputChecks(output: capabilities, lenient: stitcher.options.lenient)
                builder = StitchPlan.Builder(output: capabilities)
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
    /// or a replan since they were written, they are by construction; with one, their placements are compared.
    private func isSettled(_ plan: StitchPlan) -> Bool {
        guard let written, written.epoch != epoch else { return true }
        let n = written.count, rows = writtenRows ?? []
        return (renormalizedFrom ?? n) >= n && plan.timeBases == written.timeBases && plan.videoOrigin == written.origin
            && rows.count >= n && plan.placements.prefix(n).elementsEqual(rows.prefix(n))
    }

    /// Writes inputs up to (not including) `end`, starting the output again when the plan moved written inputs.
    private func write(upTo end: Int, _ inputs: [ProbedInput], _ plan: StitchPlan) throws(StitchError) {
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
        let isMP4 = r.formatName == "mp4" || r.formatName == "mov"
        do {
            if session == nil, end > 0 {
                let temp = TemporaryOutput(outputPath: outputPath)
                self.temp = temp
                session = try RemuxSession(r, temp: temp.muxerPath, faststart: r.faststart && isMP4 ? .reserved : nil)
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
        helios_release_free_memory()
        return report
    }

    /// What `commit()` made durable (nothing with `checkOnly`), kept for the report.
    private typealias Committed = (inputs: [ProbedInput], plan: StitchPlan, issues: [StitchIssue], written: Remuxer.Written?, formatName: String)

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
            var batch = r
            batch.reservedIndexBytes = stitcher.options.reservedIndexBytes
            result = try batch.run()
        }
        session = nil
        temp = nil
        stitcher.logger.debug("stitched \(inputs.count) inputs into \(outputPath) (\(restarts) restarts)")
        return (inputs, plan, issues, result, r.formatName)
    }
}
