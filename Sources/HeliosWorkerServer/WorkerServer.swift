import Foundation
import HeliosRuntime
import HeliosWorkers
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `helios-worker serve`: the chunk protocol over HTTP, for Cloud Run or any container host.
///
/// - `POST /v1/chunks`: a ``ChunkRequest`` in, a ``ChunkResponse`` out; with `Accept: application/x-ndjson` the
///   answer streams ``ChunkStreamLine``s (progress, heartbeats, then the response).
/// - `GET /healthz`: 200 while serving, 503 while draining.
///
/// At most ``Configuration/maxConcurrentChunks`` chunks run at once; a request beyond that gets 429 with
/// `Retry-After`. On SIGTERM or SIGINT the server drains: new chunks get 503, the running ones have
/// ``Configuration/shutdownGrace`` to finish and are then stopped, answering a retryable error; then it closes.
public struct WorkerServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port (logged as `listening`).
        public var port: Int
        public var maxConcurrentChunks: Int
        /// Larger request bodies get 413.
        public var maxRequestBytes: Int
        /// Time between heartbeat lines of a streamed answer.
        public var heartbeat: Duration
        /// How long a running chunk may go on after SIGTERM (Cloud Run allows 10 s).
        public var shutdownGrace: Duration
        /// The `Retry-After` (seconds) of a 429 or 503.
        public var retryAfterSeconds: Int
        /// When set, every chunk request needs a valid ID token for this audience.
        public var verification: Verification?

        /// Token checking for deployments outside Cloud Run's IAM front end.
        public struct Verification: Sendable {
            public var verifier: IDTokenVerifier
            public var keys: KeySetCache
            public init(verifier: IDTokenVerifier, keys: KeySetCache) {
                self.verifier = verifier
                self.keys = keys
            }
        }

        /// The default request-size limit: a 16 MiB spec inline plus the envelope.
        public static let defaultMaxRequestBytes = 17 * 1024 * 1024

        public init(host: String = "0.0.0.0", port: Int = 8080, maxConcurrentChunks: Int = 1,
                    maxRequestBytes: Int = Configuration.defaultMaxRequestBytes, heartbeat: Duration = .seconds(10),
                    shutdownGrace: Duration = .seconds(10), retryAfterSeconds: Int = 1, verification: Verification? = nil) {
            self.host = host
            self.port = port
            self.maxConcurrentChunks = maxConcurrentChunks
            self.maxRequestBytes = maxRequestBytes
            self.heartbeat = heartbeat
            self.shutdownGrace = shutdownGrace
            self.retryAfterSeconds = retryAfterSeconds
            self.verification = verification
        }
    }

    public let configuration: Configuration
    let runtime: WorkerRuntime
    let slots: ChunkSlots
    let logger: Logger

    public init(configuration: Configuration, runtime: WorkerRuntime, logger: Logger = Logger(label: "helios.worker.server")) {
        self.configuration = configuration
        self.runtime = runtime
        self.slots = ChunkSlots(capacity: configuration.maxConcurrentChunks)
        self.logger = logger
    }

    /// Serves until SIGTERM/SIGINT (graceful) or cancellation. `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        router.get("/healthz") { _, _ in await self.health() }
        router.post("/v1/chunks") { request, _ in await self.chunk(request) }
        let logger = self.logger
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "helios-worker"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice("listening", metadata: ["port": "\(port)", "maxConcurrentChunks": "\(configuration.maxConcurrentChunks)",
                                                      "verifyIdToken": "\(configuration.verification != nil)"])
                await onListening(port)
            },
            logger: logger)
        // Services shut down last to first: the drainer runs out the chunks before the server stops accepting.
        let drainer = Drainer(slots: slots, grace: configuration.shutdownGrace, logger: logger)
        var group = ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: drainer, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // A shutdown that hangs past the grace period (and the stopped chunks' answers) escalates to cancellation.
        group.maximumGracefulShutdownDuration = configuration.shutdownGrace + .seconds(15)
        try await ServiceGroup(configuration: group).run()
        logger.notice("stopped")
    }

    func health() async -> Response {
        let draining = await slots.draining
        let busy = await slots.busy
        let body = "{\"status\":\"\(draining ? "draining" : "ok")\",\"busy\":\(busy),\"capacity\":\(slots.capacity)}"
        return Response(status: draining ? .serviceUnavailable : .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Waits for graceful shutdown, then refuses new chunks, lets the running ones finish within the grace period
/// and stops the rest (their requests answer a retryable error).
struct Drainer: Service {
    let slots: ChunkSlots
    let grace: Duration
    let logger: Logger

    func run() async throws {
        do { try await gracefulShutdown() } catch {
            // Cancelled rather than shut down gracefully: stop everything now.
            await slots.drain()
            await slots.stopAll()
            return
        }
        await slots.drain()
        let busy = await slots.busy
        logger.notice("draining", metadata: ["running": "\(busy)", "graceMs": "\(grace / .milliseconds(1))"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await slots.waitUntilIdle() }
            group.addTask {
                do { try await Task.sleep(for: grace) } catch { return }
                logger.warning("grace period over: stopping running chunks")
                await slots.stopAll()
            }
            await group.next()
            group.cancelAll()
        }
    }
}
