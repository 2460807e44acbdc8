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

/// When a presigned URL stops being valid, read from the URL itself.
public enum PresignedURLExpiry {
    /// `X-Amz-Date` plus `X-Amz-Expires` seconds of a SigV4 presigned URL (parameter names in any case); nil when
    /// the URL has no such parameters or they are malformed. Pure.
    public static func expiry(of url: String) -> Date? {
        guard let query = URLComponents(string: url)?.queryItems else { return nil }
        func value(_ name: String) -> String? { query.first { $0.name.lowercased() == name }?.value }
        guard let date = value("x-amz-date").flatMap(Self.parseAmzDate), let seconds = value("x-amz-expires").flatMap(Int.init),
              seconds >= 0 else { return nil }
        return date.addingTimeInterval(TimeInterval(seconds))
    }

    /// `yyyyMMdd'T'HHmmss'Z'` (UTC) as a date; nil when malformed. Pure.
    static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var result = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                result = result * 10 + Int(byte - 48)
            }
            return result
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
              let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from 1970-01-01 to the civil date (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}
