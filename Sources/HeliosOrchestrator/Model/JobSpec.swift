import Foundation

/// What a render job is: its frames, the chunks that render them, and how they are merged.
///
/// Encoded as stable JSON (sorted keys); this is the file `helios job plan` writes and `helios job run` reads.
public struct JobSpec: Codable, Sendable, Hashable {
    /// Job identifier; `[A-Za-z0-9._-]`, 1...128 characters.
    public var id: String
    /// Where the renderer finds its assets, if it needs to be told.
    public var assetsUrl: String?
    public var metadata: JobMetadata
    /// Chunks in timeline order; their frame ranges cover `0..<metadata.totalFrames`.
    public var chunks: [RenderJobChunk]
    /// Command that merges the chunk outputs; nil merges with the in-process stitcher.
    /// Placeholders: `{inputs}` (one argument per chunk output), `{list}` (a concat list file), `{output}`.
    public var mergeCommand: String?

    public init(id: String, assetsUrl: String? = nil, metadata: JobMetadata, chunks: [RenderJobChunk], mergeCommand: String? = nil) {
        self.id = id
        self.assetsUrl = assetsUrl
        self.metadata = metadata
        self.chunks = chunks
        self.mergeCommand = mergeCommand
    }
}

/// Timeline facts of a job.
public struct JobMetadata: Codable, Sendable, Hashable {
    public var totalFrames: Int
    public var fps: Double
    public var width: Int
    public var height: Int
    /// Duration in seconds.
    public var duration: Double

    public init(totalFrames: Int, fps: Double, width: Int, height: Int, duration: Double? = nil) {
        self.totalFrames = totalFrames
        self.fps = fps
        self.width = width
        self.height = height
        self.duration = duration ?? (fps > 0 ? Double(totalFrames) / fps : 0)
    }
}

/// One unit of rendering work: a contiguous frame range, the command that renders it and the file it writes.
public struct RenderJobChunk: Codable, Sendable, Hashable, Identifiable {
    public var id: String
    public var startFrame: Int
    public var frameCount: Int
    /// Output path relative to the job directory.
    public var outputFile: String
    /// Command line, split POSIX-style without a shell (quotes and backslash escapes; no globbing or variables).
    public var command: String

    public init(id: String, startFrame: Int, frameCount: Int, outputFile: String, command: String) {
        self.id = id
        self.startFrame = startFrame
        self.frameCount = frameCount
        self.outputFile = outputFile
        self.command = command
    }
}

extension JobSpec {
    /// The encoder used for specs and statuses everywhere: sorted keys, ISO 8601 dates.
    public static func makeEncoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// The matching decoder.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Reads and validates a spec file. Errors name the file.
    public static func load(from url: URL) throws -> JobSpec {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw OrchestratorError.unreadableSpec(path: url.path, reason: error.localizedDescription)
        }
        let spec: JobSpec
        do { spec = try makeDecoder().decode(JobSpec.self, from: data) } catch {
            throw OrchestratorError.unreadableSpec(path: url.path, reason: "not a job spec: \(describeDecodingError(error))")
        }
        try spec.validate()
        return spec
    }
}

/// A short, human description of a JSON decoding error, naming the key path.
func describeDecodingError(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "" : " at \(p)"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(path(context))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(context.debugDescription)\(path(context))"
    @unknown default: return "\(error)"
    }
}
