import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a job is run.
public struct RunOptions: Sendable {
    public var executor: JobExecutor
    /// Merges the chunks when the spec has no `mergeCommand`; nil with `mergeEnabled` false skips merging.
    public var merger: (any ChunkMerger)?
    /// False skips the merge step entirely (the chunk outputs are the result).
    public var mergeEnabled: Bool
    /// Where the merged file goes; default `<job directory>/<job id>.<extension of the first chunk>`.
    public var output: URL?
    /// How often the runner checks the repository for pause/cancel requests from other processes.
    public var controlPollInterval: Duration

    public init(executor: JobExecutor = JobExecutor(), merger: (any ChunkMerger)? = nil, mergeEnabled: Bool = true,
                output: URL? = nil, controlPollInterval: Duration = .milliseconds(200)) {
        self.executor = executor
        self.merger = merger
        self.mergeEnabled = mergeEnabled
        self.output = output
        self.controlPollInterval = controlPollInterval
    }
}

/// Owns every state change of the jobs it touches: submit, run, pause, resume, cancel, delete.
///
/// Durable: each chunk's completion is saved before its event is sent, so a runner killed at any point can be
/// resumed and re-runs only the chunks not completed. Pause and cancel requests may come from any process
/// sharing the repository; a running job observes them within `controlPollInterval` and kills its children.
public actor JobManager {
    public nonisolated let repository: any JobRepository
    let logger: Logger
    /// Statuses of the jobs this manager is running, the authoritative copy while they run.
    private var active: [String: JobStatus] = [:]

    public init(repository: any JobRepository, logger: Logger = Logger(label: "helios.jobs")) {
        self.repository = repository
        self.logger = logger
    }

    /// Validates and stores a new job as `pending`. Chunk commands will run in `jobDirectory`.
    @discardableResult
    public func submit(_ spec: JobSpec, jobDirectory: URL, runSettings: RunSettings? = nil) async throws -> JobStatus {
        try spec.validate()
        var status = JobStatus(spec: spec, jobDirectory: jobDirectory.standardizedFileURL.path)
        status.runSettings = runSettings
        try await repository.insert(status)
        logger.debug("submitted", metadata: ["job": "\(spec.id)", "chunks": "\(spec.chunks.count)"])
        return status
    }

    public func get(_ id: String) async throws -> JobStatus {
        if let status = active[id] { return status }
        return try await repository.load(id)
    }

    public func list() async throws -> JobListing { try await repository.list() }

    /// Asks the job to pause. A running job stops its chunks and becomes `paused` (completed chunks are kept);
    /// a pending one becomes `paused` at once. Returns the status as it is now.
    @discardableResult
    public func pause(_ id: String) async throws -> JobStatus {
        try await stop(id, .pause)
    }

    /// Cancels the job: a running job is stopped; any job not finished becomes `cancelled`.
    @discardableResult
    public func cancel(_ id: String) async throws -> JobStatus {
        try await stop(id, .cancel)
    }

    private func stop(_ id: String, _ request: ControlRequest) async throws -> JobStatus {
        var status = try await get(id)
        if status.state.isActive && isOwnerAlive(status) {
            try await repository.requestControl(request, for: id)
            logger.debug("stop requested", metadata: ["job": "\(id)", "request": "\(request)"])
            return status
        }
        switch (request, status.state) {
        case (.pause, .pending), (.pause, .running), (.pause, .stitching), (.pause, .failed):
            status.state = .paused
        case (.cancel, .pending), (.cancel, .running), (.cancel, .stitching), (.cancel, .paused), (.cancel, .failed):
            status.state = .cancelled
        case (.pause, .paused):
            return status
        default:
            throw OrchestratorError.invalidState(id: id, state: status.state, action: request.rawValue)
        }
        status.ownerPID = nil
        status.ownerStartTime = nil
        status.error = request == .pause ? "paused by request" : "cancelled by request"
        status.updatedAt = Date()
        try await repository.save(status)
        return status
    }

    /// Removes a job that is not running. Chunk outputs on disk are left alone.
    public func delete(_ id: String) async throws {
        let status = try await get(id)
        if status.state.isActive && isOwnerAlive(status) {
            throw OrchestratorError.invalidState(id: id, state: status.state, action: "delete (it is running in process \(status.ownerPID ?? 0))")
        }
        try await repository.delete(id)
    }

    /// Continues a paused, failed or interrupted job in this task: same as `run`.
    public func resume(_ id: String, options: RunOptions = RunOptions(), runSettings: RunSettings? = nil,
                       events: AsyncStream<JobEvent>.Continuation? = nil) async throws -> JobStatus {
        try await run(id, options: options, runSettings: runSettings, events: events)
    }

    /// Runs (or resumes) the job in the calling task until it completes, fails, is paused or cancelled, and returns
    /// its final status. Chunks already completed are skipped. Cancelling the calling task pauses the job.
    ///
    /// Throws only when the job cannot be started (not found, finished, running elsewhere) or the store fails.
    public func run(_ id: String, options: RunOptions = RunOptions(), runSettings: RunSettings? = nil,
                    events: AsyncStream<JobEvent>.Continuation? = nil) async throws -> JobStatus {
        defer { events?.finish() }
        var status = try await repository.load(id)
        if let runSettings { status.runSettings = runSettings }
        guard active[id] == nil else { throw OrchestratorError.invalidState(id: id, state: status.state, action: "run (already running here)") }
        switch status.state {
        case .completed, .cancelled:
            throw OrchestratorError.invalidState(id: id, state: status.state, action: "run")
        case .running, .stitching:
            if isOwnerAlive(status) {
                throw OrchestratorError.invalidState(id: id, state: status.state, action: "run (it is running in process \(status.ownerPID ?? 0))")
            }
            logger.debug("taking over interrupted job", metadata: ["job": "\(id)", "previousOwner": "\(status.ownerPID ?? 0)"])
            if let previous = status.ownerPID {
                // The dead runner's chunks may still be running: stop them before their chunks run again.
                let orphans = await ChunkProcessSweeper.killAll(carrying: ChunkProcessSweeper.token(pid: previous, startTime: status.ownerStartTime))
                if !orphans.isEmpty { logger.debug("killed orphaned chunk processes", metadata: ["job": "\(id)", "pids": "\(orphans)"]) }
            }
        case .pending, .paused, .failed:
            break
        }
        try await repository.clearControl(for: id)
        try status.spec.validate()
        status.state = .running
        status.ownerPID = getpid()
        status.ownerStartTime = Self.processStartTime(getpid())
        status.error = nil
        status.updatedAt = Date()
        active[id] = status
        try await persist(id)

        let started = ContinuousClock.now
        let completed = Set(status.completedChunkIds)
        if !completed.isEmpty { events?.yield(.resumed(skipped: completed.count, total: status.totalChunks)) }
        let directory = URL(fileURLWithPath: status.jobDirectory, isDirectory: true)
        let spec = status.spec
        let repository = self.repository

        var outcome: RunEnd
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var executor = options.executor
                    executor.environment[ChunkProcessSweeper.variable] = ChunkProcessSweeper.token(pid: getpid(), startTime: Self.processStartTime(getpid()))
                    try await executor.runChunks(
                        of: spec, in: directory, skipping: completed,
                        onEvent: { event in events?.yield(event) },
                        onChunkCompleted: { chunk in try await self.recordChunk(id, chunk) })
                    try await self.merge(id, spec: spec, directory: directory, options: options, events: events)
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: options.controlPollInterval)
                        if let request = try await repository.pendingControl(for: id) { throw StopRequested(request: request) }
                    }
                }
                _ = try await group.next()
                group.cancelAll()
            }
            outcome = .completed
        } catch let stop as StopRequested {
            outcome = stop.request == .pause ? .paused : .cancelled
        } catch is CancellationError {
            outcome = .paused
        } catch where Task.isCancelled {
            outcome = .paused  // e.g. a store write interrupted by the cancellation
        } catch {
            outcome = .failed("\(error)")
        }

        guard var final = active.removeValue(forKey: id) else { throw OrchestratorError.jobNotFound(id: id) }
        final.metrics.totalDurationMs += LocalWorkerAdapter.milliseconds(ContinuousClock.now - started)
        final.ownerPID = nil
        final.ownerStartTime = nil
        final.updatedAt = Date()
        switch outcome {
        case .completed:
            final.state = .completed
            final.progress = 1
        case .paused:
            final.state = .paused
            final.error = "paused"
        case .cancelled:
            final.state = .cancelled
            final.error = "cancelled"
        case .failed(let message):
            final.state = .failed
            final.error = message
        }
        // The caller's task may be cancelled (that is how Ctrl-C pauses); the final state must still be written.
        let record = final
        try await Task {
            try await repository.save(record)
            try? await repository.clearControl(for: id)
        }.value
        logger.debug("run ended", metadata: ["job": "\(id)", "state": "\(final.state)"])
        switch outcome {
        case .completed: if let result = final.result { events?.yield(.completed(result)) }
        case .paused: events?.yield(.paused)
        case .cancelled: events?.yield(.cancelled)
        case .failed(let message): events?.yield(.failed(message))
        }
        return final
    }

    // MARK: - Steps, each persisted

    private func recordChunk(_ id: String, _ chunk: ChunkOutcome) async throws {
        guard var status = active[id] else { return }
        status.apply(chunk)
        status.updatedAt = Date()
        active[id] = status
        try await repository.appendChunkCompletion(chunk, jobId: id)
    }

    private func merge(_ id: String, spec: JobSpec, directory: URL, options: RunOptions, events: AsyncStream<JobEvent>.Continuation?) async throws {
        guard options.mergeEnabled else {
            try await update(id) { $0.result = JobResult(outputPath: nil, merge: nil) }
            return
        }
        let merger: any ChunkMerger
        if let command = spec.mergeCommand {
            merger = CommandMergeAdapter(command: command, jobId: id, workingDirectory: directory, worker: options.executor.worker)
        } else if let configured = options.merger {
            merger = configured
        } else {
            throw OrchestratorError.mergeFailed(jobId: id, reason: "no merger configured and the spec has no mergeCommand", retryable: false)
        }
        let ext = (spec.chunks.first?.outputFile as NSString?)?.pathExtension ?? ""
        let output = options.output ?? directory.appendingPathComponent(ext.isEmpty ? id : "\(id).\(ext)")
        try await update(id) { $0.state = .stitching }
        events?.yield(.merging(chunks: spec.chunks.count))
        let started = ContinuousClock.now
        let inputs = spec.chunks.map { directory.appendingPathComponent($0.outputFile) }
        let summary: MergeSummary
        do { summary = try await merger.merge(chunks: inputs, into: output) } catch let error as OrchestratorError {
            throw error
        } catch {
            if error is CancellationError { throw error }
            let retryable = (error as? any RetryClassifying)?.isRetryable ?? false
            throw OrchestratorError.mergeFailed(jobId: id, reason: "\(error)", retryable: retryable)
        }
        let elapsed = LocalWorkerAdapter.milliseconds(ContinuousClock.now - started)
        try await update(id) {
            $0.result = JobResult(outputPath: summary.outputPath, merge: summary)
            $0.metrics.mergeDurationMs = elapsed
        }
    }

    private func update(_ id: String, _ change: (inout JobStatus) -> Void) async throws {
        guard var status = active[id] else { return }
        change(&status)
        status.updatedAt = Date()
        active[id] = status
        try await persist(id)
    }

    private func persist(_ id: String) async throws {
        guard let status = active[id] else { return }
        try await repository.save(status)
    }

    private nonisolated func isOwnerAlive(_ status: JobStatus) -> Bool {
        guard let pid = status.ownerPID, pid > 0 else { return false }
        if pid == getpid() { return true }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        // Same pid, different process: the owner died and the pid was reused.
        if let recorded = status.ownerStartTime, let current = Self.processStartTime(pid), recorded != current { return false }
        return true
    }

    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or nil where unavailable.
    static func processStartTime(_ pid: pid_t) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); start time is field 22.
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}

private enum RunEnd {
    case completed, paused, cancelled
    case failed(String)
}

private struct StopRequested: Error {
    var request: ControlRequest
}
