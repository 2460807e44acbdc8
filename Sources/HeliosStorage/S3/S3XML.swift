import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small XML tree for S3's answers (errors, listings, multipart), parsed with Foundation's `XMLParser`.
struct S3XMLNode: Sendable {
    var name: String
    var text: String
    var children: [S3XMLNode]

    func child(_ name: String) -> S3XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [S3XMLNode] { children.filter { $0.name == name } }
    func string(_ name: String) -> String? { child(name)?.text }

    /// Parses `bytes`; nil if they are not well-formed XML.
    static func parse(_ bytes: [UInt8]) -> S3XMLNode? {
        let builder = Builder()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else { return nil }
        return root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [S3XMLNode] = []
        var root: S3XMLNode?

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            stack.append(S3XMLNode(name: elementName, text: "", children: []))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
            guard let node = stack.popLast() else { return }
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }
    }
}

/// S3's error body: `<Error><Code/><Message/><RequestId/></Error>`.
struct S3ErrorBody: Sendable {
    var code: String?
    var message: String?
    var requestID: String?

    init(bytes: [UInt8]) {
        let root = S3XMLNode.parse(bytes)
        code = root?.string("Code")
        message = root?.string("Message")
        requestID = root?.string("RequestId")
    }
}

extension StorageError {
    /// Classifies an S3 answer: the code decides where S3 gave one, else the HTTP status.
    static func fromS3(status: Int, s3Code: String?, message: String?, requestID: String?, operation: String,
                       key: String?) -> StorageError {
        let code: Code
        switch (s3Code ?? "", status) {
        case ("SlowDown", _), (_, 429): code = .throttled
        case ("RequestTimeout", _), ("InternalError", _), ("ServiceUnavailable", _): code = .server
        case ("AccessDenied", _), ("SignatureDoesNotMatch", _), ("InvalidAccessKeyId", _), ("ExpiredToken", _),
             ("InvalidToken", _), ("RequestTimeTooSkewed", _), ("TokenRefreshRequired", _), (_, 401), (_, 403):
            code = .auth
        case ("NoSuchKey", _), ("NoSuchBucket", _), ("NoSuchUpload", _), (_, 404): code = .notFound
        case ("PreconditionFailed", _), (_, 412): code = .alreadyExists
        case (_, 500...): code = .server
        default: code = .invalidRequest
        }
        let subject = key.map { " \"\($0)\"" } ?? ""
        let detail = message.map { ": \($0)" } ?? ""
        return StorageError(code, "S3 \(operation)\(subject) failed with HTTP \(status)\(detail)", key: key,
                            s3Code: s3Code, httpStatus: status, requestID: requestID)
    }
}

/// Values S3 returns in its XML and headers.
enum S3Dates {
    /// `2026-12-02T12:34:56.000Z` (listings).
    static func iso8601(_ text: String) -> Date? {
        InternetDate.parse(text) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }

    /// `Wed, 02 Dec 2026 12:34:56 GMT` (Last-Modified).
    static func http(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
