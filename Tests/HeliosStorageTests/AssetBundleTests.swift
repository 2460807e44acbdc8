import Foundation
@testable import HeliosStorage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A small asset tree: nested directories, an empty file, an executable, a duplicate content, an empty directory.
func makeAssetTree(at root: URL) throws {
    let fm = FileManager.default
    try fm.createDirectory(at: root.appendingPathComponent("textures/stone"), withIntermediateDirectories: true)
    try fm.createDirectory(at: root.appendingPathComponent("empty-dir"), withIntermediateDirectories: true)
    try Data(pattern(200_000, seed: 1)).write(to: root.appendingPathComponent("textures/stone/albedo.png"))
    try Data(pattern(200_000, seed: 1)).write(to: root.appendingPathComponent("textures/copy.png"))  // same content
    try Data(pattern(3_000, seed: 2)).write(to: root.appendingPathComponent("scene.json"))
    try Data().write(to: root.appendingPathComponent("empty.txt"))
    try Data("#!/bin/sh\necho hi\n".utf8).write(to: root.appendingPathComponent("run.sh"))
    chmod(root.appendingPathComponent("run.sh").path, 0o755)
}

/// Every file under `root` with its bytes and permission bits, and every directory.
func snapshot(_ root: URL) throws -> [String: String] {
    var result: [String: String] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root.path)!
    while let path = enumerator.nextObject() as? String {
        let url = root.appendingPathComponent(path)
        var info = stat()
        lstat(url.path, &info)
        if info.st_mode & 0o170000 == 0o040000 { result[path] = "dir" } else {
            result[path] = "\(String(info.st_mode & 0o777, radix: 8)) \(POSIX.sha256(try Data(contentsOf: url)))"
        }
    }
    return result
}

@Suite(.timeLimit(.minutes(6))) struct AssetBundleTests {
    struct Fixture {
        let dir: URL
        var tree: URL { dir.appendingPathComponent("assets") }
        var cache: BundleCache { BundleCache(directory: dir.appendingPathComponent("cache")) }
        init() throws {
            dir = try makeTemporaryDirectory()
            try makeAssetTree(at: tree)
        }
        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    @Test func roundTripsATreeAndSkipsUnchangedContentOnReupload() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let bundles = AssetBundles(store: store, prefix: key("tenant/bundles"), cache: f.cache)
        let first = try await bundles.uploadAssetBundle(jobId: "job1", localDirectory: f.tree)
        #expect(first.files == 5 && first.uploadedFiles == 4 && first.skippedFiles == 0)  // 5 files, 4 distinct contents
        #expect(first.manifestURI == "memory://store/tenant/bundles/jobs/job1/manifest.json")
        let manifest = try AssetBundleManifest.decode(try await store.get(first.manifestKey), name: "m")
        #expect(manifest.files.map(\.path) == ["empty.txt", "run.sh", "scene.json", "textures/copy.png", "textures/stone/albedo.png"])
        #expect(manifest.files.first { $0.path == "run.sh" }?.mode == 0o755)
        #expect(manifest.files.first { $0.path == "empty.txt" }?.size == 0)
        #expect(manifest.directories == ["empty-dir", "textures", "textures/stone"])

        // Unchanged tree: no file contents move, only one HEAD per distinct content and the manifest.
        let before = store.counters
        let second = try await bundles.uploadAssetBundle(jobId: "job1", localDirectory: f.tree)
        let after = store.counters
        #expect(second.uploadedFiles == 0 && second.uploadedBytes == 0)
        #expect(second.skippedFiles == 4 && second.skippedBytes == 200_000 + 3_000 + 0 + 18)
        #expect(after.puts - before.puts == 1, "only the manifest is written")
        #expect(after.bytesPut - before.bytesPut == Int64(manifest.encoded().count))
        #expect(after.heads - before.heads == 4)

        // Pull: identical tree, modes kept, empty file and empty directory included.
        let out = f.dir.appendingPathComponent("out")
        let pulled = try await bundles.downloadAssetBundle(jobId: "job1", manifest: first.manifestKey, to: out)
        #expect(pulled.downloadedFiles == 4 && pulled.cachedFiles == 0 && pulled.manifestFetched)
        #expect(try snapshot(out) == snapshot(f.tree))
    }

    @Test func aSecondChunkOnTheSameWorkerDownloadsNothing() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let bundles = AssetBundles(store: store, cache: f.cache)
        let pushed = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        _ = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: f.dir.appendingPathComponent("chunk0"))
        let before = store.counters
        let again = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: f.dir.appendingPathComponent("chunk1"))
        let after = store.counters
        #expect(after.gets == before.gets && after.downloads == before.downloads && after.bytesGot == before.bytesGot)
        #expect(again.downloadedFiles == 0 && again.cachedFiles == 4 && !again.manifestFetched)
        #expect(try snapshot(f.dir.appendingPathComponent("chunk1")) == snapshot(f.tree))
        // A changed manifest (new upload) is noticed through its hash and fetched again.
        try Data("v2".utf8).write(to: f.tree.appendingPathComponent("scene.json"))
        _ = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        let third = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: f.dir.appendingPathComponent("chunk2"))
        #expect(third.manifestFetched && third.downloadedFiles == 1 && third.cachedFiles == 3)
        #expect(try snapshot(f.dir.appendingPathComponent("chunk2")) == snapshot(f.tree))
    }

    @Test func theCacheKeepsToItsBudget() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let small = BundleCache(directory: f.dir.appendingPathComponent("small"), budget: 100_000)
        let bundles = AssetBundles(store: store, cache: small)
        let pushed = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        _ = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: f.dir.appendingPathComponent("a"))
        let kept = try FileManager.default.subpathsOfDirectory(atPath: small.directory.path)
            .map { small.directory.appendingPathComponent($0) }
            .compactMap { try? $0.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey]) }
            .filter { $0.isRegularFile == true }.reduce(0) { $0 + ($1.fileSize ?? 0) }
        #expect(kept <= 100_000)
        #expect(try snapshot(f.dir.appendingPathComponent("a")) == snapshot(f.tree))
    }

    @Test func verifiesEveryFileAndLeavesNothingOnFailure() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let bundles = AssetBundles(store: store, cache: f.cache)
        let pushed = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        let sha = POSIX.sha256(Data(pattern(3_000, seed: 2)))
        // Replace the scene's object with other content (and a matching store record): the manifest catches it.
        _ = try await store.put(bytes: pattern(3_000, seed: 9), to: try bundles.blobPrefix().appending(sha))
        let out = f.dir.appendingPathComponent("out")
        do { _ = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: out); Issue.record("accepted") } catch {
            #expect(error.code == .integrity && error.message.contains(sha), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).sorted() == ["assets", "cache"])
    }

    @Test(arguments: ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b", "a/\u{1}"])
    func refusesManifestEntriesThatEscapeTheTarget(_ path: String) async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let manifest = AssetBundleManifest(jobId: "job", blobs: "bundles/blobs/sha256",
                                           files: [.init(path: path, size: 1, sha256: String(repeating: "a", count: 64), mode: 0o644)], directories: [])
        _ = try await store.put(bytes: manifest.encoded(), to: key("bundles/jobs/job/manifest.json"))
        let out = f.dir.appendingPathComponent("out")
        do {
            _ = try await AssetBundles(store: store, cache: f.cache).downloadAssetBundle(jobId: "job", manifest: key("bundles/jobs/job/manifest.json"), to: out)
            Issue.record("accepted \(path)")
        } catch { #expect(error.code == .integrity && error.message.contains("escape"), "\(error)") }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(store.counters.downloads == 0, "nothing fetched for a refused manifest")
    }

    @Test func refusesInconsistentManifestsPurely() throws {
        let hash = String(repeating: "b", count: 64)
        let cases: [AssetBundleManifest] = [
            .init(jobId: "j", blobs: "b", files: [.init(path: "a", size: 1, sha256: hash, mode: 0o644), .init(path: "a/b", size: 1, sha256: hash, mode: 0o644)], directories: []),
            .init(jobId: "j", blobs: "b", files: [.init(path: "a", size: 1, sha256: hash, mode: 0o644)], directories: ["a"]),
            .init(jobId: "j", blobs: "b", files: [.init(path: "a", size: 1, sha256: "XYZ", mode: 0o644)], directories: []),
            .init(jobId: "j", blobs: "b", files: [.init(path: "a", size: -1, sha256: hash, mode: 0o644)], directories: []),
            .init(jobId: "j", blobs: "../b", files: [.init(path: "a", size: 1, sha256: hash, mode: 0o644)], directories: []),
        ]
        for manifest in cases { #expect(throws: StorageError.self) { try manifest.validate(named: "m") } }
        try AssetBundleManifest(jobId: "j", blobs: "b", files: [.init(path: "a/b", size: 0, sha256: hash, mode: 0o755)], directories: ["a"]).validate(named: "m")
    }

    @Test func refusesASymlinkTargetAndANonEmptyOne() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let bundles = AssetBundles(store: store, cache: f.cache)
        let pushed = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        let elsewhere = f.dir.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let link = f.dir.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: elsewhere)
        do { _ = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: link); Issue.record("followed") } catch {
            #expect(error.message.contains("symbolic link"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path).isEmpty)
        do { _ = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: f.tree); Issue.record("overwrote") } catch {
            #expect(error.code == .alreadyExists)
        }
        do { _ = try await bundles.downloadAssetBundle(jobId: "other", manifest: pushed.manifestKey, to: f.dir.appendingPathComponent("x")); Issue.record("wrong job") } catch {
            #expect(error.message.contains("belongs to job job"))
        }
    }

    @Test func givesClearErrorsForBadSourceTrees() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let bundles = AssetBundles(store: InMemoryArtifactStore(), cache: f.cache)
        let missing = f.dir.appendingPathComponent("missing")
        do { _ = try await bundles.uploadAssetBundle(jobId: "j", localDirectory: missing); Issue.record("missing accepted") } catch {
            #expect(error.code == .notFound && error.message.contains(missing.path), "\(error)")
        }
        let empty = f.dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("sub"), withIntermediateDirectories: true)
        do { _ = try await bundles.uploadAssetBundle(jobId: "j", localDirectory: empty); Issue.record("empty accepted") } catch {
            #expect(error.code == .invalidRequest && error.message.contains("has no files"), "\(error)")
        }
        try FileManager.default.createSymbolicLink(at: f.tree.appendingPathComponent("link"), withDestinationURL: URL(fileURLWithPath: "/etc"))
        do { _ = try await bundles.uploadAssetBundle(jobId: "j", localDirectory: f.tree); Issue.record("symlink accepted") } catch {
            #expect(error.message.contains("link") && error.message.contains("symbolic link"), "\(error)")
        }
        do { _ = try await bundles.uploadAssetBundle(jobId: "a/b", localDirectory: f.tree); Issue.record("bad job id") } catch {
            #expect(error.code == .invalidKey)
        }
    }

    @Test func deletingABundleKeepsFilesOtherBundlesUse() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let store = InMemoryArtifactStore()
        let bundles = AssetBundles(store: store, cache: f.cache)
        _ = try await bundles.uploadAssetBundle(jobId: "one", localDirectory: f.tree)
        let other = f.dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data(pattern(3_000, seed: 2)).write(to: other.appendingPathComponent("scene.json"))  // shared with "one"
        _ = try await bundles.uploadAssetBundle(jobId: "two", localDirectory: other)
        let report = try await bundles.deleteAssetBundle(jobId: "one")
        #expect(report.deletedObjects == 3 && report.keptShared == 1)
        let left = try await collect(store.list(prefix: nil)).map(\.key.rawValue)
        #expect(left == ["bundles/blobs/sha256/\(POSIX.sha256(Data(pattern(3_000, seed: 2))))", "bundles/jobs/two/manifest.json"])
    }

    /// The same bundle operations on the local store, as workers use it by default.
    @Test func worksOnTheLocalStore() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let temp = try TempStore()
        defer { temp.remove() }
        let bundles = AssetBundles(store: temp.store, cache: f.cache, concurrency: 3)
        let pushed = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        #expect(pushed.manifestURI.hasPrefix("file://"))
        let again = try await bundles.uploadAssetBundle(jobId: "job", localDirectory: f.tree)
        #expect(again.uploadedBytes == 0 && again.skippedFiles == 4)
        // A pull killed earlier left its temp directory beside the target: an old one is removed, a young one kept.
        let stale = f.dir.appendingPathComponent(".out.helios-bundle-dead.tmp")
        let young = f.dir.appendingPathComponent(".out.helios-bundle-live.tmp")
        for dir in [stale, young] { try FileManager.default.createDirectory(at: dir.appendingPathComponent("partial"), withIntermediateDirectories: true) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: stale.path)
        let out = f.dir.appendingPathComponent("out")
        _ = try await bundles.downloadAssetBundle(jobId: "job", manifest: pushed.manifestKey, to: out)
        #expect(try snapshot(out) == snapshot(f.tree))
        #expect(!FileManager.default.fileExists(atPath: stale.path) && FileManager.default.fileExists(atPath: young.path))
    }
}

/// `FileHash` reads a file in blocks sized to it (up to 1 MiB): every size around those bounds hashes as `sha256sum` does.
@Suite struct FileHashTests {
    @Test("sizes around the block bounds: the same SHA-256 and size as sha256sum")
    func sizes() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("helios-hash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for size in [0, 1, 4095, 4096, 4097, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20] {
            let file = dir.appendingPathComponent("f\(size)")
            try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }).write(to: file)
            let (sha, bytes) = try await FileHash.sha256(of: file)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            process.arguments = [file.path]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(bytes == Int64(size))
            #expect(printed.hasPrefix(sha + " "), "\(size) bytes: \(sha), sha256sum \(printed)")
        }
    }
}
