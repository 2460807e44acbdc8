import Foundation
import HeliosOrchestrator

/// What a remote worker is asked to do: render one chunk of one job and put its output somewhere.
///
/// Versioned JSON, the same for every remote platform (Lambda, Cloud Run). Unknown fields are ignored; an unknown
/// ``version`` is a `badRequest`.
public struct ChunkRequest: Codable, Sendable, Hashable {
    /// The protocol version this build speaks.
    public static let currentVersion = 1

    public var version: Int
    public var jobId: String
    public var chunk: Chunk
    /// 1 for the first attempt; part of the output key, so a late attempt never overwrites another's output.
    public var attempt: Int
    /// Where the job spec is: inline, or a URL the worker can read.
    public var spec: SpecSource
    /// The asset bundle's manifest URI, if the job has assets.
    public var assetsManifest: String?
    /// Where the output goes.
    public var output: OutputTarget
    /// The time by which the worker must have answered, in milliseconds since the Unix epoch.
    public var deadlineMs: Int64?

    public struct Chunk: Codable, Sendable, Hashable {
        public var id: String
        public var startFrame: Int
        public var frameCount: Int
        /// The command line (split POSIX-style, no shell), as in the job spec.
        public var command: String
        /// The file the command writes, relative to the workspace.
        public var outputFile: String

        public init(id: String, startFrame: Int, frameCount: Int, command: String, outputFile: String) {
            self.id = id
            self.startFrame = startFrame
            self.frameCount = frameCount
            self.command = command
            self.outputFile = outputFile
        }

        /// The chunk as the job spec describes it.
        public init(_ chunk: RenderJobChunk) {
            self.init(id: chunk.id, startFrame: chunk.startFrame, frameCount: chunk.frameCount, command: chunk.command,
                      outputFile: chunk.outputFile)
        }
    }

    /// The spec, inline (small specs) or by URL: `https://` (presigned), `s3://` or `file://`.
    public enum SpecSource: Codable, Sendable, Hashable {
        case inline(String)
        case url(String)

        enum CodingKeys: String, CodingKey { case inline, url }
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let inline = try container.decodeIfPresent(String.self, forKey: .inline) {
                self = .inline(inline)
            } else {
                self = .url(try container.decode(String.self, forKey: .url))
            }
        }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .inline(let text): try container.encode(text, forKey: .inline)
            case .url(let url): try container.encode(url, forKey: .url)
            }
        }
    }

    /// Where the worker puts its output: a presigned PUT URL, or a store URI prefix under which the worker writes
    /// `{jobId}/chunks/{chunkId}/attempt-{n}/{file}` create-only.
    public enum OutputTarget: Codable, Sendable, Hashable {
        case presignedPut(url: String, uri: String)
        case store(prefix: String)

        enum CodingKeys: String, CodingKey { case presignedPut, uri, storePrefix }
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let url = try container.decodeIfPresent(String.self, forKey: .presignedPut) {
                self = .presignedPut(url: url, uri: try container.decode(String.self, forKey: .uri))
            } else {
                self = .store(prefix: try container.decode(String.self, forKey: .storePrefix))
            }
        }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .presignedPut(let url, let uri):
                try container.encode(url, forKey: .presignedPut)
                try container.encode(uri, forKey: .uri)
            case .store(let prefix): try container.encode(prefix, forKey: .storePrefix)
            }
        }
    }

    public init(version: Int = ChunkRequest.currentVersion, jobId: String, chunk: Chunk, attempt: Int, spec: SpecSource,
                assetsManifest: String? = nil, output: OutputTarget, deadlineMs: Int64? = nil) {
        self.version = version
        self.jobId = jobId
        self.chunk = chunk
        self.attempt = attempt
        self.spec = spec
        self.assetsManifest = assetsManifest
        self.output = output
        self.deadlineMs = deadlineMs
    }

    /// The key, relative to a store prefix, where attempt `attempt` of `chunkId` puts `file`.
    public static func outputKey(jobId: String, chunkId: String, attempt: Int, file: String) -> String {
        "\(jobId)/chunks/\(chunkId)/attempt-\(attempt)/\(file)"
    }
}
