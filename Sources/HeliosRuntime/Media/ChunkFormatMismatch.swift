import Foundation
import HeliosMedia
import HeliosOrchestrator

/// A chunk's output whose picture is not the job's: another size than the spec's `width` × `height`, or another
/// frame rate than its `fps`. The stitch accepts chunks that agree with each other, so a job whose every chunk
/// rendered at the wrong size or rate would otherwise complete with an output that is not the one its spec
/// describes (a 25 fps render of a 30 fps job plays 20% slow, and its sound drifts from its picture). Not
/// retryable: rendering the chunk again renders it the same way. Outputs without video are not checked.
public struct ChunkFormatMismatch: RepeatedRenderFailure, RetryClassifying, CustomStringConvertible {
    /// What differs from the spec.
    public enum Problem: Sendable, Hashable {
        /// The video's stored size.
        case size(width: Int, height: Int)
        /// The video's frame rate: `frames` frames lasting `seconds`. The rate is the one the container declares
        /// when the frames last as long as it says (Matroska's milliseconds make 24 fps measure 23.98), else measured.
        case frameRate(Double, frames: Int, seconds: Double)
    }

    public var problem: Problem
    public var chunk: RenderJobChunk
    public var metadata: JobMetadata
    public var isRetryable: Bool { false }

    public var description: String {
        switch problem {
        case .size(let width, let height):
            return "holds \(width)x\(height) video, but the job is \(metadata.width)x\(metadata.height): chunk \(chunk.id)'s command "
                + "must render the spec's size (HELIOS_WIDTH and HELIOS_HEIGHT give it), or the spec must say the size the renderer makes"
        case .frameRate(let rate, let frames, let seconds):
            return "holds video at \(Self.format(rate)) fps (its \(frames) frame\(frames == 1 ? "" : "s") last "
                + "\(Self.format(seconds)) s), but the job is \(Self.format(metadata.fps)) fps: chunk \(chunk.id)'s command "
                + "must render at the spec's rate (HELIOS_FPS gives it), or the spec must say the rate the renderer makes"
        }
    }

    /// Throws when `input`'s video (the stream a stitch times by) is not `metadata`'s size or rate. A display
    /// matrix that turns the picture a quarter turn may swap the stored width and height.
    public static func check(_ input: ProbedInput, chunk: RenderJobChunk, metadata: JobMetadata) throws(ChunkFormatMismatch) {
        guard let m = input.masterStreamIndex, input.streams[m].signature.kind == .video else { return }
        let stream = input.streams[m]
        let width = Int(stream.signature.width), height = Int(stream.signature.height)
        if width > 0, height > 0, (width, height) != (metadata.width, metadata.height) {
            let rotation = stream.signature.displayRotation ?? 0
            if !((rotation == 90 || rotation == 270) && (height, width) == (metadata.width, metadata.height)) {
                throw ChunkFormatMismatch(problem: .size(width: width, height: height), chunk: chunk, metadata: metadata)
            }
        }
        let frames = stream.packetCount - stream.leadingDiscardPackets
        if var rate = measuredRate(duration: stream.duration, frames: frames, timeBase: stream.timeBase, fps: metadata.fps) {
            if let declared = stream.frameRate, declared.num > 0, declared.den > 0 {
                let nominal = Double(declared.num) / Double(declared.den)
                if measuredRate(duration: stream.duration, frames: frames, timeBase: stream.timeBase, fps: nominal) == nil { rate = nominal }
            }
            let seconds = Double(stream.duration) * Double(stream.timeBase.num) / Double(stream.timeBase.den)
            throw ChunkFormatMismatch(problem: .frameRate(rate, frames: frames, seconds: seconds), chunk: chunk, metadata: metadata)
        }
    }

    /// The rate `frames` frames lasting `duration` ticks of `timeBase` run at, when it is not `fps`; nil when it is,
    /// or when the file does not say (no duration, no frames). Each end of the presentation may be rounded by up to
    /// a tick (Matroska keeps milliseconds: 30 fps frames last 33 or 34), so the frames may differ from `fps`'s by two
    /// ticks in all, or by 0.05% (29.97 and 30000/1001 are one rate; 29.97 and 30 are not, given enough frames).
    static func measuredRate(duration: Int64, frames: Int, timeBase: Rational, fps: Double) -> Double? {
        guard duration > 0, frames > 0, timeBase.num > 0, timeBase.den > 0, fps > 0, fps.isFinite else { return nil }
        let expected = Double(timeBase.den) / (Double(timeBase.num) * fps) * Double(frames)
        let tolerance = max(2, expected * 0.0005)
        guard abs(Double(duration) - expected) > tolerance else { return nil }
        return Double(frames) * Double(timeBase.den) / (Double(duration) * Double(timeBase.num))
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
