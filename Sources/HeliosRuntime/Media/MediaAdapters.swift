import Foundation
import HeliosMedia
import HeliosOrchestrator
import Logging
import Synchronization

/// Accepts a chunk output only if `MediaProbe` can read it as media.
///
/// The first chunk's stream parameters are decoded; a later chunk whose container header declares exactly the same
/// parameters, extradata included, takes them from it instead of decoding its own first frames, as a stitch's probe
/// does (`ProbeReference`): a job's chunks come from one encoder, so each validation reads the container and its
/// index but decodes nothing. Decoding every chunk held a megabyte or more of decoder state per validation running
/// at once (3.9 MB at a 10,000-chunk runner's peak). Until the first chunk's parameters are known, probes decode one at
/// a time: the first chunks of a job complete together, and each decoding its start at once held every decoder's state
/// together (4.5 MB more at the start of a 1,000-chunk job, its peak). Probes run on a thread of their own, off the
/// cooperative pool; one waiting for another's decode blocks that thread, not the pool.
public final class MediaProbeValidator: ChunkOutputValidator, Sendable {
    private let reference = Mutex<ProbeReference?>(nil)
    /// Held by a probe that decodes because no reference is known yet.
    private let decoding = NSLock()
    /// Probes made without a reference (each decoded its chunk's start), for tests.
    private let unreferenced = Mutex(0)

    public init() {}

    public func validate(_ url: URL) async throws {
        _ = try await probe(url)
    }

    /// Probes `url` as `validate(_:)` does, and refuses it unless it holds `chunk`'s frames (`FrameCountMismatch`).
    public func validate(_ url: URL, for chunk: RenderJobChunk) async throws {
        try FrameCountMismatch.check(try await probe(url), chunk: chunk)
    }

    /// Probes `url` as `validate(_:)` does, and refuses it unless it holds `chunk`'s frames (`FrameCountMismatch`)
    /// at `metadata`'s size and rate (`ChunkFormatMismatch`).
    public func validate(_ url: URL, for chunk: RenderJobChunk, of metadata: JobMetadata) async throws {
        try Self.check(try await probe(url), chunk: chunk, metadata: metadata)
    }

    /// Refuses `input` unless it holds `chunk`'s frames (`FrameCountMismatch`) at `metadata`'s size and rate
    /// (`ChunkFormatMismatch`): what the runner asks of a local chunk, and a remote worker of its own before it uploads.
    public static func check(_ input: ProbedInput, chunk: RenderJobChunk, metadata: JobMetadata) throws {
        try FrameCountMismatch.check(input, chunk: chunk)
        try ChunkFormatMismatch.check(input, chunk: chunk, metadata: metadata)
    }

    private func probe(_ url: URL) async throws -> ProbedInput {
        do {
            return try await DedicatedThread.run { () throws(StitchError) -> ProbedInput in
                if let known = self.reference.withLock({ $0 }) { return try self.probe(url, known) }
                self.decoding.lock()
                defer { self.decoding.unlock() }
                // The probe waited for may have found the reference.
                return try self.probe(url, self.reference.withLock { $0 })
            }
        } catch { throw MediaFailure(error: error) }
    }

    /// Probes `url` with `known` (decoding when nil or when its header differs) and keeps the first reference found.
    private func probe(_ url: URL, _ known: ProbeReference?) throws(StitchError) -> ProbedInput {
        var found = known
        if known == nil { unreferenced.withLock { $0 += 1 } }
        let input = try MediaProbe.probe(url, reference: &found)
        if known == nil, let found { reference.withLock { if $0 == nil { $0 = found } } }
        return input
    }

    /// Whether a chunk was decoded (the parameters later chunks are compared with are known).
    var hasReference: Bool { reference.withLock { $0 != nil } }
    /// How many probes ran without a reference.
    var probesWithoutReference: Int { unreferenced.withLock { $0 } }
}

/// A chunk's output whose video holds another number of frames than the chunk was given: a renderer that rounds
/// its cut (`-t` of a duration that is not a whole number of frames), stops at the end of a shorter input
/// (`-shortest`), or renders at another rate. Stitched, the video would be short or long by that many frames with
/// nothing to show for it. Not retryable: rendering the same chunk again writes the same frames. Outputs without video
/// are not counted.
public struct FrameCountMismatch: RepeatedRenderFailure, RetryClassifying, CustomStringConvertible {
    public var frames: Int
    public var chunk: RenderJobChunk
    public var isRetryable: Bool { false }

    public var description: String {
        let end = chunk.startFrame + chunk.frameCount - 1
        return "holds \(frames) video frame\(frames == 1 ? "" : "s"), but chunk \(chunk.id) is \(chunk.frameCount) frame\(chunk.frameCount == 1 ? "" : "s") "
            + "(\(chunk.frameCount == 1 ? "frame \(chunk.startFrame)" : "frames \(chunk.startFrame) to \(end)") of the composition): its command must "
            + "render exactly the frames HELIOS_START_FRAME and HELIOS_FRAME_COUNT give"
    }

    /// Throws when `input`'s video (its frames shown: those an edit list hides are not) is not `chunk`'s frame count.
    public static func check(_ input: ProbedInput, chunk: RenderJobChunk) throws(FrameCountMismatch) {
        guard let m = input.masterStreamIndex, input.streams[m].signature.kind == .video else { return }
        let frames = input.streams[m].shownFrames
        if frames != chunk.frameCount { throw FrameCountMismatch(frames: frames, chunk: chunk) }
    }
}

/// A `StitchError` carrying its retryability to the executor.
public struct MediaFailure: Error, RetryClassifying, CustomStringConvertible {
    public var error: StitchError
    public init(error: StitchError) { self.error = error }
    public var isRetryable: Bool { error.isRetryable }
    public var description: String { error.description }
}
