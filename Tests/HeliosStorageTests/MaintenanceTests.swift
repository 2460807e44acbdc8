import Foundation
@testable import HeliosStorage
import Testing

@Suite struct MaintenanceTests {
    @Test func genericUsageCountsByContentTypeAndKeyType() async throws {
        let store = InMemoryArtifactStore(pageSize: 3)
        for (raw, size) in [("t/r/chunks/a.mp4", 10), ("t/r/chunks/b.mp4", 20), ("t/r/assets/c.png", 5), ("t/loose.json", 1), ("u/r/chunks/x.mp4", 99)] {
            _ = try await store.put(bytes: [UInt8](repeating: 0, count: size), to: key(raw))
        }
        let usage = try await StorageMaintenance.usage(of: store, prefix: key("t"))
        #expect(usage.total == .init(objects: 4, bytes: 36))
        #expect(usage.byContentType["video/mp4"] == .init(objects: 2, bytes: 30))
        #expect(usage.byContentType["image/png"] == .init(objects: 1, bytes: 5))
        #expect(usage.byKeyType["chunks"] == .init(objects: 2, bytes: 30) && usage.byKeyType["other"] == .init(objects: 1, bytes: 1))
        #expect(store.counters.listPages >= 2, "the walk pages")
    }

    @Test func genericCleanupDeletesOnlyOldObjectsUnderThePrefix() async throws {
        let temp = try TempStore(pageSize: 2)
        defer { temp.remove() }
        for raw in ["p/a", "p/b", "p/c", "p/d", "q/a"] { _ = try await temp.store.put(bytes: [1, 2], to: key(raw)) }
        let old = Date(timeIntervalSinceNow: -7200)
        for raw in ["p/a", "p/c", "p/d", "q/a"] {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: temp.objects.appendingPathComponent(raw).path)
        }
        let report = try await StorageMaintenance.cleanup(of: temp.store, prefix: key("p"), olderThan: Date(timeIntervalSinceNow: -3600))
        #expect(report.deletedObjects == 3 && report.deletedBytes == 6 && report.keptObjects == 1)
        #expect(try await collect(temp.store.list(prefix: nil)).map(\.key.rawValue) == ["p/b", "q/a"])
    }

    /// A store with its own maintenance (as S3's, with DeleteObjects and multipart aborts) is asked directly.
    @Test func specialisedStoresAreAskedDirectly() async throws {
        struct Special: ArtifactStoreMaintenance {
            let inner = InMemoryArtifactStore()
            var backend: String { "special" }
            func uri(for key: ArtifactKey) -> String { inner.uri(for: key) }
            func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata { try await inner.put(file: file, to: key, options: options) }
            func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata { try await inner.put(bytes: bytes, to: key, options: options) }
            func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8] { try await inner.get(key) }
            func download(_ key: ArtifactKey, to destination: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata {
                try await inner.download(key, to: destination, progress: progress)
            }
            func exists(_ key: ArtifactKey) async throws(StorageError) -> Bool { try await inner.exists(key) }
            func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata { try await inner.metadata(key) }
            func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool { try await inner.delete(key) }
            func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing { inner.list(prefix: prefix, recursive: recursive) }
            func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL { try inner.url(for: key, expiresIn: expiresIn, method: method) }
            func usage(prefix: ArtifactKey?) async throws(StorageError) -> StorageUsage {
                var usage = StorageUsage()
                usage.total = .init(objects: 42, bytes: 42)
                return usage
            }
            func cleanup(prefix: ArtifactKey?, olderThan cutoff: Date) async throws(StorageError) -> CleanupReport {
                var report = CleanupReport()
                report.abortedUploads = 7
                return report
            }
        }
        let store = Special()
        #expect(try await StorageMaintenance.usage(of: store, prefix: nil).total.objects == 42)
        #expect(try await StorageMaintenance.cleanup(of: store, prefix: nil, olderThan: Date()).abortedUploads == 7)
    }
}
