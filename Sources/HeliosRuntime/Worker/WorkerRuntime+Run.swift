import AsyncHTTPClient
import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosWorkers
import NIOCore
import NIOFoundationCompat

extension WorkerRuntime {
    /// Polls `file` (the chunk command's HELIOS_PROGRESS_FILE: a decimal count of frames done, replaced whole) every
    /// 250 ms until cancelled, reporting each larger count, at most `frameCount`, as `rendering` progress. A missing
    /// or unreadable file says nothing: commands that do not report progress are simply not heard from.
    static func watchProgress(_ file: URL, frameCount: Int, progress: @escaping @Sendable (ChunkProgress) -> Void) async {
        var reported = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            guard let data = FileManager.default.contents(atPath: file.path),
                  let frames = Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            let capped = min(frames, frameCount)
            if capped > reported {
                reported = capped
                progress(ChunkProgress(phase: .rendering, framesDone: capped))
            }
        }
    }

    /// Signals that stop a command from outside (the out-of-memory killer's SIGKILL, a shutdown's SIGTERM, a hang-up
    /// or an interrupt) rather than from what it renders: another attempt may well succeed.
    static let externalSignals: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM"]

    /// How a chunk command that ended with `exitCode` (128 + the signal's number when a signal killed it, as a shell
    /// reports it too) failed: retryable when one of `externalSignals` killed it, deterministic otherwise (it exited
    /// non-zero, or crashed: SIGSEGV, SIGABRT, ...).
    static func commandFailure(exitCode: Int32, chunkName: String) -> WorkerFailure {
        if exitCode > 128, let signal = externalSignals[exitCode - 128] {
            return WorkerFailure(.retryable, "\(chunkName): command was killed by \(signal) (status \(exitCode)), stopped from outside "
                + "(out-of-memory killer, shutdown) rather than failing on its own: another attempt may succeed")
        }
        return WorkerFailure(.deterministic, "\(chunkName): command exited with \(exitCode)")
    }

    func run(_ request: ChunkRequest, in workspace: URL, platformDeadlineMs: Int64?, started: ContinuousClock.Instant,
             progress: @escaping @Sendable (ChunkProgress) -> Void = { _ in }) async throws -> ChunkResponse {
        let chunkName = "chunk \(request.chunk.id) of job \(request.jobId)"
        // The spec decides what runs: the request must describe one of its chunks exactly.
        let spec = try await fetchSpec(request)
        guard spec.id == request.jobId else {
            throw WorkerFailure(.badRequest, "\(chunkName): the spec is for job \(spec.id)")
        }
        guard let chunk = spec.chunks.first(where: { $0.id == request.chunk.id }) else {
            throw WorkerFailure(.badRequest, "\(chunkName): the spec has no such chunk")
        }
        guard chunk.command == request.chunk.command, chunk.outputFile == request.chunk.outputFile,
              chunk.startFrame == request.chunk.startFrame, chunk.frameCount == request.chunk.frameCount else {
            throw WorkerFailure(.badRequest, "\(chunkName): the request does not match the spec's chunk (a worker runs only commands from the spec it fetched)")
        }
        progress(ChunkProgress(phase: .accepted))
        let argv: [String]
        do { argv = try CommandLineSplitter.split(chunk.command) } catch {
            throw WorkerFailure(.badRequest, "\(chunkName): command cannot be split: \(error)")
        }
        guard let executable = argv.first else { throw WorkerFailure(.badRequest, "\(chunkName): command is empty") }
        if let allowed = configuration.allowedCommands,
           !allowed.contains(executable), !allowed.contains(URL(fileURLWithPath: executable).lastPathComponent) {
            throw WorkerFailure(.badRequest, "\(chunkName): '\(executable)' is not in HELIOS_WORKER_ALLOWED_COMMANDS (\(allowed.sorted().joined(separator: ", ")))")
        }

        let output = workspace.appendingPathComponent(chunk.outputFile)
        do {
            try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw WorkerFailure(.retryable, "\(chunkName): cannot make the workspace \(workspace.path): \(error.localizedDescription)")
        }
        var environment = configuration.environment
        environment["HELIOS_JOB_ID"] = request.jobId
        environment["HELIOS_CHUNK_ID"] = chunk.id
        environment["HELIOS_START_FRAME"] = String(chunk.startFrame)
        environment["HELIOS_FRAME_COUNT"] = String(chunk.frameCount)
        environment.merge(spec.metadata.environment) { _, new in new }
        environment["HELIOS_ATTEMPT"] = String(request.attempt)
        let progressFile = workspace.appendingPathComponent(".helios-progress")
        environment["HELIOS_PROGRESS_FILE"] = progressFile.path
        if let manifest = request.assetsManifest {
            guard let fetchAssets else { throw WorkerFailure(.badRequest, "\(chunkName): this worker cannot fetch asset bundles") }
            let assets = workspace.appendingPathComponent(".helios-assets")
            try await fetchAssets(request.jobId, manifest, assets)
            environment["HELIOS_ASSETS_DIR"] = assets.path
            progress(ChunkProgress(phase: .assets))
        }

        let timeout = try remainingTime(request: request, platformDeadlineMs: platformDeadlineMs, chunkName: chunkName)
        let result: WorkerResult
        progress(ChunkProgress(phase: .rendering))
        // The command may write its frames done to HELIOS_PROGRESS_FILE; each new count is reported while it runs.
        // A child task watches the file; the group stops and awaits it whether the command returns or throws.
        do {
            result = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await Self.watchProgress(progressFile, frameCount: chunk.frameCount, progress: progress) }
                let result = try await adapter.execute(WorkerJob(jobId: request.jobId, chunkId: chunk.id, command: chunk.command,
                                                                 workingDirectory: workspace, environment: environment, timeout: timeout))
                group.cancelAll()
                return result
            }
        } catch OrchestratorError.timedOut(_, let seconds) {
            throw WorkerFailure(.timeout, "\(chunkName): stopped after \(Int(seconds)) s, before the platform's deadline")
        } catch OrchestratorError.spawnFailed(_, let command, let reason) {
            throw WorkerFailure(.deterministic, "\(chunkName): cannot start '\(command)': \(reason)")
        }
        let durationMs = Int64((ContinuousClock.now - started) / .milliseconds(1))
        guard result.exitCode == 0 else {
            return .failure(Self.commandFailure(exitCode: result.exitCode, chunkName: chunkName),
                            exitCode: result.exitCode, durationMs: durationMs, stdoutTail: result.stdout, stderrTail: result.stderr)
        }
        var status = stat()
        guard lstat(output.path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            return .failure(WorkerFailure(.deterministic, "\(chunkName): command exited 0 but did not write \(chunk.outputFile) as a regular file"),
                            exitCode: 0, durationMs: durationMs, stdoutTail: result.stdout, stderrTail: result.stderr)
        }
        do { try await validateOutput(output, chunk, spec.metadata) } catch let mismatch as any RepeatedRenderFailure {
            return .failure(WorkerFailure(.deterministic, "\(chunkName): \(chunk.outputFile) \(mismatch)"),
                            exitCode: 0, durationMs: durationMs, stdoutTail: result.stdout, stderrTail: result.stderr)
        } catch {
            return .failure(WorkerFailure(.deterministic, "\(chunkName): \(chunk.outputFile) is not readable media: \(error)"),
                            exitCode: 0, durationMs: durationMs, stdoutTail: result.stdout, stderrTail: result.stderr)
        }
        progress(ChunkProgress(phase: .rendered, framesDone: chunk.frameCount))
        let uploaded = try await upload(output, request: request, chunkName: chunkName)
        progress(ChunkProgress(phase: .uploaded, framesDone: chunk.frameCount, bytesUploaded: uploaded.bytes))
        return ChunkResponse(status: .succeeded, exitCode: 0, output: uploaded,
                             durationMs: Int64((ContinuousClock.now - started) / .milliseconds(1)),
                             stdoutTail: result.stdout, stderrTail: result.stderr)
    }

    /// How long the command may run: until the earlier of the request's and the platform's deadline, less the margin.
    func remainingTime(request: ChunkRequest, platformDeadlineMs: Int64?, chunkName: String) throws(WorkerFailure) -> Duration {
        let deadlines = [request.deadlineMs, platformDeadlineMs].compactMap { $0 }
        guard let deadline = deadlines.min() else { return configuration.defaultTimeout }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let remaining = Duration.milliseconds(deadline - nowMs) - configuration.deadlineMargin
        guard remaining > .zero else {
            throw WorkerFailure(.timeout, "\(chunkName): no time left before the deadline (\(deadline - nowMs) ms, margin \(configuration.deadlineMargin))")
        }
        return remaining
    }

    func fetchSpec(_ request: ChunkRequest) async throws -> JobSpec {
        let data: Data
        switch request.spec {
        case .inline(let text): data = Data(text.utf8)
        case .url(let url): data = try await read(url, limit: JobSpec.maximumSpecBytes, what: "spec")
        }
        let spec: JobSpec
        do { spec = try JSONDecoder().decode(JobSpec.self, from: data) } catch {
            throw WorkerFailure(.badRequest, "job \(request.jobId): the spec is not valid JSON for a job: \(error)")
        }
        let problems = spec.problems()
        guard problems.isEmpty else {
            throw WorkerFailure(.badRequest, "job \(request.jobId): invalid spec: \(problems.prefix(3).joined(separator: "; "))")
        }
        return spec
    }

    /// Reads a small object from `https://`/`http://` (a presigned URL) or a store URI.
    func read(_ url: String, limit: Int, what: String) async throws -> Data {
        if url.hasPrefix("https://") || url.hasPrefix("http://") {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
            let body = try await response.body.collect(upTo: limit)
            guard response.status == .ok else {
                throw Self.httpFailure("\(what) at", url: url, status: Int(response.status.code), body: String(buffer: body), now: Date())
            }
            return Data(buffer: body)
        }
        let (store, key) = try resolve(url)
        return Data(try await store.get(key))
    }

    func upload(_ file: URL, request: ChunkRequest, chunkName: String) async throws -> ChunkResponse.Output {
        let name = URL(fileURLWithPath: request.chunk.outputFile).lastPathComponent
        switch request.output {
        case .store(let prefix):
            let relative = ChunkRequest.outputKey(jobId: request.jobId, chunkId: request.chunk.id, attempt: request.attempt, file: name)
            let (store, key) = try resolve(prefix.hasSuffix("/") ? prefix + relative : prefix + "/" + relative)
            let putError: StorageError
            do {
                let stored = try await store.put(file: file, to: key, options: PutOptions(ifAbsent: true))
                return .init(uri: stored.uri, bytes: stored.size, sha256: stored.sha256 ?? "")
            } catch {
                putError = error
            }
            guard putError.code == .alreadyExists else { throw putError }
            do {
                // The same attempt delivered twice (a platform-level retry): accept only identical content.
                let digest = try await FileHash.sha256(of: file)
                let existing = try await store.metadata(key)
                guard existing.sha256 == digest.sha256 else {
                    throw WorkerFailure(.retryable, "\(chunkName): \(existing.uri) already holds another attempt's output; not overwritten")
                }
                return .init(uri: existing.uri, bytes: existing.size, sha256: digest.sha256)
            }
        case .presignedPut(let url, let uri):
            let digest = try await FileHash.sha256(of: file)
            var put = HTTPClientRequest(url: url)
            put.method = .PUT
            put.headers.add(name: "Content-Length", value: String(digest.size))
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            put.body = .stream(FileChunks(handle: handle), length: .known(digest.size))
            let response = try await http.execute(put, timeout: .seconds(900))
            let body = try await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw Self.httpFailure("\(chunkName): upload to", url: url, status: Int(response.status.code), body: String(buffer: body), now: Date())
            }
            return .init(uri: uri, bytes: digest.size, sha256: digest.sha256)
        }
    }

    /// The failure for an HTTP `status` other than success from a presigned `url`: retryable for 5xx, 429 and 408, else
    /// a `badRequest` (the orchestrator must send a new URL; the worker cannot). The message names the URL without its
    /// query and, for a 403 from a URL past its `X-Amz-Date + X-Amz-Expires`, when it expired. Pure.
    static func httpFailure(_ what: String, url: String, status: Int, body: String, now: Date) -> WorkerFailure {
        let kind: WorkerFailure.Kind = status >= 500 || status == 429 || status == 408 ? .retryable : .badRequest
        var text = "\(what) \(redacted(url)) failed: HTTP \(status)"
        if status == 403, let expiry = PresignedURLExpiry.expiry(of: url) {
            let stamp = InternetDate.format(expiry)
            text += expiry <= now ? ": the presigned URL expired at \(stamp)" : " (the presigned URL is valid until \(stamp))"
        }
        let detail = body.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300)
        if !detail.isEmpty { text += "; the server said: \(detail)" }
        return WorkerFailure(kind, text)
    }

    /// `url` without its query (presigned URLs carry credentials there).
    static func redacted(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }
}

/// A file's contents as an async sequence of 1 MiB buffers, for streamed HTTP bodies.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let handle: FileHandle

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle
        mutating func next() async throws -> ByteBuffer? {
            guard let block = try handle.read(upToCount: 1 << 20), !block.isEmpty else { return nil }
            return ByteBuffer(data: block)
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }
}
