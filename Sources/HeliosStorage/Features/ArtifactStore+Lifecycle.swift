import Foundation

/// Bulk operations a backend can do better than one key at a time (S3: DeleteObjects, multipart uploads).
public protocol BatchMaintainedStore: ArtifactStore {
    /// The largest batch ``deleteBatch(_:)`` takes.
    var maximumDeleteBatch: Int { get }
    /// Deletes `keys` in one request.
    func deleteBatch(_ keys: [ArtifactKey]) async throws(StorageError)
    /// Aborts incomplete uploads under `prefix` started before `cutoff`; returns how many.
    func abortIncompleteUploads(prefix: ArtifactKey?, startedBefore cutoff: Date) async throws(StorageError) -> Int
}

/// What a cleanup removed.
public struct CleanupReport: Sendable, Hashable, Codable {
    public var deletedObjects: Int = 0
    public var deletedBytes: Int64 = 0
    /// Objects under the prefix that were new enough to keep.
    public var keptObjects: Int = 0
    /// Incomplete multipart uploads aborted (S3 only).
    public var abortedUploads: Int = 0
    public init(deletedObjects: Int = 0, deletedBytes: Int64 = 0, keptObjects: Int = 0, abortedUploads: Int = 0) {
        self.deletedObjects = deletedObjects
        self.deletedBytes = deletedBytes
        self.keptObjects = keptObjects
        self.abortedUploads = abortedUploads
    }
}

/// Object count and bytes, in total and by type.
public struct StorageUsage: Sendable, Hashable, Codable {
    public struct Tally: Sendable, Hashable, Codable {
        public var objects: Int = 0
        public var bytes: Int64 = 0
        public init(objects: Int = 0, bytes: Int64 = 0) {
            self.objects = objects
            self.bytes = bytes
        }
    }
    public var total = Tally()
    /// By the key's type segment (`{tenant}/{run}/{type}/{file}`), `other` for keys of another shape.
    public var byType: [String: Tally] = [:]
    /// By content type (`video/mp4`, ...).
    public var byContentType: [String: Tally] = [:]
    public init() {}
}

extension ArtifactStore {
    /// Deletes the objects under `prefix` last modified more than `olderThan` seconds before `now`, in batches
    /// (DeleteObjects of up to 1000 keys on S3), and aborts incomplete multipart uploads older than that.
    public func cleanup(prefix: ArtifactKey?, olderThan: TimeInterval, now: Date = Date()) async throws(StorageError) -> CleanupReport {
        let cutoff = now.addingTimeInterval(-olderThan)
        var report = CleanupReport()
        let batched = self as? any BatchMaintainedStore
        let limit = batched?.maximumDeleteBatch ?? 1
        var batch: [ArtifactMetadata] = []
        func flush() async throws(StorageError) {
            guard !batch.isEmpty else { return }
            if let batched {
                try await batched.deleteBatch(batch.map(\.key))
            } else {
                for item in batch { try await delete(item.key) }
            }
            report.deletedObjects += batch.count
            report.deletedBytes += batch.reduce(0) { $0 + $1.size }
            batch.removeAll(keepingCapacity: true)
        }
        // Collect a page's worth before deleting, so deletion never races the listing's own pages.
        var expired: [ArtifactMetadata] = []
        for try await item in list(prefix: prefix, recursive: true) {
            if let modified = item.lastModified, modified < cutoff { expired.append(item) } else { report.keptObjects += 1 }
        }
        for item in expired {
            batch.append(item)
            if batch.count >= limit { try await flush() }
        }
        try await flush()
        if let batched {
            report.abortedUploads = try await batched.abortIncompleteUploads(prefix: prefix, startedBefore: cutoff)
        }
        return report
    }

    /// Counts and sizes the objects under `prefix` (a tenant: `usage(prefix: ArtifactKey(tenant))`).
    public func usage(prefix: ArtifactKey?) async throws(StorageError) -> StorageUsage {
        var usage = StorageUsage()
        for try await item in list(prefix: prefix, recursive: true) {
            let segments = item.key.segments
            let type = segments.count >= 4 ? String(segments[2]) : "other"
            usage.total.objects += 1
            usage.total.bytes += item.size
            usage.byType[type, default: .init()].objects += 1
            usage.byType[type, default: .init()].bytes += item.size
            usage.byContentType[item.contentType, default: .init()].objects += 1
            usage.byContentType[item.contentType, default: .init()].bytes += item.size
        }
        return usage
    }
}
