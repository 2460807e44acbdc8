import Foundation
@testable import HeliosStorage
import Testing

@Suite struct InMemoryStoreTests {
    @Test func behavesAsAStore() async throws {
        let scratch = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        try await StoreConformance.run(InMemoryArtifactStore(), scratch: scratch)
    }

    @Test func pagesItsListing() async throws {
        let store = InMemoryArtifactStore(pageSize: 1000)
        let pages = try await StoreConformance.paging(store, count: 2500, prefix: "p")
        #expect(pages == 3)
    }

    @Test func verifiesDownloadsAndCountsCalls() async throws {
        let scratch = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let store = InMemoryArtifactStore()
        _ = try await store.put(bytes: [1, 2, 3], to: key("a/b"))
        store.corrupt(key("a/b"), with: [1, 2, 4])
        let out = scratch.appendingPathComponent("out")
        do { _ = try await store.download(key("a/b"), to: out); Issue.record("corrupt object downloaded") } catch {
            #expect(error.code == .integrity)
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(store.counters.puts == 1 && store.counters.downloads == 1)
    }

    @Test func createOnlyHasOneWinner() async throws {
        let store = InMemoryArtifactStore()
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<32 {
                group.addTask {
                    do throws(StorageError) { _ = try await store.put(bytes: [UInt8(i)], to: key("race"), options: PutOptions(ifAbsent: true)); return true } catch {
                        #expect(error.code == .alreadyExists)
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
    }
}
