import ArgumentParser
import Foundation
import HeliosRuntime
import HeliosStorage
import HeliosWorkers
import Logging

/// The worker side of remote rendering: one process per platform instance, serving chunk requests.
@main
struct HeliosWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helios-worker",
        abstract: "Serve Helios chunk requests on a remote platform.",
        discussion: """
            Exit codes: 0 the platform stopped the worker (serve: after a graceful SIGTERM/SIGINT); 1 the runtime API \
            could not be reached, the port could not be bound, or the worker is misconfigured (reported to the platform \
            first where it has a way).
            """,
        subcommands: [LambdaCommand.self, ServeCommand.self])
}

/// `helios-worker lambda`: a custom runtime on the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`).
struct LambdaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lambda",
        abstract: "Run as an AWS Lambda custom runtime (the package's bootstrap starts this).",
        discussion: """
            Reads AWS_LAMBDA_RUNTIME_API. Each invocation's payload is a ChunkRequest; the response is a ChunkResponse. \
            HELIOS_WORKER_ALLOWED_COMMANDS (comma-separated executables) limits what chunk commands may start; \
            HELIOS_WORKER_WORKSPACE sets where per-request workspaces are made (default: the temp directory); \
            HELIOS_LOG_LEVEL sets the log level (default info). Logs go to stderr, which Lambda sends to CloudWatch.
            """)

    @Option(help: "Stop after this many invocations (for tests; default: serve until stopped).")
    var maxInvocations: Int?

    func run() async throws {
        let level = ProcessInfo.processInfo.environment["HELIOS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "helios.worker")
        let client: LambdaRuntimeClient
        do { client = try LambdaRuntimeClient.fromEnvironment(logger: logger) } catch {
            logger.critical("\(error.message)")
            throw ExitCode(1)
        }
        // A configuration that cannot work fails the function's init, reported to Lambda before any invocation.
        do { _ = try DefaultBackend.resolve(environment: ProcessInfo.processInfo.environment) } catch {
            logger.critical("\(error.message)")
            try? await client.initError(type: "Helios.Configuration", message: error.message)
            throw ExitCode(1)
        }
        let runtime = WorkerRuntime.standard(logger: logger)
        do {
            try await LambdaRuntimeLoop(client: client, logger: logger).run(maxInvocations: maxInvocations) { invocation in
                await runtime.handle(invocation.payload, platformDeadlineMs: invocation.deadlineMs)
            }
        } catch is CancellationError {
            return
        } catch {
            logger.critical("runtime API failed: \(error)")
            throw ExitCode(1)
        }
    }
}
