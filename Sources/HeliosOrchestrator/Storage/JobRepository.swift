import Foundation

/// Durable storage of job statuses and of pause/cancel requests.
///
/// A repository is shared by processes: the one running a job writes its status, others (`helios job pause`)
/// write control requests that the runner polls. All status writes of one job within a process go through
/// `JobManager`, so updates are never lost.
public protocol JobRepository: Sendable {
    /// Stores a new job; throws `OrchestratorError.jobExists` if the id is taken.
    func insert(_ status: JobStatus) async throws
    /// Stores `status`, replacing the previous record (and the chunk completions it includes) atomically.
    func save(_ status: JobStatus) async throws
    /// Durably records one chunk's completion without rewriting the whole status (cost independent of job size).
    /// `load` and `list` include it until the next `save`.
    func appendChunkCompletion(_ outcome: ChunkOutcome, jobId: String) async throws
    /// Atomically reads the job (with its recorded chunk completions), lets `change` modify it and stores the result:
    /// a compare-and-set, serialised against every other `modify`, `save` and completion append of the job, in
    /// this and other processes. If `change` throws, nothing is written and the error is rethrown.
    func modify<T: Sendable>(_ id: String, _ change: @escaping @Sendable (inout JobStatus) throws -> T) async throws -> T
    /// Moves the job to the state `next` returns for its stored state and lease holder's token, where `next` does
    /// not throw; atomic like `modify`. For the one-field transitions at the end of a job (`stitching`): a store that
    /// keeps the state apart from the status records it without rewriting the status, so the cost does not grow
    /// with the job (the default goes through `modify`). `load`, `list` and the next `modify` include it.
    func changeState(_ id: String, at: Date, _ next: @escaping @Sendable (JobState, _ holder: String?) throws -> JobState) async throws
    /// Replaces the job's lease with the one `renew` returns for its stored state and lease (the holder's heartbeat),
    /// where `renew` throws to refuse; atomic like `modify`, and returns the new lease. A store that keeps the lease
    /// apart from the status records it without reading or rewriting the status, so a heartbeat's cost does not
    /// grow with the job (the default goes through `modify`). `load`, `list` and the next `modify` include it.
    func renewLease(_ id: String, _ renew: @escaping @Sendable (JobState, JobLease?) throws -> JobLease?) async throws -> JobLease?
    /// Stores the status `make` returns for the job's stored state and lease in place of the whole record, the chunk
    /// completions recorded apart included; atomic like `modify` (if `make` throws, nothing is written). For a status
    /// built without the stored one, as at the end of a run: a store that keeps the state and lease apart reads
    /// neither the stored status nor its completions (the default goes through `modify`).
    func replace(_ id: String, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus
    /// ``replace(_:_:)`` for a status that lacks the details of chunks completed since the last whole write: the job's
    /// record keeps the completions recorded apart since then (``appendChunkCompletion(_:jobId:)``), and the status
    /// returned has them applied as `load` applies them (a chunk's first accepted output is kept). A job's runner holds
    /// its run's chunks that way (at 10,000 chunks their details took 3.4 MB). A store that keeps completions apart
    /// leaves them as they are, for `load` and the next whole write, and neither reads the stored status nor writes
    /// them into the new one; the default merges the stored status's chunk records in through `modify`.
    func replaceKeepingCompletions(_ id: String, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus
    /// Stores the merger's full report of the job's merge (replacing an earlier one), apart from the status: its
    /// size grows with the job, and the status is read and written far more often. `delete` removes it.
    func saveReport(_ report: Data, for id: String) async throws
    /// `saveReport` of spooled text, read a piece at a time where the store can take it so (the default reads it
    /// whole).
    func saveReport(_ report: SpooledText, for id: String) async throws
    /// The report stored by `saveReport`, or nil.
    func report(for id: String) async throws -> Data?
    /// The job's status with its recorded chunk completions; throws `.jobNotFound`, or `.corruptRecord`.
    func load(_ id: String) async throws -> JobStatus
    /// Every job, oldest first, and every record that could not be read.
    func list() async throws -> JobListing
    /// Removes the job and its control request; throws `.jobNotFound`.
    func delete(_ id: String) async throws
    /// Asks whoever runs the job to pause or cancel it.
    func requestControl(_ request: ControlRequest, for id: String) async throws
    /// The pending control request, if any.
    func pendingControl(for id: String) async throws -> ControlRequest?
    func clearControl(for id: String) async throws
}

/// The result of listing a repository: the readable jobs and the problems with the others.
public struct JobListing: Sendable {
    public var jobs: [JobStatus]
    /// Records that exist but cannot be read (never silently dropped).
    public var problems: [OrchestratorError]

    public init(jobs: [JobStatus], problems: [OrchestratorError]) {
        self.jobs = jobs.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        self.problems = problems
    }
}

extension JobRepository {
    public func saveReport(_ report: SpooledText, for id: String) async throws {
        try await saveReport(report.data(), for: id)
    }

    public func changeState(_ id: String, at: Date, _ next: @escaping @Sendable (JobState, _ holder: String?) throws -> JobState) async throws {
        try await modify(id) { status in
            status.state = try next(status.state, status.lease?.token)
            status.updatedAt = at
        }
    }

    public func renewLease(_ id: String, _ renew: @escaping @Sendable (JobState, JobLease?) throws -> JobLease?) async throws -> JobLease? {
        try await modify(id) { status in
            status.lease = try renew(status.state, status.lease)
            return status.lease
        }
    }

    public func replace(_ id: String, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus {
        try await modify(id) { status in
            status = try make(status.state, status.lease)
            return status
        }
    }

    public func replaceKeepingCompletions(_ id: String, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus {
        try await modify(id) { status in
            var next = try make(status.state, status.lease)
            next.addChunkRecords(from: status)
            status = next
            return status
        }
    }

    func checkID(_ id: String) throws {
        guard JobID.isValid(id) else { throw OrchestratorError.invalidJobId(id) }
    }
}
