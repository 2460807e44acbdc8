import Foundation

/// Concatenates rendered chunks into one file.
public protocol VideoStitcher: Sendable {
    /// Stitches `inputs`, in order, into `output` and reports what was done.
    func stitch(_ inputs: [URL], to output: URL) async throws -> StitchReport
}

/// How `NativeStitcher` behaves.
public struct StitchOptions: Sendable, Hashable {
    /// Output container short name (`mp4`, `mov`, `matroska`, `webm`, `mpegts`); nil picks it from the extension.
    public var format: String?
    /// Move the MP4/MOV index to the front so playback can start before the download ends.
    public var faststart: Bool
    /// Replace an existing output file.
    public var force: Bool
    /// Downgrade timestamp-continuity findings to warnings. Codec and layout mismatches stay errors.
    public var lenient: Bool
    /// Validate and report only; write nothing.
    public var checkOnly: Bool
    /// Accept the same file more than once among the inputs (otherwise refused: usually a mistake in a list).
    public var allowRepeat: Bool

    public init(format: String? = nil, faststart: Bool = false, force: Bool = false, lenient: Bool = false, checkOnly: Bool = false,
                allowRepeat: Bool = false) {
        self.format = format
        self.faststart = faststart
        self.force = force
        self.lenient = lenient
        self.checkOnly = checkOnly
        self.allowRepeat = allowRepeat
    }
}
