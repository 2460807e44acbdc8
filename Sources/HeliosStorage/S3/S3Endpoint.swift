import Foundation

/// Where a bucket lives and how it is addressed: path-style (`http://host:port/bucket/key`, what S3-compatible
/// servers such as SeaweedFS and MinIO want) or virtual-hosted (`https://bucket.host/key`, AWS's default).
public struct S3Endpoint: Sendable, Hashable {
    public enum Addressing: String, Sendable { case path, virtualHosted }

    public var scheme: String
    /// Host name without port.
    public var host: String
    /// Nil for the scheme's default port.
    public var port: Int?
    public var addressing: Addressing

    public init(scheme: String, host: String, port: Int? = nil, addressing: Addressing) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.addressing = addressing
    }

    /// Parses `http(s)://host[:port]` (a path is refused). Default ports are dropped, as signers expect.
    public init(url text: String, addressing: Addressing) throws(StorageError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
              components.path.isEmpty || components.path == "/" else {
            throw StorageError(.configuration, "invalid S3 endpoint \"\(text)\": expected http(s)://host[:port]")
        }
        var port = components.port
        if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) { port = nil }
        self.init(scheme: scheme, host: host, port: port, addressing: addressing)
    }

    /// AWS's regional endpoint, virtual-hosted.
    public static func aws(region: String) -> S3Endpoint {
        S3Endpoint(scheme: "https", host: "s3.\(region).amazonaws.com", addressing: .virtualHosted)
    }

    /// A request's target: the `host` header, encoded path and query, and the full URL.
    public struct Location: Sendable {
        public var hostHeader: String
        public var encodedPath: String
        public var encodedQuery: [(String, String)]
        public var url: String
    }

    /// The location of `key` in `bucket` (nil key: the bucket itself) with unencoded `query` pairs.
    public func location(bucket: String, key: String?, query: [(String, String)] = []) -> Location {
        let authority = port.map { "\(host):\($0)" } ?? host
        let encodedKey = key.map(S3Encoding.path) ?? ""
        let hostHeader: String
        let path: String
        switch addressing {
        case .path:
            hostHeader = authority
            path = "/\(bucket)" + (key == nil ? "" : "/\(encodedKey)")
        case .virtualHosted:
            hostHeader = "\(bucket).\(authority)"
            path = "/" + encodedKey
        }
        let encodedQuery = query.map { (S3Encoding.queryComponent($0.0), S3Encoding.queryComponent($0.1)) }
        let queryText = encodedQuery.isEmpty ? "" : "?" + encodedQuery.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return Location(hostHeader: hostHeader, encodedPath: path, encodedQuery: encodedQuery,
                        url: "\(scheme)://\(hostHeader)\(path)\(queryText)")
    }
}
