import Foundation
import HeliosStorage

/// Why a recorded chunk output cannot be merged: it is missing, unreadable, or not the bytes the job recorded.
///
/// A mismatch is never retryable (the stored object is not the accepted one; fetching it again cannot change that);
/// a storage failure is retryable when the store says so (an outage, throttling).
public struct ChunkOutputFetchError: Error, Sendable, CustomStringConvertible, RetryClassifying {
    public enum Code: String, Sendable {
        /// Size or SHA-256 differ from the record.
        case mismatch
        /// The URI names no store this build can read, or no object.
        case invalidURI
        /// The store failed (see ``cause``).
        case storage
    }

    public var code: Code
    public var chunkId: String
    public var uri: String
    public var message: String
    public var cause: StorageError?

    public init(_ code: Code, chunkId: String, uri: String, _ message: String, cause: StorageError? = nil) {
        self.code = code
        self.chunkId = chunkId
        self.uri = uri
        self.message = message
        self.cause = cause
    }

    public var isRetryable: Bool { code == .storage && (cause?.isRetryable ?? false) }
    public var description: String { "chunk \(chunkId): \(uri): \(message)" }
}

/// Makes every recorded chunk output a verified local file for the merge.
///
/// `file://` outputs (local workers, the local store) are read in place and hashed; `s3://` outputs are downloaded
/// into a staging directory, at most ``concurrency`` at once. Each must have exactly the recorded size and SHA-256,
/// else the fetch fails with ``ChunkOutputFetchError`` naming the chunk, the URI and both values.
public struct ChunkOutputFetcher: Sendable {
    /// Resolves an object URI to its store and key.
    public typealias Resolver = @Sendable (_ uri: String) throws(StorageError) -> (store: any ArtifactStore, key: ArtifactKey)

    public let resolve: Resolver
    /// Downloads in flight at once.
    public let concurrency: Int

    public init(concurrency: Int = 4, resolve: @escaping Resolver) {
        self.concurrency = max(1, concurrency)
        self.resolve = resolve
    }

    /// Resolves `s3://` through ``StorageFactory/standard(environment:)`` (AWS's variables, the credential chain).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment, concurrency: Int = 4) -> ChunkOutputFetcher {
        let factory = StorageFactory.standard(environment: environment)
        return ChunkOutputFetcher(concurrency: concurrency) { uri throws(StorageError) in
            let (store, key) = try factory.resolve(uri)
            guard let key else { throw StorageError(.invalidURI, "\(uri) names a store, not an object", key: uri) }
            return (store, key)
        }
    }

    /// Local files for `records`, in order, at most `concurrency` downloads at once. Downloads go into `staging`
    /// (created if needed; the caller removes it), named from `firstIndex` on (a progressive merge fetching batch
    /// after batch into one staging directory counts on from the last).
    public func fetch(_ records: [ChunkOutputRecord], firstIndex: Int = 0, staging: URL) async throws -> [URL] {
        if records.contains(where: { !Self.isFile($0.uri) }) {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        }
        return try await withThrowingTaskGroup(of: (Int, URL).self) { group in
            var files = [URL?](repeating: nil, count: records.count)
            var next = 0
            func add() {
                let index = next
                let record = records[index]
                group.addTask { (index, try await self.fetch(record, index: firstIndex + index, staging: staging)) }
                next += 1
            }
            while next < min(concurrency, records.count) { add() }
            while let (index, file) = try await group.next() {
                files[index] = file
                if next < records.count { add() }
            }
            return files.map { $0! }
        }
    }

    /// One record as a verified local file: a `file://` output in place, a stored one downloaded into `staging`
    /// (created if needed) under a name starting with `index`.
    public func fetch(_ record: ChunkOutputRecord, index: Int, staging: URL) async throws -> URL {
        let chunk = record.chunkId ?? "#\(index)"
        if Self.isFile(record.uri) {
            guard let url = URL(string: record.uri), !url.path.isEmpty else {
                throw ChunkOutputFetchError(.invalidURI, chunkId: chunk, uri: record.uri, "is not a file URI")
            }
            let file = URL(fileURLWithPath: url.path)
            let digest: (sha256: String, size: Int64)
            do { digest = try await FileHash.sha256(of: file) } catch {
                throw ChunkOutputFetchError(error.code == .notFound ? .invalidURI : .storage, chunkId: chunk, uri: record.uri,
                                            "cannot be read: \(error)", cause: error)
            }
            try Self.verify(record, chunk: chunk, size: digest.size, sha256: digest.sha256)
            return file
        }
        let (store, key): (any ArtifactStore, ArtifactKey)
        do { (store, key) = try resolve(record.uri) } catch {
            throw ChunkOutputFetchError(.invalidURI, chunkId: chunk, uri: record.uri, "cannot be read: \(error)", cause: error)
        }
        do { try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true) } catch {
            throw ChunkOutputFetchError(.storage, chunkId: chunk, uri: record.uri, "cannot create \(staging.path): \(error)")
        }
        let name = String(format: "%06d-", index) + key.filename
        let destination = staging.appendingPathComponent(name)
        let stored: ArtifactMetadata
        do { stored = try await store.download(key, to: destination, progress: nil) } catch {
            throw ChunkOutputFetchError(.storage, chunkId: chunk, uri: record.uri, "download failed: \(error)", cause: error)
        }
        // The store verified the content against its own record of the hash; without one, hash it here.
        var sha256 = stored.sha256 ?? ""
        var size = stored.size
        if stored.sha256 == nil {
            do {
                let digest = try await FileHash.sha256(of: destination)
                sha256 = digest.sha256
                size = digest.size
            } catch {
                throw ChunkOutputFetchError(.storage, chunkId: chunk, uri: record.uri, "cannot hash the download: \(error)", cause: error)
            }
        }
        do { try Self.verify(record, chunk: chunk, size: size, sha256: sha256) } catch {
            try? FileManager.default.removeItem(at: destination)
            throw error
        }
        return destination
    }

    /// Refuses content whose size or SHA-256 differs from the record. Pure.
    static func verify(_ record: ChunkOutputRecord, chunk: String, size: Int64, sha256: String) throws(ChunkOutputFetchError) {
        guard size == record.bytes, sha256 == record.sha256 else {
            throw ChunkOutputFetchError(.mismatch, chunkId: chunk, uri: record.uri,
                                        "expected \(record.bytes) bytes with SHA-256 \(record.sha256) (attempt \(record.attempt)), found \(size) bytes with SHA-256 \(sha256)")
        }
    }

    static func isFile(_ uri: String) -> Bool { uri.lowercased().hasPrefix("file:") }
}
