import Foundation
import Logging

extension JobManager {
    /// The progressive merger this run uses, or nil for the batch path (no merge, a `mergeCommand`, or a merger
    /// that takes all chunks at once).
    nonisolated static func progressiveMerger(spec: JobSpec, options: RunOptions) -> (any ProgressiveChunkMerger)? {
        guard options.mergeEnabled, spec.mergeCommand == nil else { return nil }
        return options.merger as? any ProgressiveChunkMerger
    }

    /// Runs the chunks and merges them as they complete: a session is opened before the first chunk runs, and a
    /// task of its own appends chunk k once chunks 0…k are recorded, so the executor's completion loop never
    /// waits for an append. Chunks completed in an earlier run are appended first (the partial output of an
    /// interrupted run is gone with its process: the merge starts again). An append that fails (a chunk that
    /// does not fit) fails the job with the merger's message and cancels the running chunks; any failure,
    /// pause or cancel discards the session. The job enters `stitching` when the last chunk has completed.
    func runProgressively(_ id: String, merger: any ProgressiveChunkMerger, spec: JobSpec, directory: URL, completed: Set<String>,
                          executor: JobExecutor, options: RunOptions, events: AsyncStream<JobEvent>.Continuation?) async throws {
        let output = try Self.mergeOutput(id, spec: spec, directory: directory, options: options)
        let feed = ProgressiveFeed(order: spec.chunks.map(\.id))
        let recorded = currentOutputs(id)
        for chunk in spec.chunks where completed.contains(chunk.id) {
            let record: ChunkOutputRecord
            do { record = try await Self.mergeInput(chunk, recorded: recorded[chunk.id], directory: directory) } catch {
                throw Self.mergeError(id, error)
            }
            feed.complete(chunk.id, record)
        }
        let session: any ProgressiveMergeSession
        do { session = try await merger.begin(into: output, jobId: id, expectedChunks: spec.chunks.count) } catch {
            throw Self.mergeError(id, error)
        }
        logger.debug("progressive merge opened", metadata: ["job": "\(id)", "output": "\(output.path)", "earlier": "\(completed.count)"])
        do {
            let (tailStart, started) = try await withThrowingTaskGroup(of: ProgressivePart.self) { group in
                group.addTask {
                    // Whatever was released since the last append goes in one step.
                    var appended = 0
                    for await _ in feed.wakeUps {
                        let batch = feed.take()
                        guard !batch.isEmpty else { continue }
                        do { try await session.append(contentsOf: batch) } catch { throw Self.mergeError(id, error) }
                        appended += batch.count
                    }
                    return .appended(appended)
                }
                group.addTask {
                    try await executor.runChunks(
                        of: spec, in: directory, skipping: completed,
                        onEvent: { event in events?.yield(event) },
                        onChunkCompleted: { chunk in
                            // A chunk reported twice goes into the merge once, with its first accepted output.
                            guard try await self.recordChunk(id, chunk) else { return }
                            // The feed's positions, not a map of the chunks: one map of 10,000 ids, not two.
                            guard let position = feed.index(of: chunk.chunkId) else { return }
                            let specChunk = spec.chunks[position]
                            feed.complete(chunk.chunkId, try await Self.mergeInput(specChunk, recorded: chunk.output, directory: directory))
                        })
                    feed.finish()
                    return .chunksDone
                }
                var tailStart: ContinuousClock.Instant?
                var started: ContinuousClock.Instant?
                var appended = 0
                while let part = try await group.next() {
                    switch part {
                    case .chunksDone:
                        tailStart = self.lastCompletion[id] ?? ContinuousClock.now
                        logger.debug("merge tail: chunks done", metadata: ["job": "\(id)", "ms": "\(Self.msSince(tailStart))"])
                        try await self.enterStitching(id)
                        events?.yield(.merging(chunks: spec.chunks.count))
                        started = ContinuousClock.now
                        logger.debug("merge tail: stitching", metadata: ["job": "\(id)", "ms": "\(Self.msSince(tailStart))"])
                    case .appended(let count):
                        appended = count
                        logger.debug("merge tail: appends done", metadata: ["job": "\(id)", "ms": "\(Self.msSince(tailStart))"])
                    }
                }
                try Task.checkCancellation()
                guard appended == spec.chunks.count, let tailStart, let started else {
                    throw OrchestratorError.mergeFailed(jobId: id, reason: "only \(appended) of \(spec.chunks.count) chunks reached the merge",
                                                        retryable: false)
                }
                return (tailStart, started)
            }
            let summary: MergeSummary
            let durable: ContinuousClock.Instant
            do {
                try await session.finish()
                durable = ContinuousClock.now
                logger.debug("merge tail: finished", metadata: ["job": "\(id)", "ms": "\(Self.msSince(tailStart))"])
                summary = try await session.summary()
            } catch { throw Self.mergeError(id, error) }
            recordMerge(id, summary, started: started, tailStart: tailStart, durable: durable, progressive: true)
        } catch {
            await session.discard()
            throw error
        }
    }

    /// Milliseconds since `start`, or "-" before it is known (for the merge tail's debug log).
    nonisolated static func msSince(_ start: ContinuousClock.Instant?) -> String {
        start.map { "\(fractionalMilliseconds(ContinuousClock.now - $0))" } ?? "-"
    }

    /// The outputs of the chunks completed before this run (this run's copy of the status holds them).
    private func currentOutputs(_ id: String) -> [String: ChunkOutputRecord] {
        active[id]?.chunkOutputs ?? [:]
    }
}

/// What one child of a progressive run finished.
private enum ProgressivePart: Sendable {
    case chunksDone
    case appended(Int)
}

/// Hands chunk records to the appending task in timeline order as chunks complete in any order; never blocks
/// the caller. Released records wait in a buffer; one wake-up stands for all of them (wake-ups coalesce), so an
/// appender that fell behind takes everything released meanwhile at once.
final class ProgressiveFeed: @unchecked Sendable {
    /// Ends after ``finish()``, once the last wake-up was taken.
    let wakeUps: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let lock = NSLock()
    private var release: InOrderRelease<ChunkOutputRecord>
    private var ready: [ChunkOutputRecord] = []

    init(order: [String]) {
        release = InOrderRelease(order: order)
        (wakeUps, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Records `chunkId`'s output; whatever that releases is buffered, in order, and the appender woken.
    func complete(_ chunkId: String, _ record: ChunkOutputRecord) {
        lock.withLock {
            let released = release.complete(chunkId, record)
            guard !released.isEmpty else { return }
            ready.append(contentsOf: released.map(\.value))
            continuation.yield()
        }
    }

    /// Where `chunkId` is in the timeline order, or nil for an unknown id.
    func index(of chunkId: String) -> Int? { lock.withLock { release.index(of: chunkId) } }

    /// The records released and not taken yet, in timeline order.
    func take() -> [ChunkOutputRecord] {
        lock.withLock {
            defer { ready = [] }
            return ready
        }
    }

    /// No more chunks will complete: the appender ends after the records already released.
    func finish() { continuation.finish() }
}
