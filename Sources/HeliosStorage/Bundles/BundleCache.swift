import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A worker's cache of bundle files by content hash (and of manifests by their hash), trimmed to a size budget,
/// least recently used first. Entries are verified before they enter and written by rename, so a cache entry is
/// always whole; any number of processes can share one cache directory.
public struct BundleCache: Sendable {
    public let directory: URL
    /// Bytes the cache may keep after a download.
    public let budget: Int64

    /// The default budget: 2 GiB.
    public static let defaultBudget: Int64 = 2 << 30

    public init(directory: URL, budget: Int64 = BundleCache.defaultBudget) {
        self.directory = directory
        self.budget = budget
    }

    /// `$HELIOS_HOME/cache/bundles`, budget from `HELIOS_BUNDLE_CACHE_MAX_BYTES` (default 2 GiB).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> BundleCache {
        let budget = environment["HELIOS_BUNDLE_CACHE_MAX_BYTES"].flatMap { Int64($0) } ?? defaultBudget
        return BundleCache(directory: LocalArtifactStore.heliosHome(environment: environment).appendingPathComponent("cache/bundles"),
                           budget: max(0, budget))
    }

    var blobs: URL { directory.appendingPathComponent("blobs", isDirectory: true) }
    var manifests: URL { directory.appendingPathComponent("manifests", isDirectory: true) }

    func prepare() throws(StorageError) {
        for dir in [blobs, manifests] {
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw StorageError(.io, "cannot create the bundle cache \(dir.path): \(error.localizedDescription)", underlying: error)
            }
        }
    }

    func blob(_ sha256: String) -> URL { blobs.appendingPathComponent(sha256) }

    /// Whether the cache holds `sha256` with the right size; marks it used.
    func hasBlob(_ sha256: String, size: Int64) -> Bool {
        var info = stat()
        guard lstat(blob(sha256).path, &info) == 0, info.st_mode & POSIX.formatMask == POSIX.regular, Int64(info.st_size) == size else {
            return false
        }
        _ = utimes(blob(sha256).path, nil)
        return true
    }

    func manifest(_ sha256: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: manifests.appendingPathComponent(sha256).path),
              POSIX.sha256(data) == sha256 else { return nil }
        return Array(data)
    }

    func storeManifest(_ bytes: [UInt8], sha256: String) {
        try? LocalFile.writeAtomically(to: manifests.appendingPathComponent(sha256), key: nil) { fd throws(StorageError) in
            guard bytes.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) else { throw POSIX.failure("cannot write the manifest cache") }
        }
    }

    /// Removes least-recently-used files until the cache holds at most `budget` bytes. Returns bytes removed.
    @discardableResult
    func trim() -> Int64 {
        var entries: [(url: URL, size: Int64, used: Int)] = []
        for dir in [blobs, manifests] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where !name.hasPrefix(".") {
                var info = stat()
                let url = dir.appendingPathComponent(name)
                guard lstat(url.path, &info) == 0 else { continue }
                entries.append((url, Int64(info.st_size), info.st_mtim.tv_sec))
            }
        }
        var total = entries.reduce(0) { $0 + $1.size }
        var removed: Int64 = 0
        for entry in entries.sorted(by: { $0.used < $1.used }) where total > budget {
            if unlink(entry.url.path) == 0 {
                total -= entry.size
                removed += entry.size
            }
        }
        return removed
    }
}
