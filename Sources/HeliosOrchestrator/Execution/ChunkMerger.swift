import Foundation

/// Merges chunk outputs, in order, into one file. The default merger (`NativeStitchMerger` in `HeliosRuntime`) is
/// the native stitcher.
///
/// Chunks are the job's records (a store URI, size and SHA-256 each), not paths: a merger fetches them with
/// ``ChunkOutputFetcher``, which reads `file://` outputs in place and downloads `s3://` ones, verifying each.
public protocol ChunkMerger: Sendable {
    func merge(_ chunks: [ChunkOutputRecord], into output: URL) async throws -> MergeSummary
}

/// Decides whether a chunk's output is usable ("probes as media"). Throws when it is not.
public protocol ChunkOutputValidator: Sendable {
    func validate(_ url: URL) async throws
    /// Decides whether `url` is usable as `chunk`'s output (a media validator also counts its frames against the
    /// chunk's); by default, `validate(url)`.
    func validate(_ url: URL, for chunk: RenderJobChunk) async throws
    /// Decides whether `url` is usable as `chunk`'s output in a job of `metadata`'s picture (a media validator also
    /// compares the video's size and frame rate with the spec's); by default, `validate(url, for: chunk)`.
    func validate(_ url: URL, for chunk: RenderJobChunk, of metadata: JobMetadata) async throws
}

extension ChunkOutputValidator {
    public func validate(_ url: URL, for chunk: RenderJobChunk) async throws { try await validate(url) }
    public func validate(_ url: URL, for chunk: RenderJobChunk, of metadata: JobMetadata) async throws {
        try await validate(url, for: chunk)
    }
}

/// A validator's refusal that rendering the chunk again would repeat (its command renders other frames than the
/// chunk's): the executor fails the chunk at once rather than retry it.
public protocol RepeatedRenderFailure: Error {}

/// Accepts any existing, non-empty regular file. For commands whose output is not media, and for tests.
public struct NonEmptyFileValidator: ChunkOutputValidator {
    public init() {}
    public func validate(_ url: URL) async throws {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        guard let attributes else { throw ValidationFailure("does not exist") }
        guard (attributes[.type] as? FileAttributeType) == .typeRegular else { throw ValidationFailure("is not a regular file") }
        guard ((attributes[.size] as? NSNumber)?.int64Value ?? 0) > 0 else { throw ValidationFailure("is empty") }
    }
}

/// Why a validator rejected an output; always retryable (the next attempt may write it properly).
public struct ValidationFailure: Error, Sendable, CustomStringConvertible, RetryClassifying {
    public var description: String
    public init(_ description: String) { self.description = description }
    public var isRetryable: Bool { true }
}

/// Merges by running the spec's `mergeCommand` through a worker adapter.
///
/// Placeholders: `{inputs}` as a whole word becomes one argument per chunk output, `{list}` the path of a file
/// listing them in ffmpeg concat-demuxer syntax, `{output}` the output path.
public struct CommandMergeAdapter: ChunkMerger {
    public var command: String
    public var jobId: String
    public var workingDirectory: URL
    public var worker: any WorkerAdapter
    /// Makes the chunk records local files (stored outputs are downloaded into the working directory first).
    public var fetcher: ChunkOutputFetcher

    public init(command: String, jobId: String, workingDirectory: URL, worker: any WorkerAdapter,
                fetcher: ChunkOutputFetcher = .standard()) {
        self.command = command
        self.jobId = jobId
        self.workingDirectory = workingDirectory
        self.worker = worker
        self.fetcher = fetcher
    }

    public func merge(_ records: [ChunkOutputRecord], into output: URL) async throws -> MergeSummary {
        let staging = workingDirectory.appendingPathComponent(".helios-fetch-\(jobId)")
        defer { try? FileManager.default.removeItem(at: staging) }
        let chunks = try await fetcher.fetch(records, staging: staging)
        let listURL = workingDirectory.appendingPathComponent(".helios-merge-\(jobId).txt")
        let list = chunks.map { "file '" + $0.path.replacingOccurrences(of: "'", with: "'\\''") + "'\n" }.joined()
        try Data(list.utf8).write(to: listURL, options: .atomic)
        defer { try? FileManager.default.removeItem(at: listURL) }

        let words: [String]
        do { words = try CommandLineSplitter.split(command) } catch {
            throw OrchestratorError.mergeFailed(jobId: jobId, reason: "mergeCommand cannot be parsed: \(error)", retryable: false)
        }
        var expanded: [String] = []
        for word in words {
            if word == "{inputs}" { expanded += chunks.map(\.path); continue }
            expanded.append(word.replacingOccurrences(of: "{output}", with: output.path).replacingOccurrences(of: "{list}", with: listURL.path))
        }
        let line = expanded.map(CommandLineSplitter.quote).joined(separator: " ")
        let result = try await worker.execute(WorkerJob(jobId: jobId, chunkId: "merge", command: line, workingDirectory: workingDirectory))
        guard result.exitCode == 0 else {
            throw OrchestratorError.mergeFailed(jobId: jobId, reason: "mergeCommand exited with status \(result.exitCode): \(result.stderr.tail(maxBytes: 2048))", retryable: true)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? NSNumber)?.int64Value
        guard let size else {
            throw OrchestratorError.mergeFailed(jobId: jobId, reason: "mergeCommand succeeded but wrote no \(output.path)", retryable: false)
        }
        return MergeSummary(outputPath: output.path, bytes: size)
    }
}
