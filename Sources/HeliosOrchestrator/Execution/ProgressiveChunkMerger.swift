import Foundation

/// A merger that takes the chunks as they complete, in timeline order, instead of all at once after the last one.
///
/// `JobManager.run` uses it when the spec has no `mergeCommand` and merging is enabled: it opens a session before
/// the first chunk runs, appends chunk k as soon as chunks 0…k have completed, and after the last chunk only
/// ``ProgressiveMergeSession/finish()`` is left (the merge tail), then ``ProgressiveMergeSession/summary()``. `merge(_:into:)` stays the batch path.
public protocol ProgressiveChunkMerger: ChunkMerger {
    /// Opens a merge into `output` of a job of `expectedChunks` chunks. Nothing is visible at `output` before
    /// ``ProgressiveMergeSession/finish()`` returns.
    func begin(into output: URL, jobId: String, expectedChunks: Int) async throws -> any ProgressiveMergeSession
}

/// One progressive merge. The caller makes one call at a time: appends in timeline order, then `finish` or
/// `discard`. `discard` may follow a failed or cancelled call.
public protocol ProgressiveMergeSession: Sendable {
    /// Adds the next chunk. Throws when it cannot be merged (it does not fit the chunks before it, or it cannot
    /// be fetched); the session is then unusable and must be discarded. Cancelling the calling task stops it.
    func append(_ record: ChunkOutputRecord) async throws
    /// Adds the next chunks, in order: what a caller that has several ready at once (a resume's earlier chunks,
    /// chunks released together) passes, so the merger can take them in one step. The default appends one by one.
    func append(contentsOf records: [ChunkOutputRecord]) async throws
    /// Writes what is left and makes the output durable at its final path: the end of the merge tail.
    func finish() async throws
    /// What the finished merge produced: its summary and report, and the output's publication if the merger
    /// publishes it. Called once, after ``finish()``; work that is not the output file's (encoding a report whose
    /// size grows with the job, an upload) belongs here, after the output is durable.
    func summary() async throws -> MergeSummary
    /// Drops the partial output and any staged files. Idempotent; never throws.
    func discard() async
}

extension ProgressiveMergeSession {
    public func append(contentsOf records: [ChunkOutputRecord]) async throws {
        for record in records { try await append(record) }
    }
}

/// Releases chunk results in timeline order as they arrive in any order: the value of chunk k is released once
/// chunks 0…k have all arrived. Pure (no I/O); the first value given for a chunk is kept, unknown ids are ignored.
public struct InOrderRelease<Value> {
    private let order: [String]
    /// Each id's first place, kept only when some id repeats. Unique ids (every validated spec's) are found by a scan
    /// from the release point instead, where completions cluster (within the concurrency, unless one chunk holds the
    /// rest back): a 10,000-chunk job's map was 0.4 MB held to its end.
    private let firstPlace: [String: Int]?
    private var arrived: [Int: Value] = [:]
    /// How many chunks have been released (the index of the next one to release).
    public private(set) var released = 0

    /// `order`: the chunk ids in timeline order.
    public init(order: [String]) {
        self.order = order
        var seen = Set<String>(minimumCapacity: order.count)
        guard order.contains(where: { !seen.insert($0).inserted }) else {
            firstPlace = nil
            return
        }
        var firstPlace: [String: Int] = [:]
        for (index, id) in order.enumerated() where firstPlace[id] == nil { firstPlace[id] = index }
        self.firstPlace = firstPlace
    }

    /// Where `chunkId` is in the timeline order (its first place), or nil for an unknown id.
    public func index(of chunkId: String) -> Int? {
        if let firstPlace { return firstPlace[chunkId] }
        return order[released...].firstIndex(of: chunkId) ?? order[..<released].firstIndex(of: chunkId)
    }

    /// True once every chunk has been released.
    public var isComplete: Bool { released == order.count }

    /// Records that `chunkId` completed with `value` and returns what can be released now, in order
    /// (as (chunk id, value) pairs; empty while an earlier chunk is missing).
    public mutating func complete(_ chunkId: String, _ value: Value) -> [(chunkId: String, value: Value)] {
        guard let index = index(of: chunkId), index >= released, arrived[index] == nil else { return [] }
        arrived[index] = value
        var out: [(chunkId: String, value: Value)] = []
        while let next = arrived.removeValue(forKey: released) {
            out.append((order[released], next))
            released += 1
        }
        return out
    }
}

extension InOrderRelease: Sendable where Value: Sendable {}
