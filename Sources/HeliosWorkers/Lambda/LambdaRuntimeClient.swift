import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// One invocation handed to the runtime by the Lambda Runtime API.
public struct LambdaInvocation: Sendable {
    public var requestID: String
    /// When Lambda stops the function, in milliseconds since the Unix epoch.
    public var deadlineMs: Int64?
    public var functionARN: String?
    public var traceID: String?
    public var payload: Data
}

/// The worker side of the Lambda Runtime API (`/2018-06-01/runtime/...`), on AsyncHTTPClient.
///
/// See AWS's "Using the Lambda runtime API for custom runtimes". The next-invocation call long-polls, so it has no
/// timeout; every other call is short.
public struct LambdaRuntimeClient: Sendable {
    /// `host:port` from `AWS_LAMBDA_RUNTIME_API`.
    public let endpoint: String
    let client: HTTPClient
    let logger: Logger

    /// A client without a read timeout: the next-invocation call may wait for hours.
    public static let longPollClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: nil)))

    public init(endpoint: String, client: HTTPClient = LambdaRuntimeClient.longPollClient, logger: Logger = Logger(label: "helios.lambda.runtime")) {
        self.endpoint = endpoint
        self.client = client
        self.logger = logger
    }

    /// Reads `AWS_LAMBDA_RUNTIME_API`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment,
                                       logger: Logger = Logger(label: "helios.lambda.runtime")) throws(WorkerFailure) -> LambdaRuntimeClient {
        guard let endpoint = environment["AWS_LAMBDA_RUNTIME_API"], !endpoint.isEmpty else {
            throw WorkerFailure(.badRequest, "AWS_LAMBDA_RUNTIME_API is not set: helios-worker lambda runs inside AWS Lambda or its emulator")
        }
        return LambdaRuntimeClient(endpoint: endpoint, logger: logger)
    }

    var base: String { "http://\(endpoint)/2018-06-01/runtime" }

    /// Waits for the next invocation.
    public func next() async throws -> LambdaInvocation {
        let request = HTTPClientRequest(url: "\(base)/invocation/next")
        let response = try await client.execute(request, deadline: .distantFuture)
        let body = try await response.body.collect(upTo: 7 * 1024 * 1024)
        guard response.status == .ok else {
            throw WorkerFailure(.retryable, "runtime API answered \(response.status.code) to invocation/next: \(String(buffer: body).prefix(500))")
        }
        guard let requestID = response.headers.first(name: "Lambda-Runtime-Aws-Request-Id"), !requestID.isEmpty else {
            throw WorkerFailure(.retryable, "runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id")
        }
        return LambdaInvocation(
            requestID: requestID,
            deadlineMs: response.headers.first(name: "Lambda-Runtime-Deadline-Ms").flatMap { Int64($0) },
            functionARN: response.headers.first(name: "Lambda-Runtime-Invoked-Function-Arn"),
            traceID: response.headers.first(name: "Lambda-Runtime-Trace-Id"),
            payload: Data(buffer: body))
    }

    /// Sends the invocation's response.
    public func respond(to requestID: String, body: Data) async throws {
        try await post("\(base)/invocation/\(Self.escape(requestID))/response", body: body, errorType: nil)
    }

    /// Reports the invocation as failed (Lambda's `Unhandled` function error).
    public func fail(_ requestID: String, type: String, message: String) async throws {
        try await post("\(base)/invocation/\(Self.escape(requestID))/error", body: Self.errorBody(type: type, message: message), errorType: type)
    }

    /// Reports a failure before the first invocation (bad configuration); Lambda then restarts or fails the init.
    public func initError(type: String, message: String) async throws {
        try await post("\(base)/init/error", body: Self.errorBody(type: type, message: message), errorType: type)
    }

    func post(_ url: String, body: Data, errorType: String?) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let errorType { request.headers.add(name: "Lambda-Runtime-Function-Error-Type", value: errorType) }
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw WorkerFailure(.retryable, "runtime API answered \(response.status.code) to \(url): \(String(buffer: text).prefix(500))")
        }
    }

    static func errorBody(type: String, message: String) -> Data {
        (try? JSONSerialization.data(withJSONObject: ["errorType": type, "errorMessage": message], options: [.sortedKeys])) ?? Data()
    }

    static func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
    }
}

/// The custom runtime's loop: next → handle → respond, until cancelled.
public struct LambdaRuntimeLoop: Sendable {
    /// Handles one invocation and returns the response body. Throwing reports an `Unhandled` function error.
    public typealias Handler = @Sendable (LambdaInvocation) async throws -> Data

    let client: LambdaRuntimeClient
    let logger: Logger

    public init(client: LambdaRuntimeClient, logger: Logger = Logger(label: "helios.lambda.runtime")) {
        self.client = client
        self.logger = logger
    }

    /// Serves invocations one at a time until the task is cancelled or the runtime API goes away.
    /// Returns the number of invocations handled.
    @discardableResult
    public func run(maxInvocations: Int? = nil, handler: Handler) async throws -> Int {
        var handled = 0
        while !Task.isCancelled, maxInvocations.map({ handled < $0 }) ?? true {
            let invocation = try await client.next()
            logger.info("invocation", metadata: ["request": "\(invocation.requestID)", "bytes": "\(invocation.payload.count)"])
            do {
                let body = try await handler(invocation)
                try await client.respond(to: invocation.requestID, body: body)
            } catch is CancellationError {
                try? await client.fail(invocation.requestID, type: "Runtime.Cancelled", message: "the worker was stopped")
                throw CancellationError()
            } catch {
                logger.error("invocation failed", metadata: ["request": "\(invocation.requestID)", "error": "\(error)"])
                try await client.fail(invocation.requestID, type: "Helios.Unhandled", message: "\(error)")
            }
            handled += 1
        }
        return handled
    }
}
