import Foundation
import HeliosMedia
import HeliosOrchestrator
import Logging

/// Accepts a chunk output only if `MediaProbe` can read it as media.
public struct MediaProbeValidator: ChunkOutputValidator {
    public init() {}

    public func validate(_ url: URL) async throws {
        do { _ = try MediaProbe.probe(url) } catch { throw MediaFailure(error: error) }
    }
}

/// A `StitchError` carrying its retryability to the executor.
public struct MediaFailure: Error, RetryClassifying, CustomStringConvertible {
    public var error: StitchError
    public init(error: StitchError) { self.error = error }
    public var isRetryable: Bool { error.isRetryable }
    public var description: String { error.description }
}
