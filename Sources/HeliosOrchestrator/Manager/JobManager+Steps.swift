import Foundation
import HeliosStorage

/// The steps of a run: chunk completions (each stored), the merge, and the changes staged for the run's last write.
extension JobManager {
    /// Stores a chunk's completion. This run's copy of the status records only that the chunk completed: its
    /// details (output record, timings, log) stay in the store, which the run's last write and ``get(_:)`` read them
    /// from (at 10,000 chunks they took 3.4 MB of the runner's memory). Returns false for a chunk that had completed
    /// before (its first accepted output stands).
    @discardableResult
    func recordChunk(_ id: String, _ chunk: ChunkOutcome) async throws -> Bool {
        lastCompletion[id] = ContinuousClock.now
        guard active[id] != nil else { return false }
        // Stored first: the run's last write names the chunk completed only if the store has its details.
        try await repository.appendChunkCompletion(chunk, jobId: id)
        // In place: a copy of the status would copy its completed ids on every completion.
        let first = active[id]?.markCompleted(chunk.chunkId) ?? false
        active[id]?.updatedAt = Date()
        return first
    }

    func merge(_ id: String, spec: JobSpec, directory: URL, options: RunOptions, events: AsyncStream<JobEvent>.Continuation?) async throws {
        guard options.mergeEnabled else {
            stage(id) { $0.result = JobResult(outputPath: nil, merge: nil) }
            return
        }
        let merger: any ChunkMerger
        if let command = spec.mergeCommand {
            merger = CommandMergeAdapter(command: command, jobId: id, workingDirectory: directory, worker: options.executor.worker)
        } else if let configured = options.merger {
            merger = configured
        } else {
            throw OrchestratorError.mergeFailed(jobId: id, reason: "no merger configured and the spec has no mergeCommand", retryable: false)
        }
        let tailStart = lastCompletion[id] ?? ContinuousClock.now
        let output = try Self.mergeOutput(id, spec: spec, directory: directory, options: options)
        try await enterStitching(id)
        events?.yield(.merging(chunks: spec.chunks.count))
        let started = ContinuousClock.now
        let summary: MergeSummary
        do {
            // The store holds this run's outputs (see `recordChunk`).
            let inputs = try await mergeInputs(spec: spec, recorded: try await repository.load(id).chunkOutputs ?? [:], directory: directory)
            summary = try await merger.merge(inputs, into: output)
        } catch {
            throw Self.mergeError(id, error)
        }
        recordMerge(id, summary, started: started, tailStart: tailStart, progressive: false)
    }

    /// Keeps the merge's result and its timings for the run's final transition, which stores them with the
    /// `completed` state in one write (a crash before it leaves the job `stitching`: a resume merges again).
    /// `mergeDurationMs` and `mergeTailMs` run from `started` and `tailStart` (the last chunk's completion) to
    /// `durable`, when the output was durable at its path (default: now).
    func recordMerge(_ id: String, _ summary: MergeSummary, started: ContinuousClock.Instant, tailStart: ContinuousClock.Instant,
                     durable: ContinuousClock.Instant = .now, progressive: Bool) {
        let end = durable
        var summary = summary
        pendingReports[id] = summary.reportText ?? summary.reportJSON.map { SpooledText(Data($0.utf8)) }
        summary.reportJSON = nil
        summary.reportText = nil
        stage(id) {
            $0.result = JobResult(outputPath: summary.outputPath, merge: summary)
            $0.metrics.mergeDurationMs = LocalWorkerAdapter.milliseconds(end - started)
            $0.metrics.mergeTailMs = Self.fractionalMilliseconds(end - tailStart)
            $0.metrics.mergeProgressive = progressive
        }
    }

    /// `duration` in milliseconds, rounded to the microsecond.
    nonisolated static func fractionalMilliseconds(_ duration: Duration) -> Double {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        return Double(micros) / 1000
    }

    /// Where the merged file goes: `RunOptions.output` or `<job directory>/<job id>.<extension of the first chunk>`.
    /// The merged output is replaced, never written through: a symlink or a non-file there is refused.
    nonisolated static func mergeOutput(_ id: String, spec: JobSpec, directory: URL, options: RunOptions) throws -> URL {
        let ext = (spec.chunks.first?.outputFile as NSString?)?.pathExtension ?? ""
        let output = options.output ?? directory.appendingPathComponent(ext.isEmpty ? id : "\(id).\(ext)")
        do { try ConfinedOutput.checkMergeTarget(output) } catch {
            throw OrchestratorError.mergeFailed(jobId: id, reason: "output \(output.path): \(error.reason)", retryable: false)
        }
        return output
    }

    /// A merger's failure as the job's error: `mergeFailed` with the merger's message (orchestrator errors and
    /// cancellation pass through).
    nonisolated static func mergeError(_ id: String, _ error: any Error) -> any Error {
        if error is OrchestratorError || error is CancellationError { return error }
        let retryable = (error as? any RetryClassifying)?.isRetryable ?? false
        return OrchestratorError.mergeFailed(jobId: id, reason: "\(error)", retryable: retryable)
    }

    /// Each chunk's recorded output, in timeline order. A chunk completed before outputs were recorded (a job
    /// from an older version) is its file in the job directory, hashed now.
    func mergeInputs(spec: JobSpec, recorded: [String: ChunkOutputRecord], directory: URL) async throws -> [ChunkOutputRecord] {
        var inputs: [ChunkOutputRecord] = []
        for chunk in spec.chunks { inputs.append(try await Self.mergeInput(chunk, recorded: recorded[chunk.id], directory: directory)) }
        return inputs
    }

    /// One chunk's recorded output with its chunk id, or its file in the job directory hashed now.
    nonisolated static func mergeInput(_ chunk: RenderJobChunk, recorded: ChunkOutputRecord?, directory: URL) async throws -> ChunkOutputRecord {
        if var record = recorded {
            record.chunkId = chunk.id
            return record
        }
        let file = directory.appendingPathComponent((try? OutputPath.normalize(chunk.outputFile).get()) ?? chunk.outputFile)
        let digest = try await FileHash.sha256(of: file)
        return ChunkOutputRecord(uri: file.absoluteString, bytes: digest.size, sha256: digest.sha256, attempt: 0,
                                 worker: "local", chunkId: chunk.id)
    }

    /// running -> stitching, through the state machine (fenced by this run's lease). The store records the state
    /// alone, so the last chunk's merge does not wait for the whole status to be rewritten.
    func enterStitching(_ id: String) async throws {
        guard let token = active[id]?.lease?.token else { return }
        let at = now()
        try await repository.changeState(id, at: at) { state, holder in
            guard let next = JobLifecycle.stitched(state: state, holder: holder, token: token) else { throw OrchestratorError.leaseLost(id: id) }
            return next
        }
        active[id]?.state = .stitching
        active[id]?.updatedAt = at
    }

    /// Changes this run's copy of the status only; the next persisted write stores it.
    private func stage(_ id: String, _ change: (inout JobStatus) -> Void) {
        guard active[id] != nil else { return }
        change(&active[id]!)
        active[id]?.updatedAt = Date()
    }
}
