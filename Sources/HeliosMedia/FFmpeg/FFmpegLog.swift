import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CHeliosShims
import Logging
import Synchronization

/// Where libav* messages go: swift-log at debug (errors and warnings) or trace (the rest), never raw stderr.
private let ffmpegLogger = Logger(label: "helios.ffmpeg")

private let forwardLine: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?) -> Void = { context, level, line in
    guard let line else { return }
    var trimmed = Substring(String(cString: line))
    while trimmed.first?.isWhitespace == true { trimmed.removeFirst() }
    while trimmed.last?.isWhitespace == true { trimmed.removeLast() }
    let text = String(trimmed)
    guard !text.isEmpty else { return }
    if level <= AV_LOG_ERROR, let context { FFmpegLog.record(text, from: context) }
    if level <= AV_LOG_WARNING { ffmpegLogger.debug("\(text)") } else { ffmpegLogger.trace("\(text)") }
}

/// Routes FFmpeg's log through swift-log. Idempotent; the first call installs the callback.
///
/// It also collects the error lines a watched context logs: a demuxer reports a corrupt or truncated block
/// (`File ended prematurely`, `Element at ... exceeds containing master element`) only in its log, then skips
/// the block and goes on, so reading to the end would otherwise lose frames silently.
package enum FFmpegLog {
    private static let installed: Bool = {
        av_log_set_level(AV_LOG_WARNING)
        helios_set_log_sink(forwardLine)
        return true
    }()

    package static func install() { _ = installed }

    /// Error lines per watched context (by address), at most `kept` each.
    private static let watched = Mutex<[UInt: [String]]>([:])
    private static let kept = 8

    /// Starts collecting the error lines `context` logs.
    package static func watch(_ context: UnsafeMutableRawPointer) {
        install()
        watched.withLock { $0[UInt(bitPattern: context)] = [] }
    }

    /// Stops collecting for `context` and returns what it logged.
    @discardableResult
    package static func unwatch(_ context: UnsafeMutableRawPointer) -> [String] {
        watched.withLock { $0.removeValue(forKey: UInt(bitPattern: context)) ?? [] }
    }

    /// The error lines `context` logged since it was watched.
    package static func errors(of context: UnsafeMutableRawPointer) -> [String] {
        watched.withLock { $0[UInt(bitPattern: context)] ?? [] }
    }

    fileprivate static func record(_ line: String, from context: UnsafeMutableRawPointer) {
        // Without the "[matroska,webm @ 0x...] " prefix: the message names the file itself.
        var line = Substring(line)
        while line.hasPrefix("["), let close = line.firstIndex(of: "]") {
            line = line[line.index(after: close)...].drop { $0 == " " }
        }
        let text = String(line)
        watched.withLock { table in
            let key = UInt(bitPattern: context)
            guard var lines = table[key], lines.count < kept else { return }
            lines.append(text)
            table[key] = lines
        }
    }
}
