import Foundation

/// Progress of a running job, as delivered on `JobManager.run`'s event stream.
public enum JobEvent: Sendable, Hashable {
    /// Chunks that were already complete and are skipped.
    case resumed(skipped: Int, total: Int)
    case chunkStarted(chunkId: String, attempt: Int)
    /// An attempt failed; the next starts after `delay`.
    case chunkRetrying(chunkId: String, attempt: Int, error: String, delay: Duration)
    /// The chunk's output was validated and its completion persisted.
    case chunkCompleted(chunkId: String, durationMs: Int64, attempts: Int)
    case progress(done: Int, total: Int)
    case merging(chunks: Int)
    case completed(JobResult)
    case failed(String)
    case paused
    case cancelled
}
