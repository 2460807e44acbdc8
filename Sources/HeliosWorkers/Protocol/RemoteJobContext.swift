import Foundation
import HeliosOrchestrator
import HeliosStorage
import Logging

/// What every remote pool of one job shares (Lambda, Cloud Run, or both at once): the store and prefix requests
/// point workers at, the spec put there once (create-only), a local-directory `assetsUrl` pushed once as an asset
/// bundle, one attempt counter that continues after the attempts already stored (a resumed run) so a chunk retried
/// on another pool gets the next number and never reuses another attempt's key, and the check of an accepted output:
/// one HEAD at the attempt's key, size and SHA-256 as reported. Outputs stay in the store; the merge fetches them.
public final class RemoteJobContext: Sendable {
    public let spec: JobSpec
    public let store: any ArtifactStore
    public let storePrefix: ArtifactKey
    let attempts = AttemptCounter()
    let specUpload = OnceTask<String>()
    let assetsUpload = OnceTask<String?>()
    let storedAttempts = OnceTask<[String: Int]>()
    let logger: Logger

    public init(spec: JobSpec, store: any ArtifactStore, storePrefix: ArtifactKey, logger: Logger = Logger(label: "helios.worker.remote")) {
        self.spec = spec
        self.store = store
        self.storePrefix = storePrefix
        self.logger = logger
    }

    /// The request for the next attempt of `chunkId`, with the spec (and assets, from `jobDirectory`) in the store and a
    /// deadline `timeout` from now.
    public func nextRequest(chunkId: String, jobDirectory: URL, timeout: Duration) async throws -> (request: ChunkRequest, chunk: RenderJobChunk) {
        guard let chunk = spec.chunks.first(where: { $0.id == chunkId }) else {
            throw RemoteChunkError(WorkerFailure(.badRequest, "chunk \(chunkId) is not in job \(spec.id)"), chunkId: chunkId)
        }
        let specURI = try await specUpload.value { try await self.uploadSpec() }
        let manifestURI = try await assetsUpload.value { try await self.uploadAssets(from: jobDirectory) }
        let stored = try await storedAttempts.value { try await self.listStoredAttempts() }
        let attempt = await attempts.next(chunk.id, after: stored[chunk.id] ?? 0)
        let deadline = Int64(Date().timeIntervalSince1970 * 1000) + Int64(timeout / .milliseconds(1))
        let request = ChunkRequest(
            jobId: spec.id,
            chunk: .init(chunk),
            attempt: attempt, spec: .url(specURI), assetsManifest: manifestURI, output: .store(prefix: store.uri(for: storePrefix)),
            deadlineMs: deadline)
        return (request, chunk)
    }

    /// The record the job keeps for a succeeded response, after one HEAD checks the store holds the reported output
    /// at the request's attempt key with the reported size and SHA-256. A failed response throws its failure.
    public func accept(_ response: ChunkResponse, for request: ChunkRequest, worker: String) async throws -> ChunkOutputRecord {
        let chunkId = request.chunk.id
        guard response.status == .succeeded, let output = response.output else {
            let failure = response.error ?? WorkerFailure(.retryable, "chunk \(chunkId): the worker answered failed without a reason")
            throw RemoteChunkError(failure, chunkId: chunkId, exitCode: response.exitCode, stderrTail: response.stderrTail)
        }
        let file = URL(fileURLWithPath: request.chunk.outputFile).lastPathComponent
        let key = try storePrefix.appending(ChunkRequest.outputKey(jobId: spec.id, chunkId: chunkId, attempt: request.attempt, file: file))
        guard output.uri == store.uri(for: key) else {
            throw RemoteChunkError(WorkerFailure(.retryable, "chunk \(chunkId): the worker reported \(output.uri), not attempt \(request.attempt)'s key \(store.uri(for: key))"), chunkId: chunkId)
        }
        let stored = try await store.metadata(key)
        guard stored.sha256 == output.sha256, stored.size == output.bytes else {
            throw RemoteChunkError(WorkerFailure(.retryable, "chunk \(chunkId): \(output.uri) is not what the worker reported (stored: sha256 \(stored.sha256 ?? "?"), \(stored.size) bytes; reported: sha256 \(output.sha256), \(output.bytes) bytes)"), chunkId: chunkId)
        }
        return ChunkOutputRecord(uri: output.uri, bytes: output.bytes, sha256: output.sha256, attempt: request.attempt, worker: worker)
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

/// Numbers each chunk's attempts across retries: the first after `stored` (the highest attempt already in the store),
/// then one more each time. One counter serves every remote pool of a job (``RemoteJobContext``), so a retry on
/// another pool never reuses an attempt's key.
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
