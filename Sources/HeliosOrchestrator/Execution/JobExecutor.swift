import Foundation
import HeliosStorage
import Logging

/// Runs a job's chunks with bounded concurrency and retries, validating each output.
///
/// At most `concurrency` chunk commands run at once: N are started and one more is started each time one ends.
/// A chunk that fails permanently cancels the running ones (their process groups are killed) and the run
/// throws `OrchestratorError.chunkFailed` naming the chunk with the tail of its stderr.
public struct JobExecutor: Sendable {
    public var worker: any WorkerAdapter
    public var validator: any ChunkOutputValidator
    public var retryPolicy: RetryPolicy
    public var concurrency: Int
    /// Per-attempt timeout of a chunk command.
    public var chunkTimeout: Duration?
    /// Variables added to the chunk commands' environment.
    public var environment: [String: String]
    public var clock: any SleepClock
    public var logger: Logger

    public init(worker: any WorkerAdapter = LocalWorkerAdapter(), validator: any ChunkOutputValidator = NonEmptyFileValidator(),
                retryPolicy: RetryPolicy = RetryPolicy(), concurrency: Int = 4, chunkTimeout: Duration? = nil,
                environment: [String: String] = [:], clock: any SleepClock = ContinuousSleepClock(),
                logger: Logger = Logger(label: "helios.executor")) {
        self.worker = worker
        self.validator = validator
        self.retryPolicy = retryPolicy
        self.concurrency = max(1, concurrency)
        self.chunkTimeout = chunkTimeout
        self.environment = environment
        self.clock = clock
        self.logger = logger
    }

    /// Runs every chunk of `spec` not in `completed`, in `directory`.
    ///
    /// `onChunkCompleted` is awaited (it persists the completion) before the chunk's `chunkCompleted` event is sent.
    public func runChunks(
        of spec: JobSpec, in directory: URL, skipping completed: Set<String>,
        onEvent: @escaping @Sendable (JobEvent) async -> Void,
        onChunkCompleted: @escaping @Sendable (ChunkOutcome) async throws -> Void
    ) async throws {
        // Taken from the spec as they start (no copy of the chunk list: 640 KB per 10,000 chunks).
        let pending = spec.chunks.lazy.filter { !completed.contains($0.id) }
        let total = spec.chunks.count
        var done = total - spec.chunks.count { !completed.contains($0.id) }
        logger.debug("running chunks", metadata: ["job": "\(spec.id)", "pending": "\(total - done)", "total": "\(total)"])
        try await withThrowingTaskGroup(of: ChunkOutcome.self) { group in
            var queue = pending.makeIterator()
            for _ in 0..<concurrency {
                guard let chunk = queue.next() else { break }
                group.addTask { try await self.runChunk(chunk, of: spec, in: directory, onEvent: onEvent) }
            }
            while let outcome = try await group.next() {
                try await onChunkCompleted(outcome)
                done += 1
                await onEvent(.chunkCompleted(chunkId: outcome.chunkId, durationMs: outcome.durationMs, attempts: outcome.attempts))
                await onEvent(.progress(done: done, total: total))
                if let chunk = queue.next() {
                    group.addTask { try await self.runChunk(chunk, of: spec, in: directory, onEvent: onEvent) }
                }
            }
        }
    }

    /// Runs one chunk until it succeeds, fails permanently, or is cancelled.
    func runChunk(_ chunk: RenderJobChunk, of spec: JobSpec, in directory: URL,
                  onEvent: @Sendable (JobEvent) async -> Void) async throws -> ChunkOutcome {
        // Validated specs have normal output paths; an invalid one fails in `prepare` below.
        let relative = (try? OutputPath.normalize(chunk.outputFile).get()) ?? chunk.outputFile
        let output = directory.appendingPathComponent(relative)
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            await onEvent(.chunkStarted(chunkId: chunk.id, attempt: attempt))
            var stderrTail = ""
            do {
                // A stale output from an interrupted attempt must not pass validation. Directories are created and
                // the stale file removed without following any symlink out of the job directory.
                do { try ConfinedOutput.prepare(relative, in: directory) } catch {
                    throw OrchestratorError.unsafeOutput(chunkId: chunk.id, path: chunk.outputFile, reason: error.reason)
                }
                let job = WorkerJob(jobId: spec.id, chunkId: chunk.id, command: chunk.command, workingDirectory: directory,
                                    environment: environment.merging(Self.variables(for: chunk, of: spec, in: directory)) { a, _ in a },
                                    timeout: chunkTimeout)
                let result = try await worker.execute(job)
                stderrTail = result.stderr.tail(maxBytes: 2048)
                guard result.exitCode == 0 else {
                    throw OrchestratorError.commandFailed(chunkId: chunk.id, exitCode: result.exitCode, stderrTail: stderrTail)
                }
                let record: ChunkOutputRecord
                if var stored = result.output {
                    // A remote worker probed its output and stored it; the adapter checked the store holds it.
                    stored.chunkId = chunk.id
                    record = stored
                } else {
                    do { try ConfinedOutput.check(relative, in: directory) } catch {
                        throw OrchestratorError.unsafeOutput(chunkId: chunk.id, path: chunk.outputFile, reason: error.reason)
                    }
                    do { try await validator.validate(output, for: chunk, of: spec.metadata) } catch {
                        throw OrchestratorError.invalidOutput(chunkId: chunk.id, path: output.path, reason: "\(error)",
                                                              retryable: !(error is any RepeatedRenderFailure))
                    }
                    // Recorded like a stored output (a file:// URI with its hash), so the merge verifies it the same way.
                    let digest: (sha256: String, size: Int64)
                    do { digest = try await FileHash.sha256(of: output) } catch {
                        throw OrchestratorError.invalidOutput(chunkId: chunk.id, path: output.path, reason: "\(error)")
                    }
                    record = ChunkOutputRecord(uri: output.absoluteString, bytes: digest.size, sha256: digest.sha256,
                                               attempt: attempt, worker: "local", chunkId: chunk.id)
                }
                return ChunkOutcome(chunkId: chunk.id, durationMs: result.durationMs, attempts: attempt, log: stderrTail, output: record)
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                guard attempt < retryPolicy.maxAttempts, retryPolicy.isRetryable(error) else {
                    logger.debug("chunk failed", metadata: ["chunk": "\(chunk.id)", "attempts": "\(attempt)", "error": "\(error)"])
                    throw OrchestratorError.chunkFailed(jobId: spec.id, chunkId: chunk.id, attempts: attempt,
                                                        reason: "\(error)", stderrTail: stderrTail)
                }
                let delay = retryPolicy.delay(afterFailures: attempt)
                logger.debug("chunk retrying", metadata: ["chunk": "\(chunk.id)", "attempt": "\(attempt)", "delay": "\(delay)"])
                await onEvent(.chunkRetrying(chunkId: chunk.id, attempt: attempt, error: "\(error)", delay: delay))
                try await clock.sleep(for: delay)
            }
        }
    }

    /// Variables every chunk command sees.
    /// Variables every chunk command sees; `HELIOS_ASSETS_DIR` when the spec's `assetsUrl` is a local directory.
    static func variables(for chunk: RenderJobChunk, of spec: JobSpec, in directory: URL) -> [String: String] {
        var variables = [
            "HELIOS_JOB_ID": spec.id, "HELIOS_CHUNK_ID": chunk.id,
            "HELIOS_START_FRAME": "\(chunk.startFrame)", "HELIOS_FRAME_COUNT": "\(chunk.frameCount)",
            "HELIOS_OUTPUT": chunk.outputFile,
        ]
        variables.merge(spec.metadata.environment) { a, _ in a }
        if let assets = spec.localAssetsDirectory(relativeTo: directory) { variables["HELIOS_ASSETS_DIR"] = assets.path }
        return variables
    }
}
