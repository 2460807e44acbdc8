import Foundation
@testable import HeliosStorage
import Testing

@Suite struct MaintenanceTests {
    @Test func genericUsageCountsByContentTypeAndKeyType() async throws {
        let store = InMemoryArtifactStore(pageSize: 3)
        for (raw, size) in [("t/r/chunks/a.mp4", 10), ("t/r/chunks/b.mp4", 20), ("t/r/assets/c.png", 5), ("t/loose.json", 1), ("u/r/chunks/x.mp4", 99)] {
            _ = try await store.put(bytes: [UInt8](repeating: 0, count: size), to: key(raw))
        }
        let usage = try await store.usage(prefix: key("t"))
        #expect(usage.total == .init(objects: 4, bytes: 36))
        #expect(usage.byContentType["video/mp4"] == .init(objects: 2, bytes: 30))
        #expect(usage.byContentType["image/png"] == .init(objects: 1, bytes: 5))
        #expect(usage.byType["chunks"] == .init(objects: 2, bytes: 30) && usage.byType["other"] == .init(objects: 1, bytes: 1))
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
        let report = try await temp.store.cleanup(prefix: key("p"), olderThan: 3600)
        #expect(report.deletedObjects == 3 && report.deletedBytes == 6 && report.keptObjects == 1)
        #expect(try await collect(temp.store.list(prefix: nil)).map(\.key.rawValue) == ["p/b", "q/a"])
    }
}
