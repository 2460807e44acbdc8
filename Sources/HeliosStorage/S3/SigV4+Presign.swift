import Foundation

extension SigV4Signer {
    /// A presigned URL and the strings it was computed from.
    public struct Presigned: Sendable {
        public var url: String
        public var canonicalRequest: String
        public var stringToSign: String
    }

    /// Presigns `method` on the object at `scheme://host/encodedPath`, valid `expires` seconds from `time`
    /// (1…604,800; anything else is refused). Only `host` is signed and the payload is `UNSIGNED-PAYLOAD`, so any
    /// HTTP client (curl) can use the URL. Query parameters come in the order AWS's SDKs write them.
    public func presign(method: String, scheme: String, host: String, encodedPath: String,
                        encodedQuery: [(String, String)] = [], expires: Int, time: SigV4Time) throws(StorageError) -> Presigned {
        guard (1...Self.maximumExpiry).contains(expires) else {
            throw StorageError(.invalidRequest,
                               "a presigned URL may live 1 to \(Self.maximumExpiry) seconds (7 days); \(expires) was asked")
        }
        var auth: [(String, String)] = [
            ("X-Amz-Algorithm", Self.algorithm),
            ("X-Amz-Credential", S3Encoding.queryComponent("\(credentials.accessKeyID)/\(scope(time))")),
            ("X-Amz-Date", time.amzDate),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if let token = credentials.sessionToken { auth.append(("X-Amz-Security-Token", S3Encoding.queryComponent(token))) }
        let query = encodedQuery + auth
        let canonical = Self.canonicalRequest(method: method, encodedPath: encodedPath, encodedQuery: query,
                                              headers: [("host", host)], payloadHash: Self.unsignedPayload)
        let toSign = stringToSign(canonicalRequest: canonical, time: time)
        let signature = signature(stringToSign: toSign, time: time)
        let queryText = (query + [("X-Amz-Signature", signature)]).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let path = encodedPath.isEmpty ? "/" : encodedPath
        return Presigned(url: "\(scheme)://\(host)\(path)?\(queryText)", canonicalRequest: canonical, stringToSign: toSign)
    }
}
