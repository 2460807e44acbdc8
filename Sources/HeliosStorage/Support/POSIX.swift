import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small helpers over the POSIX calls the local store and bundles make (`writeAll` also serves the job store).
package enum POSIX {
    // File type bits of st_mode (identical on Linux and Darwin).
    static let formatMask: mode_t = 0o170000
    static let regular: mode_t = 0o100000
    static let directory: mode_t = 0o040000
    static let symlink: mode_t = 0o120000

    /// Closes `fd`, ignoring the result.
    static func closeFD(_ fd: Int32) { _ = close(fd) }

    /// The current `errno` as text.
    static var reason: String { String(cString: strerror(errno)) }

    /// An `.io` error (or `code`) with `strerror(errno)` appended.
    static func failure(_ message: String, key: String? = nil, code: StorageError.Code = .io) -> StorageError {
        let number = errno
        let text = String(cString: strerror(number))
        return StorageError(code, "\(message): \(text)", key: key, underlying: POSIXError(POSIXErrorCode(rawValue: number) ?? .EIO))
    }

    /// The file type of `name` in `dir` without following a symlink, or nil if it does not exist.
    static func type(of name: String, in dir: Int32) -> mode_t? {
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return info.st_mode & formatMask
    }

    /// Writes all of `buffer` to `fd`, retrying short writes and EINTR.
    package static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 { if errno == EINTR { continue }; return false }
            offset += written
        }
        return true
    }

    /// Reads up to `count` bytes into `buffer`, retrying EINTR; 0 at end of file, -1 on error.
    static func readSome(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let got = read(fd, buffer, count)
            if got < 0 && errno == EINTR { continue }
            return got
        }
    }

    /// Lower-case hex of `digest`, written once into a string of exactly its length (a job holds one per chunk;
    /// formatting each byte and joining the pieces left 143 bytes of heap for each on average).
    package static func hex(_ digest: some ContiguousBytes) -> String {
        digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
                for (index, byte) in bytes.enumerated() {
                    buffer[2 * index] = hexDigits[Int(byte >> 4)]
                    buffer[2 * index + 1] = hexDigits[Int(byte & 0x0f)]
                }
                return bytes.count * 2
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// SHA-256 of `bytes` in lower-case hex.
    static func sha256(_ bytes: some DataProtocol) -> String { hex(SHA256.hash(data: bytes)) }

    /// Reads the whole (small) file `name` in `dir` without following a symlink; nil if it does not exist.
    static func readSmallFile(_ name: String, in dir: Int32, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & formatMask == regular, Int(info.st_size) <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let got = bytes.withUnsafeMutableBytes { readSome(fd, $0.baseAddress! + filled, $0.count - filled) }
            if got <= 0 { return nil }
            filled += got
        }
        return bytes
    }

    /// Writes `bytes` into a new file `name` in `dir` (exclusive create, no symlink), fsynced.
    static func writeNewFile(_ name: String, in dir: Int32, bytes: [UInt8], mode: mode_t = 0o644) -> Bool {
        let fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return bytes.withUnsafeBytes { writeAll(fd, $0) } && fsync(fd) == 0
    }

    /// A random name for a temp file, never a valid object name a user would pick by accident.
    static func temporaryName(_ tag: String) -> String {
        ".helios-\(tag)-\(UUID().uuidString.lowercased()).tmp"
    }
}
