import Foundation
import HeliosMedia
import HeliosOrchestrator
import HeliosStorage
import Logging

/// Merges chunks in process with HeliosMedia's `NativeStitcher`; the full stitch report goes into the job result.
///
/// The chunks are the job's records: ``ChunkOutputFetcher`` reads `file://` outputs in place and downloads stored
/// ones (4 at a time) into a staging directory beside the output, each verified by size and SHA-256. With a
/// ``MergePublication`` the merged file is then put in the job's store, create-only, and a download URL made for it.
public struct NativeStitchMerger: ChunkMerger {
    public var options: StitchOptions
    public var fetcher: ChunkOutputFetcher
    public var publication: MergePublication?
    let logger: Logger

    public init(options: StitchOptions, fetcher: ChunkOutputFetcher = .standard(), publication: MergePublication? = nil,
                logger: Logger = Logger(label: "helios.merge")) {
        self.options = options
        self.fetcher = fetcher
        self.publication = publication
        self.logger = logger
    }

    public func merge(_ chunks: [ChunkOutputRecord], into output: URL) async throws -> MergeSummary {
        let staging = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.lastPathComponent).helios-fetch-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: staging) }
        let inputs = try await fetcher.fetch(chunks, staging: staging)
        let report: StitchReport
        do { report = try await NativeStitcher(options: options).stitch(inputs, to: output) } catch let error as StitchError {
            throw MediaFailure(error: error)
        }
        return try await summarize(report, output: output)
    }

    /// The job's view of a finished stitch, published when the merger has a ``MergePublication``.
    func summarize(_ report: StitchReport, output: URL) async throws -> MergeSummary {
        var summary = MergeSummary(
            outputPath: report.output?.path ?? output.path,
            bytes: report.output?.bytes ?? 0,
            durationSeconds: report.output?.streams.map(\.durationSeconds).max(),
            videoFrames: report.output?.videoFrames,
            warnings: report.issues.filter { $0.severity == .warning }.count,
            reportJSON: nil)
        // Spooled a piece at a time (past 64 KiB into an unnamed temporary file, which the job stores from): the report
        // of a long job is never whole in memory.
        summary.reportText = try? SpooledText.write { write in try report.writeJSON(to: write) }
        if let publication {
            let published = try await publication.publish(URL(fileURLWithPath: summary.outputPath))
            summary.storedURI = published.uri
            summary.url = published.url?.absoluteString
            summary.urlExpiresAt = published.url.map { _ in published.expiresAt }
            logger.debug("published", metadata: ["uri": "\(published.uri)"])
        }
        return summary
    }
}

/// Where a job's merged output is published: `PREFIX/JOB/output/JOB.EXT` in the job's store.
///
/// Create-only: an identical object already there (a re-run merge of the same chunks) is accepted; a different one
/// is refused, never overwritten.
public struct MergePublication: Sendable {
    public var store: any ArtifactStore
    public var key: ArtifactKey
    public var jobId: String
    /// How long the download URL is valid (default one hour).
    public var urlExpirySeconds: Int

    public init(store: any ArtifactStore, prefix: ArtifactKey?, jobId: String, fileExtension: String,
                urlExpirySeconds: Int = ArtifactURLExpiry.defaultSeconds) throws(StorageError) {
        let relative = "\(jobId)/output/\(jobId)" + (fileExtension.isEmpty ? "" : ".\(fileExtension)")
        self.store = store
        if let prefix { key = try prefix.appending(relative) } else { key = try ArtifactKey(relative) }
        self.jobId = jobId
        self.urlExpirySeconds = urlExpirySeconds
    }

    /// Puts `file` at ``key`` create-only and presigns a GET for it.
    public func publish(_ file: URL) async throws -> (uri: String, url: URL?, expiresAt: Date) {
        let expiresAt = Date().addingTimeInterval(TimeInterval(urlExpirySeconds))
        let putError: StorageError
        do {
            let uri = try await store.put(file: file, to: key, options: PutOptions(ifAbsent: true)).uri
            return (uri, try? store.url(for: key, expiresIn: urlExpirySeconds, method: .get), expiresAt)
        } catch {
            putError = error
        }
        guard putError.code == .alreadyExists else { throw putError }
        do {
            let existing = try await store.metadata(key)
            let digest = try await FileHash.sha256(of: file)
            guard existing.sha256 == digest.sha256, existing.size == digest.size else {
                throw OrchestratorError.mergeFailed(
                    jobId: jobId,
                    reason: "\(existing.uri) already holds a different output (SHA-256 \(existing.sha256 ?? "unknown"), \(existing.size) bytes; "
                        + "this merge made \(digest.sha256), \(digest.size) bytes); not overwritten",
                    retryable: false)
            }
            return (existing.uri, try? store.url(for: key, expiresIn: urlExpirySeconds, method: .get), expiresAt)
        }
    }
}
