import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Text whose size grows with the job (a merger's report, a job's status), held in a temporary file that has no name
/// (unlinked as soon as it is made) instead of in memory until it is stored: 7 MB of report and 4.5 MB of status at
/// the end of a 10,000-chunk run, where its peak memory was. A killed process leaves nothing behind. Written once by
/// ``write(_:)``, then read a piece at a time by the job store; the file goes with the last reference.
public final class SpooledText: Sendable, Hashable, CustomStringConvertible {
    private let descriptor: Int32
    /// The text's length in bytes.
    public let count: Int

    private init(descriptor: Int32, count: Int) {
        self.descriptor = descriptor
        self.count = count
    }

    deinit { close(descriptor) }

    /// Makes the text from the pieces `produce` hands to the writer it is given, in order.
    public static func write(_ produce: (_ write: (Data) throws -> Void) throws -> Void) throws -> SpooledText {
        // TMPDIR read directly: Foundation's `temporaryDirectory` brought 2.3 MB more of a job's code in (ICU's among it).
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(directory)/helios-spool-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure("cannot create a temporary file") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // Unnamed from here on: closing the descriptor frees the file.
        unlink(String(cString: template))
        var count = 0
        do {
            try produce { piece in
                try piece.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                    var offset = 0
                    while offset < bytes.count {
                        let n = writeBytes(fd, bytes.baseAddress! + offset, bytes.count - offset)
                        if n < 0, errno == EINTR { continue }
                        guard n > 0 else { throw failure("cannot write to a temporary file") }
                        offset += n
                    }
                }
                count += piece.count
            }
        } catch {
            close(fd)
            throw error
        }
        return SpooledText(descriptor: fd, count: count)
    }

    /// Hands the text to `body` in order, up to `pieceLength` bytes at a time (a buffer valid during the call only).
    public func forEachPiece(pieceLength: Int = 1 << 16, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(pieceLength, count)), alignment: 1)
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

    /// The whole text (for stores that take it at once).
    public func data() throws -> Data {
        var data = Data(capacity: count)
        try forEachPiece { data.append(contentsOf: $0) }
        return data
    }

    public var description: String { "spooled text (\(count) bytes)" }

    /// One text is only equal to itself: its bytes are not read to compare.
    public static func == (lhs: SpooledText, rhs: SpooledText) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    private static func failure(_ what: String) -> OrchestratorError {
        .storage(reason: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// `write(2)`, named apart from ``SpooledText/write(_:)``.
private func writeBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
