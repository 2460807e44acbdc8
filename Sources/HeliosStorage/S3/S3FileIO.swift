import Crypto
import Foundation
import NIOCore

/// Blocking file work for the S3 store, run on a dispatch queue so it never holds a cooperative-pool thread.
enum S3FileIO {
    static let queue = DispatchQueue(label: "helios.storage.s3.file-io", attributes: .concurrent)
    /// Short reads for request bodies go through one serial queue: a 256 KiB pread from the page cache takes
    /// microseconds, and one thread (rather than dozens, each with its own malloc arena) keeps peak RSS flat.
    static let readQueue = DispatchQueue(label: "helios.storage.s3.file-read")

    /// Runs `body` on the file queue (or `queue`).
    static func run<T: Sendable>(on queue: DispatchQueue = queue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func ioError(_ what: String, _ path: String, errno code: Int32 = errno) -> StorageError {
        StorageError(.io, "\(what) \(path): \(String(cString: strerror(code)))")
    }

    /// The file's size and hex SHA-256, read in 1 MiB pieces.
    static func sha256(of path: String) async throws(StorageError) -> (size: Int64, sha256: String) {
        do {
            return try await run {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw ioError("cannot open", path) }
                defer { close(fd) }
                var hasher = SHA256()
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                var size: Int64 = 0
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if count < 0 {
                        if errno == EINTR { continue }
                        throw ioError("cannot read", path)
                    }
                    if count == 0 { break }
                    buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                    size += Int64(count)
                }
                return (size, POSIX.hex(hasher.finalize()))
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.io, "cannot hash \(path): \(error)", underlying: error)
        }
    }
}

/// `length` bytes of a file from `offset`, as `ByteBuffer`s of at most `chunkSize`, read with `pread` on the file
/// queue. Each iteration opens the file afresh, so a retried request re-reads its body from the file.
struct S3FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64
    var chunkSize: Int = 256 * 1024
    /// Called after each chunk with the bytes of this body handed on so far in this attempt (progress).
    var onChunk: (@Sendable (Int64) -> Void)?

    final class AsyncIterator: AsyncIteratorProtocol {
        let sequence: S3FileChunks
        var fd: Int32 = -1
        var position: Int64
        var remaining: Int64

        init(_ sequence: S3FileChunks) {
            self.sequence = sequence
            position = sequence.offset
            remaining = sequence.length
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard remaining > 0 else {
                if fd >= 0 { close(fd); fd = -1 }
                return nil
            }
            try Task.checkCancellation()
            let path = sequence.path
            if fd < 0 {
                let opened = try await S3FileIO.run { () throws -> Int32 in
                    let fd = open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw S3FileIO.ioError("cannot open", path) }
                    return fd
                }
                fd = opened
            }
            let want = Int(Swift.min(Int64(sequence.chunkSize), remaining))
            let fd = self.fd, position = self.position
            let buffer = try await S3FileIO.run(on: S3FileIO.readQueue) { () throws -> ByteBuffer in
                var buffer = ByteBufferAllocator().buffer(capacity: want)
                var filled = 0
                while filled < want {
                    var failure: Int32 = 0
                    let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want - filled) { raw in
                        let count = pread(fd, raw.baseAddress, want - filled, off_t(position) + off_t(filled))
                        if count < 0 { failure = errno }
                        return Swift.max(count, 0)
                    }
                    if failure == EINTR { continue }
                    if failure != 0 { throw S3FileIO.ioError("cannot read", path, errno: failure) }
                    if count == 0 { throw StorageError(.io, "\(path) ended early (was it changed during the upload?)") }
                    filled += count
                }
                return buffer
            }
            self.position += Int64(want)
            remaining -= Int64(want)
            sequence.onChunk?(self.position - sequence.offset)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }
}
