import CFFmpeg
import CHeliosShims

/// An error returned by an FFmpeg C function: the code, the function that returned it and the file it concerned.
public struct FFmpegError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The negative AVERROR code.
    public let code: Int32
    /// The C function that failed, e.g. `avformat_open_input`.
    public let function: String
    /// The file the call concerned, when there is one.
    public let path: String?
    /// What libavformat logged about the failure (a muxer says why it refuses a stream), when it did.
    public let detail: String?

    public init(code: Int32, function: String, path: String? = nil, detail: String? = nil) {
        self.code = code
        self.function = function
        self.path = path
        self.detail = detail
    }

    /// FFmpeg's own message for the code (what `av_err2str` gives).
    public var message: String { FFmpegError.message(for: code) }

    /// FFmpeg's message for the code, then what libavformat logged, if anything.
    public var explanation: String { message + (detail.map { "; libavformat: \($0)" } ?? "") }

    public var description: String {
        if let path { return "\(path): \(function) failed: \(explanation) (\(code))" }
        return "\(function) failed: \(explanation) (\(code))"
    }

    /// True when the code is AVERROR_EXIT, which our interrupt callback produces on cancellation.
    public var isInterrupted: Bool { code == helios_averror_exit() }

    static func message(for code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        helios_strerror(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Throws an `FFmpegError` when `code` is negative; returns it otherwise.
@discardableResult
package func check(_ code: Int32, _ function: String, path: String? = nil) throws(FFmpegError) -> Int32 {
    if code < 0 { throw FFmpegError(code: code, function: function, path: path) }
    return code
}

/// FFmpeg constants that arrive as macros.
package enum AV {
    package static let noPTS: Int64 = helios_nopts_value()
    package static let eof: Int32 = helios_averror_eof()
    package static let eagain: Int32 = helios_averror_eagain()
    package static let flagKey: Int32 = helios_pkt_flag_key()
    package static let flagDiscard: Int32 = helios_pkt_flag_discard()
    package static let flagCorrupt: Int32 = helios_pkt_flag_corrupt()
}
