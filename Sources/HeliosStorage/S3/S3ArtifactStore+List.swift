import Foundation

extension S3ArtifactStore {
    /// ListObjectsV2, 1000 keys a page, following continuation tokens.
    public func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing {
        let store = self
        let listPrefix = prefix.map { objectKey($0) + "/" } ?? configuration.prefix.map { $0 + "/" } ?? ""
        return ArtifactListing { token throws(StorageError) in
            try await store.listPage(prefix: listPrefix, delimiter: recursive ? nil : "/", token: token, maxKeys: 1000)
        }
    }

    /// One page of objects under the object-key prefix `prefix`.
    func listPage(prefix: String, delimiter: String?, token: String?, maxKeys: Int) async throws(StorageError) -> ArtifactListing.Page {
        let page = try await listObjects(prefix: prefix, delimiter: delimiter, token: token, maxKeys: maxKeys)
        let items = page.objects.compactMap { object -> ArtifactMetadata? in
            guard let key = artifactKey(objectKey: object.key) else { return nil }
            return ArtifactMetadata(key: key, uri: uri(for: key), backend: backend, size: object.size, sha256: nil,
                                    contentType: key.contentType, etag: object.etag, lastModified: object.lastModified)
        }
        return (items, page.next)
    }

    struct ListedObject: Sendable {
        var key: String
        var size: Int64
        var etag: String?
        var lastModified: Date?
    }

    func listObjects(prefix: String, delimiter: String?, token: String?,
                     maxKeys: Int) async throws(StorageError) -> (objects: [ListedObject], next: String?) {
        var query: [(String, String)] = [("list-type", "2"), ("max-keys", String(maxKeys))]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let token { query.append(("continuation-token", token)) }
        let answer = try await client.send(.init(name: "ListObjectsV2", method: .GET, key: nil, query: query))
        guard let root = S3XMLNode.parse(answer.body) else {
            throw StorageError(.server, "S3 ListObjectsV2 of \"\(prefix)\" returned unreadable XML", key: prefix)
        }
        let objects = root.all("Contents").map { node in
            ListedObject(key: node.string("Key") ?? "", size: node.string("Size").flatMap { Int64($0) } ?? 0,
                         etag: node.string("ETag"), lastModified: node.string("LastModified").flatMap(S3Dates.iso8601))
        }
        let truncated = root.string("IsTruncated") == "true"
        let next = truncated ? root.string("NextContinuationToken") : nil
        if truncated && next == nil {
            throw StorageError(.server, "S3 ListObjectsV2 of \"\(prefix)\" is truncated without a continuation token", key: prefix)
        }
        return (objects, next)
    }
}
