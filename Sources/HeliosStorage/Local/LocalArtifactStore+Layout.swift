import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LocalArtifactStore {
    /// Open descriptors of the store's four directories, for one operation.
    struct Layout {
        let root: Int32, objects: Int32, meta: Int32, tmp: Int32, locks: Int32

        static func open(_ url: URL) throws(StorageError) -> Layout {
            let root = try ConfinedDirectory.openRoot(url, create: true)
            var opened: [Int32] = []
            for name in ["objects", "meta", "tmp", "locks"] {
                do {
                    opened.append(try ConfinedDirectory.openDirectory([Substring(name)], in: root, create: true, shownAs: url.path, key: nil))
                } catch {
                    opened.forEach(POSIX.closeFD)
                    POSIX.closeFD(root)
                    throw error
                }
            }
            return Layout(root: root, objects: opened[0], meta: opened[1], tmp: opened[2], locks: opened[3])
        }

        func close() {
            for fd in [root, objects, meta, tmp, locks] { POSIX.closeFD(fd) }
        }

        /// Takes the key's stripe lock (one of 256 by the key's hash); close the descriptor to release it.
        func lock(_ key: ArtifactKey, exclusive: Bool) throws(StorageError) -> Int32 {
            let stripe = String(POSIX.sha256(Array(key.rawValue.utf8)).prefix(2))
            let fd = openat(locks, stripe, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw POSIX.failure("cannot open lock stripe \(stripe)", key: key.rawValue) }
            while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
                if errno == EINTR { continue }
                let error = POSIX.failure("cannot lock stripe \(stripe)", key: key.rawValue)
                POSIX.closeFD(fd)
                throw error
            }
            return fd
        }
    }

    /// The JSON recorded beside each object.
    struct Sidecar: Codable {
        var size: Int64
        var sha256: String
        var contentType: String
        var metadata: [String: String]

        func encoded() -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Array((try? encoder.encode(self)) ?? Data())
        }

        static func decode(_ bytes: [UInt8]?) -> Sidecar? {
            bytes.flatMap { try? JSONDecoder().decode(Sidecar.self, from: Data($0)) }
        }

        func metadata(for key: ArtifactKey, store: LocalArtifactStore, size: Int64, modified: Date) -> ArtifactMetadata {
            ArtifactMetadata(key: key, uri: store.uri(for: key), backend: store.backend, size: size, sha256: sha256,
                             contentType: contentType, etag: sha256, lastModified: modified, metadata: metadata)
        }
    }

    /// What a read sees: the open object, its size and time, and its sidecar (when one matches the object's size).
    struct OpenObject {
        let fd: Int32
        let metadata: ArtifactMetadata
    }

    /// Opens `key` for reading, with its sidecar, under the stripe lock (so both belong to one write).
    func openObject(_ key: ArtifactKey, layout: Layout) throws(StorageError) -> OpenObject {
        let lock = try layout.lock(key, exclusive: false)
        defer { POSIX.closeFD(lock) }
        let directories = key.segments.dropLast()
        let name = String(key.filename)
        let fd: Int32
        let sidecarBytes: [UInt8]?
        do {
            let parent = try ConfinedDirectory.openDirectory(directories, in: layout.objects, create: false, shownAs: "", key: key.rawValue)
            defer { POSIX.closeFD(parent) }
            fd = try ConfinedDirectory.openFile(name, in: parent, shownAs: key.rawValue, key: key.rawValue)
        } catch let error where error.code == .notFound || error.code == .invalidRequest {
            throw StorageError(.notFound, "no object \(key) in \(objectsDirectory.path)", key: key.rawValue, underlying: error)
        } catch {
            throw StorageError(error.code, "cannot read \(key): \(error.message)", key: key.rawValue, underlying: error)
        }
        if let metaParent = try? ConfinedDirectory.openDirectory(directories, in: layout.meta, create: false, shownAs: "", key: key.rawValue) {
            sidecarBytes = POSIX.readSmallFile(name, in: metaParent)
            POSIX.closeFD(metaParent)
        } else {
            sidecarBytes = nil
        }
        var info = stat()
        _ = fstat(fd, &info)
        let size = Int64(info.st_size)
        let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
        let metadata: ArtifactMetadata
        if let sidecar = Sidecar.decode(sidecarBytes), sidecar.size == size {
            metadata = sidecar.metadata(for: key, store: self, size: size, modified: modified)
        } else {
            // Placed by hand, without a sidecar: nothing to verify against.
            metadata = ArtifactMetadata(key: key, uri: uri(for: key), backend: backend, size: size, sha256: nil,
                                        contentType: key.contentType, lastModified: modified)
        }
        return OpenObject(fd: fd, metadata: metadata)
    }
}
