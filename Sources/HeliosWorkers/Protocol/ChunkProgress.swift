import Foundation

/// How far a worker is with a chunk, reported while it works (the lines of an `application/x-ndjson` answer).
public struct ChunkProgress: Codable, Sendable, Hashable {
    public enum Phase: String, Codable, Sendable, Hashable {
        /// The spec is fetched and the request matches it.
        case accepted
        /// The asset bundle is in the workspace.
        case assets
        /// The chunk command is running.
        case rendering
        /// The command finished and its output probed as media.
        case rendered
        /// The output is stored.
        case uploaded
    }

    public var phase: Phase
    /// Frames rendered so far (the chunk's frame count once rendered).
    public var framesDone: Int
    /// Output bytes stored so far.
    public var bytesUploaded: Int64

    public init(phase: Phase, framesDone: Int = 0, bytesUploaded: Int64 = 0) {
        self.phase = phase
        self.framesDone = framesDone
        self.bytesUploaded = bytesUploaded
    }
}

/// One line of a streamed (`application/x-ndjson`) chunk answer: progress, a heartbeat while nothing else is said,
/// and finally the response. Each line is one JSON object with a `type` field.
public enum ChunkStreamLine: Codable, Sendable, Hashable {
    case progress(ChunkProgress)
    case heartbeat(elapsedMs: Int64)
    case response(ChunkResponse)

    enum CodingKeys: String, CodingKey { case type, progress, elapsedMs, response }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "progress": self = .progress(try container.decode(ChunkProgress.self, forKey: .progress))
        case "heartbeat": self = .heartbeat(elapsedMs: try container.decode(Int64.self, forKey: .elapsedMs))
        case "response": self = .response(try container.decode(ChunkResponse.self, forKey: .response))
        case let other: throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown line type \(other)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .progress(let progress):
            try container.encode("progress", forKey: .type)
            try container.encode(progress, forKey: .progress)
        case .heartbeat(let elapsed):
            try container.encode("heartbeat", forKey: .type)
            try container.encode(elapsed, forKey: .elapsedMs)
        case .response(let response):
            try container.encode("response", forKey: .type)
            try container.encode(response, forKey: .response)
        }
    }

    /// The line as JSON plus a newline.
    public func encodedLine() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = (try? encoder.encode(self)) ?? Data("{\"type\":\"heartbeat\",\"elapsedMs\":0}".utf8)
        data.append(0x0A)
        return data
    }
}
