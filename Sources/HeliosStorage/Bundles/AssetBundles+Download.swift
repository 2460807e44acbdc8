import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension AssetBundles {
    /// Downloads the bundle whose manifest is `manifest` into `target`, which must not exist (or be an empty
    /// directory). Every file is verified against its hash; entries that would escape the target are refused
    /// before anything is written; the tree is built in a temp directory beside `target` and renamed into place.
    /// Files already in the cache are not downloaded; the manifest is re-read only when its hash changed.
    public func downloadAssetBundle(jobId: String?, manifest manifestKey: ArtifactKey, to target: URL) async throws(StorageError) -> BundleDownloadReport {
        try cache.prepare()
        let (manifest, manifestFetched) = try await loadManifest(manifestKey)
        if let jobId, manifest.jobId != jobId {
            throw StorageError(.integrity, "bundle manifest \(manifestKey) belongs to job \(manifest.jobId), not \(jobId)", key: manifestKey.rawValue)
        }
        let target = target.standardizedFileURL
        let parent = target.deletingLastPathComponent()
        try await Blocking.run { _ throws(StorageError) in try Self.checkTarget(target) }
        // Fetch each distinct content into the cache.
        var bySize: [String: Int64] = [:]
        for file in manifest.files { bySize[file.sha256] = file.size }
        let unique = bySize.sorted { $0.key < $1.key }
        let counter = TransferCounter(total: unique.reduce(0) { $0 + $1.value }, report: progress, phase: .download)
        let blobs = try ArtifactKey(manifest.blobs)
        let store = self.store, cache = self.cache
        let fetched = try await boundedMap(unique, limit: concurrency) { entry throws(StorageError) -> Bool in
            let (hash, size) = entry
            if cache.hasBlob(hash, size: size) {
                counter.add(size)
                return false
            }
            let key = try blobs.appending(hash)
            let partial = cache.blobs.appendingPathComponent("." + hash + POSIX.temporaryName("fetch"))
            defer { unlink(partial.path) }
            _ = try await store.download(key, to: partial, progress: nil)
            // Verified by the store against its record; verified here against the manifest, which names the content.
            let digest = try await Blocking.run { cancellation throws(StorageError) in try BundleScanner.hash(partial, cancellation: cancellation) }
            guard digest.sha256 == hash, digest.size == size else {
                throw StorageError(.integrity, "bundle file object \(key) has SHA-256 \(digest.sha256) (\(digest.size) bytes); the manifest expects \(hash) (\(size) bytes)", key: key.rawValue)
            }
            guard rename(partial.path, cache.blob(hash).path) == 0 else { throw POSIX.failure("cannot move \(key) into the bundle cache") }
            counter.add(size)
            return true
        }
        // Build the tree in a temp directory beside the target, then rename it into place.
        try await Blocking.run { cancellation throws(StorageError) in
            try Self.materialize(manifest, from: cache, into: target, parent: parent, cancellation: cancellation)
        }
        cache.trim()
        var report = BundleDownloadReport(target: target.path, files: manifest.files.count, bytes: manifest.totalBytes, manifestFetched: manifestFetched)
        for (index, downloaded) in fetched.enumerated() {
            if downloaded { report.downloadedFiles += 1; report.downloadedBytes += unique[index].value } else { report.cachedFiles += 1 }
        }
        logger.info("bundle \(manifest.jobId) into \(target.path): \(report.downloadedFiles) downloaded, \(report.cachedFiles) from cache")
        return report
    }

    /// The manifest: from the cache when the store's recorded hash matches a cached copy (a HEAD), else fetched.
    func loadManifest(_ key: ArtifactKey) async throws(StorageError) -> (AssetBundleManifest, Bool) {
        let head = try await store.metadata(key)
        if let sha = head.sha256, let bytes = cache.manifest(sha) {
            return (try AssetBundleManifest.decode(bytes, name: key.rawValue), false)
        }
        let bytes = try await store.get(key)
        let manifest = try AssetBundleManifest.decode(bytes, name: key.rawValue)
        cache.storeManifest(bytes, sha256: POSIX.sha256(bytes))
        return (manifest, true)
    }

    /// The target must not exist, or be an empty directory; it must not be a symlink.
    static func checkTarget(_ target: URL) throws(StorageError) {
        var info = stat()
        guard lstat(target.path, &info) == 0 else {
            if errno == ENOENT { return }
            throw POSIX.failure("cannot examine the bundle target \(target.path)")
        }
        switch info.st_mode & POSIX.formatMask {
        case POSIX.symlink:
            throw StorageError(.invalidRequest, "bundle target \(target.path) is a symbolic link; it is never followed")
        case POSIX.directory:
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: target.path)) ?? []
            if !contents.isEmpty { throw StorageError(.alreadyExists, "bundle target \(target.path) exists and is not empty") }
        default:
            throw StorageError(.alreadyExists, "bundle target \(target.path) exists and is not a directory")
        }
    }

    static func materialize(_ manifest: AssetBundleManifest, from cache: BundleCache, into target: URL, parent: URL,
                            cancellation: Blocking.Cancellation) throws(StorageError) {
        do { try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw StorageError(.io, "cannot create \(parent.path): \(error.localizedDescription)", underlying: error)
        }
        let tempName = "." + target.lastPathComponent + POSIX.temporaryName("bundle")
        let temp = parent.appendingPathComponent(tempName)
        guard mkdir(temp.path, 0o700) == 0 else { throw POSIX.failure("cannot create a temp directory in \(parent.path)") }
        var done = false
        defer { if !done { try? FileManager.default.removeItem(at: temp) } }
        let root = try ConfinedDirectory.openRoot(temp, create: false)
        defer { POSIX.closeFD(root) }
        for directory in manifest.directories {
            POSIX.closeFD(try ConfinedDirectory.openDirectory(directory.split(separator: "/"), in: root, create: true, shownAs: "", key: nil))
        }
        for file in manifest.files {
            try cancellation.check("writing bundle \(manifest.jobId)")
            let components = file.path.split(separator: "/")
            let dir = try ConfinedDirectory.openDirectory(components.dropLast(), in: root, create: true, shownAs: "", key: nil)
            defer { POSIX.closeFD(dir) }
            let source = open(cache.blob(file.sha256).path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard source >= 0 else { throw POSIX.failure("bundle cache entry \(file.sha256) for \(file.path) vanished") }
            defer { POSIX.closeFD(source) }
            let out = openat(dir, String(components.last!), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard out >= 0 else { throw POSIX.failure("cannot create \(file.path) in \(temp.path)") }
            defer { POSIX.closeFD(out) }
            var copied: Int64 = 0
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let got = POSIX.readSome(source, buffer.baseAddress!, buffer.count)
                if got < 0 { throw POSIX.failure("cannot read the cached \(file.path)") }
                if got == 0 { break }
                guard POSIX.writeAll(out, UnsafeRawBufferPointer(rebasing: buffer[0..<got])) else { throw POSIX.failure("cannot write \(file.path)") }
                copied += Int64(got)
            }
            guard copied == file.size else {
                throw StorageError(.integrity, "cached content of \(file.path) has \(copied) bytes; the manifest says \(file.size)")
            }
            guard fchmod(out, mode_t(file.mode & 0o777)) == 0, fsync(out) == 0 else { throw POSIX.failure("cannot finish \(file.path)") }
        }
        // An empty directory at the target is replaced by rename(2); anything else was refused by checkTarget.
        guard rename(temp.path, target.path) == 0 else { throw POSIX.failure("cannot move the bundle into place at \(target.path)") }
        done = true
        let parentFD = open(parent.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if parentFD >= 0 { _ = fsync(parentFD); POSIX.closeFD(parentFD) }
    }

    /// Deletes the bundle's manifest, then its file objects that no other manifest under the prefix uses.
    @discardableResult
    public func deleteAssetBundle(jobId: String) async throws(StorageError) -> BundleDeleteReport {
        let key = try manifestKey(jobId: jobId)
        let bytes = try await store.get(key)
        let manifest = try AssetBundleManifest.decode(bytes, name: key.rawValue)
        try await store.delete(key)
        var stillUsed = Set<String>()
        for try await item in store.list(prefix: try prefix.appending("jobs")) where item.key.filename == "manifest.json" {
            guard let other = try? AssetBundleManifest.decode(try await store.get(item.key), name: item.key.rawValue),
                  other.blobs == manifest.blobs else { continue }
            stillUsed.formUnion(other.files.map(\.sha256))
        }
        var report = BundleDeleteReport(manifestKey: key)
        let blobs = try ArtifactKey(manifest.blobs)
        for hash in Set(manifest.files.map(\.sha256)).sorted() {
            if stillUsed.contains(hash) { report.keptShared += 1; continue }
            if try await store.delete(try blobs.appending(hash)) { report.deletedObjects += 1 }
        }
        return report
    }
}

/// What a download did.
public struct BundleDownloadReport: Sendable, Hashable, Codable {
    public var target: String
    public var files: Int
    public var bytes: Int64
    /// Whether the manifest's bytes were fetched (false: the cached copy matched the store's hash).
    public var manifestFetched: Bool
    /// Distinct contents fetched from the store, and found in the cache.
    public var downloadedFiles = 0, cachedFiles = 0
    public var downloadedBytes: Int64 = 0
}

/// What a delete did.
public struct BundleDeleteReport: Sendable, Hashable, Codable {
    public var manifestKey: ArtifactKey
    /// File objects deleted, and kept because another bundle uses them.
    public var deletedObjects = 0, keptShared = 0
}
