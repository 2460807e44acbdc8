import Foundation

/// Everything that can go wrong in the orchestrator. Each case names the job, chunk or file concerned.
public enum OrchestratorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The spec is invalid; every problem is listed.
    case invalidSpec(jobId: String, problems: [String])
    /// A spec file could not be read or decoded.
    case unreadableSpec(path: String, reason: String)
    /// A chunk command could not be started (executable missing, not executable).
    case spawnFailed(chunkId: String, command: String, reason: String)
    /// A chunk command exited unsuccessfully.
    case commandFailed(chunkId: String, exitCode: Int32, stderrTail: String)
    /// A chunk command ran longer than its timeout and was killed.
    case timedOut(chunkId: String, seconds: Double)
    /// A chunk's output is missing or is not media, or not the chunk's media; retryable unless rendering it again
    /// would repeat it (`RepeatedRenderFailure`).
    case invalidOutput(chunkId: String, path: String, reason: String, retryable: Bool = true)
    /// A chunk failed permanently after `attempts` attempts; the job stops.
    case chunkFailed(jobId: String, chunkId: String, attempts: Int, reason: String, stderrTail: String)
    /// Merging the chunk outputs failed.
    case mergeFailed(jobId: String, reason: String, retryable: Bool)
    /// No job with this id is stored.
    case jobNotFound(id: String)
    /// The id is not `[A-Za-z0-9._-]`.
    case invalidJobId(String)
    /// A job with this id already exists.
    case jobExists(id: String)
    /// The stored record of a job cannot be decoded; it is kept as is.
    case corruptRecord(id: String, location: String, reason: String)
    /// The job cannot do this in its current state.
    case invalidState(id: String, state: JobState, action: String)
    /// Another process holds the job's lease.
    case alreadyRunning(id: String, pid: Int32, host: String)
    /// This runner's lease was taken over (it had expired); the run stopped without writing.
    case leaseLost(id: String)
    /// A chunk's output path leaves the job directory through a symlink, or is not a regular file.
    case unsafeOutput(chunkId: String, path: String, reason: String)
    /// The store could not be read or written.
    case storage(reason: String)
    /// The job was stopped by a pause request.
    case paused(jobId: String)
    /// The job was stopped by a cancel request.
    case cancelled(jobId: String)

    /// Whether doing the same thing again may succeed.
    public var isRetryable: Bool {
        switch self {
        case .commandFailed, .timedOut, .storage: true
        case .mergeFailed(_, _, let retryable), .invalidOutput(_, _, _, let retryable): retryable
        default: false
        }
    }

    public var description: String {
        switch self {
        case .invalidSpec(let id, let problems):
            return "job spec '\(id)' is invalid (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
                + problems.map { "  - " + $0 }.joined(separator: "\n")
        case .unreadableSpec(let path, let reason): return "\(path): \(reason)"
        case .spawnFailed(let chunk, let command, let reason): return "chunk '\(chunk)': cannot start '\(command)': \(reason)"
        case .commandFailed(let chunk, let code, let tail):
            return "chunk '\(chunk)': command exited with status \(code)" + (tail.isEmpty ? "" : "; stderr:\n\(tail)")
        case .timedOut(let chunk, let seconds): return "chunk '\(chunk)': timed out after \(seconds) s and was killed"
        case .invalidOutput(let chunk, let path, let reason, _): return "chunk '\(chunk)': output \(path) \(reason)"
        case .chunkFailed(let job, let chunk, let attempts, let reason, let tail):
            return "job '\(job)' failed: chunk '\(chunk)' failed after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(reason)"
                + (tail.isEmpty || reason.contains(tail) ? "" : "\nstderr tail:\n\(tail)")
        case .mergeFailed(let job, let reason, _): return "job '\(job)': merge failed: \(reason)"
        case .jobNotFound(let id): return "no job '\(id)' in the store"
        case .invalidJobId(let id): return "invalid job id '\(id)': use 1-128 characters of [A-Za-z0-9._-]"
        case .jobExists(let id): return "job '\(id)' already exists"
        case .corruptRecord(let id, let location, let reason): return "job '\(id)': stored record \(location) is corrupt: \(reason)"
        case .invalidState(let id, let state, let action): return "job '\(id)' is \(state.rawValue); cannot \(action) it"
        case .alreadyRunning(let id, let pid, let host): return "job \(id) is running in process \(pid) on host \(host)"
        case .leaseLost(let id): return "job '\(id)': another runner took the job over (this runner's lease expired); stopped"
        case .unsafeOutput(let chunk, let path, let reason): return "chunk '\(chunk)': output '\(path)' refused: \(reason)"
        case .storage(let reason): return "job store: \(reason)"
        case .paused(let id): return "job '\(id)' paused"
        case .cancelled(let id): return "job '\(id)' cancelled"
        }
    }
}
