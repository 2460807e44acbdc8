import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a local directory tree for a bundle, without following symlinks.
enum BundleScanner {
    struct Found: Sendable {
        var files: [(path: String, url: URL, size: Int64, mode: UInt32)]
        var directories: [String]
    }

    /// Every regular file and directory under `root`. Refuses a missing or non-directory root, symlinks and
    /// special files, names no key can hold, unreadable directories, and a tree without a single file.
    static func scan(_ root: URL) throws(StorageError) -> Found {
        var info = stat()
        guard stat(root.path, &info) == 0 else {
            throw POSIX.failure("bundle directory \(root.path) cannot be read", code: errno == ENOENT ? .notFound : .io)
        }
        guard info.st_mode & POSIX.formatMask == POSIX.directory else {
            throw StorageError(.invalidRequest, "bundle directory \(root.path) is not a directory")
        }
        var found = Found(files: [], directories: [])
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? root : root.appendingPathComponent(relative)
            guard let stream = opendir(directory.path) else {
                throw POSIX.failure("cannot read directory \(directory.path)")
            }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                let path = relative.isEmpty ? name : relative + "/" + name
                let url = root.appendingPathComponent(path)
                if let problem = ArtifactKey.problem(in: path) {
                    throw StorageError(.invalidRequest, "\(url.path) cannot be bundled: its name is not a valid key (\(problem))")
                }
                guard lstat(url.path, &info) == 0 else { throw POSIX.failure("cannot examine \(url.path)") }
                switch info.st_mode & POSIX.formatMask {
                case POSIX.directory:
                    found.directories.append(path)
                    pending.append(path)
                case POSIX.regular:
                    found.files.append((path, url, Int64(info.st_size), UInt32(info.st_mode & 0o777)))
                case POSIX.symlink:
                    throw StorageError(.invalidRequest, "\(url.path) is a symbolic link; bundles hold regular files and directories only")
                default:
                    throw StorageError(.invalidRequest, "\(url.path) is not a regular file or directory")
                }
            }
        }
        if found.files.isEmpty {
            throw StorageError(.invalidRequest, "bundle directory \(root.path) has no files" + (found.directories.isEmpty ? " (it is empty)" : " (only empty directories)"))
        }
        return found
    }

    /// SHA-256 of the file at `url`, streamed. Names the file when it cannot be read (e.g. permission denied).
    static func hash(_ url: URL, cancellation: Blocking.Cancellation) throws(StorageError) -> (sha256: String, size: Int64) {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw POSIX.failure("cannot read \(url.path)", code: errno == ENOENT ? .notFound : .io) }
        defer { POSIX.closeFD(fd) }
        var hasher = SHA256()
        var size: Int64 = 0
        // Up to 1 MiB, no larger than the file (plus one byte, to see its end in one read): a job hashes every chunk
        // output, mostly far smaller, and 1 MiB blocks freed by several threads at once stayed in glibc's heap.
        var info = stat()
        let known = fstat(fd, &info) == 0 ? Int(info.st_size) : 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(max(known + 1, 4096), 1 << 20), alignment: 16)
        defer { buffer.deallocate() }
        while true {
            try cancellation.check("hashing \(url.path)")
            let got = POSIX.readSome(fd, buffer.baseAddress!, buffer.count)
            if got < 0 { throw POSIX.failure("cannot read \(url.path)") }
            if got == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            size += Int64(got)
        }
        return (POSIX.hex(hasher.finalize()), size)
    }
}
