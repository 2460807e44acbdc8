import Foundation
import Synchronization

/// A store in memory, for tests of the code above the seam. It honours `ifAbsent` atomically, records and
/// verifies SHA-256, pages its listing (`pageSize`), and counts the calls made to it.
public final class InMemoryArtifactStore: ArtifactStore {
    /// Calls made so far, and bytes moved.
    public struct Counters: Sendable, Hashable {
        public var puts = 0, gets = 0, downloads = 0, heads = 0, deletes = 0, listPages = 0
        public var bytesPut: Int64 = 0, bytesGot: Int64 = 0
    }

    struct Object { var bytes: [UInt8]; var metadata: ArtifactMetadata }

    private let state = Mutex<(objects: [ArtifactKey: Object], counters: Counters)>(([:], Counters()))
    /// Objects per listing page.
    public let pageSize: Int
    /// A name for URIs (`memory://NAME/key`).
    public let name: String
    public var backend: String { "memory" }

    public init(name: String = "store", pageSize: Int = 1000) {
        self.name = name
        self.pageSize = max(1, pageSize)
    }

    public var counters: Counters { state.withLock { $0.counters } }

    public func uri(for key: ArtifactKey) -> String { "memory://\(name)/\(key.rawValue)" }

    public func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw StorageError(.io, "cannot read \(file.path): \(error.localizedDescription)", key: key.rawValue, underlying: error)
        }
        return try await put(bytes: Array(data), to: key, options: options)
    }

    public func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        let metadata = ArtifactMetadata(key: key, uri: uri(for: key), backend: backend, size: Int64(bytes.count),
                                        sha256: POSIX.sha256(bytes), contentType: options.contentType ?? key.contentType,
                                        etag: nil, lastModified: Date(), metadata: try UserMetadata.normalize(options.metadata, key: key))
        options.progress?(TransferProgress(key: key, state: .uploading, bytes: 0, total: Int64(bytes.count)))
        try state.withLock { state throws(StorageError) in
            if options.ifAbsent, state.objects[key] != nil {
                throw StorageError(.alreadyExists, "\(key) already exists (create-only write)", key: key.rawValue)
            }
            state.objects[key] = Object(bytes: bytes, metadata: metadata)
            state.counters.puts += 1
            state.counters.bytesPut += Int64(bytes.count)
        }
        options.progress?(TransferProgress(key: key, state: .complete, bytes: Int64(bytes.count), total: Int64(bytes.count)))
        return metadata
    }

    private func object(_ key: ArtifactKey, count: (inout Counters) -> Void) throws(StorageError) -> Object {
        try state.withLock { state throws(StorageError) in
            count(&state.counters)
            guard let object = state.objects[key] else { throw StorageError(.notFound, "no object \(key) in \(uri(for: key))", key: key.rawValue) }
            return object
        }
    }

    public func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8] {
        let object = try object(key) { $0.gets += 1 }
        state.withLock { $0.counters.bytesGot += Int64(object.bytes.count) }
        return object.bytes
    }

    public func download(_ key: ArtifactKey, to destination: URL,
                         progress: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata {
        let object = try object(key) { $0.downloads += 1 }
        state.withLock { $0.counters.bytesGot += Int64(object.bytes.count) }
        let hash = POSIX.sha256(object.bytes)
        if let expected = object.metadata.sha256, expected != hash {
            throw StorageError(.integrity, "\(key): content SHA-256 \(hash) does not match the recorded \(expected)", key: key.rawValue)
        }
        try await Blocking.run { _ throws(StorageError) in
            try LocalFile.writeAtomically(to: destination, key: key) { fd throws(StorageError) in
                guard object.bytes.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) else {
                    throw POSIX.failure("cannot write \(destination.path)", key: key.rawValue)
                }
            }
        }
        progress?(TransferProgress(key: key, state: .complete, bytes: object.metadata.size, total: object.metadata.size))
        return object.metadata
    }

    public func exists(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        state.withLock { state in
            state.counters.heads += 1
            return state.objects[key] != nil
        }
    }

    public func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata {
        try object(key) { $0.heads += 1 }.metadata
    }

    @discardableResult
    public func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        state.withLock { state in
            state.counters.deletes += 1
            return state.objects.removeValue(forKey: key) != nil
        }
    }

    public func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing {
        ArtifactListing { [self] token throws(StorageError) in
            state.withLock { state in
                state.counters.listPages += 1
                let depth = prefix.map { $0.segments.count } ?? 0
                let page = state.objects.keys
                    .filter { key in
                        guard prefix.map(key.isUnder) ?? true else { return false }
                        return recursive || key.segments.count == depth + 1 || key == prefix
                    }
                    .filter { key in token.map { $0.utf8.lexicographicallyPrecedes(key.rawValue.utf8) } ?? true }
                    .sorted()
                    .prefix(pageSize)
                let items = page.compactMap { state.objects[$0]?.metadata }
                return (items, items.count == pageSize ? items.last?.key.rawValue : nil)
            }
        }
    }

    /// `memory://NAME/key`; the expiry is checked as S3 would.
    public func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL {
        try ArtifactURLExpiry.validate(expiresIn, key: key)
        let path = key.rawValue.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? key.rawValue
        guard let url = URL(string: "memory://\(name)/\(path)") else {
            throw StorageError(.invalidKey, "\(key) cannot be written as a URL", key: key.rawValue)
        }
        return url
    }

    /// Replaces an object's bytes without updating its hash, so tests can check that readers verify.
    public func corrupt(_ key: ArtifactKey, with bytes: [UInt8]) {
        state.withLock { state in state.objects[key]?.bytes = bytes }
    }
}
