import Foundation
import NIOHTTP1

/// Bytes moved so far for one transfer, reported to a progress callback from any task. Events are delivered one
/// at a time, in order (under a lock), so a progress bar sees bytes only grow.
final class S3ProgressReporter: @unchecked Sendable {
    let key: ArtifactKey
    let total: Int64
    let callback: (@Sendable (TransferProgress) -> Void)?
    private let lock = NSLock()
    private var bytes: Int64 = 0
    /// How far each part (slot) has got; a retried part re-sends from 0 without counting twice.
    private var reached: [Int: Int64] = [:]

    init(key: ArtifactKey, total: Int64, callback: (@Sendable (TransferProgress) -> Void)?) {
        self.key = key
        self.total = total
        self.callback = callback
    }

    func state(_ state: TransferProgress.State) {
        guard let callback else { return }
        lock.withLock { callback(TransferProgress(key: key, state: state, bytes: bytes, total: total)) }
    }

    /// Part `slot` has sent `position` bytes in its current attempt.
    func advance(slot: Int, to position: Int64) {
        guard let callback else { return }
        lock.withLock {
            let before = reached[slot] ?? 0
            guard position > before else { return }
            reached[slot] = position
            bytes = min(total, bytes + position - before)
            callback(TransferProgress(key: key, state: .uploading, bytes: bytes, total: total))
        }
    }

    func add(_ count: Int, state: TransferProgress.State) {
        guard let callback else { return }
        lock.withLock {
            bytes = min(total, bytes + Int64(count))
            callback(TransferProgress(key: key, state: state, bytes: bytes, total: total))
        }
    }
}

extension S3ArtifactStore {
    /// Headers every new object gets: content type, user metadata, `x-amz-meta-sha256`, and `If-None-Match: *`
    /// for create-only writes.
    func objectHeaders(_ key: ArtifactKey, sha256: String, options: PutOptions, conditional: Bool) -> [(String, String)] {
        var headers: [(String, String)] = [("content-type", options.contentType ?? key.contentType)]
        for (name, value) in options.metadata.sorted(by: { $0.key < $1.key }) where name.lowercased() != "sha256" {
            headers.append(("x-amz-meta-\(name.lowercased())", value))
        }
        headers.append(("x-amz-meta-sha256", sha256))
        if conditional && options.ifAbsent { headers.append(("if-none-match", "*")) }
        return headers
    }

    /// Maps a failed conditional write to `.alreadyExists` naming the key.
    func conditional(_ error: StorageError, _ key: ArtifactKey) -> StorageError {
        guard error.code == .alreadyExists || error.httpStatus == 412 else { return error }
        var mapped = error
        mapped.code = .alreadyExists
        mapped.message = "\(uri(for: key)) already exists (create-only write refused)"
        return mapped
    }

    func metadataAfterPut(_ key: ArtifactKey, size: Int64, sha256: String, options: PutOptions, etag: String?) -> ArtifactMetadata {
        ArtifactMetadata(key: key, uri: uri(for: key), backend: backend, size: size, sha256: sha256,
                         contentType: options.contentType ?? key.contentType, etag: etag, lastModified: client.now(),
                         metadata: Dictionary(options.metadata.filter { $0.key.lowercased() != "sha256" }
                             .map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 }))
    }

    public func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        let sha256 = SigV4Signer.hexSHA256(bytes)
        let progress = S3ProgressReporter(key: key, total: Int64(bytes.count), callback: options.progress)
        progress.state(.pending)
        do throws(StorageError) {
            let answer = try await client.send(.init(
                name: "PUT", method: .PUT, key: objectKey(key),
                headers: objectHeaders(key, sha256: sha256, options: options, conditional: true),
                body: .bytes(bytes), payloadHash: sha256))
            progress.add(bytes.count, state: .uploading)
            progress.state(.complete)
            return metadataAfterPut(key, size: Int64(bytes.count), sha256: sha256, options: options,
                                    etag: answer.headers.first(name: "etag"))
        } catch {
            progress.state(.failed)
            throw conditional(error, key)
        }
    }

    public func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        let path = file.path
        let (size, sha256) = try await S3FileIO.sha256(of: path)
        let progress = S3ProgressReporter(key: key, total: size, callback: options.progress)
        progress.state(.pending)
        do throws(StorageError) {
            let etag: String?
            if size <= configuration.multipartThreshold {
                let answer = try await client.send(.init(
                    name: "PUT", method: .PUT, key: objectKey(key),
                    headers: objectHeaders(key, sha256: sha256, options: options, conditional: true),
                    body: .file(path: path, offset: 0, length: size, onChunk: { progress.advance(slot: 0, to: $0) }),
                    payloadHash: sha256))
                etag = answer.headers.first(name: "etag")
            } else {
                if options.ifAbsent, try await exists(key) {
                    throw StorageError(.alreadyExists, "\(uri(for: key)) already exists (create-only write refused)",
                                       key: key.rawValue)
                }
                etag = try await multipartUpload(path: path, size: size, key: key, sha256: sha256, options: options,
                                                 progress: progress)
            }
            progress.state(.complete)
            return metadataAfterPut(key, size: size, sha256: sha256, options: options, etag: etag)
        } catch {
            progress.state(.failed)
            throw conditional(error, key)
        }
    }

    /// Creates a multipart upload, sends its parts (a bounded number in flight, each retried), and completes it;
    /// on any failure or cancellation the upload is aborted so no parts are left behind.
    func multipartUpload(path: String, size: Int64, key: ArtifactKey, sha256: String, options: PutOptions,
                         progress: S3ProgressReporter) async throws(StorageError) -> String? {
        let objectKey = objectKey(key)
        let created = try await client.send(.init(
            name: "CreateMultipartUpload", method: .POST, key: objectKey, query: [("uploads", "")],
            headers: objectHeaders(key, sha256: sha256, options: options, conditional: false)))
        guard let uploadID = S3XMLNode.parse(created.body)?.string("UploadId"), !uploadID.isEmpty else {
            throw StorageError(.server, "S3 CreateMultipartUpload \"\(objectKey)\" returned no UploadId", key: objectKey)
        }
        do {
            let etags = try await uploadParts(path: path, size: size, objectKey: objectKey, uploadID: uploadID,
                                              progress: progress)
            try Task.checkCancellation()
            return try await completeMultipart(objectKey: objectKey, uploadID: uploadID, etags: etags,
                                               ifAbsent: options.ifAbsent)
        } catch {
            let failure = (error as? StorageError)
                ?? StorageError(.cancelled, "upload of \"\(objectKey)\" cancelled", key: objectKey, underlying: error)
            // Abort outside the (possibly cancelled) task, and wait for it.
            let client = self.client
            await Task {
                do {
                    _ = try await client.send(.init(name: "AbortMultipartUpload", method: .DELETE, key: objectKey,
                                                    query: [("uploadId", uploadID)], accept: [200, 204]))
                } catch {
                    client.logger.warning("could not abort multipart upload", metadata: [
                        "key": "\(objectKey)", "uploadId": "\(uploadID)", "error": "\(error)"])
                }
            }.value
            throw failure
        }
    }

    private func uploadParts(path: String, size: Int64, objectKey: String, uploadID: String,
                             progress: S3ProgressReporter) async throws -> [String] {
        let partSize = configuration.partSize(forUploadOf: size)
        let count = Int((size + partSize - 1) / partSize)
        let client = self.client
        let limit = configuration.maximumConcurrentParts
        return try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var etags = [String](repeating: "", count: count)
            var next = 0
            var running = 0
            while next < count || running > 0 {
                while running < limit && next < count {
                    let index = next
                    next += 1
                    running += 1
                    let offset = Int64(index) * partSize
                    let length = min(partSize, size - offset)
                    group.addTask {
                        let answer = try await client.send(.init(
                            name: "UploadPart \(index + 1)/\(count)", method: .PUT, key: objectKey,
                            query: [("partNumber", String(index + 1)), ("uploadId", uploadID)],
                            body: .file(path: path, offset: offset, length: length,
                                        onChunk: { progress.advance(slot: index, to: $0) })))
                        guard let etag = answer.headers.first(name: "etag") else {
                            throw StorageError(.server, "S3 UploadPart \(index + 1) of \"\(objectKey)\" returned no ETag",
                                               key: objectKey)
                        }
                        return (index, etag)
                    }
                }
                guard let (index, etag) = try await group.next() else { break }
                running -= 1
                etags[index] = etag
            }
            return etags
        }
    }

    private func completeMultipart(objectKey: String, uploadID: String, etags: [String],
                                   ifAbsent: Bool) async throws(StorageError) -> String? {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XMLText.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        var headers: [(String, String)] = [("content-type", "application/xml")]
        if ifAbsent { headers.append(("if-none-match", "*")) }
        let answer = try await client.send(.init(
            name: "CompleteMultipartUpload", method: .POST, key: objectKey, query: [("uploadId", uploadID)],
            headers: headers, body: .bytes(Array(xml.utf8))))
        // S3 may answer 200 and put the error in the body.
        if let root = S3XMLNode.parse(answer.body), root.name == "Error" {
            throw StorageError.fromS3(status: 500, s3Code: root.string("Code"), message: root.string("Message"),
                                      requestID: root.string("RequestId"), operation: "CompleteMultipartUpload",
                                      key: objectKey)
        }
        return S3XMLNode.parse(answer.body)?.string("ETag") ?? answer.headers.first(name: "etag")
    }
}

/// XML text escaping for request bodies.
enum S3XMLText {
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
