import Foundation
import Logging

/// Progress of a running stitch, for a progress bar.
public enum StitchProgress: Sendable, Hashable {
    /// Probing input `index` of `count` (0-based).
    case probing(index: Int, count: Int)
    /// Remuxing: bytes of input read so far, of the total.
    case remuxing(bytesRead: Int64, totalBytes: Int64)
    /// Writing the trailer and moving the file into place.
    case finishing
}

/// Stitches chunks in process with libavformat, without re-encoding.
///
/// Data path: probe every input (read every packet) → validate (pure) → plan offsets (pure) →
/// remux into a temp file beside the output → fsync → rename → report.
public struct NativeStitcher: VideoStitcher {
    public var options: StitchOptions
    public var logger: Logger
    /// Called from the stitching task as work advances.
    public var progress: (@Sendable (StitchProgress) -> Void)?

    public init(options: StitchOptions = StitchOptions(), logger: Logger = Logger(label: "helios.stitch"),
                progress: (@Sendable (StitchProgress) -> Void)? = nil) {
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    /// Runs the stitch on a thread of its own, so hours of blocking file I/O never hold one of the few threads
    /// Swift concurrency shares; cancelling the calling task stops it promptly (libavformat's interrupt
    /// callback and the copy loop watch a flag the cancellation handler sets) and removes the temp file.
    public func stitch(_ inputs: [URL], to output: URL) async throws -> StitchReport {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StitchReport, Error>) in
                // A thread of its own: libdispatch's global queues share their few workers with the task executor.
                Thread { continuation.resume(with: Result { try self.stitchSync(inputs, to: output, cancellation: flag) }) }.start()
            }
        } onCancel: {
            flag.cancel()
        }
    }

    /// Probes and validates only; writes nothing. Throws for unreadable inputs, returns the report otherwise.
    public func check(_ inputs: [URL], output: URL) throws(StitchError) -> StitchReport {
        var options = self.options
        options.checkOnly = true
        return try NativeStitcher(options: options, logger: logger, progress: progress).stitchSync(inputs, to: output)
    }

    func stitchSync(_ inputs: [URL], to output: URL, cancellation: CancellationFlag? = nil) throws(StitchError) -> StitchReport {
        let clock = ContinuousClock()
        let started = clock.now
        guard !inputs.isEmpty else { throw .usage("no inputs given") }
        let outputPath = output.standardizedFileURL.path
        let identities = try checkRepeats(inputs)
        if !options.checkOnly { try checkOutputPath(outputPath, inputs: inputs, identities: identities) }

        var probed: [ProbedInput] = []
        var reference: ProbeReference?
        for (index, url) in inputs.enumerated() {
            if cancellation.isCancelled { throw .cancelled }
            progress?(.probing(index: index, count: inputs.count))
            do {
                probed.append(try MediaProbe.probe(url, reference: &reference, cancellation: cancellation, mode: options.probe))
            } catch .damagedInput(nil, let path, let reason) {
                throw .damagedInput(index: index, path: path, reason: reason)
            }
        }
        probed = ProbedInput.normalizingLeadingStretch(probed)
        let (capabilities, formatName) = try OutputCapabilities.detect(outputPath: outputPath, format: options.format, first: probed[0])
        try Remuxer.checkExactAudio(probed, mode: options.audio)
        let issues = StitchValidator.validate(probed, output: capabilities, lenient: options.lenient)
        let plan = StitchPlan(inputs: probed, output: capabilities)
        var report = StitchReport(inputs: probed.map(InputSummary.init), boundaries: plan.boundaries, issues: issues, output: nil)
        for issue in issues { logger.debug("\(issue)") }
        guard report.isValid else { throw .invalidInputs(report) }
        if options.checkOnly { return report }

        let remuxer = Remuxer(inputs: probed, plan: plan, outputPath: outputPath, formatName: formatName,
                              faststart: options.faststart, audio: options.audio, marksAudioPriming: capabilities.marksAudioPriming,
                              sync: options.sync, reservedIndexBytes: options.reservedIndexBytes, logger: logger, progress: progress, cancellation: cancellation)
        let written = try remuxer.run()
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        report.output = OutputSummary(plan: plan, inputs: probed, written: written, path: outputPath,
                                      format: formatName, elapsedSeconds: seconds)
        report.output?.audioMode = options.audio
        report.output?.synced = options.sync
        report.output?.faststart = written.faststart
        if options.audio == .exact {
            report.output?.applyExactAudio(written.exactAudio, inputs: probed, plan: plan)
            let exact = Set(written.exactAudio.map(\.stream))
            for k in report.boundaries.indices where exact.contains(report.boundaries[k].stream) {
                report.boundaries[k].audioDiscontinuitySamples = 0
                report.boundaries[k].droppedPackets = 0
            }
        }
        logger.debug("stitched \(inputs.count) inputs into \(outputPath) in \(seconds) s")
        return report
    }
}
