import Foundation
@testable import HeliosStorage
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(6))) struct LocalStoreTests {
    @Test func behavesAsAStore() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        try await StoreConformance.run(temp.store, scratch: temp.directory)
        // Objects are plain files at file:// URIs under objects/, with their sidecars in a parallel tree.
        let meta = try await temp.store.metadata(key("conf/meta/v.mp4"))
        #expect(meta.uri == temp.objects.appendingPathComponent("conf/meta/v.mp4").absoluteString)
        #expect(try Data(contentsOf: URL(string: meta.uri)!) == Data([1, 2, 3]))
        #expect(try temp.store.url(for: key("a b/c"), expiresIn: 60, method: .get) == temp.objects.appendingPathComponent("a b/c"))
        let sidecar = try Data(contentsOf: temp.store.root.appendingPathComponent("meta/conf/meta/v.mp4"))
        #expect(String(decoding: sidecar, as: UTF8.self).contains(meta.sha256!))
        // Deleting the last object of a directory removes the emptied directories, so the name is free again.
        #expect(try await temp.store.delete(key("conf/order/a/y/z")))
        #expect(!FileManager.default.fileExists(atPath: temp.objects.appendingPathComponent("conf/order/a/y").path))
        _ = try await temp.store.put(bytes: [9], to: key("conf/order/a/y"))
        // An object cannot also be a prefix, and the other way round: a clear error, nothing changed.
        do { _ = try await temp.store.put(bytes: [1], to: key("conf/order/a")); Issue.record("an object over a prefix") } catch {
            #expect(error.code == .invalidRequest && error.message.contains("prefix"), "\(error)")
        }
        do { _ = try await temp.store.put(bytes: [1], to: key("conf/order/b/c")); Issue.record("a prefix under an object") } catch {
            #expect(error.code == .invalidRequest, "\(error)")
        }
        #expect(try await temp.store.get(key("conf/order/b")) == Array("conf/order/b".utf8))
    }

    @Test func listsTwoThousandFiveHundredKeysInPages() async throws {
        let temp = try TempStore(pageSize: 1000)
        defer { temp.remove() }
        // The objects are placed as files (as objects without sidecars are), not put one by one: 2,500 puts are
        // 10,000 fsyncs, which only slow the test; put/list through the store is covered by behavesAsAStore.
        let objects = temp.objects
        let pages = try await StoreConformance.paging(temp.store, count: 2500, prefix: "many") { keys in
            for directory in Set(keys.map { URL(fileURLWithPath: objects.path + "/" + $0).deletingLastPathComponent() }) {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            for raw in keys {
                // Plain open/write/close: Foundation's Data.write fsyncs each file.
                let fd = open(objects.path + "/" + raw, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                #expect(fd >= 0 && write(fd, raw, raw.utf8.count) == raw.utf8.count)
                close(fd)
            }
        }
        #expect(pages == 3)
        // A page size that is no divisor of a directory's 357 entries crosses directory boundaries mid-page.
        let small = try LocalArtifactStore(root: temp.store.root, listPageSize: 250)
        let items = try await collect(small.list(prefix: key("many")))
        #expect(items.count == 2500 && Set(items.map(\.key)).count == 2500)
        #expect(items.map(\.key) == items.map(\.key).sorted())
        // Lazy: reading the first few items fetches one page, not the listing.
        let fetched = PageCounter()
        let inner = temp.store.list(prefix: key("many"))
        let counted = ArtifactListing { token throws(StorageError) in
            fetched.increment()
            return try await inner.fetchPage(token)
        }
        var iterator = counted.makeAsyncIterator()
        for _ in 0..<5 { _ = try await iterator.next() }
        #expect(fetched.value == 1)
    }

    /// `ifAbsent` from many tasks at once, many times: exactly one winner each time, the rest `.alreadyExists`,
    /// and the stored object is the winner's.
    @Test func createOnlyRacesHaveExactlyOneWinner() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        let store = temp.store
        for trial in 0..<20 {
            let k = key("race/\(trial)")
            let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        do throws(StorageError) {
                            _ = try await store.put(bytes: pattern(4096, seed: UInt8(writer)), to: k, options: PutOptions(ifAbsent: true))
                            return (writer, true)
                        } catch {
                            #expect(error.code == .alreadyExists, "\(error)")
                            return (writer, false)
                        }
                    }
                }
                return try await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
            }
            let winners = results.filter { $0.1 }.map { $0.0 }
            #expect(winners.count == 1, "trial \(trial): \(winners.count) winners")
            if let winner = winners.first { #expect(try await store.get(k) == pattern(4096, seed: UInt8(winner))) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.root.appendingPathComponent("tmp").path).isEmpty)
    }

    /// Writers replacing one key while readers read it: every read is one writer's whole object with its own
    /// sidecar (a read verifies the hash, so a torn object or a mismatched sidecar would fail).
    @Test func concurrentWritersNeverTearAnObject() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        let store = temp.store
        let k = key("torn/object.bin")
        let versions = (0..<6).map { pattern(300_000 + $0 * 1_000, seed: UInt8($0 + 1)) }
        _ = try await store.put(bytes: versions[0], to: k)
        let reads = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<versions.count {
                group.addTask {
                    for _ in 0..<8 { _ = try await store.put(bytes: versions[writer], to: k) }
                    return 0
                }
            }
            for _ in 0..<3 {
                group.addTask {
                    var count = 0
                    for _ in 0..<25 {
                        let bytes = try await store.get(k)
                        #expect(versions.contains(bytes), "a read saw \(bytes.count) bytes matching no writer")
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(reads == 75)
        let final = try await store.metadata(k)
        #expect(versions.map { POSIX.sha256($0) }.contains(final.sha256!))
    }

    @Test func aSymlinkPlantedInsideTheRootIsNeverFollowed() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        let store = temp.store
        let outside = temp.directory.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: outside.appendingPathComponent("secret"))
        _ = try await store.put(bytes: [1], to: key("t/real"))
        // A directory link and an object link, both pointing out of the root.
        try FileManager.default.createSymbolicLink(at: temp.objects.appendingPathComponent("t/dir"), withDestinationURL: outside)
        try FileManager.default.createSymbolicLink(at: temp.objects.appendingPathComponent("t/file"),
                                                   withDestinationURL: outside.appendingPathComponent("secret"))
        try FileManager.default.createSymbolicLink(at: temp.store.root.appendingPathComponent("meta/t/dir"), withDestinationURL: outside)

        for raw in ["t/dir/secret", "t/file"] {
            do { _ = try await store.get(key(raw)); Issue.record("read through \(raw)") } catch {
                #expect(error.code == .outsideScope && error.message.contains("symbolic link"), "\(error)")
            }
            let out = temp.directory.appendingPathComponent("out")
            do { _ = try await store.download(key(raw), to: out); Issue.record("downloaded through \(raw)") } catch {
                #expect(error.code == .outsideScope)
            }
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        do { _ = try await store.put(bytes: [6], to: key("t/dir/planted")); Issue.record("wrote through t/dir") } catch {
            #expect(error.code == .outsideScope, "\(error)")
        }
        do { _ = try await store.put(bytes: [6], to: key("t/dir/secret")); Issue.record("overwrote through t/dir") } catch {
            #expect(error.code == .outsideScope)
        }
        do { try await store.delete(key("t/dir/secret")); Issue.record("deleted through t/dir") } catch {
            #expect(error.code == .outsideScope)
        }
        // The listing shows neither link nor what is behind it.
        #expect(try await collect(store.list(prefix: key("t"))).map(\.key.rawValue) == ["t/real"])
        #expect(try await collect(store.list(prefix: key("t/dir"))).isEmpty)
        // Writing or deleting the object link replaces or removes the link itself, never its target.
        _ = try await store.put(bytes: [7], to: key("t/file"))
        #expect(try await store.get(key("t/file")) == [7])
        #expect(try await store.delete(key("t/file")))
        #expect(try String(contentsOf: outside.appendingPathComponent("secret"), encoding: .utf8) == "secret")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path) == ["secret"])
    }

    @Test func downloadsAreVerifiedAgainstTheRecordedHash() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        _ = try await temp.store.put(bytes: Array("hello world".utf8), to: key("v/a.txt"))
        // Same size, different content, behind the store's back.
        try Data("hello WORLD".utf8).write(to: temp.objects.appendingPathComponent("v/a.txt"))
        let out = temp.directory.appendingPathComponent("a.txt")
        do { _ = try await temp.store.download(key("v/a.txt"), to: out); Issue.record("corrupt download accepted") } catch {
            #expect(error.code == .integrity && error.message.contains("v/a.txt"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.directory.path).sorted() == ["artifacts"])
        do { _ = try await temp.store.get(key("v/a.txt")); Issue.record("corrupt get accepted") } catch { #expect(error.code == .integrity) }
    }

    /// A writer that dies leaves its temp file in tmp/, never a partial object; the next store to open sweeps
    /// files no live writer holds (writers keep theirs flock'ed).
    @Test func tempFilesOfCrashedWritersAreSweptButLiveOnesKept() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        let tmp = temp.store.root.appendingPathComponent("tmp")
        let abandoned = tmp.appendingPathComponent(".helios-object-dead.tmp")
        let live = tmp.appendingPathComponent(".helios-object-live.tmp")
        try Data(count: 100).write(to: abandoned)
        try Data(count: 100).write(to: live)
        let holder = open(live.path, O_RDONLY)
        #expect(flock(holder, LOCK_EX) == 0)
        defer { close(holder) }
        // Young files are left alone by the sweep an opening store runs (a writer may be between create and lock).
        _ = try LocalArtifactStore(root: temp.store.root)
        #expect(FileManager.default.fileExists(atPath: abandoned.path))
        #expect(try temp.store.sweepTemporaryFiles(olderThan: 0) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == [live.lastPathComponent])
        #expect(try await collect(temp.store.list(prefix: nil)).isEmpty)
    }

    /// Cancelling the task stops a write between chunks: `.cancelled`, no object, no temp file.
    @Test func cancellationStopsAWriteAndLeavesNothing() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        let store = temp.store
        let relay = CancelRelay()
        let options = PutOptions { progress in if progress.bytes > 0 { relay.cancel() } }
        let task = Task { () async throws -> ArtifactMetadata in
            try await store.put(bytes: [UInt8](repeating: 7, count: 8 << 20), to: key("c/x"), options: options)
        }
        relay.attach(task)
        let result = await task.result
        guard case .failure(let failure) = result, let error = failure as? StorageError else { Issue.record("the write was not cancelled: \(result)"); return }
        #expect(error.code == .cancelled && error.message.contains("c/x"), "\(error)")
        #expect(try await store.exists(key("c/x")) == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.root.appendingPathComponent("tmp").path).isEmpty)
    }

    /// Deletes emptying a directory while writers fill it: every write lands (the writer walks again if a
    /// directory it created vanished), every read of a written key succeeds.
    @Test func deletesRacingWritesInOneDirectoryLoseNothing() async throws {
        let temp = try TempStore()
        defer { temp.remove() }
        let store = temp.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    for round in 0..<60 {
                        let k = key("churn/d/w\(writer)-\(round)")
                        _ = try await store.put(bytes: [UInt8(round)], to: k)
                        #expect(try await store.get(k) == [UInt8(round)])
                        try await store.delete(k)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await collect(store.list(prefix: key("churn"))).isEmpty)
    }
}

/// Cancels a task once it is known, or at once if asked before.
final class CancelRelay: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<ArtifactMetadata, any Error>?
    private var requested = false
    func attach(_ task: Task<ArtifactMetadata, any Error>) {
        let cancelNow = lock.withLock { self.task = task; return requested }
        if cancelNow { task.cancel() }
    }
    func cancel() {
        let task = lock.withLock { requested = true; return self.task }
        task?.cancel()
    }
}

final class PageCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
