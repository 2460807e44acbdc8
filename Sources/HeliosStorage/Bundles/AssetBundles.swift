import Foundation
import Logging
import Synchronization

/// Asset bundles on any ``ArtifactStore``: a local directory tree stored as content-addressed file objects
/// (`<prefix>/blobs/sha256/<hash>`) plus a manifest (`<prefix>/jobs/<jobId>/manifest.json`).
public struct AssetBundles: Sendable {
    public let store: any ArtifactStore
    /// Where the bundles live in the store.
    public let prefix: ArtifactKey
    /// The worker's cache of file contents by hash.
    public let cache: BundleCache
    /// Files moved at once.
    public let concurrency: Int
    /// Called as files are uploaded, downloaded or found present.
    public let progress: (@Sendable (BundleProgress) -> Void)?
    let logger = Logger(label: "helios.storage.bundles")

    public init(store: any ArtifactStore, prefix: ArtifactKey? = nil, cache: BundleCache = .standard(), concurrency: Int = 4,
                progress: (@Sendable (BundleProgress) -> Void)? = nil) {
        self.store = store
        self.prefix = prefix ?? ArtifactKey(normal: "bundles")
        self.cache = cache
        self.concurrency = max(1, concurrency)
        self.progress = progress
    }

    /// The content-addressed key of a file.
    /// Throws only for a prefix so long that the key would pass S3's 1,024 bytes.
    public func blobPrefix() throws(StorageError) -> ArtifactKey { try prefix.appending("blobs/sha256") }

    /// The manifest's key for `jobId` (one key segment).
    public func manifestKey(jobId: String) throws(StorageError) -> ArtifactKey {
        guard !jobId.contains("/"), ArtifactKey.problem(in: jobId) == nil else {
            throw StorageError(.invalidKey, "invalid job id \"\(ArtifactKey.printable(jobId))\": it must be one key segment")
        }
        return try prefix.appending("jobs/\(jobId)/manifest.json")
    }

    /// Uploads `localDirectory` and returns the manifest's URI (with counts). Files already in the store (by
    /// hash) are not uploaded again: an unchanged tree costs one HEAD per distinct file and the manifest.
    public func uploadAssetBundle(jobId: String, localDirectory: URL) async throws(StorageError) -> BundleUploadReport {
        let manifestKey = try manifestKey(jobId: jobId)
        let found = try await Blocking.run { _ throws(StorageError) in try BundleScanner.scan(localDirectory) }
        let total = found.files.reduce(Int64(0)) { $0 + $1.size }
        // Hash every file, then send each distinct content once.
        let hashed = try await boundedMap(found.files, limit: concurrency) { file throws(StorageError) in
            let digest = try await Blocking.run { cancellation throws(StorageError) in try BundleScanner.hash(file.url, cancellation: cancellation) }
            return AssetBundleManifest.File(path: file.path, size: digest.size, sha256: digest.sha256, mode: file.mode)
        }
        var firstByHash: [String: Int] = [:]
        for (index, file) in hashed.enumerated() where firstByHash[file.sha256] == nil { firstByHash[file.sha256] = index }
        let unique = firstByHash.values.sorted().map { (hashed[$0], found.files[$0].url) }
        let blobs = try blobPrefix()
        let store = self.store
        let counter = TransferCounter(total: unique.reduce(0) { $0 + $1.0.size }, report: progress, phase: .upload)
        let sent = try await boundedMap(unique, limit: concurrency) { item throws(StorageError) -> Bool in
            let (file, url) = item
            let key = try blobs.appending(file.sha256)
            if try await store.exists(key) {
                counter.add(file.size)
                return false
            }
            do throws(StorageError) {
                let stored = try await store.put(file: url, to: key, options: PutOptions(contentType: ContentType.octetStream, ifAbsent: true))
                if stored.sha256 != file.sha256 {
                    _ = try? await store.delete(key)
                    throw StorageError(.integrity, "\(url.path) changed while it was uploaded (SHA-256 \(file.sha256) when hashed, \(stored.sha256 ?? "?") when sent)", key: key.rawValue)
                }
            } catch where error.code == .alreadyExists {
                counter.add(file.size)
                return false  // another uploader stored the same content first
            }
            counter.add(file.size)
            return true
        }
        let manifest = AssetBundleManifest(jobId: jobId, blobs: blobs.rawValue, files: hashed, directories: found.directories)
        let stored = try await store.put(bytes: manifest.encoded(), to: manifestKey, options: PutOptions(contentType: "application/json"))
        var report = BundleUploadReport(manifestURI: stored.uri, manifestKey: manifestKey, files: hashed.count, bytes: total)
        for (index, uploaded) in sent.enumerated() {
            let size = unique[index].0.size
            if uploaded { report.uploadedFiles += 1; report.uploadedBytes += size } else { report.skippedFiles += 1; report.skippedBytes += size }
        }
        report.heads = unique.count
        logger.info("bundle \(jobId): \(report.files) files, uploaded \(report.uploadedFiles) (\(report.uploadedBytes) bytes), skipped \(report.skippedFiles) (\(report.skippedBytes) bytes)")
        return report
    }
}

extension AssetBundleManifest {
    /// Canonical JSON: sorted keys, so an unchanged tree gives byte-identical manifests.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// Decodes and validates a manifest read from `name`.
    public static func decode(_ bytes: [UInt8], name: String) throws(StorageError) -> AssetBundleManifest {
        let manifest: AssetBundleManifest
        do { manifest = try JSONDecoder().decode(AssetBundleManifest.self, from: Data(bytes)) } catch {
            throw StorageError(.integrity, "bundle manifest \(name) is not a valid manifest: \(error)", key: name, underlying: error)
        }
        try manifest.validate(named: name)
        return manifest
    }
}

/// What an upload did.
public struct BundleUploadReport: Sendable, Hashable, Codable {
    public var manifestURI: String
    public var manifestKey: ArtifactKey
    /// Files in the tree and their total size.
    public var files: Int
    public var bytes: Int64
    /// Distinct contents sent, and found present (skipped).
    public var uploadedFiles = 0, skippedFiles = 0
    public var uploadedBytes: Int64 = 0, skippedBytes: Int64 = 0
    /// Existence checks made (one per distinct content).
    public var heads = 0
}

/// Progress of a bundle transfer, in bytes of file content (present or cached files count as done).
public struct BundleProgress: Sendable, Hashable {
    public enum Phase: String, Sendable { case upload, download }
    public var phase: Phase
    public var bytes: Int64
    public var total: Int64
}

/// Adds up bytes done across tasks and reports them.
final class TransferCounter: Sendable {
    private let done = Mutex<Int64>(0)
    let total: Int64
    let report: (@Sendable (BundleProgress) -> Void)?
    let phase: BundleProgress.Phase

    init(total: Int64, report: (@Sendable (BundleProgress) -> Void)?, phase: BundleProgress.Phase) {
        self.total = total
        self.report = report
        self.phase = phase
        report?(BundleProgress(phase: phase, bytes: 0, total: total))
    }

    func add(_ bytes: Int64) {
        let now = done.withLock { value in
            value += bytes
            return value
        }
        report?(BundleProgress(phase: phase, bytes: now, total: total))
    }
}
