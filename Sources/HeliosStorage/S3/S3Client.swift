import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Signs and sends S3 requests with retries. One per store; safe to share between tasks.
struct S3Client: Sendable {
    let bucket: String
    let endpoint: S3Endpoint
    let region: String
    let credentials: any S3CredentialProvider
    let http: HTTPClient
    let retry: S3RetryPolicy
    let logger: Logger
    /// Reads the clock (tests may fix it).
    let now: @Sendable () -> Date

    /// A request body, re-created for every attempt (so a retry re-reads its file).
    enum Body: Sendable {
        case empty
        case bytes([UInt8])
        case file(path: String, offset: Int64, length: Int64, onChunk: (@Sendable (Int64) -> Void)?)

        var length: Int64 {
            switch self {
            case .empty: 0
            case .bytes(let bytes): Int64(bytes.count)
            case .file(_, _, let length, _): length
            }
        }
    }

    /// One operation: what to send and how to name it in errors.
    struct Operation: Sendable {
        var name: String
        var method: HTTPMethod
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: Body = .empty
        /// The hex SHA-256 of the body if known; nil hashes bytes and sends files `UNSIGNED-PAYLOAD`.
        var payloadHash: String?
        /// Statuses that count as success.
        var accept: Set<Int> = [200]
    }

    /// The answer to a successful request, body collected (up to `limit`).
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    func credentialsNow() async throws(StorageError) -> S3Credentials {
        if let chain = credentials as? CredentialProviderChain { return try await chain.require() }
        guard let found = try await credentials.credentials() else {
            throw StorageError(.auth, "no S3 credentials found; tried: \(credentials.name)")
        }
        return found
    }

    /// Builds and signs the HTTP request for one attempt.
    func makeRequest(_ operation: Operation) async throws(StorageError) -> HTTPClientRequest {
        let credentials = try await credentialsNow()
        let location = endpoint.location(bucket: bucket, key: operation.key, query: operation.query)
        let payloadHash: String
        switch operation.body {
        case .empty: payloadHash = operation.payloadHash ?? SigV4Signer.emptyPayloadHash
        case .bytes(let bytes): payloadHash = operation.payloadHash ?? SigV4Signer.hexSHA256(bytes)
        case .file: payloadHash = operation.payloadHash ?? SigV4Signer.unsignedPayload
        }
        let signer = SigV4Signer(credentials: credentials, region: region)
        let signed = signer.sign(method: operation.method.rawValue, host: location.hostHeader,
                                 encodedPath: location.encodedPath, encodedQuery: location.encodedQuery,
                                 headers: operation.headers, payloadHash: payloadHash, time: SigV4Time(now()))
        var request = HTTPClientRequest(url: location.url)
        request.method = operation.method
        for (name, value) in operation.headers + signed.headers { request.headers.add(name: name, value: value) }
        switch operation.body {
        case .empty:
            if operation.method == .PUT || operation.method == .POST { request.body = .bytes(ByteBuffer()) }
        case .bytes(let bytes):
            request.body = .bytes(ByteBuffer(bytes: bytes))
        case .file(let path, let offset, let length, let onChunk):
            request.body = .stream(S3FileChunks(path: path, offset: offset, length: length, onChunk: onChunk),
                                   length: .known(length))
        }
        return request
    }

    /// Sends `operation`, retrying retryable failures with backoff; returns the collected answer.
    func send(_ operation: Operation, limit: Int = 16 << 20) async throws(StorageError) -> Answer {
        try await withRetries(operation) { response throws(StorageError) in
            let body = try await collect(response, limit: limit, operation: operation)
            return Answer(status: Int(response.status.code), headers: response.headers, body: body)
        }
    }

    /// Sends `operation` and hands a successful response to `handle` (which streams its body). A retryable error
    /// from `handle` repeats the whole request.
    func withRetries<T: Sendable>(_ operation: Operation,
                                  handle: (HTTPClientResponse) async throws(StorageError) -> T) async throws(StorageError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            do throws(StorageError) {
                let response = try await execute(operation)
                guard operation.accept.contains(Int(response.status.code)) else {
                    throw await failure(response, operation: operation)
                }
                return try await handle(response)
            } catch {
                guard !Task.isCancelled, retry.shouldRetry(error, afterAttempt: attempt) else { throw error }
                let wait = retry.delay(forRetry: attempt - 1, unit: Double.random(in: 0...1))
                logger.debug("retrying S3 request", metadata: [
                    "operation": "\(operation.name)", "key": "\(operation.key ?? "")", "attempt": "\(attempt)",
                    "error": "\(error)", "wait": "\(wait)",
                ])
                do { try await Task.sleep(nanoseconds: UInt64(wait * 1e9)) } catch {
                    throw StorageError(.cancelled, "S3 \(operation.name) cancelled", key: operation.key)
                }
            }
        }
    }

    private func execute(_ operation: Operation) async throws(StorageError) -> HTTPClientResponse {
        let request = try await makeRequest(operation)
        do {
            return try await http.execute(request, timeout: .seconds(300), logger: logger)
        } catch {
            throw Self.transportError(error, operation: operation)
        }
    }

    static func transportError(_ error: any Error, operation: Operation) -> StorageError {
        if let storage = error as? StorageError { return storage }
        if error is CancellationError || Task.isCancelled {
            return StorageError(.cancelled, "S3 \(operation.name) cancelled", key: operation.key, underlying: error)
        }
        return StorageError(.transport, "S3 \(operation.name) \(operation.key.map { "\"\($0)\" " } ?? "")failed: \(error)",
                            key: operation.key, underlying: error)
    }

    func collect(_ response: HTTPClientResponse, limit: Int, operation: Operation) async throws(StorageError) -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw StorageError(.invalidRequest, "S3 \(operation.name) \(operation.key.map { "\"\($0)\" " } ?? "")answered "
                               + "more than \(limit) bytes; stream it with download(_:to:) instead", key: operation.key)
        } catch {
            throw Self.transportError(error, operation: operation)
        }
    }

    /// The typed error for a non-success answer (S3's XML body parsed when there is one).
    func failure(_ response: HTTPClientResponse, operation: Operation) async -> StorageError {
        let bytes = (try? await collect(response, limit: 1 << 20, operation: operation)) ?? []
        let body = S3ErrorBody(bytes: bytes)
        let requestID = body.requestID ?? response.headers.first(name: "x-amz-request-id")
        return StorageError.fromS3(status: Int(response.status.code), s3Code: body.code, message: body.message,
                                   requestID: requestID, operation: operation.name, key: operation.key)
    }
}
