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
    public internal(set) var restarts = 0
    /// Inputs whose packets are in the output so far.
    public var inputsWritten: Int { session?.inputsCopied ?? 0 }
    /// Inputs appended so far.
    public private(set) var inputCount = 0

    let stitcher: NativeStitcher
    let expectedInputs: Int?
    let cancellation: CancellationFlag?
    let started = ContinuousClock.now
    let outputPath: String
    var identities: [FileIdentity: Int] = [:]
    var probed: [ProbedInput] = []
    var reference: ProbeReference?
    var target: (capabilities: OutputCapabilities, formatName: String)?
    /// Inputs are refused when they are the output (nil with `checkOnly`, which writes nothing).
    private let outputIdentity: OutputIdentity?
    /// Inputs a batch caller checked already (repeats, the output among them) before the first append.
    private let checkedInputs: Int
    var temp: TemporaryOutput?
    var session: RemuxSession?
    /// Each step's work is proportional to the inputs it brings, not to all inputs so far: the inputs are
    /// normalized, checked and planned once each (again only when something every input depends on changes).
    var normalizer = InputNormalizer()
    /// Inputs `Remuxer.checkExactAudio` has seen (it looks at each input once, with the one before it).
    var exactAudioChecked = 0
    var checks: StitchValidator.InputChecks?
    /// The findings of boundaries no later input can change, for the builder's current generation.
    var continuity = StitchValidator.ContinuityChecks()
    var builder: StitchPlan.Builder?
    /// Counts the steps where inputs normalized or planned earlier may have changed (a re-normalization, a replan).
    var epoch = 0
    /// The first input read from a stand-in since the last step (`padTail`): it is planned again from there.
    var replacedFrom: Int?
    /// The first input whose normalized form changed since the last write, if one did.
    var renormalizedFrom: Int?
    /// What the written inputs were planned with: they must be planned the same for the output to stay valid.
    var written: (count: Int, timeBases: [Rational], origin: Int64, epoch: Int)?
    /// The placements the written inputs were written with, taken from the builder when a replan or a
    /// re-normalization lets go of them. The builder empties the rows of inputs written before the last write
    /// (`releaseRows(before:)`), so those compare equal to no row placed again: only rows the builder still held can
    /// spare a restart. Not kept otherwise: the builder appends to the array each plan shares, in place only while
    /// nothing else holds it.
    var writtenRows: [[StitchPlan.Placement]]?
    var isClosed = false
    /// The last step's inputs, plan and issues, reused by `finish()` when no input arrived since (the merge tail of
    /// a job plans its inputs once, not twice).
    var lastStep: (inputs: [ProbedInput], plan: StitchPlan, issues: [StitchIssue])?
    /// Set once `commit()` made the output durable.
    var committed: Committed?
    /// Temp files with a silent track that stand in for chunks without the sound track input 1 has; removed with
    /// the stitch.
    var standIns = SilentTrack.StandIns()

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
        if let expectedInputs { probed.reserveCapacity(min(max(expectedInputs, 0), StitchPlan.Builder.reservedInputsLimit)) }
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
        let reservesIndex = target.map { OutputCapabilities.movMuxers.contains($0.formatName) } ?? false
        return !(options.faststart && reservesIndex && expectedInputs == nil && options.reservedIndexBytes == nil)
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
    func probeFile(_ path: String) throws(StitchError) -> ProbedInput {
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
            let accepted = try padHead(of: try standIn(for: input, index: index), index: index)
            // Chunks rendered alike share their probes' storage: 10,000 of them hold one copy of what they share.
            probed.append(probed.last.map { accepted.sharingStorage(with: $0) } ?? accepted)
        } catch .damagedInput(nil, let path, let reason) {
            throw .damagedInput(index: index, path: path, reason: reason)
        }
        inputCount += 1
        // Each probe frees libavformat's contexts and buffers between results that live on; glibc keeps the freed
        // pages, which grows peak RSS by megabytes per thousand inputs. Hand them back every 256 inputs, but not at
        // the last one expected: its step is the merge tail a job waits for, and the trim walks the whole heap
        // (about 1 ms at 768 inputs); `finish()` lets go of the probes once the output is durable.
        if inputCount % 256 == 0, inputCount != expectedInputs { releaseFreeMemory() }
        if target == nil {
            let detected = try OutputCapabilities.detect(outputPath: outputPath, format: stitcher.options.format, first: probed[0])
            target = (detected.0, detected.1)
        }
    }
}
