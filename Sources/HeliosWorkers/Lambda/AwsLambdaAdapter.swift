import Foundation
import HeliosOrchestrator
import HeliosStorage
import Logging

/// Runs chunks on AWS Lambda through the executor's `WorkerAdapter` seam.
///
/// What every remote pool of a job does alike is the job's ``RemoteJobContext``: the spec in the store
/// (create-only), a local-directory `assetsUrl` pushed once as an asset bundle, attempt numbers continuing after
/// those already stored and shared by every pool, and the check of an accepted output by one HEAD (the merge fetches
/// it from the store). Each chunk is then one synchronous invoke of a ``ChunkRequest`` whose output goes under
/// `{storePrefix}/{job}/chunks/{chunk}/attempt-{n}/`, a new attempt key for every call, so a late attempt can never
/// replace another's output.
///
/// Throttling (429) halves how many invokes are in flight and successes add one back (``ConcurrencyGate``); the
/// throttled attempt is retried by the executor. A chunk whose command fails is not retried.
public struct AwsLambdaAdapter: WorkerAdapter {
    public let context: RemoteJobContext
    public var spec: JobSpec { context.spec }
    /// Where requests point the worker at (a store every worker can reach) and where the spec is put.
    public var store: any ArtifactStore { context.store }
    public var storePrefix: ArtifactKey { context.storePrefix }
    public let invokers: InvokerPool
    public let gate: ConcurrencyGate
    /// The platform's timeout for one invoke (the worker gets the matching deadline).
    public let invokeTimeout: Duration
    let logger: Logger

    public init(context: RemoteJobContext, invokers: InvokerPool, maximumConcurrency: Int, invokeTimeout: Duration = .seconds(900),
                logger: Logger = Logger(label: "helios.worker.lambda")) {
        self.context = context
        self.invokers = invokers
        self.gate = ConcurrencyGate(maximum: maximumConcurrency)
        self.invokeTimeout = invokeTimeout
        self.logger = logger
    }

    /// An adapter with a job context of its own (a single Lambda pool).
    public init(spec: JobSpec, store: any ArtifactStore, storePrefix: ArtifactKey, invokers: InvokerPool, maximumConcurrency: Int,
                invokeTimeout: Duration = .seconds(900), logger: Logger = Logger(label: "helios.worker.lambda")) {
        self.init(context: RemoteJobContext(spec: spec, store: store, storePrefix: storePrefix), invokers: invokers,
                  maximumConcurrency: maximumConcurrency, invokeTimeout: invokeTimeout, logger: logger)
    }

    public func execute(_ job: WorkerJob) async throws -> WorkerResult {
        let started = ContinuousClock.now
        let (request, chunk) = try await context.nextRequest(chunkId: job.chunkId, jobDirectory: job.workingDirectory, timeout: invokeTimeout)

        let outcome = await gate.withSlot(isThrottled: \.throttled) { () async throws(LambdaInvokeError) -> (ChunkResponse, AwsLambdaInvoker) in
            let invoker = await invokers.acquire()
            let sent: Result<ChunkResponse, LambdaInvokeError>
            do throws(LambdaInvokeError) { sent = .success(try await invoker.invoke(request, timeout: invokeTimeout + .seconds(5))) } catch { sent = .failure(error) }
            await invokers.release(invoker)
            return (try sent.get(), invoker)
        }
        let response: ChunkResponse, invoker: AwsLambdaInvoker
        switch outcome {
        case .success(let value):
            (response, invoker) = value
        case .failure(let error):
            if error.throttled {
                let limit = await gate.limit
                logger.info("throttled", metadata: ["chunk": "\(chunk.id)", "limit": "\(limit)"])
            }
            throw RemoteChunkError(error.failure, chunkId: chunk.id)
        }
        let worker = "lambda:\(invoker.functionName)@\(invoker.endpoint.host ?? "")\(invoker.endpoint.port.map { ":\($0)" } ?? "")"
        let record = try await context.accept(response, for: request, worker: worker)
        return WorkerResult(exitCode: 0, stdout: response.stdoutTail, stderr: response.stderrTail,
                            durationMs: Int64((ContinuousClock.now - started) / .milliseconds(1)), output: record)
    }
}

/// A remote chunk's failure for the executor: retryable unless the chunk itself failed or the request was bad.
public struct RemoteChunkError: Error, RetryClassifying, CustomStringConvertible {
    public var failure: WorkerFailure
    public var chunkId: String
    public var exitCode: Int32?
    public var stderrTail: String

    public init(_ failure: WorkerFailure, chunkId: String, exitCode: Int32? = nil, stderrTail: String = "") {
        self.failure = failure
        self.chunkId = chunkId
        self.exitCode = exitCode
        self.stderrTail = stderrTail
    }
    public var isRetryable: Bool { failure.isRetryable }
    public var description: String {
        failure.description + (stderrTail.isEmpty ? "" : "; stderr: \(stderrTail.suffix(1500))")
    }
}

/// Lambda endpoints to invoke, each taking at most `capacity` invokes at once (1 for the emulator, which crashes on a
/// second concurrent invoke; a real function takes as many as its concurrency allows).
///
/// The endpoint with the most free slots is chosen, ties going to the one used least recently: a retry goes to
/// another emulator than the attempt it replaces, which may still be running there.
public actor InvokerPool {
    var idle: [(invoker: AwsLambdaInvoker, slots: Int, lastUsed: Int)]
    var waiters: [CheckedContinuation<Void, Never>] = []
    var uses = 0

    public init(_ invokers: [AwsLambdaInvoker], capacity: Int) {
        idle = invokers.map { ($0, max(1, capacity), 0) }
    }

    func acquire() async -> AwsLambdaInvoker {
        while true {
            if let index = idle.indices.max(by: { (idle[$0].slots, -idle[$0].lastUsed) < (idle[$1].slots, -idle[$1].lastUsed) }),
               idle[index].slots > 0 {
                uses += 1
                idle[index].slots -= 1
                idle[index].lastUsed = uses
                return idle[index].invoker
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ invoker: AwsLambdaInvoker) {
        if let index = idle.firstIndex(where: { $0.invoker.endpoint == invoker.endpoint && $0.invoker.functionName == invoker.functionName }) {
            idle[index].slots += 1
        }
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
