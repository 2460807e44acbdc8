/// The one error shape of `HeliosStorage`: a code, a message naming the key or request and what is wrong,
/// the S3 details when a server answered, the underlying cause, and whether retrying can help.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, coarsely, for callers that branch on it.
    public enum Code: String, Sendable, Codable {
        case invalidKey, invalidURI, notFound, alreadyExists, outsideScope
        case integrity          // a hash or size did not match
        case auth               // credentials missing or refused (AccessDenied, SignatureDoesNotMatch, ...)
        case throttled          // 429 / SlowDown
        case server             // 5xx, RequestTimeout
        case transport          // connection refused/reset, timeouts below HTTP
        case invalidRequest     // 4xx the caller must fix (bad expiry, entity too large, ...)
        case configuration      // environment or backend choice
        case io                 // local file system
        case cancelled
    }

    public var code: Code
    public var message: String
    /// The key or URI concerned, if any.
    public var key: String?
    /// The S3 error code (`NoSuchKey`, `SlowDown`, ...), HTTP status and request id when a server answered.
    public var s3Code: String?
    public var httpStatus: Int?
    public var requestID: String?
    /// The underlying error, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, key: String? = nil, s3Code: String? = nil, httpStatus: Int? = nil,
                requestID: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.key = key
        self.s3Code = s3Code
        self.httpStatus = httpStatus
        self.requestID = requestID
        self.underlying = underlying
    }

    /// Whether the same request may succeed if sent again.
    public var isRetryable: Bool {
        switch code {
        case .throttled, .server, .transport: true
        default: false
        }
    }

    public var description: String {
        var text = message
        var details: [String] = []
        if let s3Code { details.append(s3Code) }
        if let httpStatus { details.append("HTTP \(httpStatus)") }
        if let requestID { details.append("request \(requestID)") }
        if !details.isEmpty { text += " (\(details.joined(separator: ", ")))" }
        return text + " [\(code.rawValue)]"
    }
}
