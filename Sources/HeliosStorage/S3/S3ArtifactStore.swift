import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// An ``ArtifactStore`` on S3 or an S3-compatible server (opt-in; the local store is the default).
///
/// Requests are signed with our own SigV4 (``SigV4Signer``), retried with exponential backoff and full jitter on
/// 5xx, 429/SlowDown, RequestTimeout and connection errors, and never on auth or validation errors. Every object
/// carries `x-amz-meta-sha256`; uploads stream from their file (one PUT below the multipart threshold, bounded
/// parallel parts above it, aborted on failure or cancellation) and downloads stream into a verified temp file.
public struct S3ArtifactStore: ArtifactStore {
    public let configuration: S3Configuration
    let client: S3Client
    let credentialCache: S3CredentialCache
    let logger: Logger

    public var backend: String { "s3" }

    /// A store on `configuration`, sending with `httpClient` (default: the shared client).
    public init(configuration: S3Configuration, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "helios.storage.s3"), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.logger = logger
        let cache = S3CredentialCache(provider: configuration.credentials)
        credentialCache = cache
        client = S3Client(bucket: configuration.bucket, endpoint: configuration.endpoint, region: configuration.region,
                          credentials: cache, http: httpClient, retry: configuration.retry, logger: logger, now: now)
    }

    /// Resolves credentials now (the chain may ask an endpoint), so that ``url(for:expiresIn:method:)``, which
    /// cannot wait, has them. Every request does this too.
    public func prepare() async throws(StorageError) {
        _ = try await client.credentialsNow()
    }

    /// The object key in the bucket for `key`.
    func objectKey(_ key: ArtifactKey) -> String {
        configuration.prefix.map { "\($0)/\(key.rawValue)" } ?? key.rawValue
    }

    /// The artifact key for an object key from a listing, nil if outside the prefix.
    func artifactKey(objectKey: String) -> ArtifactKey? {
        var raw = objectKey
        if let prefix = configuration.prefix {
            guard raw.hasPrefix(prefix + "/") else { return nil }
            raw.removeFirst(prefix.count + 1)
        }
        return try? ArtifactKey(raw)
    }

    public func uri(for key: ArtifactKey) -> String { "s3://\(configuration.bucket)/\(objectKey(key))" }

    public func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata {
        let answer = try await client.send(.init(name: "HEAD", method: .HEAD, key: objectKey(key)))
        return metadata(key, headers: answer.headers)
    }

    /// Metadata from an answer's headers (HEAD or GET).
    func metadata(_ key: ArtifactKey, headers: HTTPHeaders) -> ArtifactMetadata {
        var user: [String: String] = [:]
        for header in headers where header.name.lowercased().hasPrefix("x-amz-meta-") {
            user[String(header.name.lowercased().dropFirst("x-amz-meta-".count))] = header.value
        }
        let sha256 = user.removeValue(forKey: "sha256")
        return ArtifactMetadata(
            key: key, uri: uri(for: key), backend: backend,
            size: headers.first(name: "content-length").flatMap { Int64($0) } ?? 0,
            sha256: sha256,
            contentType: headers.first(name: "content-type") ?? key.contentType,
            etag: headers.first(name: "etag"),
            lastModified: headers.first(name: "last-modified").flatMap(S3Dates.http),
            metadata: user)
    }

    @discardableResult
    public func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        let existed = try await exists(key)
        _ = try await client.send(.init(name: "DELETE", method: .DELETE, key: objectKey(key), accept: [200, 204]))
        return existed
    }

    public func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8] {
        let answer = try await client.send(.init(name: "GET", method: .GET, key: objectKey(key)), limit: 256 << 20)
        let meta = metadata(key, headers: answer.headers)
        if let expected = meta.sha256, SigV4Signer.hexSHA256(answer.body) != expected {
            throw StorageError(.integrity, "\(uri(for: key)): content does not match its recorded sha256 \(expected)",
                               key: key.rawValue)
        }
        return answer.body
    }

    public func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL {
        guard let credentials = credentialCache.current else {
            throw StorageError(.auth, "no S3 credentials resolved yet for a presigned URL of \"\(key)\"; call prepare() first",
                               key: key.rawValue)
        }
        let location = configuration.endpoint.location(bucket: configuration.bucket, key: objectKey(key))
        let signer = SigV4Signer(credentials: credentials, region: configuration.region)
        let presigned: SigV4Signer.Presigned
        do {
            presigned = try signer.presign(method: method.rawValue, scheme: configuration.endpoint.scheme,
                                           host: location.hostHeader, encodedPath: location.encodedPath,
                                           expires: expiresIn, time: SigV4Time(client.now()))
        } catch {
            throw StorageError(error.code, "\(uri(for: key)): \(error.message)", key: key.rawValue)
        }
        guard let url = URL(string: presigned.url) else {
            throw StorageError(.invalidKey, "cannot form a URL for \"\(key)\"", key: key.rawValue)
        }
        return url
    }
}

/// Remembers the last credentials the provider gave, for presigning (which cannot wait for a provider).
final class S3CredentialCache: S3CredentialProvider, @unchecked Sendable {
    let provider: any S3CredentialProvider
    private let lock = NSLock()
    private var last: S3Credentials?

    init(provider: any S3CredentialProvider) {
        self.provider = provider
        last = Self.immediate(provider)
    }

    /// Credentials available without waiting (fixed, environment, shared file), so presigning works before any
    /// request; a container endpoint needs ``S3ArtifactStore/prepare()``.
    static func immediate(_ provider: any S3CredentialProvider) -> S3Credentials? {
        switch provider {
        case let fixed as StaticCredentialProvider: return fixed.value
        case let environment as EnvironmentCredentialProvider: return try? environment.resolve()
        case let file as SharedFileCredentialProvider: return try? file.resolve()
        case let chain as CredentialProviderChain:
            for member in chain.providers {
                if let container = member as? ContainerCredentialProvider {
                    if container.url != nil { return nil }
                    continue
                }
                if let found = immediate(member) { return found }
            }
            return nil
        default: return nil
        }
    }

    var name: String { provider.name }
    var current: S3Credentials? { lock.withLock { last } }

    func credentials() async throws(StorageError) -> S3Credentials? {
        let found: S3Credentials?
        if let chain = provider as? CredentialProviderChain {
            found = try await chain.require()
        } else {
            found = try await provider.credentials()
        }
        lock.withLock { last = found }
        return found
    }
}

extension S3ArtifactStore {
    /// Creates the bucket; a bucket that already exists and is ours is not an error.
    public func createBucket() async throws(StorageError) {
        do {
            _ = try await client.send(.init(name: "CreateBucket", method: .PUT, key: nil))
        } catch where error.s3Code == "BucketAlreadyOwnedByYou" || error.s3Code == "BucketAlreadyExists" {
            return
        }
    }
}
