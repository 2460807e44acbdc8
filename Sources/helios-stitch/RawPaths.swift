#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// File names that are not valid UTF-8. Swift turns such an argument into a String with U+FFFD in place of the
/// bad bytes, which names another file (or none). The CLI keeps the bytes the shell gave: an input is opened by its
/// bytes and handed to the stitcher as `/proc/self/fd/N`; messages and the report show the name with U+FFFD again.
/// An output name that is not UTF-8 is refused (it would be written under the repaired name).
enum RawPaths {
    /// Bytes of every argument that is not valid UTF-8, by the repaired String Swift made of it.
    static func invalidArguments() -> [String: [UInt8]] {
        var map: [String: [UInt8]] = [:]
        for i in 0..<Int(CommandLine.argc) {
            guard let arg = CommandLine.unsafeArgv[i] else { continue }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(arg).assumingMemoryBound(to: UInt8.self), count: strlen(arg)))
            if String(validating: bytes, as: UTF8.self) == nil { map[String(decoding: bytes, as: UTF8.self)] = bytes }
        }
        return map
    }

    /// The lines of a list file as paths (relative ones against the list's directory), with the bytes of those
    /// that are not valid UTF-8 added to `raw`. Blank lines and lines starting with # are skipped.
    static func listed(in data: Data, base: String, raw: inout [String: [UInt8]]) -> [String] {
        var paths: [String] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            var bytes = Array(line)
            while let last = bytes.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes.removeLast() }
            while let first = bytes.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { bytes.removeFirst() }
            if bytes.isEmpty || bytes.first == UInt8(ascii: "#") { continue }
            if bytes.first != UInt8(ascii: "/") { bytes = Array(base.utf8) + [UInt8(ascii: "/")] + bytes }
            let text = String(decoding: bytes, as: UTF8.self)
            if String(validating: bytes, as: UTF8.self) == nil { raw[text] = bytes }
            paths.append(text)
        }
        return paths
    }

    /// `/proc/self/fd/N` for a path given as bytes, opened read-only; the errno when it cannot be opened.
    static func open(_ bytes: [UInt8]) -> Result<String, POSIXError> {
        let fd = (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { Glibc.open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
        }
        guard fd >= 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)) }
        return .success("/proc/self/fd/\(fd)")
    }

    /// Why a file could not be read, in words (`no such file`), from the error `Data(contentsOf:)` throws.
    static func describe(_ error: any Error) -> String {
        if let error = error as? CocoaError {
            switch error.code {
            case .fileReadNoSuchFile: return "no such file"
            case .fileReadNoPermission: return "permission denied"
            default: break
            }
            if let posix = error.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        return "\(error)"
    }

    /// Descriptor paths and the names they stand for, to show users the names they gave.
    static let aliases = Mutex<[String: String]>([:])

    /// `text` with every descriptor path replaced by its name.
    static func shown(_ text: String) -> String {
        let table = aliases.withLock { $0 }
        guard !table.isEmpty else { return text }
        var result = text
        // Longest first, so /proc/self/fd/12 is not read as /proc/self/fd/1 followed by 2.
        for (alias, name) in table.sorted(by: { $0.key.count > $1.key.count }) {
            result = result.split(separator: alias, omittingEmptySubsequences: false).joined(separator: name)
        }
        return result
    }
}
