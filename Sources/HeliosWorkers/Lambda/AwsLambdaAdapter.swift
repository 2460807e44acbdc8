import Foundation
import HeliosOrchestrator
import HeliosStorage
import Logging

/// Runs chunks on AWS Lambda through the executor's `WorkerAdapter` seam.
///
/// Before the first dispatch the spec goes to the store (create-only), and a local-directory `assetsUrl` is pushed
/// once as an asset bundle under `{storePrefix}/bundles` (its manifest named in every request). Each chunk is then
/// one synchronous invoke of a ``ChunkRequest`` whose output goes under
/// `{storePrefix}/{job}/chunks/{chunk}/attempt-{n}/`, a new attempt key for every call, so a late attempt can never
/// replace another's output. Attempt numbers continue after those already in the store (a resumed run). The
/// accepted output is not downloaded: one HEAD checks the store holds, at that attempt's key, the size and SHA-256
/// the worker reported, and the job records the URI; the merge fetches it.
///
/// Throttling (429) halves how many invokes are in flight and successes add one back (``ConcurrencyGate``); the
/// throttled attempt is retried by the executor. A chunk whose command fails is not retried.
public struct AwsLambdaAdapter: WorkerAdapter {
    public let spec: JobSpec
    /// Where requests point the worker at (a store every worker can reach) and where the spec is put.
    public let store: any ArtifactStore
    public let storePrefix: ArtifactKey
    public let invokers: InvokerPool
    public let gate: ConcurrencyGate
    /// The platform's timeout for one invoke (the worker gets the matching deadline).
    public let invokeTimeout: Duration
    let attempts = AttemptCounter()
    let specUpload = OnceTask<String>()
    let assetsUpload = OnceTask<String?>()
    let storedAttempts = OnceTask<[String: Int]>()
    let logger: Logger

    public init(spec: JobSpec, store: any ArtifactStore, storePrefix: ArtifactKey, invokers: InvokerPool, maximumConcurrency: Int,
                invokeTimeout: Duration = .seconds(900), logger: Logger = Logger(label: "helios.worker.lambda")) {
        self.spec = spec
        self.store = store
        self.storePrefix = storePrefix
        self.invokers = invokers
        self.gate = ConcurrencyGate(maximum: maximumConcurrency)
        self.invokeTimeout = invokeTimeout
        self.logger = logger
    }

    public func execute(_ job: WorkerJob) async throws -> WorkerResult {
        guard let chunk = spec.chunks.first(where: { $0.id == job.chunkId }) else {
            throw RemoteChunkError(WorkerFailure(.badRequest, "chunk \(job.chunkId) is not in job \(spec.id)"), chunkId: job.chunkId)
        }
        let started = ContinuousClock.now
        let specURI = try await specUpload.value { try await self.uploadSpec() }
        let manifestURI = try await assetsUpload.value { try await self.uploadAssets(from: job.workingDirectory) }
        let stored = try await storedAttempts.value { try await self.listStoredAttempts() }
        let attempt = await attempts.next(chunk.id, after: stored[chunk.id] ?? 0)
        let deadline = Int64(Date().timeIntervalSince1970 * 1000) + Int64(invokeTimeout / .milliseconds(1))
        let request = ChunkRequest(
            jobId: spec.id,
            chunk: .init(id: chunk.id, startFrame: chunk.startFrame, frameCount: chunk.frameCount, command: chunk.command, outputFile: chunk.outputFile),
            attempt: attempt, spec: .url(specURI), assetsManifest: manifestURI, output: .store(prefix: store.uri(for: storePrefix)),
            deadlineMs: deadline)

        await gate.acquire()
        let invoker = await invokers.acquire()
        let outcome: Result<ChunkResponse, LambdaInvokeError>
        do { outcome = .success(try await invoker.invoke(request, timeout: invokeTimeout + .seconds(5))) } catch { outcome = .failure(error) }
        await invokers.release(invoker)
        let response: ChunkResponse
        switch outcome {
        case .success(let value):
            await gate.release(throttled: false)
            response = value
        case .failure(let error):
            await gate.release(throttled: error.throttled)
            if error.throttled {
                let limit = await gate.limit
                logger.info("throttled", metadata: ["chunk": "\(chunk.id)", "limit": "\(limit)"])
            }
            throw RemoteChunkError(error.failure, chunkId: chunk.id)
        }
        guard response.status == .succeeded, let output = response.output else {
            let failure = response.error ?? WorkerFailure(.retryable, "chunk \(chunk.id): the worker answered failed without a reason")
            throw RemoteChunkError(failure, chunkId: chunk.id, exitCode: response.exitCode, stderrTail: response.stderrTail)
        }
        try await verify(output, of: chunk, attempt: attempt)
        let worker = "lambda:\(invoker.functionName)@\(invoker.endpoint.host ?? "")\(invoker.endpoint.port.map { ":\($0)" } ?? "")"
        return WorkerResult(exitCode: 0, stdout: response.stdoutTail, stderr: response.stderrTail,
                            durationMs: Int64((ContinuousClock.now - started) / .milliseconds(1)),
                            output: ChunkOutputRecord(uri: output.uri, bytes: output.bytes, sha256: output.sha256, attempt: attempt, worker: worker))
    }

    /// Puts the spec where workers read it, once per run; an identical spec already there (a resumed job) is reused.
    func uploadSpec() async throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = Array(try encoder.encode(spec))
        let key = try storePrefix.appending("\(spec.id)/spec.json")
        let putError: StorageError
        do {
            return try await store.put(bytes: bytes, to: key, options: PutOptions(contentType: "application/json", ifAbsent: true)).uri
        } catch {
            putError = error
        }
        guard putError.code == .alreadyExists else { throw putError }
        guard try await store.get(key) == bytes else {
            throw RemoteChunkError(WorkerFailure(.badRequest, "\(store.uri(for: key)) holds a different spec for job \(spec.id); not overwritten"), chunkId: "spec")
        }
        return store.uri(for: key)
    }

    /// Checks, with one HEAD, that the store holds the reported output at this attempt's key with the reported size and
    /// SHA-256. The output stays in the store; the job records its URI and the merge fetches it.
    func verify(_ output: ChunkResponse.Output, of chunk: RenderJobChunk, attempt: Int) async throws {
        let file = URL(fileURLWithPath: chunk.outputFile).lastPathComponent
        let key = try storePrefix.appending(ChunkRequest.outputKey(jobId: spec.id, chunkId: chunk.id, attempt: attempt, file: file))
        guard output.uri == store.uri(for: key) else {
            throw RemoteChunkError(WorkerFailure(.retryable, "chunk \(chunk.id): the worker reported \(output.uri), not attempt \(attempt)'s key \(store.uri(for: key))"), chunkId: chunk.id)
        }
        let stored = try await store.metadata(key)
        guard stored.sha256 == output.sha256, stored.size == output.bytes else {
            throw RemoteChunkError(WorkerFailure(.retryable, "chunk \(chunk.id): \(output.uri) is not what the worker reported (stored: sha256 \(stored.sha256 ?? "?"), \(stored.size) bytes; reported: sha256 \(output.sha256), \(output.bytes) bytes)"), chunkId: chunk.id)
        }
    }

    /// Pushes the spec's local asset directory as a bundle, once per run, and returns its manifest's URI; nil when the
    /// spec names no local directory (a remote `assetsUrl` is left to the chunk command). Unchanged files are not sent
    /// again (content-addressed).
    func uploadAssets(from jobDirectory: URL) async throws -> String? {
        guard let directory = spec.localAssetsDirectory(relativeTo: jobDirectory) else { return nil }
        let bundles = AssetBundles(store: store, prefix: try storePrefix.appending("bundles"))
        let report: BundleUploadReport
        do { report = try await bundles.uploadAssetBundle(jobId: spec.id, localDirectory: directory) } catch {
            let kind: WorkerFailure.Kind = error.isRetryable ? .retryable : .badRequest
            throw RemoteChunkError(WorkerFailure(kind, "job \(spec.id): cannot push the assets in \(directory.path): \(error)"), chunkId: "assets")
        }
        logger.info("assets pushed", metadata: ["manifest": "\(report.manifestURI)", "files": "\(report.files)", "uploaded": "\(report.uploadedFiles)"])
        return report.manifestURI
    }

    /// The highest attempt number already in the store for each chunk of this job (`…/chunks/{chunk}/attempt-{n}/…`),
    /// so a resumed run never reuses an earlier run's attempt key.
    func listStoredAttempts() async throws -> [String: Int] {
        var highest: [String: Int] = [:]
        let prefix = try storePrefix.appending("\(spec.id)/chunks")
        for try await item in store.list(prefix: prefix, recursive: true) {
            let parts = item.key.rawValue.dropFirst(prefix.rawValue.count).split(separator: "/")
            guard parts.count >= 2, parts[1].hasPrefix("attempt-"), let n = Int(parts[1].dropFirst("attempt-".count)) else { continue }
            highest[String(parts[0]), default: 0] = max(highest[String(parts[0])] ?? 0, n)
        }
        return highest
    }
}

/// A remote chunk's failure for the executor: retryable unless the chunk itself failed or the request was bad.
public struct RemoteChunkError: Error, RetryClassifying, CustomStringConvertible {
    public var failure: WorkerFailure
    public var chunkId: String
    public var exitCode: Int32?
    public var stderrTail: String

    public init(_ failure: WorkerFailure, chunkId: String, exitCode: Int32? = nil, stderrTail: String = "") {
        self.failure = failure
        self.chunkId = chunkId
        self.exitCode = exitCode
        self.stderrTail = stderrTail
    }
    public var isRetryable: Bool { failure.isRetryable }
    public var description: String {
        failure.description + (stderrTail.isEmpty ? "" : "; stderr: \(stderrTail.suffix(1500))")
    }
}

/// Lambda endpoints to invoke, each taking at most `capacity` invokes at once (1 for the emulator, which crashes on a
/// second concurrent invoke; a real function takes as many as its concurrency allows).
///
/// The endpoint with the most free slots is chosen, ties going to the one used least recently: a retry goes to
/// another emulator than the attempt it replaces, which may still be running there.
public actor InvokerPool {
    var idle: [(invoker: AwsLambdaInvoker, slots: Int, lastUsed: Int)]
    var waiters: [CheckedContinuation<Void, Never>] = []
    var uses = 0

    public init(_ invokers: [AwsLambdaInvoker], capacity: Int) {
        idle = invokers.map { ($0, max(1, capacity), 0) }
    }

    func acquire() async -> AwsLambdaInvoker {
        while true {
            if let index = idle.indices.max(by: { (idle[$0].slots, -idle[$0].lastUsed) < (idle[$1].slots, -idle[$1].lastUsed) }),
               idle[index].slots > 0 {
                uses += 1
                idle[index].slots -= 1
                idle[index].lastUsed = uses
                return idle[index].invoker
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ invoker: AwsLambdaInvoker) {
        if let index = idle.firstIndex(where: { $0.invoker.endpoint == invoker.endpoint && $0.invoker.functionName == invoker.functionName }) {
            idle[index].slots += 1
        }
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}

/// Numbers each chunk's attempts across retries: the first after `stored` (the highest attempt already in the store),
/// then one more each time.
actor AttemptCounter {
    var counts: [String: Int] = [:]
    func next(_ chunk: String, after stored: Int = 0) -> Int {
        let next = max(counts[chunk] ?? 0, stored) + 1
        counts[chunk] = next
        return next
    }
}

/// A value computed once by the first caller; later callers wait for it. A failure is not cached.
actor OnceTask<Value: Sendable> {
    var task: Task<Value, Error>?
    func value(_ make: @escaping @Sendable () async throws -> Value) async throws -> Value {
        if let task { return try await task.value }
        let task = Task { try await make() }
        self.task = task
        do { return try await task.value } catch {
            self.task = nil
            throw error
        }
    }
}
