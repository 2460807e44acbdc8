import CFFmpeg
import Foundation
import CHeliosShims
import Logging

/// Where libav* messages go: swift-log at debug (errors and warnings) or trace (the rest), never raw stderr.
private let ffmpegLogger = Logger(label: "helios.ffmpeg")

private let forwardLine: @convention(c) (Int32, UnsafePointer<CChar>?) -> Void = { level, line in
    guard let line else { return }
    let text = String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !text.isEmpty else { return }
    if level <= AV_LOG_WARNING { ffmpegLogger.debug("\(text)") } else { ffmpegLogger.trace("\(text)") }
}

/// Routes FFmpeg's log through swift-log. Idempotent; the first call installs the callback.
package enum FFmpegLog {
    private static let installed: Bool = {
        av_log_set_level(AV_LOG_WARNING)
        helios_set_log_sink(forwardLine)
        return true
    }()

    package static func install() { _ = installed }
}
