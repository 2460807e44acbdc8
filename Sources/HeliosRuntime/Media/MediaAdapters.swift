import Foundation
import HeliosMedia
import HeliosOrchestrator
import Logging

/// Merges chunks in process with HeliosMedia's `NativeStitcher`; the full stitch report goes into the job result.
public struct NativeStitchMerger: ChunkMerger {
    public var options: StitchOptions

    public init(options: StitchOptions) { self.options = options }

    public func merge(chunks: [URL], into output: URL) async throws -> MergeSummary {
        let report: StitchReport
        do { report = try await NativeStitcher(options: options).stitch(chunks, to: output) } catch let error as StitchError {
            throw MediaFailure(error: error)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) }
        return MergeSummary(
            outputPath: report.output?.path ?? output.path,
            bytes: report.output?.bytes ?? 0,
            durationSeconds: report.output?.streams.map(\.durationSeconds).max(),
            videoFrames: report.output?.videoFrames,
            warnings: report.issues.filter { $0.severity == .warning }.count,
            reportJSON: json)
    }
}

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
