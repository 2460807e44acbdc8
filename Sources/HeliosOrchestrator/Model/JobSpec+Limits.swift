import Foundation

extension JobSpec {
    /// Largest spec file `load` reads: 16 MiB (about 100,000 chunks of typical size). Larger files are refused
    /// before any byte is parsed.
    public static let maximumSpecBytes = 16 * 1024 * 1024
    /// Most chunks a job may have.
    public static let maximumChunks = 100_000
    /// Largest frame number or count: 10^12 frames (over a thousand years at 25 fps). Keeps all frame
    /// arithmetic far from `Int.max`.
    public static let maximumFrames = 1_000_000_000_000
    /// Largest width or height, in pixels.
    public static let maximumDimension = 65_536
    /// Largest frame rate.
    public static let maximumFPS: Double = 100_000
}
