import ArgumentParser
import Foundation
import HeliosRuntime
import HeliosStorage
import HeliosWorkerServer
import HeliosWorkers
import Logging

/// `helios-worker serve`: an HTTP worker (Cloud Run, or any container host).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve chunk requests over HTTP (Google Cloud Run or any container host).",
        discussion: """
            POST /v1/chunks takes a ChunkRequest and answers a ChunkResponse (with Accept: application/x-ndjson: \
            progress and heartbeat lines, then the response); GET /healthz answers 200 while serving. A request \
            beyond --max-concurrent-chunks gets 429 with Retry-After; one over --max-request-bytes gets 413; with \
            --verify-id-token, one without a valid Google ID token gets 401. SIGTERM drains: new chunks get 503, \
            running ones have --shutdown-grace to finish and are then stopped with a retryable error. Logs are JSON \
            lines on stdout with Cloud Logging's severity field. The environment is read as for `helios-worker \
            lambda` (HELIOS_WORKER_ALLOWED_COMMANDS, HELIOS_WORKER_WORKSPACE, HELIOS_LOG_LEVEL, store settings).
            """)

    @Option(help: "The port to listen on (default: $PORT, else 8080; 0 picks a free one).")
    var port: Int?

    @Option(help: "The address to bind.")
    var host = "0.0.0.0"

    @Option(help: "Chunks run at once; more requests get 429.")
    var maxConcurrentChunks = 1

    @Option(help: "The largest request body accepted, in bytes (default 17 MiB).")
    var maxRequestBytes = WorkerServer.Configuration.defaultMaxRequestBytes

    @Option(help: "Seconds between heartbeat lines of a streamed answer.")
    var heartbeat: Double = 10

    @Option(help: "Seconds a running chunk may go on after SIGTERM before it is stopped.")
    var shutdownGrace: Double = 10

    @Option(help: "Seconds in the Retry-After of a 429 or 503.")
    var retryAfter = 1

    @Flag(help: "Require a valid Google ID token (Authorization: Bearer) on chunk requests.")
    var verifyIdToken = false

    @Option(help: "The audience tokens must carry (the service URL); required with --verify-id-token.")
    var audience: String?

    @Option(help: "An accepted token issuer (repeatable; default: https://accounts.google.com and accounts.google.com).")
    var issuer: [String] = []

    @Option(help: "Where the signing keys are: a JWKS or PEM-map URL (https://, http:// or file://).")
    var certsUrl = KeySetCache.googleCertsURL

    func validate() throws {
        if verifyIdToken, (audience ?? "").isEmpty { throw ValidationError("--verify-id-token needs --audience (the service URL)") }
        if !verifyIdToken, audience != nil || !issuer.isEmpty { throw ValidationError("--audience and --issuer apply only with --verify-id-token") }
        guard maxConcurrentChunks >= 1 else { throw ValidationError("--max-concurrent-chunks must be at least 1") }
        // Each chunk running holds descriptors of this process (see OpenFileLimit).
        if let shortfall = OpenFileLimit.ensure(local: maxConcurrentChunks) { throw ValidationError(shortfall) }
        guard maxRequestBytes >= 1024 else { throw ValidationError("--max-request-bytes must be at least 1024") }
        guard heartbeat > 0, shutdownGrace >= 0, retryAfter >= 0 else { throw ValidationError("--heartbeat must be positive; --shutdown-grace and --retry-after not negative") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let level = environment["HELIOS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in CloudLoggingLogHandler(label: label, level: level) }
        let logger = Logger(label: "helios.worker")
        do { _ = try DefaultBackend.resolve(environment: environment) } catch {
            logger.critical("\(error.message)")
            throw ExitCode(1)
        }
        let listenPort: Int
        if let port { listenPort = port } else if let text = environment["PORT"], !text.isEmpty {
            guard let value = Int(text), (0...65535).contains(value) else {
                logger.critical("PORT=\(text) is not a port number")
                throw ExitCode(1)
            }
            listenPort = value
        } else {
            listenPort = 8080
        }
        var configuration = WorkerServer.Configuration(
            host: host, port: listenPort, maxConcurrentChunks: maxConcurrentChunks, maxRequestBytes: maxRequestBytes,
            heartbeat: .milliseconds(Int64(heartbeat * 1000)), shutdownGrace: .milliseconds(Int64(shutdownGrace * 1000)),
            retryAfterSeconds: retryAfter)
        if verifyIdToken, let audience {
            configuration.verification = .init(
                verifier: IDTokenVerifier(audience: audience, issuers: issuer.isEmpty ? IDTokenVerifier.googleIssuers : issuer),
                keys: KeySetCache(url: certsUrl))
        }
        let server = WorkerServer(configuration: configuration, runtime: WorkerRuntime.standard(logger: logger), logger: logger)
        do { try await server.run() } catch {
            logger.critical("server failed: \(error)")
            throw ExitCode(1)
        }
    }
}
