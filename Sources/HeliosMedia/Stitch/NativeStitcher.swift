#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
/// Data path: probe every input (the MP4/MOV index, or every packet) → validate (pure) → plan offsets (pure) →
/// remux into a temp file beside the output → fsync → rename → report. The same path as an `IncrementalStitch`
/// fed every input at once.
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
            try await DedicatedThread.run { () throws(StitchError) in try self.stitchSync(inputs, to: output, cancellation: flag) }
        } onCancel: {
            flag.cancel()
        }
    }

    /// `stitch(_:to:)` for inputs given as file paths (a CLI's list): each input's URL is made when it is needed, so a
    /// list of 10,000 inputs does not hold 10,000 URLs at once (about 370 bytes each).
    public func stitch(paths: [String], to output: URL) async throws -> StitchReport {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await DedicatedThread.run { () throws(StitchError) in
                try self.stitchSync(paths.lazy.map { URL(fileURLWithPath: $0) }, to: output, cancellation: flag)
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

    func stitchSync(_ inputs: some Collection<URL>, to output: URL, cancellation: CancellationFlag? = nil) throws(StitchError) -> StitchReport {
        guard !inputs.isEmpty else { throw .usage("no inputs given") }
        let outputPath = output.standardizedFileURL.path
        let identities = try checkRepeats(inputs)
        if !options.checkOnly { try checkOutputPath(outputPath, inputs: inputs, identities: identities) }
        // One plan for all the inputs, then the last input and the trailer: the incremental path, fed at once.
        let stitch = try IncrementalStitch(self, output: output, expectedInputs: inputs.count, cancellation: cancellation,
                                           checked: (inputs.count, identities))
        try stitch.append(contentsOf: inputs)
        return try stitch.finish()
    }

    /// The report's output section for what `written` holds.
    func outputSummary(_ written: Remuxer.Written, inputs: [ProbedInput], plan: StitchPlan, path: String, formatName: String,
                       started: ContinuousClock.Instant, boundaries: inout [BoundaryReport]) -> OutputSummary {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        var output = OutputSummary(plan: plan, inputs: inputs, written: written, path: path, format: formatName, elapsedSeconds: seconds)
        output.audioMode = options.audio
        output.synced = options.sync
        output.faststart = written.faststart
        output.bytesCopiedInKernel = written.bytesCopiedInKernel > 0 ? written.bytesCopiedInKernel : nil
        if options.audio == .exact {
            output.applyExactAudio(written.exactAudio, inputs: inputs, plan: plan)
            let exact = Set(written.exactAudio.map(\.stream))
            for k in boundaries.indices where exact.contains(boundaries[k].stream) {
                boundaries[k].audioDiscontinuitySamples = 0
                boundaries[k].droppedPackets = 0
            }
        }
        return output
    }
}
