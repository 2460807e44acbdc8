import Foundation
import Logging

/// Stitches chunks in process with libavformat, without re-encoding.
public struct NativeStitcher: VideoStitcher {
    public var options: StitchOptions
    public var logger: Logger

    public init(options: StitchOptions = StitchOptions(), logger: Logger = Logger(label: "helios.stitch")) {
        self.options = options
        self.logger = logger
    }

    public func stitch(_ inputs: [URL], to output: URL) async throws -> StitchReport {
        throw StitchError.usage("not implemented yet")
    }
}

/// Reads media files and reports their streams and timestamps.
public enum MediaProbe {
    /// Probes one file, reading every packet. Throws `StitchError.unreadableInput` for missing, empty or non-media files.
    public static func probe(_ url: URL) throws -> ProbedInput {
        throw StitchError.unreadableInput(path: url.path, reason: "not implemented yet")
    }
}
