import Crypto
import Foundation

extension S3ArtifactStore: ArtifactStoreMaintenance {
    /// The most keys one DeleteObjects takes.
    public var maximumDeleteBatch: Int { 1000 }

    /// Count and bytes under `prefix`, from the listing (S3 has no cheaper way).
    public func usage(prefix: ArtifactKey?) async throws(StorageError) -> StorageUsage {
        try await StorageMaintenance.genericUsage(of: self, prefix: prefix)
    }

    /// Deletes the objects under `prefix` last modified before `cutoff` with DeleteObjects, 1000 keys a request,
    /// then aborts incomplete multipart uploads under `prefix` started before `cutoff`. The expired keys are
    /// collected first, so deleting never disturbs the listing's pages.
    public func cleanup(prefix: ArtifactKey?, olderThan cutoff: Date) async throws(StorageError) -> CleanupReport {
        var report = CleanupReport()
        var expired: [ArtifactMetadata] = []
        for try await item in list(prefix: prefix, recursive: true) {
            if let modified = item.lastModified, modified < cutoff {
                expired.append(item)
            } else {
                report.keptObjects += 1
            }
        }
        var start = 0
        while start < expired.count {
            let batch = expired[start..<min(start + maximumDeleteBatch, expired.count)]
            try await deleteBatch(batch.map(\.key))
            report.deletedObjects += batch.count
            report.deletedBytes += batch.reduce(0) { $0 + $1.size }
            start += batch.count
        }
        report.abortedUploads = try await abortIncompleteUploads(prefix: prefix, startedBefore: cutoff)
        return report
    }

    /// DeleteObjects (quiet) with its required Content-MD5; any per-key error fails the batch, naming the key.
    public func deleteBatch(_ keys: [ArtifactKey]) async throws(StorageError) {
        guard !keys.isEmpty else { return }
        var xml = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for key in keys { xml += "<Object><Key>\(S3XMLText.escape(objectKey(key)))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        let answer = try await client.send(.init(
            name: "DeleteObjects", method: .POST, key: nil, query: [("delete", "")],
            headers: [("content-type", "application/xml"), ("content-md5", md5)], body: .bytes(body)))
        if let root = S3XMLNode.parse(answer.body), let failed = root.all("Error").first {
            let key = failed.string("Key")
            throw StorageError.fromS3(status: 200, s3Code: failed.string("Code"), message: failed.string("Message"),
                                      requestID: answer.headers.first(name: "x-amz-request-id"),
                                      operation: "DeleteObjects", key: key)
        }
    }

    /// An incomplete multipart upload.
    public struct IncompleteUpload: Sendable, Hashable {
        public var key: String
        public var uploadID: String
        public var initiated: Date?
    }

    /// ListMultipartUploads under `prefix`, every page.
    public func incompleteUploads(prefix: ArtifactKey?) async throws(StorageError) -> [IncompleteUpload] {
        let listPrefix = prefix.map { objectKey($0) + "/" } ?? configuration.prefix.map { $0 + "/" } ?? ""
        var uploads: [IncompleteUpload] = []
        var keyMarker: String?
        var uploadMarker: String?
        while true {
            var query: [(String, String)] = [("uploads", "")]
            if !listPrefix.isEmpty { query.append(("prefix", listPrefix)) }
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let uploadMarker { query.append(("upload-id-marker", uploadMarker)) }
            let answer = try await client.send(.init(name: "ListMultipartUploads", method: .GET, key: nil, query: query))
            guard let root = S3XMLNode.parse(answer.body) else {
                throw StorageError(.server, "S3 ListMultipartUploads returned unreadable XML", key: listPrefix)
            }
            uploads += root.all("Upload").map {
                IncompleteUpload(key: $0.string("Key") ?? "", uploadID: $0.string("UploadId") ?? "",
                                 initiated: $0.string("Initiated").flatMap(S3Dates.iso8601))
            }
            guard root.string("IsTruncated") == "true", let nextKey = root.string("NextKeyMarker"), !nextKey.isEmpty else {
                return uploads
            }
            keyMarker = nextKey
            uploadMarker = root.string("NextUploadIdMarker")
        }
    }

    public func abortIncompleteUploads(prefix: ArtifactKey?, startedBefore cutoff: Date) async throws(StorageError) -> Int {
        var aborted = 0
        for upload in try await incompleteUploads(prefix: prefix) where (upload.initiated ?? .distantPast) < cutoff {
            _ = try await client.send(.init(name: "AbortMultipartUpload", method: .DELETE, key: upload.key,
                                            query: [("uploadId", upload.uploadID)], accept: [200, 204]))
            aborted += 1
        }
        return aborted
    }
}
