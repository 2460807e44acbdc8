import Foundation
import HeliosOrchestrator
import HeliosStorage
import Logging

/// Runs chunks on a Google Cloud Run service (`helios-worker serve`) through the executor's `WorkerAdapter` seam.
///
/// Each chunk is a ``ChunkRequest`` for the next attempt (numbered by the job's shared ``RemoteJobContext``) sent
/// with a Google ID token for the service URL. 429, 500, 502, 503, 504 and connection errors are resent, the same
/// attempt, up to ``ResendPolicy/maximumResends`` times, waiting with backoff and jitter and at least the
/// `Retry-After`; a 429 also halves how many requests are in flight (``ConcurrencyGate``, as for Lambda) and
/// successes add one back. A 401 refreshes the token once. What is still failing goes to the executor as a
/// ``RemoteChunkError`` (retryable ones get a new attempt, perhaps on another pool). The spec, the assets, attempt
/// numbers and the check of the accepted output (one HEAD) are the job's ``RemoteJobContext``, shared with Lambda.
public struct CloudRunAdapter: WorkerAdapter {
    public let context: RemoteJobContext
    public let invoker: CloudRunInvoker
    public let gate: ConcurrencyGate
    /// The service's request timeout (at most an hour); the worker gets the matching deadline.
    public let requestTimeout: Duration
    public let resend: ResendPolicy
    let logger: Logger

    public init(context: RemoteJobContext, invoker: CloudRunInvoker, maximumConcurrency: Int, requestTimeout: Duration = .seconds(900),
                resend: ResendPolicy = ResendPolicy(), logger: Logger = Logger(label: "helios.worker.cloudrun")) {
        self.context = context
        self.invoker = invoker
        self.gate = ConcurrencyGate(maximum: maximumConcurrency)
        self.requestTimeout = min(requestTimeout, CloudRunInvoker.maximumTimeout)
        self.resend = resend
        self.logger = logger
    }

    /// `cloudrun:{host}[:port]`, as job status shows it.
    public var workerName: String {
        "cloudrun:\(invoker.serviceURL.host ?? "")\(invoker.serviceURL.port.map { ":\($0)" } ?? "")"
    }

    public func execute(_ job: WorkerJob) async throws -> WorkerResult {
        let started = ContinuousClock.now
        let (request, chunk) = try await context.nextRequest(chunkId: job.chunkId, jobDirectory: job.workingDirectory, timeout: requestTimeout)
        let body: Data
        do { body = try request.encoded(limit: CloudRunInvoker.requestLimit) } catch { throw RemoteChunkError(error, chunkId: chunk.id) }
        let name = "chunk \(chunk.id) attempt \(request.attempt)"
        var resends = 0
        var refreshed = false
        var refreshNext = false
        let response: ChunkResponse
        while true {
            let refresh = refreshNext
            let outcome = await gate.withSlot(isThrottled: \.throttled) { () async throws(CloudRunInvokeError) in
                try await invoker.send(body, chunk: name, timeout: requestTimeout + .seconds(5), refreshToken: refresh)
            }
            refreshNext = false
            switch outcome {
            case .success(let value):
                response = value
            case .failure(let error):
                if error.unauthorized, !refreshed {
                    refreshed = true
                    refreshNext = true
                    logger.info("token refused: refreshing", metadata: ["chunk": "\(chunk.id)", "service": "\(invoker.serviceURL)"])
                    continue
                }
                guard error.resendable, resends < resend.maximumResends else {
                    throw RemoteChunkError(error.failure, chunkId: chunk.id)
                }
                resends += 1
                let wait = resend.delay(resend: resends, retryAfter: error.retryAfter, jitter: Double.random(in: 0..<1))
                let limit = await gate.limit
                logger.info("resending", metadata: ["chunk": "\(chunk.id)", "attempt": "\(request.attempt)", "resend": "\(resends)",
                                                    "status": "\(error.httpStatus.map(String.init) ?? "none")", "waitMs": "\(wait / .milliseconds(1))",
                                                    "limit": "\(limit)"])
                try await Task.sleep(for: wait)
                continue
            }
            break
        }
        let record = try await context.accept(response, for: request, worker: workerName)
        return WorkerResult(exitCode: 0, stdout: response.stdoutTail, stderr: response.stderrTail,
                            durationMs: Int64((ContinuousClock.now - started) / .milliseconds(1)), output: record)
    }
}
