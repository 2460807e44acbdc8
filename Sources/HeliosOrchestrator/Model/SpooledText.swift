import Foundation
import HeliosStorage

#if canImport(Glibc)
import Glibc
#endif

/// Text whose size grows with the job (a merger's report, a job's status), kept in memory while it is short and moved
/// to a temporary file that has no name (unlinked as soon as it is made) once it is longer than `memoryLimit`, so a
/// job need not hold it whole until it is stored: 7 MB of report and 4.5 MB of status at the end of a 10,000-chunk
/// run, where its peak memory was. A killed process leaves nothing behind; where no temporary file can be made, the
/// text stays in memory. Written once by ``write(memoryLimit:_:)``, then read a piece at a time by the job store.
public final class SpooledText: Sendable, Hashable, CustomStringConvertible {
    private enum Storage {
        case memory(Data)
        /// An unlinked file, closed with the last reference.
        case file(Int32)
    }

    private let storage: Storage
    /// The text's length in bytes.
    public let count: Int

    private init(_ storage: Storage, count: Int) {
        self.storage = storage
        self.count = count
    }

    /// Text already in memory.
    public convenience init(_ data: Data) { self.init(.memory(data), count: data.count) }

    deinit {
        if case .file(let descriptor) = storage { close(descriptor) }
    }

    /// Whether the text is in a temporary file (not in memory).
    public var isSpooled: Bool {
        if case .file = storage { return true }
        return false
    }

    /// Makes the text from the pieces `produce` hands to the writer it is given, in order: in memory up to
    /// `memoryLimit` bytes, then in a temporary file.
    public static func write(memoryLimit: Int = 1 << 16, _ produce: (_ write: (Data) throws -> Void) throws -> Void) throws -> SpooledText {
        var held = Data(), descriptor: Int32?, count = 0
        // Cleared once no file could be made: the rest stays in memory, without a try per piece.
        var spools = true
        do {
            try produce { piece in
                count += piece.count
                if let descriptor { return try writeAll(piece, to: descriptor) }
                if held.isEmpty { held = piece } else { held.append(piece) }
                guard spools, held.count > memoryLimit else { return }
                guard let made = makeFile() else {
                    spools = false
                    return
                }
                descriptor = made
                try writeAll(held, to: made)
                held = Data()
            }
        } catch {
            if let descriptor { close(descriptor) }
            throw error
        }
        return descriptor.map { SpooledText(.file($0), count: count) } ?? SpooledText(.memory(held), count: count)
    }

    /// An unlinked temporary file in `TMPDIR` (or /tmp), or nil where none can be made. `TMPDIR` is read directly:
    /// Foundation's `temporaryDirectory` brought 2.3 MB more of a job's code in (ICU's among it).
    private static func makeFile() -> Int32? {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(directory)/helios-spool-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
        return fd
    }

    private static func writeAll(_ piece: Data, to fd: Int32) throws {
        guard piece.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) else { throw failure("cannot write to a temporary file") }
    }

    /// Hands the text to `body` in order, up to `pieceLength` bytes at a time (a buffer valid during the call only).
    public func forEachPiece(pieceLength: Int = 1 << 16, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let length = max(1, pieceLength)
        switch storage {
        case .memory(let data):
            try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                for start in stride(from: 0, to: bytes.count, by: length) {
                    try body(UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + length, bytes.count)]))
                }
            }
        case .file(let descriptor):
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(length, count)), alignment: 1)
            defer { buffer.deallocate() }
            var offset = 0
            while offset < count {
                let n = pread(descriptor, buffer.baseAddress!, min(buffer.count, count - offset), off_t(offset))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw Self.failure("cannot read a temporary file back") }
                try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                offset += n
            }
        }
    }

    /// The whole text (for stores that take it at once).
    public func data() throws -> Data {
        if case .memory(let data) = storage { return data }
        var data = Data(capacity: count)
        try forEachPiece { data.append(contentsOf: $0) }
        return data
    }

    public var description: String { "\(count) bytes of text" + (isSpooled ? " in a temporary file" : "") }

    /// One text is only equal to itself: its bytes are not read to compare.
    public static func == (lhs: SpooledText, rhs: SpooledText) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    private static func failure(_ what: String) -> OrchestratorError {
        .storage(reason: "\(what): \(String(cString: strerror(errno)))")
    }
}
