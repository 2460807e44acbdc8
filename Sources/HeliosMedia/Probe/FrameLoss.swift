#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Frames of one stream that the container says exist but could not be read: libavformat skips a corrupt or
/// truncated Matroska block and goes on, so a damaged chunk reads to its end with fewer packets than it holds.
///
/// A pure function of what the container declares and what was read. The declarations, most exact first:
/// a frame count (`nb_frames` from an MP4 sample table, Matroska's `NUMBER_OF_FRAMES` statistics tag), the
/// stream's own end of presentation (Matroska's `DURATION` tag, written by FFmpeg's muxer and by mkvmerge), the
/// container's duration; and for video the frame grid: presentation timestamps one frame apart with no holes.
public struct FrameLoss: Sendable, Hashable, CustomStringConvertible {
    /// Frames the container declares (or the grid implies).
    public var expected: Int
    /// Packets actually read.
    public var read: Int
    /// Where the first missing frame belongs, in seconds from the stream's start (nil when unknown).
    public var firstMissingSeconds: Double?
    /// Which declaration showed the loss, e.g. `the frame grid` or `the DURATION tag`.
    public var evidence: String

    public var description: String {
        var text = "\(expected - read) of \(expected) frames could not be read (corrupt or truncated data"
        if let firstMissingSeconds { text += cFormat(" at %.3f s", firstMissingSeconds) }
        return text + "; \(evidence))"
    }

    /// What the container declares about one stream, beside the packets read.
    public struct Declared: Sendable, Hashable {
        /// An exact frame (packet) count: `AVStream.nb_frames` or a `NUMBER_OF_FRAMES` tag.
        public var frames: Int?
        /// The stream's end of presentation in seconds (Matroska's `DURATION` tag).
        public var streamEndSeconds: Double?
        /// The container's duration in seconds (the longest stream's, so it may exceed this stream's).
        public var containerSeconds: Double?
        /// The latest timestamp the container's index lists for the stream (Matroska's Cues), in stream ticks.
        public var lastIndexedPts: Int64?

        public init(frames: Int? = nil, streamEndSeconds: Double? = nil, containerSeconds: Double? = nil, lastIndexedPts: Int64? = nil) {
            self.frames = frames
            self.streamEndSeconds = streamEndSeconds
            self.containerSeconds = containerSeconds
            self.lastIndexedPts = lastIndexedPts
        }
    }

    /// The loss of a stream, or nil when every declared frame was read.
    /// - Parameters:
    ///   - read: packets read.
    ///   - presentation: video presentation timestamps read, in any order (empty for audio).
    ///   - timeBase: their time base.
    ///   - frameRate: the nominal frame rate (video), nil when unknown.
    public static func detect(read: Int, presentation: [Int64], timeBase: Rational, frameRate: Rational?,
                              declared: Declared) -> FrameLoss? {
        if let frames = declared.frames, frames > read {
            let missingAt = presentation.isEmpty ? nil : end(of: presentation, timeBase: timeBase, frameRate: frameRate)
            return FrameLoss(expected: frames, read: read, firstMissingSeconds: missingAt, evidence: "the container declares \(frames) frames")
        }
        // Every frame an exact count declares was read: holes in the grid were written so (a stream-copy cut that
        // ended between a reference frame and the B-frames shown before it), not lost in reading. They are a timing
        // finding of the stitch (`irregular-frame-duration`), not damage.
        if let frames = declared.frames, frames == read { return nil }
        guard let frameRate, frameRate.num > 0, frameRate.den > 0, timeBase.den > 0, let first = presentation.min(),
              let last = presentation.max() else { return nil }
        let fps = Double(frameRate.num) / Double(frameRate.den)
        let tick = Double(timeBase.num) / Double(timeBase.den)
        let frame = 1 / fps
        // Holes in the grid: a gap between neighbours that is a whole number (2 or more) of frames.
        let sorted = presentation.sorted()
        var missing = 0
        var firstHole: Double?
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let gap = Double(b - a) * tick
            let frames = (gap / frame).rounded()
            guard frames >= 2, abs(gap - frames * frame) <= tick + frame * 1e-6 else { continue }
            missing += Int(frames) - 1
            if firstHole == nil { firstHole = Double(a - first) * tick + frame }
        }
        // Packets read without a pts (MPEG program streams put one on the first frame of a pack only) sit in holes
        // of the grid: they were read, not lost (the stitch judges their missing timestamps).
        missing = max(0, missing - max(0, read - presentation.count))
        if missing == 0 { firstHole = nil }
        let startSeconds = Double(first) * tick
        let presentEnd = Double(last - first) * tick + frame
        if let indexed = declared.lastIndexedPts, indexed > last {
            // The index points at a frame after the last one read: at least the frames up to it are gone.
            let beyond = max(1, Int((Double(indexed - last) * tick * fps).rounded()))
            return FrameLoss(expected: read + missing + beyond, read: read, firstMissingSeconds: firstHole ?? presentEnd,
                             evidence: cFormat("the index (Cues) lists a frame at %.3f s", Double(indexed - first) * tick))
        }
        if let end = declared.streamEndSeconds {
            let expected = Int(((end - startSeconds) * fps).rounded())
            if expected > read + missing, expected > read {
                return FrameLoss(expected: expected, read: read, firstMissingSeconds: firstHole ?? presentEnd,
                                 evidence: cFormat("the stream lasts %.3f s by its DURATION tag", end))
            }
        } else if let seconds = declared.containerSeconds {
            // The container's duration covers its longest stream: audio may outlast the video by most of a frame,
            // so only a shortfall of more than one frame is a loss here.
            let expected = Int((seconds * fps + 0.05).rounded(.down))
            if expected > read + missing + 1 {
                return FrameLoss(expected: expected, read: read, firstMissingSeconds: firstHole ?? presentEnd,
                                 evidence: cFormat("the file lasts %.3f s", seconds))
            }
        }
        if missing > 0 {
            return FrameLoss(expected: read + missing, read: read, firstMissingSeconds: firstHole, evidence: "holes in the frame grid")
        }
        return nil
    }

    private static func end(of presentation: [Int64], timeBase: Rational, frameRate: Rational?) -> Double? {
        guard let first = presentation.min(), let last = presentation.max(), let frameRate, frameRate.num > 0 else { return nil }
        return Ticks.seconds(last - first, in: timeBase) + Double(frameRate.den) / Double(frameRate.num)
    }

    /// Seconds of a Matroska duration tag, `HH:MM:SS.nnnnnnnnn`; nil when it is not one.
    public static func seconds(ofDurationTag text: String) -> Double? {
        let parts = text.split(separator: ":")
        guard parts.count == 3, let h = Int(parts[0]), let m = Int(parts[1]), let s = Double(parts[2]),
              h >= 0, m >= 0, s >= 0 else { return nil }
        return Double(h * 3600 + m * 60) + s
    }
}
