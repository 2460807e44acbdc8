import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LocalArtifactStore {
    public func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8] {
        try await Blocking.run { cancellation throws(StorageError) in
            let layout = try Layout.open(root)
            defer { layout.close() }
            let object = try openObject(key, layout: layout)
            defer { POSIX.closeFD(object.fd) }
            var bytes = [UInt8](repeating: 0, count: Int(object.metadata.size))
            var filled = 0
            while filled < bytes.count {
                try cancellation.check("reading \(key)", key: key.rawValue)
                let got = bytes.withUnsafeMutableBytes { POSIX.readSome(object.fd, $0.baseAddress! + filled, $0.count - filled) }
                if got < 0 { throw POSIX.failure("cannot read \(key)", key: key.rawValue) }
                if got == 0 { break }
                filled += got
            }
            try verify(key, size: Int64(filled), sha256: POSIX.sha256(bytes[0..<filled]), against: object.metadata)
            return Array(bytes[0..<filled])
        }
    }

    public func download(_ key: ArtifactKey, to destination: URL,
                         progress: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata {
        try await Blocking.run { cancellation throws(StorageError) in
            let layout = try Layout.open(root)
            defer { layout.close() }
            let object = try openObject(key, layout: layout)
            defer { POSIX.closeFD(object.fd) }
            try LocalFile.writeAtomically(to: destination, key: key) { out throws(StorageError) in
                var hasher = SHA256()
                var size: Int64 = 0
                let total = object.metadata.size
                progress?(TransferProgress(key: key, state: .downloading, bytes: 0, total: total))
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                defer { buffer.deallocate() }
                while true {
                    try cancellation.check("downloading \(key)", key: key.rawValue)
                    let got = POSIX.readSome(object.fd, buffer.baseAddress!, buffer.count)
                    if got < 0 { throw POSIX.failure("cannot read \(key)", key: key.rawValue) }
                    if got == 0 { break }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
                    hasher.update(bufferPointer: chunk)
                    guard POSIX.writeAll(out, chunk) else { throw POSIX.failure("cannot write \(destination.path)", key: key.rawValue) }
                    size += Int64(got)
                    progress?(TransferProgress(key: key, state: .downloading, bytes: size, total: max(total, size)))
                }
                try verify(key, size: size, sha256: POSIX.hex(hasher.finalize()), against: object.metadata)
                progress?(TransferProgress(key: key, state: .complete, bytes: size, total: size))
            }
            return object.metadata
        }
    }

    /// Throws `.integrity` unless what was read matches the recorded size and hash.
    func verify(_ key: ArtifactKey, size: Int64, sha256: String, against metadata: ArtifactMetadata) throws(StorageError) {
        if size != metadata.size {
            throw StorageError(.integrity, "\(key): read \(size) bytes but the object has \(metadata.size)", key: key.rawValue)
        }
        if let expected = metadata.sha256, expected != sha256 {
            throw StorageError(.integrity, "\(key): content SHA-256 \(sha256) does not match the recorded \(expected)", key: key.rawValue)
        }
    }

    public func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata {
        try await Blocking.run { _ throws(StorageError) in
            let layout = try Layout.open(root)
            defer { layout.close() }
            let object = try openObject(key, layout: layout)
            POSIX.closeFD(object.fd)
            return object.metadata
        }
    }

    /// Deletes the object and its sidecar (a symlink planted at the key is removed itself, never followed), then
    /// the directories the delete emptied.
    @discardableResult
    public func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        try await Blocking.run { _ throws(StorageError) in
            let layout = try Layout.open(root)
            defer { layout.close() }
            let directories = Array(key.segments.dropLast())
            let existed = try unlinkObject(key, directories: directories, layout: layout)
            // Emptied directories go under the tree lock, which commits share, so none vanishes under a writer.
            if !directories.isEmpty, let tree = try? layout.lockTree(exclusive: true) {
                defer { POSIX.closeFD(tree) }
                removeEmptyDirectories(directories, in: layout.objects)
                removeEmptyDirectories(directories, in: layout.meta)
            }
            return existed
        }
    }

    /// Unlinks the object and its sidecar under the key's stripe lock; whether the object existed.
    private func unlinkObject(_ key: ArtifactKey, directories: [Substring], layout: Layout) throws(StorageError) -> Bool {
            let lock = try layout.lock(key, exclusive: true)
            defer { POSIX.closeFD(lock) }
            let name = String(key.filename)
            var existed = false
            for (tree, isObjects) in [(layout.objects, true), (layout.meta, false)] {
                let parent: Int32
                do throws(StorageError) {
                    parent = try ConfinedDirectory.openDirectory(directories, in: tree, create: false, shownAs: "", key: key.rawValue)
                } catch where error.code == .notFound || error.code == .invalidRequest {
                    continue
                } catch {
                    throw StorageError(error.code, "cannot delete \(key): \(error.message)", key: key.rawValue, underlying: error)
                }
                defer { POSIX.closeFD(parent) }
                if unlinkat(parent, name, 0) == 0 {
                    if isObjects { existed = true }
                    _ = fsync(parent)
                } else if errno != ENOENT && POSIX.type(of: name, in: parent) != POSIX.directory {
                    throw POSIX.failure("cannot delete \(key)", key: key.rawValue)
                }
            }
            return existed
    }

    /// Removes the now-empty directories of `directories`, deepest first, stopping at the first that is not empty.
    private func removeEmptyDirectories(_ directories: [Substring], in tree: Int32) {
        var depth = directories.count
        while depth > 0 {
            guard let parent = try? ConfinedDirectory.openDirectory(directories[0..<(depth - 1)], in: tree, create: false, shownAs: "", key: nil) else { return }
            let removed = unlinkat(parent, String(directories[depth - 1]), AT_REMOVEDIR) == 0
            POSIX.closeFD(parent)
            if !removed { return }
            depth -= 1
        }
    }

    /// Removes temp files in `tmp/` that no live writer holds (their writer crashed) and that are older than
    /// `age` seconds. Returns how many it removed.
    @discardableResult
    public func sweepTemporaryFiles(olderThan age: TimeInterval) throws(StorageError) -> Int {
        let layout = try Layout.open(root)
        defer { layout.close() }
        var removed = 0
        let now = Date().timeIntervalSince1970
        for entry in try ConfinedDirectory.entries(of: layout.tmp) where entry.type == POSIX.regular {
            let fd = openat(layout.tmp, entry.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { continue }
            defer { POSIX.closeFD(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, now - TimeInterval(info.st_mtim.tv_sec) >= age else { continue }
            // A writer holds its temp file locked until it commits or fails; a crashed one no longer does.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            if unlinkat(layout.tmp, entry.name, 0) == 0 { removed += 1 }
        }
        if removed > 0 { logger.info("removed \(removed) temp files abandoned by crashed writers in \(root.path)/tmp") }
        return removed
    }
}

/// Writing a local file as Helios writes outputs: a temp file beside the target, fsync, rename, fsync of the directory.
enum LocalFile {
    static func writeAtomically(to destination: URL, key: ArtifactKey?, mode: mode_t = 0o644,
                                _ body: (Int32) throws(StorageError) -> Void) throws(StorageError) {
        let directory = destination.deletingLastPathComponent()
        let dirFD = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else {
            throw POSIX.failure("cannot write \(destination.path): directory \(directory.path)", key: key?.rawValue,
                                code: errno == ENOENT || errno == ENOTDIR ? .invalidRequest : .io)
        }
        defer { POSIX.closeFD(dirFD) }
        let name = "." + destination.lastPathComponent + POSIX.temporaryName("download")
        let out = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard out >= 0 else { throw POSIX.failure("cannot create a temp file beside \(destination.path)", key: key?.rawValue) }
        var done = false
        defer {
            POSIX.closeFD(out)
            if !done { unlinkat(dirFD, name, 0) }
        }
        try body(out)
        guard fsync(out) == 0 else { throw POSIX.failure("cannot fsync \(destination.path)", key: key?.rawValue) }
        guard renameat(dirFD, name, dirFD, destination.lastPathComponent) == 0 else {
            throw POSIX.failure("cannot move the download into place at \(destination.path)", key: key?.rawValue,
                                code: errno == EISDIR || errno == ENOTEMPTY ? .invalidRequest : .io)
        }
        done = true
        _ = fsync(dirFD)
    }
}
