import AsyncHTTPClient
import Foundation
import HeliosStorage
import Logging
import NIOCore
import NIOFoundationCompat

/// Why an invoke did not produce a chunk response, typed for the executor: the failure kind decides retrying,
/// and ``throttled`` tells the concurrency controller to back off.
public struct LambdaInvokeError: Error, Sendable, CustomStringConvertible {
    public var failure: WorkerFailure
    /// Lambda answered 429 (TooManyRequestsException) or the function's concurrency limit was hit.
    public var throttled: Bool
    public var httpStatus: Int?

    public init(_ failure: WorkerFailure, throttled: Bool = false, httpStatus: Int? = nil) {
        self.failure = failure
        self.throttled = throttled
        self.httpStatus = httpStatus
    }
    public var description: String { failure.description + (httpStatus.map { " (HTTP \($0))" } ?? "") }
}

/// Invokes a Lambda function synchronously (`POST /2015-03-31/functions/{name}/invocations`, RequestResponse),
/// signed with SigV4 for service `lambda`, and maps every outcome to a ``ChunkResponse`` or a typed error.
///
/// One call sends exactly one HTTP request: retries belong to the executor, which gives each a new attempt key.
public struct AwsLambdaInvoker: Sendable {
    /// A synchronous invoke's payload limit.
    public static let requestLimit = 6 * 1024 * 1024

    public var functionName: String
    /// `AWS_ENDPOINT_URL_LAMBDA`, or `https://lambda.{region}.amazonaws.com`.
    public var endpoint: URL
    public var region: String
    public var credentials: any S3CredentialProvider
    public var http: HTTPClient
    public var logger: Logger
    public var now: @Sendable () -> Date

    public init(functionName: String, endpoint: URL, region: String, credentials: any S3CredentialProvider,
                http: HTTPClient = .shared, logger: Logger = Logger(label: "helios.lambda.invoke"), now: @escaping @Sendable () -> Date = { Date() }) {
        self.functionName = functionName
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.http = http
        self.logger = logger
        self.now = now
    }

    /// The endpoint AWS's SDKs would use: `AWS_ENDPOINT_URL_LAMBDA`, then `AWS_ENDPOINT_URL`, then the regional one.
    public static func endpoint(environment: [String: String]) -> (endpoint: URL, region: String) {
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let text = environment["AWS_ENDPOINT_URL_LAMBDA"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://lambda.\(region).amazonaws.com"
        return (URL(string: text) ?? URL(string: "https://lambda.\(region).amazonaws.com")!, region)
    }

    /// Sends `request` and waits at most `timeout`. Cancelling the task closes the request.
    public func invoke(_ request: ChunkRequest, timeout: Duration) async throws(LambdaInvokeError) -> ChunkResponse {
        let body: Data
        do { body = try request.encoded(limit: Self.requestLimit) } catch { throw LambdaInvokeError(error) }
        return try await invoke(payload: body, chunk: "chunk \(request.chunk.id) attempt \(request.attempt)", timeout: timeout)
    }

    /// Sends an encoded payload (`chunk` names it in errors).
    public func invoke(payload body: Data, chunk: String, timeout: Duration) async throws(LambdaInvokeError) -> ChunkResponse {
        guard body.count <= Self.requestLimit else {
            throw LambdaInvokeError(WorkerFailure(.badRequest, "\(chunk): the payload is \(body.count) bytes; Lambda accepts at most \(Self.requestLimit)"))
        }
        let encodedName = S3Encoding.queryComponent(functionName)
        let path = "/2015-03-31/functions/\(encodedName)/invocations"
        guard let host = endpoint.host else {
            throw LambdaInvokeError(WorkerFailure(.badRequest, "Lambda endpoint \(endpoint) has no host"))
        }
        let hostHeader = endpoint.port.map { "\(host):\($0)" } ?? host
        let base = endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString

        let signed: SigV4Signer.Signed
        do {
            guard let credentials = try await credentials.credentials() else {
                throw StorageError(.auth, "no AWS credentials found (\(credentials.name))")
            }
            signed = Self.sign(body: body, host: hostHeader, path: path, credentials: credentials, region: region, time: SigV4Time(now()))
        } catch {
            throw LambdaInvokeError(WorkerFailure(.badRequest, "cannot sign the invoke of \(functionName): \(error)"))
        }
        var http = HTTPClientRequest(url: base + path)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "X-Amz-Invocation-Type", value: "RequestResponse")
        for (name, value) in signed.headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(data: body))

        let status: Int
        let functionError: String?
        let payload: Data
        do {
            let response = try await self.http.execute(http, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            status = Int(response.status.code)
            functionError = response.headers.first(name: "X-Amz-Function-Error")
            payload = Data(buffer: try await response.body.collect(upTo: Self.requestLimit))
        } catch is CancellationError {
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): the invoke was cancelled"))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw LambdaInvokeError(WorkerFailure(.timeout, "\(chunk): no answer from \(functionName) within \(timeout)"))
        } catch let error as HTTPClientError where error == .cancelled {
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): the invoke was cancelled"))
        } catch {
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): invoke of \(functionName) failed: \(error)"))
        }
        return try Self.outcome(status: status, functionError: functionError, payload: payload, chunk: chunk, function: functionName)
    }

    /// The SigV4 signature (service `lambda`) of a RequestResponse invoke of `body` at `host` + `path`. Pure.
    public static func sign(body: Data, host: String, path: String, credentials: S3Credentials, region: String,
                            time: SigV4Time) -> SigV4Signer.Signed {
        SigV4Signer(credentials: credentials, region: region, service: "lambda").sign(
            method: "POST", host: host, encodedPath: path, encodedQuery: [],
            headers: [("content-type", "application/json"), ("x-amz-invocation-type", "RequestResponse")],
            payloadHash: SigV4Signer.hexSHA256(Array(body)), time: time)
    }

    /// Maps an invoke's HTTP status, `X-Amz-Function-Error` and payload to a response or a typed error. Pure.
    public static func outcome(status: Int, functionError: String?, payload: Data, chunk: String, function: String) throws(LambdaInvokeError) -> ChunkResponse {
        let text = String(decoding: payload.prefix(2000), as: UTF8.self)
        switch status {
        case 200:
            break
        case 429:
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): \(function) is throttled (TooManyRequestsException)"), throttled: true, httpStatus: status)
        case 500...599:
            // The worker refused to start (its init reported a configuration error): every attempt would fail alike.
            if let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
               let type = object["errorType"] as? String, type == "Helios.Configuration" {
                let message = object["errorMessage"] as? String ?? text
                throw LambdaInvokeError(WorkerFailure(.badRequest, "\(chunk): \(function) cannot start: \(message)"), httpStatus: status)
            }
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): Lambda answered HTTP \(status): \(text)"), httpStatus: status)
        default:
            // 400 (bad payload), 403 (auth), 404 (no such function), 413 (too large): retrying cannot help.
            throw LambdaInvokeError(WorkerFailure(.badRequest, "\(chunk): Lambda refused the invoke of \(function) with HTTP \(status): \(text)"), httpStatus: status)
        }
        // An error-shaped payload: real Lambda sets X-Amz-Function-Error; the emulator does not.
        if let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
           let type = object["errorType"] as? String ?? (functionError != nil ? "Unhandled" : nil),
           object["status"] == nil {
            let message = object["errorMessage"] as? String ?? text
            if message.contains("Task timed out") || type.contains("Timeout") {
                throw LambdaInvokeError(WorkerFailure(.timeout, "\(chunk): \(function) timed out: \(message)"), httpStatus: status)
            }
            // Runtime crashes (Runtime.ExitError), out-of-memory kills and unhandled runtime errors are transient
            // from the executor's point of view: the chunk itself answers deterministically in a ChunkResponse.
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): \(function) failed (\(type)): \(message)"), httpStatus: status)
        }
        if functionError != nil {
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): \(function) failed (\(functionError!)): \(text)"), httpStatus: status)
        }
        do { return try JSONDecoder().decode(ChunkResponse.self, from: payload) } catch {
            throw LambdaInvokeError(WorkerFailure(.retryable, "\(chunk): \(function) answered something that is not a chunk response: \(text)"), httpStatus: status)
        }
    }
}
