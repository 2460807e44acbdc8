import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks directories one component at a time with `openat(O_NOFOLLOW | O_DIRECTORY)`, so nothing the store or a
/// bundle download does ever follows a symlink (or anything but a directory) planted below a trusted root.
enum ConfinedDirectory {
    /// Opens the trusted root (it may itself be reached through a symlink), creating it like `mkdir -p` if asked.
    static func openRoot(_ url: URL, create: Bool) throws(StorageError) -> Int32 {
        var fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT && create {
            do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
                throw StorageError(.io, "cannot create the store directory \(url.path): \(error.localizedDescription)", underlying: error)
            }
            fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else {
            if errno == ENOENT { throw StorageError(.notFound, "directory \(url.path) does not exist") }
            throw POSIX.failure("cannot open directory \(url.path)")
        }
        return fd
    }

    /// Opens the directory `components` below `base` (an open directory), creating missing ones when `create` is
    /// set. Returns a new descriptor the caller closes. `shownAs` prefixes the walked path in messages.
    ///
    /// Errors: `.notFound` for a missing directory (when not creating), `.outsideScope` for a symlink on the way,
    /// `.invalidRequest` for a file where a directory is needed.
    static func openDirectory(_ components: some Collection<Substring>, in base: Int32, create: Bool, shownAs: String,
                     key: String?) throws(StorageError) -> Int32 {
        var fd = dup(base)
        guard fd >= 0 else { throw POSIX.failure("cannot duplicate a directory descriptor", key: key) }
        var walked = shownAs
        for component in components {
            let name = String(component)
            walked += walked.isEmpty ? name : "/" + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, name, 0o755) != 0 && errno != EEXIST {
                    let error = POSIX.failure("cannot create directory \(walked)", key: key)
                    close(fd)
                    throw error
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if next < 0 {
                let code = errno
                let found = POSIX.type(of: name, in: fd)
                close(fd)
                throw refusal(code: code, found: found, path: walked, key: key)
            }
            close(fd)
            fd = next
        }
        return fd
    }

    /// The error for a failed `openat` of a directory on the way.
    static func refusal(code: Int32, found: mode_t?, path: String, key: String?) -> StorageError {
        if found == POSIX.symlink {
            return StorageError(.outsideScope, "\(path) is a symbolic link; the store never follows links", key: key)
        }
        if code == ENOENT || found == nil { return StorageError(.notFound, "\(path) does not exist", key: key) }
        if found != POSIX.directory { return StorageError(.invalidRequest, "\(path) is an object (a file), not a directory", key: key) }
        errno = code
        return POSIX.failure("cannot open directory \(path)", key: key)
    }

    /// Opens the regular file `name` in `dir` for reading without following a symlink or blocking on a FIFO.
    static func openFile(_ name: String, in dir: Int32, shownAs path: String, key: String?) throws(StorageError) -> Int32 {
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            let found = POSIX.type(of: name, in: dir)
            if found == POSIX.symlink || code == ELOOP {
                throw StorageError(.outsideScope, "\(path) is a symbolic link; the store never follows links", key: key)
            }
            if code == ENOENT { throw StorageError(.notFound, "\(path) does not exist", key: key) }
            errno = code
            throw POSIX.failure("cannot open \(path)", key: key)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & POSIX.formatMask == POSIX.regular else {
            close(fd)
            throw StorageError(.notFound, "\(path) is not an object (it is a directory or a special file)", key: key)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Directory entries of `dir` (an open descriptor; not consumed) with their types, without following links.
    static func entries(of dir: Int32) throws(StorageError) -> [(name: String, type: mode_t)] {
        let copy = dup(dir)
        guard copy >= 0, let stream = fdopendir(copy) else { throw POSIX.failure("cannot read a directory") }
        defer { closedir(stream) }
        rewinddir(stream)
        var result: [(String, mode_t)] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            guard let type = POSIX.type(of: name, in: dir) else { continue }
            result.append((name, type))
        }
        return result
    }
}
