import Foundation
import HeliosMedia
import HeliosOrchestrator
import Logging

extension NativeStitchMerger: ProgressiveChunkMerger {
    /// Opens an ``IncrementalStitch`` into `output`: each append fetches one chunk (verified by size and SHA-256;
    /// stored outputs are downloaded into a staging directory beside the output) and appends it; `finish` writes
    /// the rest and the trailer, makes the file durable and publishes it like ``merge(_:into:)``.
    public func begin(into output: URL, jobId: String, expectedChunks: Int) async throws -> any ProgressiveMergeSession {
        let stitch: IncrementalStitch
        do { stitch = try IncrementalStitch(output: output, options: options, expectedInputs: expectedChunks, logger: logger) } catch {
            throw MediaFailure(error: error)
        }
        return NativeStitchSession(merger: self, output: output, stitch: stitch)
    }
}

/// A progressive native stitch. The orchestrator makes one call at a time (the session's contract), so the
/// stitch and the bookkeeping below are never touched concurrently; each blocking stitch call runs on a thread
/// of its own, and cancelling the calling task stops it through ``IncrementalStitch/cancel()``.
final class NativeStitchSession: ProgressiveMergeSession, @unchecked Sendable {
    private let box: StitchBox
    private let merger: NativeStitchMerger
    private let output: URL
    private let staging: URL
    /// Chunks fetched so far (the next chunk's index, which names its download).
    private var fetched = 0
    /// Whether ``finish()`` made the output durable (the report is built after, by ``summary()``).
    private var committed = false

    init(merger: NativeStitchMerger, output: URL, stitch: IncrementalStitch) {
        self.merger = merger
        self.output = output
        staging = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.lastPathComponent).helios-fetch-\(UUID().uuidString.prefix(8))")
        box = StitchBox(stitch)
    }

    func append(_ record: ChunkOutputRecord) async throws {
        try await append(contentsOf: [record])
    }

    /// Fetches the chunks, several downloads at once (the first append of a resumed job brings every chunk completed
    /// before; downloads stay in the staging directory until the end: a later input can make the stitch write the
    /// output again from input 1), and appends them in one step.
    func append(contentsOf records: [ChunkOutputRecord]) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let inputs = try await merger.fetcher.fetch(records, firstIndex: fetched, staging: staging)
        fetched += records.count
        let fetchedAt = clock.now
        try await run { stitch throws(StitchError) in try stitch.append(contentsOf: inputs) }
        merger.logger.debug("appended", metadata: ["inputs": "\(records.count)", "total": "\(fetched)",
                                                   "fetch": "\(fetchedAt - started)", "append": "\(clock.now - fetchedAt)"])
    }

    func finish() async throws {
        defer { try? FileManager.default.removeItem(at: staging) }
        let clock = ContinuousClock()
        let started = clock.now
        try await run { stitch throws(StitchError) in try stitch.commit() }
        committed = true
        merger.logger.debug("finished", metadata: ["inputs": "\(fetched)", "finish": "\(clock.now - started)"])
    }

    func summary() async throws -> MergeSummary {
        guard committed else { throw MergeNotFinished(output: output) }
        let summary = try await summarized()
        // The report (a summary of every input, written out as JSON: megabytes at 10,000 inputs) was let go on the way
        // out of `summarized()`, after the stitch handed back what it freed: hand this back too, before the job
        // writes its last status (which, at 10,000 chunks, stood 3 MB higher on top of it).
        releaseFreeMemory()
        return summary
    }

    /// The stitch's report, summarized and spooled.
    private func summarized() async throws -> MergeSummary {
        let report = try await run { stitch throws(StitchError) in try stitch.finish() }
        return try await merger.summarize(report, output: output)
    }

    func discard() async {
        let box = self.box
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DedicatedThread.start {
                box.stitch.discard()
                continuation.resume()
            }
        }
        try? FileManager.default.removeItem(at: staging)
    }

    /// Runs `body` on a thread of its own (the stitch blocks on file I/O), mapping its error to ``MediaFailure``;
    /// a cancelled caller stops the stitch and gets `CancellationError`.
    private func run<T: Sendable>(_ body: @escaping @Sendable (IncrementalStitch) throws(StitchError) -> T) async throws -> T {
        let box = self.box
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                    DedicatedThread.start { continuation.resume(with: Result { () throws(StitchError) -> T in try body(box.stitch) }.mapError { $0 as any Error }) }
                }
            } onCancel: {
                box.stitch.cancel()
            }
        } catch let error as StitchError {
            if Task.isCancelled { throw CancellationError() }
            throw MediaFailure(error: error)
        }
    }
}

/// ``NativeStitchSession/summary()`` called before ``NativeStitchSession/finish()`` succeeded.
struct MergeNotFinished: Error, CustomStringConvertible {
    let output: URL
    var description: String { "the merge into \(output.path) has not finished: no summary yet" }
}

/// Carries the stitch to the thread a call runs on. `IncrementalStitch` is used by one thread at a time (the
/// session's calls are never concurrent); only `cancel()` is called from elsewhere, and it is thread-safe.
private final class StitchBox: @unchecked Sendable {
    let stitch: IncrementalStitch
    init(_ stitch: IncrementalStitch) { self.stitch = stitch }
}
