import Foundation

/// What a store knows of one object.
public struct ArtifactMetadata: Sendable, Hashable, Codable {
    public var key: ArtifactKey
    /// `file:///…` or `s3://bucket/key`.
    public var uri: String
    /// `local`, `s3` or `memory`.
    public var backend: String
    public var size: Int64
    /// Lower-case hex SHA-256 of the content, when known (always for objects Helios wrote).
    public var sha256: String?
    public var contentType: String
    public var etag: String?
    public var lastModified: Date?
    /// User metadata (`x-amz-meta-*` on S3), lower-case keys.
    public var metadata: [String: String]

    public init(key: ArtifactKey, uri: String, backend: String, size: Int64, sha256: String?, contentType: String,
                etag: String? = nil, lastModified: Date? = nil, metadata: [String: String] = [:]) {
        self.key = key
        self.uri = uri
        self.backend = backend
        self.size = size
        self.sha256 = sha256
        self.contentType = contentType
        self.etag = etag
        self.lastModified = lastModified
        self.metadata = metadata
    }
}

extension ArtifactKey: Codable {
    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(String.self)
        try self.init(value)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
