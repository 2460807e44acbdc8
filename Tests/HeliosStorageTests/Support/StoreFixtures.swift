import Foundation
@testable import HeliosStorage
@_exported import HeliosTestSupport
import Testing

/// A fresh local store in a temp directory; `remove()` deletes it.
struct TempStore {
    let directory: URL
    let store: LocalArtifactStore

    init(pageSize: Int = 1000) throws {
        directory = try makeTemporaryDirectory()
        store = try LocalArtifactStore(root: directory.appendingPathComponent("artifacts"), listPageSize: pageSize)
    }

    var objects: URL { store.objectsDirectory }
    func remove() { try? FileManager.default.removeItem(at: directory) }
}

func key(_ raw: String) -> ArtifactKey { try! ArtifactKey(raw) }

/// Deterministic bytes of `count`, varied by `seed`.
func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    return (0..<count).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}

/// SHA-256 by an independent oracle (`sha256sum`).
func oracleSHA256(_ file: URL) async throws -> String {
    let result = try await Shell.run("sha256sum", [file.path])
    return String(result.stdout.prefix(64))
}

/// Every item of a listing, page by page.
func collect(_ listing: ArtifactListing) async throws -> [ArtifactMetadata] {
    var items: [ArtifactMetadata] = []
    for try await item in listing { items.append(item) }
    return items
}

/// Checks the behaviour every store shares: round trips, create-only, hashes, metadata, listing order and paging.
enum StoreConformance {
    static func run(_ store: any ArtifactStore, scratch: URL) async throws {
        // Round trips of 0 B, 1 B and 1 MiB + 1, from bytes and from a file.
        for (index, size) in [0, 1, (1 << 20) + 1].enumerated() {
            let bytes = pattern(size, seed: UInt8(index))
            let k = key("conf/round/\(size).bin")
            let put = try await store.put(bytes: bytes, to: k)
            #expect(put.size == Int64(size) && put.sha256 == POSIX.sha256(bytes))
            #expect(try await store.get(k) == bytes)
            let file = scratch.appendingPathComponent("in-\(size)")
            try Data(bytes).write(to: file)
            let fromFile = try await store.put(file: file, to: key("conf/file/\(size).bin"))
            #expect(fromFile.sha256 == (try await oracleSHA256(file)))
            let out = scratch.appendingPathComponent("out-\(size)")
            let got = try await store.download(key("conf/file/\(size).bin"), to: out)
            #expect(got.sha256 == fromFile.sha256)
            #expect(try Data(contentsOf: out) == Data(bytes))
        }
        // Content type from the extension unless given; user metadata lower-cased; sha256 reserved.
        let video = try await store.put(bytes: [1, 2, 3], to: key("conf/meta/v.mp4"), options: PutOptions(metadata: ["Owner": "ann"]))
        #expect(video.contentType == "video/mp4")
        let head = try await store.metadata(key("conf/meta/v.mp4"))
        #expect(head.metadata == ["owner": "ann"] && head.sha256 == video.sha256 && head.size == 3)
        let typed = try await store.put(bytes: [1], to: key("conf/meta/x"), options: PutOptions(contentType: "text/plain"))
        #expect(typed.contentType == "text/plain")
        await #expect(throws: StorageError.self) { try await store.put(bytes: [1], to: key("conf/meta/y"), options: PutOptions(metadata: ["SHA256": "x"])) }
        // Create-only.
        _ = try await store.put(bytes: [1], to: key("conf/once"), options: PutOptions(ifAbsent: true))
        do {
            _ = try await store.put(bytes: [2], to: key("conf/once"), options: PutOptions(ifAbsent: true))
            Issue.record("a second create-only write succeeded")
        } catch { #expect(error.code == .alreadyExists && error.key == "conf/once") }
        #expect(try await store.get(key("conf/once")) == [1])
        // Missing keys.
        #expect(try await store.exists(key("conf/none")) == false)
        do { _ = try await store.get(key("conf/none")); Issue.record("got a missing key") } catch { #expect(error.code == .notFound) }
        do { _ = try await store.metadata(key("conf/none")); Issue.record("head of a missing key") } catch { #expect(error.code == .notFound) }
        let missingOut = scratch.appendingPathComponent("missing-out")
        do { _ = try await store.download(key("conf/none"), to: missingOut); Issue.record("downloaded a missing key") } catch { #expect(error.code == .notFound) }
        #expect(!FileManager.default.fileExists(atPath: missingOut.path))
        // Delete.
        #expect(try await store.delete(key("conf/once")) == true)
        #expect(try await store.exists(key("conf/once")) == false)
        #expect(try await store.delete(key("conf/once")) == false)
        // Listing: S3's byte order (`a.txt` < `a/x` < `a0`), recursive or one level, with a prefix.
        for raw in ["conf/order/a0", "conf/order/a/x", "conf/order/a.txt", "conf/order/a/y/z", "conf/order/b"] {
            _ = try await store.put(bytes: Array(raw.utf8), to: key(raw))
        }
        let all = try await collect(store.list(prefix: key("conf/order"))).map(\.key.rawValue)
        #expect(all == ["conf/order/a.txt", "conf/order/a/x", "conf/order/a/y/z", "conf/order/a0", "conf/order/b"])
        let top = try await collect(store.list(prefix: key("conf/order"), recursive: false)).map(\.key.rawValue)
        #expect(top == ["conf/order/a.txt", "conf/order/a0", "conf/order/b"])
        let under = try await collect(store.list(prefix: key("conf/order/a"))).map(\.key.rawValue)
        #expect(under == ["conf/order/a/x", "conf/order/a/y/z"])
        // Expiry limits of URLs.
        #expect(throws: StorageError.self) { try store.url(for: key("conf/x"), expiresIn: 604_801, method: .get) }
        #expect(throws: StorageError.self) { try store.url(for: key("conf/x"), expiresIn: 0, method: .put) }
        _ = try store.url(for: key("conf/x"), expiresIn: 604_800, method: .get)
    }

    /// Puts `count` keys under `prefix` and lists them back: exactly once each, in order, in pages.
    static func paging(_ store: any ArtifactStore, count: Int, prefix: String) async throws -> Int {
        var expected: [String] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                let raw = "\(prefix)/\(index % 7)/k\(index)"
                expected.append(raw)
                if index >= 8 { try await group.next() }
                group.addTask { _ = try await store.put(bytes: [UInt8(index & 0xff)], to: key(raw)) }
            }
            try await group.waitForAll()
        }
        var pages = 0
        let listing = store.list(prefix: key(prefix))
        var token: String?
        var seen: [String] = []
        repeat {
            let page = try await listing.fetchPage(token)
            pages += 1
            seen += page.items.map(\.key.rawValue)
            token = page.next
        } while token != nil
        #expect(seen == expected.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try await collect(listing).count == count)
        return pages
    }
}
