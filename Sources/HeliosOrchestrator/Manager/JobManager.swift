import Foundation
import HeliosStorage
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
    /// How long a claim lasts without renewal; the runner renews it every third of this.
    public var leaseDuration: Duration

    public init(executor: JobExecutor = JobExecutor(), merger: (any ChunkMerger)? = nil, mergeEnabled: Bool = true,
                output: URL? = nil, controlPollInterval: Duration = .milliseconds(200), leaseDuration: Duration = .seconds(30)) {
        self.executor = executor
        self.merger = merger
        self.mergeEnabled = mergeEnabled
        self.output = output
        self.controlPollInterval = controlPollInterval
        self.leaseDuration = leaseDuration
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
    var active: [String: JobStatus] = [:]
    /// When the last chunk of each running job's current run completed: where its merge tail starts.
    var lastCompletion: [String: ContinuousClock.Instant] = [:]
    /// The merger's report of a run's merge, stored apart from the status when the run completes.
    var pendingReports: [String: SpooledText] = [:]

    /// The wall clock for leases (injectable: lease expiry is compared across processes and hosts).
    let now: @Sendable () -> Date

    public init(repository: any JobRepository, logger: Logger = Logger(label: "helios.jobs"), now: @escaping @Sendable () -> Date = { Date() }) {
        self.repository = repository
        self.logger = logger
        self.now = now
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

    /// The job's status: a running job's as this run has it, with the details of its completed chunks from the store
    /// (the run holds only which chunks completed, see `recordChunk`).
    public func get(_ id: String) async throws -> JobStatus {
        guard active[id] != nil else { return try await repository.load(id) }
        let stored = try await repository.load(id)
        guard var status = active[id] else { return stored }  // the run ended meanwhile
        status.addChunkRecords(from: stored)
        return status
    }

    public func list() async throws -> JobListing { try await repository.list() }

    /// The native stitcher's report of the job's merge, as JSON text: stored apart from the status (a job merged by
    /// an earlier version holds it in `result.merge.reportJSON`); nil when the job has none.
    public func report(_ id: String) async throws -> String? {
        if let data = try await repository.report(for: id) { return String(decoding: data, as: UTF8.self) }
        return try await get(id).result?.merge?.reportJSON
    }

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

    /// Applies a pause/cancel through the state machine. A live holder is asked (it stops within its poll
    /// interval); a job whose holder is dead or whose lease expired is stopped here, and the processes its last
    /// holder left behind are killed first.
    private func stop(_ id: String, _ request: ControlRequest) async throws -> JobStatus {
        if active[id] != nil {
            try await repository.requestControl(request, for: id)
            return try await get(id)
        }
        let now = self.now
        let (status, actions) = try await repository.modify(id) { status in
            let transition = try Self.decide(.stop(request), status, now: now())
            status.adopt(transition, now: now())
            return (status, transition.actions)
        }
        try await perform(actions, id: id)
        logger.debug("stop applied", metadata: ["job": "\(id)", "request": "\(request)", "state": "\(status.state)"])
        return status
    }

    /// Removes a job that is not running. Chunk outputs on disk are left alone.
    public func delete(_ id: String) async throws {
        let status = try await get(id)
        if status.state.isActive, let lease = status.lease,
           JobLifecycle.holds(lease, now: now(), liveness: ProcessIdentity.liveness(of: lease)) {
            throw OrchestratorError.invalidState(id: id, state: status.state, action: "delete (it is running in process \(lease.pid) on host \(lease.host))")
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
    /// The job is claimed first, atomically in the repository: only one runner (in any process, on any host
    /// sharing the store) gets the lease; the others throw `OrchestratorError.alreadyRunning`. The lease is
    /// renewed every third of `RunOptions.leaseDuration`; every write of this run is fenced by it, so a runner
    /// whose lease was taken over stops (`.leaseLost`) instead of overwriting the new holder's state.
    ///
    /// Throws only when the job cannot be started (not found, finished, running elsewhere) or the store fails.
    public func run(_ id: String, options: RunOptions = RunOptions(), runSettings: RunSettings? = nil,
                    events: AsyncStream<JobEvent>.Continuation? = nil) async throws -> JobStatus {
        defer { events?.finish() }
        guard active[id] == nil else { throw OrchestratorError.invalidState(id: id, state: .running, action: "run (already running here)") }
        let now = self.now
        let lease = JobLease.forThisProcess(now: now(), duration: options.leaseDuration)
        let (claimed, actions) = try await repository.modify(id) { status in
            try status.spec.validate()
            let transition = try Self.decide(.claim(lease), status, now: now())
            status.adopt(transition, now: now())
            if let runSettings { status.runSettings = runSettings }
            return (status, transition.actions)
        }
        try await perform(actions, id: id)
        var status = claimed
        active[id] = status
        let token = lease.token

        let started = ContinuousClock.now
        let completed = Set(status.completedChunkIds)
        if !completed.isEmpty { events?.yield(.resumed(skipped: completed.count, total: status.totalChunks)) }
        let directory = URL(fileURLWithPath: status.jobDirectory, isDirectory: true)
        let spec = status.spec
        let repository = self.repository
        let heartbeatEvery = options.leaseDuration / 3

        var outcome: RunEnd
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var executor = options.executor
                    executor.environment[ChunkProcessSweeper.variable] = lease.processMark
                    if let progressive = Self.progressiveMerger(spec: spec, options: options) {
                        try await self.runProgressively(id, merger: progressive, spec: spec, directory: directory, completed: completed,
                                                        executor: executor, options: options, events: events)
                        return
                    }
                    try await executor.runChunks(
                        of: spec, in: directory, skipping: completed,
                        onEvent: { event in events?.yield(event) },
                        onChunkCompleted: { chunk in _ = try await self.recordChunk(id, chunk) })
                    try await self.merge(id, spec: spec, directory: directory, options: options, events: events)
                }
                group.addTask {
                    var lastBeat = ContinuousClock.now
                    while true {
                        try await Task.sleep(for: options.controlPollInterval)
                        if let request = try await repository.pendingControl(for: id) { throw StopRequested(request: request) }
                        if ContinuousClock.now - lastBeat >= heartbeatEvery {
                            try await self.heartbeat(id, token: token, duration: options.leaseDuration)
                            lastBeat = ContinuousClock.now
                        }
                    }
                }
                _ = try await group.next()
                group.cancelAll()
            }
            outcome = .completed
        } catch let stop as StopRequested {
            outcome = stop.request == .pause ? .paused : .cancelled
        } catch OrchestratorError.leaseLost(let lostId) where lostId == id {
            outcome = .leaseLost
        } catch is CancellationError {
            outcome = .paused
        } catch where Task.isCancelled {
            outcome = .paused  // e.g. a store write interrupted by the cancellation
        } catch {
            outcome = .failed("\(error)")
        }
        // Anything a chunk started that escaped its process group (setsid) still carries this run's mark.
        let leftovers = await ChunkProcessSweeper.killAll(carrying: lease.processMark)
        if !leftovers.isEmpty { logger.debug("killed leftover chunk processes", metadata: ["job": "\(id)", "pids": "\(leftovers)"]) }

        lastCompletion[id] = nil
        var report = pendingReports.removeValue(forKey: id)
        guard var final = active.removeValue(forKey: id) else { throw OrchestratorError.jobNotFound(id: id) }
        if case .leaseLost = outcome {
            if let stopped = await stoppedByRequest(id) { return ended(stopped, events: events) }
            logger.debug("run ended: lease lost", metadata: ["job": "\(id)"])
            events?.yield(.failed("\(OrchestratorError.leaseLost(id: id))"))
            throw OrchestratorError.leaseLost(id: id)
        }
        final.metrics.totalDurationMs += LocalWorkerAdapter.milliseconds(ContinuousClock.now - started)
        let endState: JobState
        var endError: String?
        switch outcome {
        case .completed:
            endState = .completed
            final.progress = 1
        case .paused: endState = .paused; endError = "paused"
        case .cancelled: endState = .cancelled; endError = "cancelled"
        case .failed(let message): endState = .failed; endError = message
        case .leaseLost: endState = .failed
        }
        // The caller's task may be cancelled (that is how Ctrl-C pauses); the final state must still be written.
        let record = final
        let error = endError
        // The report first: a completed job always has its report (a crash in between leaves the job stitching,
        // and the resume's merge replaces the report). Its text is let go before the status is written.
        if endState == .completed, let report { try await Task { try await repository.saveReport(report, for: id) }.value }
        report = nil
        do {
            status = try await Task {
                // This run's copy, with the details of the chunks it completed (which the store holds), replaces the
                // stored status: the stored body is not read.
                let stored = try await repository.replaceKeepingCompletions(id) { state, lease in
                    let transition = try Self.decide(.finish(token: token, state: endState, error: error), id: id, state: state, lease: lease, now: now())
                    var next = record
                    next.adopt(transition, now: now())
                    return next
                }
                try? await repository.clearControl(for: id)
                return stored
            }.value
        } catch OrchestratorError.leaseLost(let lostId) where lostId == id {
            // A chunk failed because `stop` killed it: the stop's record stands.
            guard let stopped = await stoppedByRequest(id) else { throw OrchestratorError.leaseLost(id: id) }
            return ended(stopped, events: events)
        }
        logger.debug("run ended", metadata: ["job": "\(id)", "state": "\(status.state)"])
        switch outcome {
        case .completed: if let result = status.result { events?.yield(.completed(result)) }
        case .paused: events?.yield(.paused)
        case .cancelled: events?.yield(.cancelled)
        case .failed(let message): events?.yield(.failed(message))
        case .leaseLost: break
        }
        return status
    }

    /// The stored status when a pause or cancel stopped the job without asking this run: the request came while this
    /// run's lease had expired (its heartbeat was late: the runner was suspended, the machine overloaded), so
    /// `stop` treated the job as orphaned, killed its chunks and recorded the stop itself. The run then ends as that
    /// stop says, without writing, instead of reporting a takeover that did not happen. Nil otherwise.
    private func stoppedByRequest(_ id: String) async -> JobStatus? {
        guard let stored = try? await repository.load(id), stored.lease == nil,
              stored.state == .cancelled || stored.state == .paused else { return nil }
        return stored
    }

    /// Ends a run that a stop recorded without it (see `stoppedByRequest`).
    private func ended(_ stopped: JobStatus, events: AsyncStream<JobEvent>.Continuation?) -> JobStatus {
        logger.debug("run ended: stopped while its lease had expired", metadata: ["job": "\(stopped.id)", "state": "\(stopped.state)"])
        events?.yield(stopped.state == .paused ? .paused : .cancelled)
        return stopped
    }

    /// The state machine's verdict on `event` for `status`, with the lease holder's liveness checked on this host.
    /// A refusal becomes the matching `OrchestratorError`.
    nonisolated static func decide(_ event: JobLifecycle.Event, _ status: JobStatus, now: Date) throws -> JobLifecycle.Transition {
        try decide(event, id: status.id, state: status.state, lease: status.lease, now: now)
    }

    /// ``decide(_:_:now:)`` for a job known by its id, state and lease alone.
    nonisolated static func decide(_ event: JobLifecycle.Event, id: String, state: JobState, lease: JobLease?, now: Date) throws -> JobLifecycle.Transition {
        let liveness = lease.map(ProcessIdentity.liveness(of:)) ?? .dead
        switch JobLifecycle.apply(event, state: state, lease: lease, now: now, liveness: liveness) {
        case .success(let transition): return transition
        case .failure(.held(let holder)): throw OrchestratorError.alreadyRunning(id: id, pid: holder.pid, host: holder.host)
        case .failure(.invalidState(let state, let action)): throw OrchestratorError.invalidState(id: id, state: state, action: action)
        case .failure(.leaseLost): throw OrchestratorError.leaseLost(id: id)
        }
    }

    /// Performs the state machine's actions after the transition was stored.
    private func perform(_ actions: [JobLifecycle.Action], id: String) async throws {
        for action in actions {
            switch action {
            case .run: break  // the caller runs
            case .clearControl: try await repository.clearControl(for: id)
            case .signalHolder(let request): try await repository.requestControl(request, for: id)
            case .sweep(let lease):
                guard lease.host == ProcessIdentity.hostName else {
                    logger.warning("cannot stop the processes of a runner on another host", metadata: ["job": "\(id)", "host": "\(lease.host)"])
                    continue
                }
                let orphans = await ChunkProcessSweeper.killAll(carrying: lease.processMark)
                if !orphans.isEmpty { logger.debug("killed orphaned chunk processes", metadata: ["job": "\(id)", "pids": "\(orphans)"]) }
            }
        }
    }

    /// Renews this run's lease; throws `.leaseLost` when another runner has taken the job over.
    private func heartbeat(_ id: String, token: String, duration: Duration) async throws {
        let now = self.now
        let lease = try await repository.renewLease(id) { state, lease in
            let at = now()
            return try Self.decide(.heartbeat(token: token, expiresAt: at + duration.timeInterval), id: id, state: state, lease: lease, now: at).lease
        }
        active[id]?.lease = lease
    }
}


private enum RunEnd {
    case completed, paused, cancelled, leaseLost
    case failed(String)
}

private struct StopRequested: Error {
    var request: ControlRequest
}
