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
/// at once (3.9 MB at a 10,000-chunk runner's peak). Probes run on a thread of their own, off the cooperative pool.
public final class MediaProbeValidator: ChunkOutputValidator, Sendable {
    private let reference = Mutex<ProbeReference?>(nil)

    public init() {}

    public func validate(_ url: URL) async throws {
        let known = reference.withLock { $0 }
        let found: ProbeReference?
        do {
            found = try await DedicatedThread.run { () throws(StitchError) -> ProbeReference? in
                var reference = known
                _ = try MediaProbe.probe(url, reference: &reference)
                return reference
            }
        } catch { throw MediaFailure(error: error) }
        if let found { reference.withLock { if $0 == nil { $0 = found } } }
    }

    /// Whether a chunk was decoded (the parameters later chunks are compared with are known).
    var hasReference: Bool { reference.withLock { $0 != nil } }
}

/// A `StitchError` carrying its retryability to the executor.
public struct MediaFailure: Error, RetryClassifying, CustomStringConvertible {
    public var error: StitchError
    public init(error: StitchError) { self.error = error }
    public var isRetryable: Bool { error.isRetryable }
    public var description: String { error.description }
}
