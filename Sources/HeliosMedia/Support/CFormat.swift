#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `printf`-style formatting of numbers for messages (`"%.3f ms"`), without Foundation's `String(format:)`.
/// Only for a single numeric conversion or a few: the result is cut at 255 bytes.
package func cFormat(_ format: String, _ arguments: any CVarArg...) -> String {
    withVaList(arguments) { list in
        var buffer = [CChar](repeating: 0, count: 256)
        let written = vsnprintf(&buffer, buffer.count, format, list)
        guard written >= 0 else { return format }
        return String(decoding: buffer.prefix(min(Int(written), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Writes `text` to standard error unbuffered, without Foundation's `FileHandle`.
package func writeToStandardError(_ text: String) {
    var remaining = Array(text.utf8)[...]
    while !remaining.isEmpty {
        let count = remaining.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return }
        remaining = remaining.dropFirst(count)
    }
}
