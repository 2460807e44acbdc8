import Foundation

/// Everything an ``S3ArtifactStore`` needs: bucket and key prefix, endpoint, region, credentials, multipart and
/// retry tuning, and the CDN base for public URLs.
public struct S3Configuration: Sendable {
    public var bucket: String
    /// Keys are stored under `prefix/` in the bucket (nil: at the bucket's root).
    public var prefix: String?
    public var endpoint: S3Endpoint
    public var region: String
    public var credentials: any S3CredentialProvider
    /// Files larger than this go up in parts; smaller ones in one PUT.
    public var multipartThreshold: Int64
    /// The preferred part size (at least 5 MiB; grown so that no upload needs more than 10,000 parts).
    public var partSize: Int64
    /// Parts in flight at once per upload.
    public var maximumConcurrentParts: Int
    public var retry: S3RetryPolicy
    /// Public objects are served from `publicBaseURL/key` (a CDN) instead of a presigned URL.
    public var publicBaseURL: URL?

    public static let minimumPartSize: Int64 = 5 << 20
    public static let maximumParts: Int64 = 10_000

    public init(bucket: String, prefix: String? = nil, endpoint: S3Endpoint, region: String,
                credentials: any S3CredentialProvider, multipartThreshold: Int64 = 16 << 20, partSize: Int64 = 16 << 20,
                maximumConcurrentParts: Int = 8, retry: S3RetryPolicy = S3RetryPolicy(), publicBaseURL: URL? = nil) {
        self.bucket = bucket
        self.prefix = prefix.flatMap { $0.isEmpty ? nil : ($0.hasSuffix("/") ? String($0.dropLast()) : $0) }
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.multipartThreshold = max(multipartThreshold, Self.minimumPartSize)
        self.partSize = max(partSize, Self.minimumPartSize)
        self.maximumConcurrentParts = max(1, maximumConcurrentParts)
        self.retry = retry
        self.publicBaseURL = publicBaseURL
    }

    /// Reads AWS's variables: endpoint `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (path-style addressing; AWS
    /// itself otherwise, virtual-hosted), region `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`,
    /// credentials from the default chain (environment, shared file with `AWS_PROFILE`, container endpoint).
    /// `HELIOS_S3_ADDRESSING=path|virtual` overrides the addressing style and `HELIOS_PUBLIC_BASE_URL` sets the
    /// CDN base.
    public static func fromEnvironment(bucket: String, prefix: String? = nil,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) throws(StorageError) -> S3Configuration {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1"
        var endpoint: S3Endpoint
        if let custom = value("AWS_ENDPOINT_URL_S3") ?? value("AWS_ENDPOINT_URL") {
            endpoint = try S3Endpoint(url: custom, addressing: .path)
        } else {
            endpoint = .aws(region: region)
            if bucket.contains(".") { endpoint.addressing = .path }
        }
        switch value("HELIOS_S3_ADDRESSING") {
        case nil: break
        case "path": endpoint.addressing = .path
        case "virtual": endpoint.addressing = .virtualHosted
        case let other?:
            throw StorageError(.configuration, "HELIOS_S3_ADDRESSING must be path or virtual, not \"\(other)\"")
        }
        var publicBase: URL?
        if let base = value("HELIOS_PUBLIC_BASE_URL") {
            guard let url = URL(string: base), url.scheme != nil else {
                throw StorageError(.configuration, "HELIOS_PUBLIC_BASE_URL \"\(base)\" is not a URL")
            }
            publicBase = url
        }
        guard Self.isValidBucket(bucket) else {
            throw StorageError(.configuration, "invalid S3 bucket name \"\(bucket)\": 3-63 lower-case letters, digits, '.' or '-'")
        }
        return S3Configuration(bucket: bucket, prefix: prefix, endpoint: endpoint, region: region,
                               credentials: CredentialProviderChain.default(environment: environment),
                               publicBaseURL: publicBase)
    }

    static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.utf8.count) && name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// The part size for a `size`-byte upload: the preferred size, grown to a whole MiB so that at most
    /// 10,000 parts are needed.
    public func partSize(forUploadOf size: Int64) -> Int64 {
        let needed = (size + Self.maximumParts - 1) / Self.maximumParts
        let mib: Int64 = 1 << 20
        return max(partSize, (needed + mib - 1) / mib * mib)
    }
}

extension S3ArtifactStore {
    /// The store for `bucket` configured from AWS's variables (``S3Configuration/fromEnvironment(bucket:prefix:environment:)``);
    /// the shape of a storage factory's S3 constructor.
    public static func fromEnvironment(bucket: String, environment: [String: String]) throws(StorageError) -> S3ArtifactStore {
        S3ArtifactStore(configuration: try .fromEnvironment(bucket: bucket, environment: environment))
    }
}
