import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// A temp file beside a destination, written in order with bytes hashed on the way, then fsynced and renamed.
final class S3TempFile: @unchecked Sendable {
    let destination: String
    let path: String
    private var fd: Int32

    init(beside destination: URL) throws(StorageError) {
        self.destination = destination.path
        let directory = destination.deletingLastPathComponent().path
        path = "\(directory)/.\(destination.lastPathComponent).helios-\(UUID().uuidString).part"
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw S3FileIO.ioError("cannot create temp file", path) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Empties the file (a retried download starts again).
    func truncate() async throws {
        let fd = self.fd, path = self.path
        try await S3FileIO.run {
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw S3FileIO.ioError("cannot truncate", path) }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        let fd = self.fd, path = self.path
        try await S3FileIO.run {
            var done = 0
            while done < bytes.count {
                let count = bytes.withUnsafeBytes { s3PosixWrite(fd, $0.baseAddress! + done, bytes.count - done) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw S3FileIO.ioError("cannot write", path)
                }
                done += count
            }
        }
    }

    /// fsync, close, rename into place, fsync the directory.
    func commit() async throws {
        let fd = self.fd, path = self.path, destination = self.destination
        self.fd = -1
        try await S3FileIO.run {
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw S3FileIO.ioError("cannot fsync", path) }
            guard rename(path, destination) == 0 else { throw S3FileIO.ioError("cannot rename into place", destination) }
            let directory = open(URL(fileURLWithPath: destination).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory >= 0 {
                _ = fsync(directory)
                close(directory)
            }
        }
    }

    func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(path)
    }
}

/// `write(2)`, named so it is not shadowed by methods called `write`.
func s3PosixWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, pointer, count) }

extension S3ArtifactStore {
    public func download(_ key: ArtifactKey, to destination: URL,
                         progress callback: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata {
        let temp = try S3TempFile(beside: destination)
        let operation = S3Client.Operation(name: "GET", method: .GET, key: objectKey(key))
        do throws(StorageError) {
            let meta = try await client.withRetries(operation) { response throws(StorageError) -> ArtifactMetadata in
                let meta = metadata(key, headers: response.headers)
                let progress = S3ProgressReporter(key: key, total: meta.size, callback: callback)
                progress.state(.downloading)
                var hasher = SHA256()
                var received: Int64 = 0
                do {
                    try await temp.truncate()
                    var pending: [UInt8] = []
                    pending.reserveCapacity(1 << 20)
                    for try await chunk in response.body {
                        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        pending.append(contentsOf: chunk.readableBytesView)
                        received += Int64(chunk.readableBytes)
                        if pending.count >= 1 << 20 {
                            try await temp.write(pending)
                            progress.add(pending.count, state: .downloading)
                            pending.removeAll(keepingCapacity: true)
                        }
                    }
                    try await temp.write(pending)
                    progress.add(pending.count, state: .downloading)
                } catch let error as StorageError {
                    throw error
                } catch {
                    throw S3Client.transportError(error, operation: operation)
                }
                guard received == meta.size else {
                    throw StorageError(.transport, "\(uri(for: key)): got \(received) of \(meta.size) bytes", key: key.rawValue)
                }
                let digest = POSIX.hex(hasher.finalize())
                if let expected = meta.sha256, expected != digest {
                    throw StorageError(.integrity, "\(uri(for: key)): downloaded content has sha256 \(digest), "
                                       + "the object records \(expected)", key: key.rawValue)
                }
                progress.state(.complete)
                var verified = meta
                verified.sha256 = digest
                return verified
            }
            do { try await temp.commit() } catch {
                throw (error as? StorageError) ?? StorageError(.io, "cannot write \(destination.path): \(error)", underlying: error)
            }
            return meta
        } catch {
            temp.discard()
            callback?(TransferProgress(key: key, state: .failed, bytes: 0, total: 0))
            throw error
        }
    }
}
