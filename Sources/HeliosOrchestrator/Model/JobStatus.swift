import Foundation

/// Where a job is in its life.
public enum JobState: String, Codable, Sendable, Hashable, CaseIterable {
    case pending, running, stitching, completed, failed, cancelled, paused

    /// True for states a job never leaves by itself.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
    /// True while some process is working on the job.
    public var isActive: Bool { self == .running || self == .stitching }
}

/// The durable record of a job: its spec, progress, metrics, logs and result.
public struct JobStatus: Codable, Sendable, Hashable {
    public var id: String
    public var spec: JobSpec
    public var state: JobState
    /// Completed chunks over total chunks, 0...1.
    public var progress: Double
    public var completedChunks: Int
    public var totalChunks: Int
    /// Chunks whose output exists and was validated; resume skips them.
    public var completedChunkIds: [String]
    public var createdAt: Date
    public var updatedAt: Date
    /// Why the job failed, was cancelled or paused.
    public var error: String?
    public var result: JobResult?
    public var metrics: JobMetrics
    /// The last lines of each chunk's output, by chunk id (bounded).
    public var chunkLogs: [String: String]
    /// Each completed chunk's output (URI, bytes, SHA-256, accepted attempt, worker), by chunk id: `s3://` or
    /// `file://` for remote workers, `file://` in the job directory for local ones. The first accepted output of a
    /// chunk is kept: a later completion (a late attempt) never replaces it.
    public var chunkOutputs: [String: ChunkOutputRecord]?
    /// Directory the chunk commands run in and write to.
    public var jobDirectory: String
    /// The runner's claim on the job while it is active (pid, host, heartbeat, expiry); nil otherwise.
    public var lease: JobLease?
    /// How the job was last run (set by the `helios` tool), reused by `resume`.
    public var runSettings: RunSettings?

    public init(spec: JobSpec, jobDirectory: String, now: Date = Date()) {
        self.id = spec.id
        self.spec = spec
        self.state = .pending
        self.progress = 0
        self.completedChunks = 0
        self.totalChunks = spec.chunks.count
        self.completedChunkIds = []
        self.createdAt = now
        self.updatedAt = now
        self.metrics = JobMetrics()
        self.chunkLogs = [:]
        self.jobDirectory = jobDirectory
    }

    /// Records a validated chunk with its metrics and log. Idempotent.
    public mutating func apply(_ outcome: ChunkOutcome) {
        markCompleted(outcome.chunkId)
        recordDetails(of: outcome)
    }

    /// Records many validated chunks at once (a repository's completion log) in time linear in their number.
    public mutating func apply(contentsOf outcomes: [ChunkOutcome]) {
        guard !outcomes.isEmpty else { return }
        var seen = Set(completedChunkIds)
        for outcome in outcomes { apply(outcome, seen: &seen) }
    }

    /// Records a validated chunk whose id `seen` holds if it completed before (`seen` is this status's completed
    /// ids, kept by the caller so that a long run of completions is applied in linear time).
    mutating func apply(_ outcome: ChunkOutcome, seen: inout Set<String>) {
        if seen.insert(outcome.chunkId).inserted { appendCompleted(outcome.chunkId) }
        recordDetails(of: outcome)
    }

    /// A completed chunk's metrics, log and (first accepted) output.
    private mutating func recordDetails(of outcome: ChunkOutcome) {
        metrics.chunks[outcome.chunkId] = ChunkMetrics(durationMs: outcome.durationMs, attempts: outcome.attempts)
        if !outcome.log.isEmpty { chunkLogs[outcome.chunkId] = outcome.log }
        if let output = outcome.output { accept(output, for: outcome.chunkId) }
    }

    /// Adds the details `other` holds of chunks this status knows only as completed, or not at all: their metrics,
    /// logs and accepted outputs. For a runner's copy of a status, which records that a chunk completed and leaves
    /// the rest to the store (see ``JobManager``); the stored status is `other`. What this status holds is kept.
    mutating func addChunkRecords(from other: JobStatus) {
        var seen = Set(completedChunkIds)
        for chunkId in other.completedChunkIds {
            if seen.insert(chunkId).inserted {
                appendCompleted(chunkId)
            } else if metrics.chunks[chunkId] != nil {
                continue
            }
            if metrics.chunks[chunkId] == nil, let chunkMetrics = other.metrics.chunks[chunkId] { metrics.chunks[chunkId] = chunkMetrics }
            if chunkLogs[chunkId] == nil, let log = other.chunkLogs[chunkId] { chunkLogs[chunkId] = log }
            if let output = other.chunkOutputs?[chunkId] { accept(output, for: chunkId) }
        }
    }

    /// Keeps `output` as the chunk's accepted output unless it has one, in place: the job's map is never copied
    /// (copying it for each completion made a 10,000-chunk job quadratic).
    private mutating func accept(_ output: ChunkOutputRecord, for chunkId: String) {
        var outputs = chunkOutputs ?? [:]
        chunkOutputs = nil  // `outputs` is now the only reference to the storage
        if outputs[chunkId] == nil { outputs[chunkId] = output }
        chunkOutputs = outputs
    }

    /// Records that a chunk completed, without its details. Idempotent: false when it had completed before.
    @discardableResult
    mutating func markCompleted(_ chunkId: String) -> Bool {
        guard !completedChunkIds.contains(chunkId) else { return false }
        appendCompleted(chunkId)
        return true
    }

    /// Adds a chunk not completed before to the completed ones, and counts it in `completedChunks` and `progress`.
    private mutating func appendCompleted(_ chunkId: String) {
        completedChunkIds.append(chunkId)
        completedChunks = completedChunkIds.count
        progress = totalChunks == 0 ? 1 : Double(completedChunks) / Double(totalChunks)
    }
}

/// What one successful chunk took; also the durable record of its completion.
public struct ChunkOutcome: Codable, Sendable, Hashable {
    public var chunkId: String
    public var durationMs: Int64
    public var attempts: Int
    /// The tail of the successful attempt's stderr (bounded), for the job's chunk logs.
    public var log: String
    /// Where a remote worker stored the accepted output.
    public var output: ChunkOutputRecord?

    public init(chunkId: String, durationMs: Int64, attempts: Int, log: String = "", output: ChunkOutputRecord? = nil) {
        self.output = output
        self.chunkId = chunkId
        self.durationMs = durationMs
        self.attempts = attempts
        self.log = log
    }
}

/// What a completed job produced.
public struct JobResult: Codable, Sendable, Hashable {
    /// The merged output, or nil when the job ran without a merge step.
    public var outputPath: String?
    public var merge: MergeSummary?

    public init(outputPath: String?, merge: MergeSummary?) {
        self.outputPath = outputPath
        self.merge = merge
    }
}

/// Timings and attempts of a job.
public struct JobMetrics: Codable, Sendable, Hashable {
    /// Wall time of all runs of the job, in milliseconds.
    public var totalDurationMs: Int64
    /// Wall time of the merge step, in milliseconds: the whole merge for a batch merge; for a progressive one,
    /// the part after the last chunk completed (the appends made while chunks ran are not counted).
    public var mergeDurationMs: Int64?
    /// The merge tail, in milliseconds to the microsecond: from the completion of the run's last chunk to the
    /// durable merged file (the end of the merge step). What a user waits for once rendering is done; a progressive
    /// merge leaves a few milliseconds, so whole milliseconds would hide most of it.
    public var mergeTailMs: Double?
    /// True when the chunks were merged progressively (appended as they completed), false for a batch merge.
    public var mergeProgressive: Bool?
    public var chunks: [String: ChunkMetrics]

    public init(totalDurationMs: Int64 = 0, mergeDurationMs: Int64? = nil, mergeTailMs: Double? = nil, mergeProgressive: Bool? = nil,
                chunks: [String: ChunkMetrics] = [:]) {
        self.totalDurationMs = totalDurationMs
        self.mergeDurationMs = mergeDurationMs
        self.mergeTailMs = mergeTailMs
        self.mergeProgressive = mergeProgressive
        self.chunks = chunks
    }
}

/// Timing of one chunk.
public struct ChunkMetrics: Codable, Sendable, Hashable {
    /// Duration of the successful attempt, in milliseconds.
    public var durationMs: Int64
    /// Attempts made, including the successful one.
    public var attempts: Int

    public init(durationMs: Int64, attempts: Int) {
        self.durationMs = durationMs
        self.attempts = attempts
    }
}

/// What a merge produced, independent of the merger used.
public struct MergeSummary: Codable, Sendable, Hashable {
    public var outputPath: String
    public var bytes: Int64
    public var durationSeconds: Double?
    public var videoFrames: Int64?
    public var warnings: Int
    /// The merger's full report as JSON text, when it has one. The job manager stores it apart from the status
    /// (``JobManager/report(_:)``); statuses written before that hold it here.
    public var reportJSON: String?
    /// The merger's full report as JSON, handed to the job manager spooled (a 10,000-input report is 7 MB, which the
    /// job need not hold in memory) and never stored with the summary; preferred over `reportJSON`.
    public var reportText: SpooledText?
    /// Where the merged file was published in the job's store (`PREFIX/JOB/output/JOB.EXT`), if it was.
    public var storedURI: String?
    /// A time-limited URL to download the published file (presigned GET on S3), and when it expires.
    public var url: String?
    public var urlExpiresAt: Date?

    enum CodingKeys: String, CodingKey {
        case outputPath, bytes, durationSeconds, videoFrames, warnings, reportJSON, storedURI, url, urlExpiresAt
    }

    public init(outputPath: String, bytes: Int64, durationSeconds: Double? = nil, videoFrames: Int64? = nil, warnings: Int = 0, reportJSON: String? = nil) {
        self.outputPath = outputPath
        self.bytes = bytes
        self.durationSeconds = durationSeconds
        self.videoFrames = videoFrames
        self.warnings = warnings
        self.reportJSON = reportJSON
    }
}

/// A request, from any process, that a running job stop.
public enum ControlRequest: String, Codable, Sendable, Hashable {
    case pause, cancel
}

/// The settings a job was last run with, so `resume` continues the same way. Written by the `helios` tool.
public struct RunSettings: Codable, Sendable, Hashable {
    public var concurrency: Int
    public var maxAttempts: Int
    public var chunkTimeoutSeconds: Double?
    /// False: the job has no merge step.
    public var merge: Bool
    /// Merged output path; nil for the default.
    public var outputPath: String?
    /// How chunk outputs are checked: `media` (probe) or `nonempty`.
    public var outputCheck: String
    /// Where chunks run: nil or `local[@N]`, or `lambda:FUNCTION[@N]`.
    public var workers: String?
    /// The store remote workers read the spec from and write outputs to (a URI); nil for the default store.
    public var storage: String?
    /// How the merge places audio: nil or `copy`, or `exact` (see helios-stitch --audio).
    public var audio: String?

    public init(concurrency: Int, maxAttempts: Int, chunkTimeoutSeconds: Double? = nil, merge: Bool = true, outputPath: String? = nil, outputCheck: String = "media",
                workers: String? = nil, storage: String? = nil, audio: String? = nil) {
        self.audio = audio
        self.workers = workers
        self.storage = storage
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
        self.chunkTimeoutSeconds = chunkTimeoutSeconds
        self.merge = merge
        self.outputPath = outputPath
        self.outputCheck = outputCheck
    }
}
