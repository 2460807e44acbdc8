import Foundation

/// Runs one command for a job somewhere: a local process, a remote worker, a cloud function.
public protocol WorkerAdapter: Sendable {
    /// Runs `job` to completion and reports how it exited. A non-zero exit is a result, not an error.
    /// Throws `OrchestratorError.spawnFailed`, `.timedOut`, or `CancellationError` (the command was stopped).
    func execute(_ job: WorkerJob) async throws -> WorkerResult
}

/// Which output stream a line of output came from.
public enum OutputStreamKind: String, Sendable, Hashable, Codable {
    case stdout, stderr
}

/// One command to run.
public struct WorkerJob: Sendable {
    public var jobId: String
    /// The chunk id, or `merge` for the merge step.
    public var chunkId: String
    public var command: String
    /// The job directory: the command's working directory.
    public var workingDirectory: URL
    /// Variables added to (and overriding) the inherited environment.
    public var environment: [String: String]
    /// Kill the command after this long; nil waits forever.
    public var timeout: Duration?
    /// Receives output as it arrives (not necessarily whole lines).
    public var onOutput: (@Sendable (OutputStreamKind, Data) -> Void)?

    public init(jobId: String, chunkId: String, command: String, workingDirectory: URL, environment: [String: String] = [:],
                timeout: Duration? = nil, onOutput: (@Sendable (OutputStreamKind, Data) -> Void)? = nil) {
        self.jobId = jobId
        self.chunkId = chunkId
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.timeout = timeout
        self.onOutput = onOutput
    }
}

/// How a command exited and what it printed (the tail of each stream).
public struct WorkerResult: Sendable, Hashable, Codable {
    /// Exit status; 128 + signal number when killed by a signal.
    public var exitCode: Int32
    public var stdout: String
    public var stderr: String
    public var durationMs: Int64
    /// Where a remote worker stored the output (nil for local processes, which write into the job directory).
    public var output: ChunkOutputRecord?

    public init(exitCode: Int32, stdout: String, stderr: String, durationMs: Int64, output: ChunkOutputRecord? = nil) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.durationMs = durationMs
        self.output = output
    }
}

/// A chunk's output as the job records it, and as the merge reads it: where it is, its size and SHA-256.
///
/// Remote workers report it (the orchestrator checks it against the store); for a local worker the executor records
/// the file in the job directory as a `file://` URI with its hash. The merge fetches and verifies every record.
public struct ChunkOutputRecord: Sendable, Hashable, Codable {
    /// `s3://…` or `file://…`.
    public var uri: String {
        get { texts.part(0, of: 3) ?? "" }
        set { texts = PackedText([newValue, worker, chunkId]) }
    }
    public var bytes: Int64
    /// Lower-case hex SHA-256.
    public var sha256: String {
        get { digest.text }
        set { digest = CompactDigest(newValue) }
    }
    /// The attempt whose output was accepted (its key holds `attempt-N`).
    public var attempt: Int
    /// Held in 32 bytes: a job keeps every chunk's record to its end.
    private var digest: CompactDigest
    /// Where it ran, e.g. `lambda:render@lambda.eu-west-1.amazonaws.com`, or `local`.
    public var worker: String {
        get { texts.part(1, of: 3) ?? "" }
        set { texts = PackedText([uri, newValue, chunkId]) }
    }
    /// The chunk it belongs to (errors name it); the job's records are keyed by it too.
    public var chunkId: String? {
        get { texts.part(2, of: 3) }
        set { texts = PackedText([uri, worker, newValue]) }
    }
    /// The URI, the worker and the chunk id in one string: a job's status holds a record for each chunk, 72 bytes
    /// instead of 104 (1.4 MB instead of 2 MB for the records of 10,000 chunks, whose dictionary has 16,384 slots).
    private var texts: PackedText

    public init(uri: String, bytes: Int64, sha256: String, attempt: Int, worker: String, chunkId: String? = nil) {
        self.texts = PackedText([uri, worker, chunkId])
        self.bytes = bytes
        self.digest = CompactDigest(sha256)
        self.attempt = attempt
    }

    private enum CodingKeys: String, CodingKey { case uri, bytes, sha256, attempt, worker, chunkId }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(uri: try container.decode(String.self, forKey: .uri), bytes: try container.decode(Int64.self, forKey: .bytes),
                  sha256: try container.decode(String.self, forKey: .sha256), attempt: try container.decode(Int.self, forKey: .attempt),
                  worker: try container.decode(String.self, forKey: .worker), chunkId: try container.decodeIfPresent(String.self, forKey: .chunkId))
    }

    /// The members a synthesized encoding gives (no `chunkId` when it is nil).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(uri, forKey: .uri)
        try container.encode(bytes, forKey: .bytes)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(worker, forKey: .worker)
        try container.encodeIfPresent(chunkId, forKey: .chunkId)
    }
}

/// Keeps the last `limit` bytes of a stream.
struct OutputTail: Sendable {
    let limit: Int
    private(set) var data = Data()
    private(set) var totalBytes = 0

    init(limit: Int) { self.limit = limit }

    mutating func append(_ chunk: Data) {
        totalBytes += chunk.count
        if chunk.count >= limit {
            data = Data(chunk.suffix(limit))
        } else {
            data.append(chunk)
            if data.count > 2 * limit { data = Data(data.suffix(limit)) }
        }
    }

    /// The tail as text, at most `limit` bytes.
    var text: String {
        let bytes = data.count > limit ? Data(data.suffix(limit)) : data
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    /// The last `maxBytes` bytes of the string, for error messages.
    func tail(maxBytes: Int) -> String {
        let utf8 = Array(self.utf8)
        guard utf8.count > maxBytes else { return self }
        return String(decoding: utf8.suffix(maxBytes), as: UTF8.self)
    }
}
