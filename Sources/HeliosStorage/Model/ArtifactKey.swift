/// A validated, normalised object key: UTF-8, at most 1024 bytes, `/`-separated segments with no empty,
/// `.` or `..` segment, no leading `/`, no backslash and no control character.
///
/// Keys are the only way to name an object in an ``ArtifactStore``, so a key that could escape a store's root
/// (or a tenant's prefix) cannot be built.
public struct ArtifactKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The key as stored: segments joined by `/`.
    public let rawValue: String

    /// The largest key, in UTF-8 bytes, that S3 accepts.
    public static let maximumBytes = 1024

    /// Validates `rawValue`. A single trailing `/` is dropped (it names the same prefix); anything else that is
    /// not already normal is refused rather than silently rewritten, so two spellings never name one object.
    public init(_ rawValue: String) throws(StorageError) {
        var value = rawValue
        if value.count > 1, value.hasSuffix("/") { value.removeLast() }
        if let problem = ArtifactKey.problem(in: value) {
            throw StorageError(.invalidKey, "invalid key \"\(ArtifactKey.printable(rawValue))\": \(problem)", key: rawValue)
        }
        self.rawValue = value
    }

    /// A key spelled in the source, known to be normal (checked in debug builds).
    init(normal literal: StaticString) {
        rawValue = "\(literal)"
        assert(ArtifactKey.problem(in: rawValue) == nil, "\(literal) is not a normal key")
    }

    /// The key's segments.
    public var segments: [Substring] { rawValue.split(separator: "/", omittingEmptySubsequences: false) }

    /// The last segment.
    public var filename: Substring { segments.last ?? Substring(rawValue) }

    /// The key joined with further segments (each validated).
    public func appending(_ suffix: String) throws(StorageError) -> ArtifactKey {
        try ArtifactKey(rawValue + "/" + suffix)
    }

    /// Whether this key lies under `prefix` (segment-wise: `a/bc` is not under `a/b`).
    public func isUnder(_ prefix: ArtifactKey) -> Bool {
        rawValue == prefix.rawValue || rawValue.hasPrefix(prefix.rawValue + "/")
    }

    public var description: String { rawValue }
    public static func < (lhs: ArtifactKey, rhs: ArtifactKey) -> Bool {
        // S3 lists keys in UTF-8 byte order; so do we.
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    /// What is wrong with `value` as a key, or nil.
    static func problem(in value: String) -> String? {
        if value.isEmpty { return "the key is empty" }
        if value.utf8.count > maximumBytes { return "it is \(value.utf8.count) bytes long; the limit is \(maximumBytes)" }
        if value.hasPrefix("/") { return "it starts with '/'" }
        if value.contains("\\") { return "it contains a backslash" }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "it contains a control character"
        }
        for segment in value.split(separator: "/", omittingEmptySubsequences: false) {
            switch segment {
            case "": return "it has an empty segment ('//')"
            case ".": return "it has a '.' segment"
            case "..": return "it has a '..' segment"
            default: continue
            }
        }
        return nil
    }

    /// `value` with control characters escaped, for messages.
    static func printable(_ value: String) -> String {
        String(value.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined().prefix(200))
    }
}

extension ArtifactKey {
    /// `{tenant}/{run}/{type}/{filename}`, each part one valid segment.
    public static func build(tenant: String, run: String, type: String, filename: String) throws(StorageError) -> ArtifactKey {
        for (name, part) in [("tenant", tenant), ("run", run), ("type", type), ("filename", filename)] where part.contains("/") {
            throw StorageError(.invalidKey, "invalid \(name) \"\(printable(part))\": it must be one key segment, without '/'", key: part)
        }
        return try ArtifactKey("\(tenant)/\(run)/\(type)/\(filename)")
    }

    /// The content type for the key's extension, or `application/octet-stream`.
    public var contentType: String { ContentType.forFilename(String(filename)) }
}

/// Content types by file extension.
public enum ContentType {
    static let byExtension: [String: String] = [
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
        "mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime", "mkv": "video/x-matroska",
        "mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "zip": "application/zip",
        "html": "text/html", "json": "application/json",
    ]
    /// The fallback for unknown extensions.
    public static let octetStream = "application/octet-stream"

    /// The content type for `filename`'s extension (case-insensitive), or `application/octet-stream`.
    public static func forFilename(_ filename: String) -> String {
        guard let dot = filename.lastIndex(of: "."), dot != filename.startIndex else { return octetStream }
        return byExtension[filename[filename.index(after: dot)...].lowercased()] ?? octetStream
    }
}
