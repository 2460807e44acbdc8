import Crypto
import Foundation

/// AWS Signature Version 4 for S3, as pure functions: canonical request, string to sign, signing key, header
/// signing and presigned URLs. Nothing here does I/O or reads the clock; callers pass the time in.
///
/// The rules follow AWS's documentation for S3 (`sigv4-header-based-auth`, `sigv4-query-string-auth`): the path is
/// used as encoded (S3 does not normalise it), query pairs are sorted by encoded name then value, header names are
/// lower-cased and values trimmed with inner runs of spaces collapsed. Tests compare every step with botocore.
public struct SigV4Signer: Sendable {
    /// The payload hash S3 accepts when the body is not hashed (presigned URLs, streamed parts).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// The SHA-256 of the empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// Presigned URLs live 3600 s unless asked otherwise, and at most 604,800 s (seven days).
    public static let defaultExpiry = 3600
    public static let maximumExpiry = 604_800

    public var credentials: S3Credentials
    public var region: String
    public var service: String

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// `YYYYMMDD/region/service/aws4_request`.
    public func scope(_ time: SigV4Time) -> String { "\(time.dateStamp)/\(region)/\(service)/aws4_request" }

    /// The canonical request: method, encoded path, canonical query, canonical headers, signed header names and
    /// payload hash, one per line.
    public static func canonicalRequest(method: String, encodedPath: String, encodedQuery: [(String, String)],
                                        headers: [(String, String)], payloadHash: String) -> String {
        let canonical = canonicalHeaders(headers)
        return [
            method,
            encodedPath.isEmpty ? "/" : encodedPath,
            canonicalQuery(encodedQuery),
            canonical.map { "\($0.name):\($0.value)\n" }.joined(),
            canonical.map(\.name).joined(separator: ";"),
            payloadHash,
        ].joined(separator: "\n")
    }

    /// Encoded `name=value` pairs sorted by name, then value.
    public static func canonicalQuery(_ encodedQuery: [(String, String)]) -> String {
        encodedQuery.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Lower-cased names sorted, values trimmed with inner whitespace runs collapsed, repeats joined by `,`.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed)
        }
        return merged.keys.sorted().map { (name: $0, value: merged[$0]!.joined(separator: ",")) }
    }

    /// The string to sign: algorithm, timestamp, scope and the hex SHA-256 of the canonical request.
    public func stringToSign(canonicalRequest: String, time: SigV4Time) -> String {
        [Self.algorithm, time.amzDate, scope(time), Self.hexSHA256(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    /// HMAC chain `AWS4{secret}` → date → region → service → `aws4_request`.
    public static func signingKey(secret: String, dateStamp: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        for part in [dateStamp, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// The hex HMAC of the string to sign under the day's signing key.
    public func signature(stringToSign: String, time: SigV4Time) -> String {
        let key = Self.signingKey(secret: credentials.secretAccessKey, dateStamp: time.dateStamp, region: region,
                                  service: service)
        return POSIX.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    /// The result of signing: the headers to send (beside those the caller gave) and the intermediate strings.
    public struct Signed: Sendable {
        /// `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a session token) and `authorization`.
        public var headers: [(String, String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String { headers.first { $0.0 == "authorization" }?.1 ?? "" }
    }

    /// Signs a request in the `Authorization` header. `headers` are the caller's headers except `host`; all of them
    /// are signed, with `host`, `x-amz-date`, `x-amz-content-sha256` and the session token added.
    public func sign(method: String, host: String, encodedPath: String, encodedQuery: [(String, String)],
                     headers: [(String, String)], payloadHash: String, time: SigV4Time) -> Signed {
        var added: [(String, String)] = [("x-amz-date", time.amzDate), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        let all = headers.filter { !Self.isManaged($0.0) } + [("host", host)] + added
        let canonical = Self.canonicalRequest(method: method, encodedPath: encodedPath, encodedQuery: encodedQuery,
                                              headers: all, payloadHash: payloadHash)
        let toSign = stringToSign(canonicalRequest: canonical, time: time)
        let signature = signature(stringToSign: toSign, time: time)
        let signedNames = Self.canonicalHeaders(all).map(\.name).joined(separator: ";")
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope(time)), "
            + "SignedHeaders=\(signedNames), Signature=\(signature)"
        return Signed(headers: added + [("authorization", authorization)], canonicalRequest: canonical,
                      stringToSign: toSign, signature: signature)
    }

    /// Headers the signer sets itself; a caller's copy is dropped so a retry never signs twice.
    static func isManaged(_ name: String) -> Bool {
        switch name.lowercased() {
        case "host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token": true
        default: false
        }
    }

    public static func hexSHA256(_ bytes: [UInt8]) -> String { POSIX.sha256(bytes) }
}

/// A signing time: `x-amz-date` (`YYYYMMDDTHHMMSSZ`) and the scope's date stamp (`YYYYMMDD`), in UTC.
public struct SigV4Time: Sendable, Hashable {
    public let amzDate: String
    public var dateStamp: String { String(amzDate.prefix(8)) }

    /// The UTC time of `date`, whole seconds.
    public init(_ date: Date) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        amzDate = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }

    /// Parses `YYYYMMDDTHHMMSSZ`.
    public init?(amzDate: String) {
        guard amzDate.utf8.count == 16, amzDate.hasSuffix("Z"), Array(amzDate.utf8)[8] == UInt8(ascii: "T") else { return nil }
        self.amzDate = amzDate
    }
}
