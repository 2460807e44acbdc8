import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat

/// Why one POST to a Cloud Run service gave no chunk response, and what to do about it.
public struct CloudRunInvokeError: Error, Sendable, CustomStringConvertible {
    public var failure: WorkerFailure
    public var httpStatus: Int?
    /// The service (or its front end) said 429: lower concurrency.
    public var throttled: Bool
    /// Sending the same request again may succeed (429, 500, 502, 503, 504, a connection error).
    public var resendable: Bool
    /// 401: the token was refused; one refresh is worth a try.
    public var unauthorized: Bool
    /// The `Retry-After` the service asked for.
    public var retryAfter: Duration?

    public init(_ failure: WorkerFailure, httpStatus: Int? = nil, throttled: Bool = false, resendable: Bool = false,
                unauthorized: Bool = false, retryAfter: Duration? = nil) {
        self.failure = failure
        self.httpStatus = httpStatus
        self.throttled = throttled
        self.resendable = resendable
        self.unauthorized = unauthorized
        self.retryAfter = retryAfter
    }

    public var description: String { failure.description + (httpStatus.map { " (HTTP \($0))" } ?? "") }
}

/// `POST {service}/v1/chunks` with `Authorization: Bearer <ID token>` (audience: the service URL). One call sends
/// one HTTP request; ``CloudRunAdapter`` decides about resending.
public struct CloudRunInvoker: Sendable {
    /// Cloud Run's longest request timeout.
    public static let maximumTimeout: Duration = .seconds(3600)
    /// The default request-size limit of `helios-worker serve`.
    public static let requestLimit = 17 * 1024 * 1024

    /// The service URL, e.g. `https://render-xyz-ew.a.run.app`.
    public var serviceURL: URL
    /// The token audience: the service URL without a path.
    public var audience: String
    public var tokens: GoogleIDTokenProvider
    public var http: HTTPClient

    /// A client that fails a request at once when its connection cannot be made (AsyncHTTPClient otherwise retries
    /// connecting until the connect timeout): the adapter's own resends, with their backoff, take over.
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: nil))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(serviceURL: URL, audience: String? = nil, tokens: GoogleIDTokenProvider, http: HTTPClient = CloudRunInvoker.client) {
        self.serviceURL = serviceURL
        self.audience = audience ?? Self.audience(of: serviceURL)
        self.tokens = tokens
        self.http = http
    }

    /// `scheme://host[:port]`: Cloud Run checks the audience against the service URL.
    public static func audience(of url: URL) -> String {
        "\(url.scheme ?? "https")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "")"
    }

    var endpoint: String {
        let base = serviceURL.absoluteString.hasSuffix("/") ? String(serviceURL.absoluteString.dropLast()) : serviceURL.absoluteString
        return base + "/v1/chunks"
    }

    /// Sends `body` (an encoded request for `chunk`) once, waiting at most `timeout` (capped at an hour).
    /// Cancelling the task closes the request.
    public func send(_ body: Data, chunk: String, timeout: Duration, refreshToken: Bool = false) async throws(CloudRunInvokeError) -> ChunkResponse {
        guard body.count <= Self.requestLimit else {
            throw CloudRunInvokeError(WorkerFailure(.badRequest, "\(chunk): the request is \(body.count) bytes; the service accepts at most \(Self.requestLimit)"))
        }
        let token: String?
        do { token = try await tokens.token(audience: audience, refresh: refreshToken) } catch {
            throw CloudRunInvokeError(WorkerFailure(error.retryable ? .retryable : .badRequest, "\(chunk): no ID token for \(audience): \(error)"),
                                      resendable: error.retryable)
        }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(data: body))
        let limited = min(timeout, Self.maximumTimeout)
        let status: Int
        let retryAfter: Duration?
        let payload: Data
        do {
            let response = try await http.execute(request, timeout: .milliseconds(Int64(limited / .milliseconds(1))))
            status = Int(response.status.code)
            retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { .seconds($0) }
            payload = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch is CancellationError {
            throw CloudRunInvokeError(WorkerFailure(.retryable, "\(chunk): the request was cancelled"))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw CloudRunInvokeError(WorkerFailure(.timeout, "\(chunk): no answer from \(serviceURL.absoluteString) within \(limited)"))
        } catch {
            // A cancelled task's request is closed by AsyncHTTPClient with its own error: not worth resending.
            if Task.isCancelled { throw CloudRunInvokeError(WorkerFailure(.retryable, "\(chunk): the request was cancelled")) }
            throw CloudRunInvokeError(WorkerFailure(.retryable, "\(chunk): \(serviceURL.absoluteString) could not be reached: \(error)"), resendable: true)
        }
        return try Self.interpret(status: status, payload: payload, retryAfter: retryAfter, chunk: chunk, service: serviceURL.absoluteString)
    }

    /// What an HTTP answer means. Pure.
    public static func interpret(status: Int, payload: Data, retryAfter: Duration?, chunk: String, service: String) throws(CloudRunInvokeError) -> ChunkResponse {
        let response = try? JSONDecoder().decode(ChunkResponse.self, from: payload)
        let text = String(decoding: payload.prefix(500), as: UTF8.self)
        switch status {
        case 200, 400:
            guard let response else {
                throw CloudRunInvokeError(WorkerFailure(status == 200 ? .retryable : .badRequest, "\(chunk): \(service) answered HTTP \(status) without a chunk response: \(text)"), httpStatus: status)
            }
            return response
        case 401:
            throw CloudRunInvokeError(WorkerFailure(.badRequest, "\(chunk): \(service) refused the ID token (401): \(response?.error?.message ?? text)"),
                                      httpStatus: status, unauthorized: true)
        case 403:
            throw CloudRunInvokeError(WorkerFailure(.badRequest, "\(chunk): \(service) answered 403: the caller needs roles/run.invoker on the service"), httpStatus: status)
        case 429:
            throw CloudRunInvokeError(WorkerFailure(.retryable, "\(chunk): \(service) is at capacity (429)"), httpStatus: status,
                                      throttled: true, resendable: true, retryAfter: retryAfter)
        case 408, 500, 502, 503, 504:
            let reason = response?.error?.message ?? text
            throw CloudRunInvokeError(WorkerFailure(.retryable, "\(chunk): \(service) answered HTTP \(status): \(reason)"), httpStatus: status,
                                      resendable: true, retryAfter: retryAfter)
        default:
            throw CloudRunInvokeError(WorkerFailure(.badRequest, "\(chunk): \(service) answered HTTP \(status): \(response?.error?.message ?? text)"), httpStatus: status)
        }
    }
}

/// Backoff between resends: exponential from `base`, capped, with full jitter on top, and never sooner than the
/// service's `Retry-After`. Pure given its random source.
public struct ResendPolicy: Sendable {
    /// Resends after the first try.
    public var maximumResends: Int
    public var base: Duration
    public var cap: Duration

    public init(maximumResends: Int = 4, base: Duration = .milliseconds(500), cap: Duration = .seconds(30)) {
        self.maximumResends = maximumResends
        self.base = base
        self.cap = cap
    }

    /// The wait before resend number `resend` (1-based); `jitter` in 0..<1.
    public func delay(resend: Int, retryAfter: Duration?, jitter: Double) -> Duration {
        let exponential = min(cap, base * (1 << min(max(resend - 1, 0), 20)))
        let jittered = exponential + exponential * max(0, min(jitter, 1))
        return max(jittered, retryAfter ?? .zero)
    }
}
