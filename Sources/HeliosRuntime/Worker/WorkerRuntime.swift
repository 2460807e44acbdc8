import AsyncHTTPClient
import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosWorkers
import Logging
import NIOCore

/// Resolves a URI (`s3://bucket/key`, `file:///path`) to a store and the key in it.
public typealias StoreResolver = @Sendable (_ uri: String) throws(StorageError) -> (store: any ArtifactStore, key: ArtifactKey)

/// Fetches and unpacks an asset bundle into `target` (a directory that does not exist yet); file contents are
/// cached by hash across invocations of one worker instance.
public typealias AssetFetcher = @Sendable (_ jobId: String, _ manifestURI: String, _ target: URL) async throws -> Void

/// The worker side of a remote chunk: fetch the spec and assets, run the chunk's command in a fresh workspace,
/// check the output is media, upload it create-only under its attempt's key, clean up, and answer.
///
/// Every outcome is a ``ChunkResponse``; nothing a request contains can crash the worker.
public struct WorkerRuntime: Sendable {
    public struct Configuration: Sendable {
        /// Per-request workspaces are made under this directory.
        public var workspaceRoot: URL
        /// Executables (names or absolute paths) a chunk command may start; nil allows any command from the spec.
        public var allowedCommands: Set<String>?
        /// Stop the command this long before the platform's deadline, to leave time to answer.
        public var deadlineMargin: Duration
        /// Used when a request has no deadline.
        public var defaultTimeout: Duration
        /// Variables added to the chunk command's environment.
        public var environment: [String: String]

        public init(workspaceRoot: URL = FileManager.default.temporaryDirectory, allowedCommands: Set<String>? = nil,
                    deadlineMargin: Duration = .seconds(3), defaultTimeout: Duration = .seconds(900), environment: [String: String] = [:]) {
            self.workspaceRoot = workspaceRoot
            self.allowedCommands = allowedCommands
            self.deadlineMargin = deadlineMargin
            self.defaultTimeout = defaultTimeout
            self.environment = environment
        }

        /// Reads `HELIOS_WORKER_ALLOWED_COMMANDS` (comma-separated names or paths) and `HELIOS_WORKER_WORKSPACE`.
        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Configuration {
            var configuration = Configuration()
            if let list = environment["HELIOS_WORKER_ALLOWED_COMMANDS"], !list.isEmpty {
                configuration.allowedCommands = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            }
            if let root = environment["HELIOS_WORKER_WORKSPACE"], !root.isEmpty {
                configuration.workspaceRoot = URL(fileURLWithPath: root)
            }
            return configuration
        }
    }

    let configuration: Configuration
    let resolve: StoreResolver
    let fetchAssets: AssetFetcher?
    let adapter: any WorkerAdapter
    /// Accepts a chunk's output, or throws why not (`FrameCountMismatch` when it holds other frames than the chunk's).
    let validateOutput: @Sendable (URL, RenderJobChunk, JobMetadata) async throws -> Void
    let http: HTTPClient
    let logger: Logger

    public init(configuration: Configuration, resolve: @escaping StoreResolver, fetchAssets: AssetFetcher?,
                adapter: any WorkerAdapter = LocalWorkerAdapter(), validateOutput: @escaping @Sendable (URL, RenderJobChunk, JobMetadata) async throws -> Void,
                http: HTTPClient = .shared, logger: Logger = Logger(label: "helios.worker.runtime")) {
        self.configuration = configuration
        self.resolve = resolve
        self.fetchAssets = fetchAssets
        self.adapter = adapter
        self.validateOutput = validateOutput
        self.http = http
        self.logger = logger
    }

    /// Handles one encoded request and returns the encoded response (always within ``ChunkResponse/maximumBytes``).
    public func handle(_ payload: Data, platformDeadlineMs: Int64? = nil) async -> Data {
        await respond(to: payload, platformDeadlineMs: platformDeadlineMs).encodedWithinLimit()
    }

    /// Handles one encoded request; `progress` hears each phase of the work as it happens.
    public func respond(to payload: Data, platformDeadlineMs: Int64? = nil,
                        progress: @escaping @Sendable (ChunkProgress) -> Void = { _ in }) async -> ChunkResponse {
        let started = ContinuousClock.now
        func elapsed() -> Int64 { Int64((ContinuousClock.now - started) / .milliseconds(1)) }
        let request: ChunkRequest
        do { request = try ChunkRequest.decode(payload) } catch {
            logger.warning("bad request", metadata: ["error": "\(error.message)"])
            return .failure(error, durationMs: elapsed())
        }
        let workspace = configuration.workspaceRoot.appendingPathComponent("helios-\(request.jobId)-\(request.chunk.id)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: workspace) }
        do {
            return try await run(request, in: workspace, platformDeadlineMs: platformDeadlineMs, started: started, progress: progress)
        } catch let failure as WorkerFailure {
            return .failure(failure, durationMs: elapsed())
        } catch let error as StorageError {
            // A spec, manifest or prefix the request names wrongly is the caller's to fix; anything else may pass.
            let kind: WorkerFailure.Kind = switch error.code {
            case .notFound, .invalidKey, .invalidURI: .badRequest
            default: .retryable
            }
            return .failure(WorkerFailure(kind, "chunk \(request.chunk.id): \(error)"), durationMs: elapsed())
        } catch is CancellationError {
            return .failure(WorkerFailure(.retryable, "chunk \(request.chunk.id): the worker was stopped"), durationMs: elapsed())
        } catch {
            return .failure(WorkerFailure(.retryable, "chunk \(request.chunk.id): \(error)"), durationMs: elapsed())
        }
    }
}
