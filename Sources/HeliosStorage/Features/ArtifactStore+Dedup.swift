import Foundation

/// The outcome of a content-addressed write.
public struct DeduplicatedPut: Sendable, Hashable {
    public var metadata: ArtifactMetadata
    /// False when an object with the same content was already there and nothing was sent.
    public var uploaded: Bool
    /// The bytes not sent because the content was present (0 when uploaded).
    public var bytesSkipped: Int64
}

extension ArtifactStore {
    /// The content-addressed key of a SHA-256 under `prefix`: `{prefix}/sha256/{hex}`.
    public func contentAddressedKey(sha256: String, under prefix: ArtifactKey) throws(StorageError) -> ArtifactKey {
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw StorageError(.invalidKey, "\"\(sha256)\" is not a lower-case hex SHA-256", key: sha256)
        }
        return try prefix.appending("sha256/\(sha256)")
    }

    /// Stores `file` under its content's key (`{prefix}/sha256/{hex}`). A HEAD first: when an object with that
    /// content is present (size and recorded hash agree) nothing is sent and its size is reported as skipped.
    /// A racing writer of the same content is not an error (the write is create-only).
    public func putDeduplicated(file: URL, under prefix: ArtifactKey, options: PutOptions = PutOptions())
        async throws(StorageError) -> DeduplicatedPut {
        let (size, sha256) = try await S3FileIO.sha256(of: file.path)
        let key = try contentAddressedKey(sha256: sha256, under: prefix)
        if let present = try await presentCopy(key, size: size, sha256: sha256) {
            options.progress?(TransferProgress(key: key, state: .complete, bytes: size, total: size))
            return DeduplicatedPut(metadata: present, uploaded: false, bytesSkipped: size)
        }
        var createOnly = options
        createOnly.ifAbsent = true
        do {
            let stored = try await put(file: file, to: key, options: createOnly)
            return DeduplicatedPut(metadata: stored, uploaded: true, bytesSkipped: 0)
        } catch where error.code == .alreadyExists {
            let present = try await metadata(key)
            return DeduplicatedPut(metadata: present, uploaded: false, bytesSkipped: size)
        }
    }

    /// The object at `key` if it holds content of this size and hash.
    private func presentCopy(_ key: ArtifactKey, size: Int64, sha256: String) async throws(StorageError) -> ArtifactMetadata? {
        let found: ArtifactMetadata
        do {
            found = try await metadata(key)
        } catch where error.code == .notFound {
            return nil
        }
        guard found.size == size, found.sha256 == nil || found.sha256 == sha256 else {
            throw StorageError(.integrity, "\(found.uri) holds \(found.size) bytes with sha256 \(found.sha256 ?? "?"), "
                               + "not the content its key names", key: key.rawValue)
        }
        return found
    }
}
