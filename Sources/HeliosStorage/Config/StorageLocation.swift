import Foundation

/// Where a command-line argument points: an `s3://bucket/key` URI, a `file:///path` URI, or a bare key in the
/// default store. Parsing is pure; ``StorageFactory`` turns a location into a store and a key.
public enum StorageLocation: Sendable, Hashable {
    /// `s3://bucket/key` (key nil: the whole bucket).
    case s3(bucket: String, key: ArtifactKey?)
    /// `file:///path`: an absolute local path, resolved against the local store's objects directory.
    case file(path: String)
    /// A bare key (nil: the whole default store).
    case key(ArtifactKey?)

    /// Parses `text`. An empty string or `/` is the whole default store.
    public static func parse(_ text: String) throws(StorageError) -> StorageLocation {
        if text.isEmpty || text == "/" { return .key(nil) }
        if let rest = text.dropPrefix("s3://") {
            let bucketPart = rest.prefix { $0 != "/" }
            let bucket = String(bucketPart)
            guard S3Bucket.isValid(bucket) else {
                throw StorageError(.invalidURI, "invalid URI \(text): \"\(bucket)\" is not a valid S3 bucket name (3-63 lower-case letters, digits, '.' or '-')", key: text)
            }
            var keyText = String(rest.dropFirst(bucketPart.count))
            if keyText.hasPrefix("/") { keyText.removeFirst() }
            if keyText.isEmpty { return .s3(bucket: bucket, key: nil) }
            do { return .s3(bucket: bucket, key: try ArtifactKey(keyText)) } catch {
                throw StorageError(.invalidURI, "invalid URI \(text): \(error.message)", key: text)
            }
        }
        if text.lowercased().hasPrefix("file:") {
            guard let url = URL(string: text), url.isFileURL, url.host == nil || url.host == "" || url.host == "localhost" else {
                throw StorageError(.invalidURI, "invalid URI \(text): use file:///absolute/path (three slashes)", key: text)
            }
            let path = url.path
            guard path.hasPrefix("/") else { throw StorageError(.invalidURI, "invalid URI \(text): the path must be absolute", key: text) }
            return .file(path: path)
        }
        if let scheme = text.range(of: "://") {
            throw StorageError(.invalidURI, "invalid URI \(text): unknown scheme \"\(text[..<scheme.lowerBound])\"; use s3://, file:// or a bare key", key: text)
        }
        do { return .key(try ArtifactKey(text)) } catch {
            throw StorageError(.invalidURI, "invalid location \(text): \(error.message)", key: text)
        }
    }

    /// The key of a `file://` path under `objectsDirectory` (nil: the directory itself); refuses paths outside it.
    public static func key(ofPath path: String, in objectsDirectory: URL) throws(StorageError) -> ArtifactKey? {
        let base = objectsDirectory.standardizedFileURL.path
        let normal = URL(fileURLWithPath: path).standardizedFileURL.path
        if normal == base { return nil }
        guard normal.hasPrefix(base + "/") else {
            throw StorageError(.invalidURI, "file://\(path) is outside the local store's objects directory \(base); file:// URIs must name objects in it (set HELIOS_STORAGE to use another store)", key: path)
        }
        do { return try ArtifactKey(String(normal.dropFirst(base.count + 1))) } catch {
            throw StorageError(.invalidURI, "file://\(path): \(error.message)", key: path)
        }
    }
}

/// S3 bucket naming rules (the ones that matter for parsing).
public enum S3Bucket {
    public static func isValid(_ name: String) -> Bool {
        guard (3...63).contains(name.utf8.count) else { return false }
        let allowed = name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 46 || $0 == 45 }
        guard allowed, let first = name.utf8.first, let last = name.utf8.last else { return false }
        let alnum: (UInt8) -> Bool = { (97...122).contains($0) || (48...57).contains($0) }
        return alnum(first) && alnum(last) && !name.contains("..")
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
