import CFFmpeg

/// Versions of Helios and of the FFmpeg library it runs with, for `--version`.
public enum HeliosVersion {
    /// Helios's release version.
    public static let current = "0.13.0"

    /// The libavformat this process loaded (run time, not build time), e.g. `59.27.100`.
    public static var libavformat: String {
        let version = avformat_version()
        return "\(version >> 16).\((version >> 8) & 0xff).\(version & 0xff)"
    }

    /// `NAME 0.13.0 (libavformat 59.27.100)`: what an executable's `--version` prints.
    public static func line(for name: String) -> String { "\(name) \(current) (libavformat \(libavformat))" }
}
