import Foundation
import HeliosStorage

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

    enum CodingKeys: String, CodingKey { case id, assetsUrl, metadata, chunks, mergeCommand }

    /// Decodes the spec; `id` may also be a JSON integer (the original TypeScript shape) and becomes its decimal string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIdentifier(forKey: .id)
        assetsUrl = try container.decodeIfPresent(String.self, forKey: .assetsUrl)
        metadata = try container.decode(JobMetadata.self, forKey: .metadata)
        let chunks = try container.decode([RenderJobChunk].self, forKey: .chunks)
        // Decoding grows the array by doubling, to up to twice the room the chunks take, and a job holds its spec to
        // the end: keep them in an array of their own size (10,000 chunks: 0.4 MB less).
        self.chunks = chunks.capacity > chunks.count + chunks.count / 8 ? chunks.withUnsafeBufferPointer { Array($0) } : chunks
        mergeCommand = try container.decodeIfPresent(String.self, forKey: .mergeCommand)
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

extension JobMetadata {
    /// The picture a chunk's command renders, as environment variables: `HELIOS_WIDTH`, `HELIOS_HEIGHT` and
    /// `HELIOS_FPS` (an integer when the rate is whole, `29.97` or the spec's exact decimal otherwise).
    public var environment: [String: String] {
        let rate = fps.isFinite && fps == fps.rounded() && abs(fps) < 1e9 ? String(Int(fps)) : String(fps)
        return ["HELIOS_WIDTH": String(width), "HELIOS_HEIGHT": String(height), "HELIOS_FPS": rate]
    }
}

/// One unit of rendering work: a contiguous frame range, the command that renders it and the file it writes.
public struct RenderJobChunk: Codable, Sendable, Hashable, Identifiable {
    public var id: String
    public var startFrame: Int
    public var frameCount: Int
    /// Output path relative to the job directory.
    public var outputFile: String {
        get { texts.part(0, of: 2) ?? "" }
        set { texts = PackedText([newValue, command]) }
    }
    /// Command line, split POSIX-style without a shell (quotes and backslash escapes; no globbing or variables).
    public var command: String {
        get { texts.part(1, of: 2) ?? "" }
        set { texts = PackedText([outputFile, newValue]) }
    }
    /// The output path and the command in one string: a runner holds every chunk of its job to the end, and one
    /// allocation for both instead of two took 0.64 MB less at 10,000 chunks (48 bytes a chunk, 16 in the array).
    private var texts: PackedText

    public init(id: String, startFrame: Int, frameCount: Int, outputFile: String, command: String) {
        self.id = id
        self.startFrame = startFrame
        self.frameCount = frameCount
        self.texts = PackedText([outputFile, command])
    }

    enum CodingKeys: String, CodingKey { case id, startFrame, frameCount, outputFile, command }

    /// Decodes the chunk; `id` may also be a JSON integer (`RenderJobChunk.id: number` in the original TypeScript
    /// system) and becomes its decimal string, so `0` and `"0"` name the same chunk.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIdentifier(forKey: .id)
        startFrame = try container.decode(Int.self, forKey: .startFrame)
        frameCount = try container.decode(Int.self, forKey: .frameCount)
        texts = PackedText([try container.decode(String.self, forKey: .outputFile), try container.decode(String.self, forKey: .command)])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(startFrame, forKey: .startFrame)
        try container.encode(frameCount, forKey: .frameCount)
        try container.encode(outputFile, forKey: .outputFile)
        try container.encode(command, forKey: .command)
    }
}

extension KeyedDecodingContainer {
    /// A string, or an integer as its decimal string.
    func decodeIdentifier(forKey key: Key) throws -> String {
        if let text = try? decode(String.self, forKey: key) { return text }
        if let number = try? decode(Int.self, forKey: key) { return String(number) }
        if !contains(key) {
            throw DecodingError.keyNotFound(key, DecodingError.Context(codingPath: codingPath, debugDescription: "missing key '\(key.stringValue)'"))
        }
        throw DecodingError.typeMismatch(String.self, DecodingError.Context(
            codingPath: codingPath + [key], debugDescription: "Expected a string or an integer id"))
    }
}

extension JobSpec {
    /// The encoder used for specs and statuses everywhere: sorted keys, ISO 8601 dates.
    public static func makeEncoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = InternetDate.encodingStrategy
        return encoder
    }

    /// The matching decoder.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = InternetDate.decodingStrategy
        return decoder
    }

    /// Reads and validates a spec file. Errors name the file.
    public static func load(from url: URL) throws -> JobSpec {
        let data = try readLimited(url, limit: maximumSpecBytes)
        let spec: JobSpec
        do { spec = try makeDecoder().decode(JobSpec.self, from: data) } catch {
            throw OrchestratorError.unreadableSpec(path: url.path, reason: "not a job spec: \(describeDecodingError(error))")
        }
        try spec.validate()
        return spec
    }
}

/// Reads at most `limit` bytes of `url`; a larger file (by its size, or by what a pipe delivers) is refused before
/// any of it is parsed, so a huge spec costs neither memory nor time.
func readLimited(_ url: URL, limit: Int) throws -> Data {
    let handle: FileHandle
    do { handle = try FileHandle(forReadingFrom: url) } catch {
        throw OrchestratorError.unreadableSpec(path: url.path, reason: error.localizedDescription)
    }
    defer { try? handle.close() }
    let tooLarge = { (size: String) in
        OrchestratorError.unreadableSpec(path: url.path, reason: "is \(size); job specs are limited to \(limit / (1024 * 1024)) MiB (\(limit) bytes)")
    }
    if let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue, size > limit {
        throw tooLarge("\(size) bytes")
    }
    let data: Data
    do { data = try handle.read(upToCount: limit + 1) ?? Data() } catch {
        throw OrchestratorError.unreadableSpec(path: url.path, reason: error.localizedDescription)
    }
    if data.count > limit { throw tooLarge("larger than \(limit) bytes") }
    return data
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
