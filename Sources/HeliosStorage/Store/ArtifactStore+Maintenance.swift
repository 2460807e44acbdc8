import Foundation

/// Object count and bytes under a prefix, in total and by type.
public struct StorageUsage: Sendable, Hashable, Codable {
    /// A count and a size.
    public struct Tally: Sendable, Hashable, Codable {
        public var objects = 0
        public var bytes: Int64 = 0
        public init(objects: Int = 0, bytes: Int64 = 0) {
            self.objects = objects
            self.bytes = bytes
        }
        mutating func add(_ size: Int64) {
            objects += 1
            bytes += size
        }
    }

    public var total = Tally()
    /// By content type (`video/mp4`, ...).
    public var byContentType: [String: Tally] = [:]
    /// By the `{type}` segment of keys laid out as `{tenant}/{run}/{type}/{filename}` (other keys: `other`).
    public var byKeyType: [String: Tally] = [:]

    public init() {}

    /// Adds one object.
    public mutating func add(_ item: ArtifactMetadata) {
        total.add(item.size)
        byContentType[item.contentType, default: Tally()].add(item.size)
        let segments = item.key.segments
        byKeyType[segments.count == 4 ? String(segments[2]) : "other", default: Tally()].add(item.size)
    }
}

/// What a cleanup removed.
public struct CleanupReport: Sendable, Hashable, Codable {
    public var deletedObjects = 0
    public var deletedBytes: Int64 = 0
    /// Objects under the prefix that were new enough to keep.
    public var keptObjects = 0
    /// Incomplete multipart uploads aborted (S3 only).
    public var abortedUploads = 0
    public init() {}
}

/// A store with its own usage and cleanup (e.g. S3: batched DeleteObjects, aborting stale multipart uploads).
/// Stores that do not conform get the generic versions built on listing and delete.
public protocol ArtifactStoreMaintenance: ArtifactStore {
    func usage(prefix: ArtifactKey?) async throws(StorageError) -> StorageUsage
    func cleanup(prefix: ArtifactKey?, olderThan cutoff: Date) async throws(StorageError) -> CleanupReport
}

/// Usage and cleanup over any store.
public enum StorageMaintenance {
    /// The store's own usage if it has one, else a walk of the listing.
    public static func usage(of store: any ArtifactStore, prefix: ArtifactKey?) async throws(StorageError) -> StorageUsage {
        if let specialised = store as? any ArtifactStoreMaintenance { return try await specialised.usage(prefix: prefix) }
        return try await genericUsage(of: store, prefix: prefix)
    }

    /// Deletes the objects under `prefix` last modified before `cutoff`: the store's own cleanup if it has one.
    public static func cleanup(of store: any ArtifactStore, prefix: ArtifactKey?, olderThan cutoff: Date) async throws(StorageError) -> CleanupReport {
        if let specialised = store as? any ArtifactStoreMaintenance { return try await specialised.cleanup(prefix: prefix, olderThan: cutoff) }
        return try await genericCleanup(of: store, prefix: prefix, olderThan: cutoff)
    }

    public static func genericUsage(of store: any ArtifactStore, prefix: ArtifactKey?) async throws(StorageError) -> StorageUsage {
        var usage = StorageUsage()
        for try await item in store.list(prefix: prefix, recursive: true) { usage.add(item) }
        return usage
    }

    /// Walks the listing (page by page) and deletes as it goes; the listing's token is a key, so deleting
    /// listed objects does not disturb the pages after it.
    public static func genericCleanup(of store: any ArtifactStore, prefix: ArtifactKey?, olderThan cutoff: Date) async throws(StorageError) -> CleanupReport {
        var report = CleanupReport()
        for try await item in store.list(prefix: prefix, recursive: true) {
            guard let modified = item.lastModified, modified < cutoff else {
                report.keptObjects += 1
                continue
            }
            if try await store.delete(item.key) {
                report.deletedObjects += 1
                report.deletedBytes += item.size
            }
        }
        return report
    }
}
