import ArgumentParser
import Foundation
import HeliosOrchestrator
import HeliosStorage
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The documented exit codes of `helios job`.
enum HeliosExit {
    static let jobFailed: Int32 = 1
    static let invalidInput: Int32 = 2
    static let notFound: Int32 = 3
    static let wrongState: Int32 = 4
    static let paused: Int32 = 5
    static let cancelled: Int32 = 6
    static let storeError: Int32 = 7
    /// Another process holds the job (or took it over from this one).
    static let runningElsewhere: Int32 = 8

    /// Prints `error` to stderr and returns the exit to use.
    static func report(_ error: any Error) -> ExitCode {
        if let exit = error as? ExitCode { return exit }
        if let validation = error as? ValidationError { printError("error: \(validation.message)"); return ExitCode(invalidInput) }
        printError("error: \(error)")
        guard let error = error as? OrchestratorError else { return ExitCode(jobFailed) }
        switch error {
        case .invalidSpec, .unreadableSpec, .invalidJobId, .jobExists: return ExitCode(invalidInput)
        case .jobNotFound: return ExitCode(notFound)
        case .invalidState: return ExitCode(wrongState)
        case .corruptRecord, .storage: return ExitCode(storeError)
        case .alreadyRunning, .leaseLost: return ExitCode(runningElsewhere)
        case .paused: return ExitCode(paused)
        case .cancelled: return ExitCode(cancelled)
        default: return ExitCode(jobFailed)
        }
    }

    static func forState(_ state: JobState) -> ExitCode {
        switch state {
        case .completed, .pending, .running, .stitching: .success
        case .failed: ExitCode(jobFailed)
        case .paused: ExitCode(paused)
        case .cancelled: ExitCode(cancelled)
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Where jobs are stored: `--store DIR` or `$HELIOS_HOME` (default `~/.helios`).
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Job store directory (default: $HELIOS_HOME, else ~/.helios).", valueName: "DIR"))
    var store: String?

    @Option(name: .long, help: "Store format: sqlite (DIR/jobs.sqlite) or files (one JSON file per job under DIR/jobs).")
    var storeFormat: StoreFormat = .sqlite

    enum StoreFormat: String, ExpressibleByArgument, CaseIterable { case sqlite, files }

    var directory: URL {
        if let store { return URL(fileURLWithPath: (store as NSString).expandingTildeInPath, isDirectory: true) }
        if let home = ProcessInfo.processInfo.environment["HELIOS_HOME"], !home.isEmpty {
            return URL(fileURLWithPath: (home as NSString).expandingTildeInPath, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".helios", isDirectory: true)
    }

    func repository() throws -> any JobRepository {
        switch storeFormat {
        case .sqlite: try SQLiteJobRepository(path: directory.appendingPathComponent("jobs.sqlite").path)
        case .files: try FileJobRepository(directory: directory)
        }
    }

    func manager() throws -> JobManager { JobManager(repository: try repository()) }
}

/// Runs `body`, mapping thrown errors to documented exit codes.
func withExitCodes(_ body: () async throws -> Void) async throws {
    do { try await body() } catch { throw HeliosExit.report(error) }
}

/// Cancels `task` on SIGINT or SIGTERM (the job pauses and its child processes are stopped).
/// Forwards an interrupt to work started after the handler was installed, remembering one that came first.
final class InterruptRelay: Sendable {
    private let state = Mutex<(cancel: (@Sendable () -> Void)?, interrupted: Bool)>((nil, false))

    /// Calls `cancel` on the next interrupt, or at once if one has already arrived.
    func attach(_ cancel: @escaping @Sendable () -> Void) {
        let interrupted = state.withLock { state in
            state.cancel = cancel
            return state.interrupted
        }
        if interrupted { cancel() }
    }

    func interrupt() {
        let cancel = state.withLock { state in
            state.interrupted = true
            return state.cancel
        }
        cancel?()
    }
}

final class InterruptHandler: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []

    init(onInterrupt: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: onInterrupt)
            source.resume()
            sources.append(source)
        }
    }

    deinit { sources.forEach { $0.cancel() } }
}

extension JobStatus {
    /// Completed chunks counted by where they ran (the recorded outputs' workers; chunks without a record ran
    /// locally), e.g. `cloudrun:https://a.run.app 8, lambda:render@… 8, local 8`; nil when nothing is recorded.
    var chunksByWorker: String? {
        guard let outputs = chunkOutputs, !outputs.isEmpty else { return nil }
        var counts: [String: Int] = [:]
        for record in outputs.values { counts[record.worker, default: 0] += 1 }
        let unrecorded = completedChunks - outputs.count
        if unrecorded > 0 { counts["local", default: 0] += unrecorded }
        return counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    /// A few lines for humans.
    var summary: String {
        var lines = ["job \(id): \(state.rawValue), \(completedChunks)/\(totalChunks) chunks (\(Int((progress * 100).rounded()))%)"]
        if let output = result?.outputPath {
            let bytes = result?.merge.map { " (\($0.bytes) bytes\($0.warnings > 0 ? ", \($0.warnings) warnings" : ""))" } ?? ""
            lines.append("output: \(output)\(bytes)")
        }
        if let stored = result?.merge?.storedURI { lines.append("stored: \(stored)") }
        if let url = result?.merge?.url {
            let expiry = result?.merge?.urlExpiresAt.map { " (expires \(InternetDate.format($0)))" } ?? ""
            lines.append("url: \(url)\(expiry)")
        }
        let attempts = metrics.chunks.values.reduce(0) { $0 + $1.attempts }
        if !metrics.chunks.isEmpty {
            // Metrics are kept for completed chunks: a failed chunk's attempts are in the error.
            lines.append("time: \(String(format: "%.1f", Double(metrics.totalDurationMs) / 1000)) s; \(attempts) attempt\(attempts == 1 ? "" : "s") for \(metrics.chunks.count) completed chunk\(metrics.chunks.count == 1 ? "" : "s")"
                + (metrics.mergeDurationMs.map { "; merge: \(String(format: "%.1f", Double($0) / 1000)) s" } ?? "")
                + (metrics.mergeTailMs.map { "; merge tail: \(String(format: "%.3f", $0 / 1000)) s" } ?? "")
                + (metrics.mergeProgressive == true ? " (progressive)" : ""))
        }
        if let outputs = chunkOutputs, !outputs.isEmpty {
            let bytes = outputs.values.reduce(Int64(0)) { $0 + $1.bytes }
            let workers = Set(outputs.values.map(\.worker)).sorted().joined(separator: ", ")
            lines.append("stored chunk outputs: \(outputs.count), \(bytes) bytes, from \(workers) (URIs, SHA-256 and attempts in --json)")
        }
        if let byWorker = chunksByWorker { lines.append("chunks by worker: \(byWorker)") }
        if let lease {
            lines.append("runner: process \(lease.pid) on host \(lease.host); heartbeat \(InternetDate.format(lease.heartbeatAt)), lease expires \(InternetDate.format(lease.expiresAt))")
        }
        if let error, state != .completed { lines.append("error: \(error)") }
        lines.append("directory: \(jobDirectory)")
        return lines.joined(separator: "\n")
    }
}
