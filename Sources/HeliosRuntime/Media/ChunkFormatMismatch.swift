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
    public typealias Problem = PictureMismatch

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

    /// Throws when `input`'s video (the stream a stitch times by) is not `metadata`'s size or rate
    /// (`ProbedInput.pictureMismatch`).
    public static func check(_ input: ProbedInput, chunk: RenderJobChunk, metadata: JobMetadata) throws(ChunkFormatMismatch) {
        if let problem = input.pictureMismatch(width: metadata.width, height: metadata.height, fps: metadata.fps) {
            throw ChunkFormatMismatch(problem: problem, chunk: chunk, metadata: metadata)
        }
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
