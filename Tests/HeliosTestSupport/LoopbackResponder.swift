import Foundation

/// A tiny HTTP server on 127.0.0.1 that answers every request itself (status and body chosen from the request
/// head), for endpoints such as the container credentials endpoint. One request per connection; tests only.
public final class LoopbackResponder: @unchecked Sendable {
    public typealias Answer = (status: Int, body: String)
    let proxy: FaultProxy

    public var port: Int { proxy.port }
    public var url: String { "http://127.0.0.1:\(proxy.port)" }
    /// Requests answered so far.
    public var requestCount: Int { proxy.requestCount }

    /// `answer` gets the request head (request line and headers, CRLF-separated).
    public init(answer: @escaping @Sendable (String) -> Answer) throws {
        proxy = try FaultProxy(upstreamPort: 0, responder: answer)
    }

    public func stop() { proxy.stop() }
}
