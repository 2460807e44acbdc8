import Foundation
import Logging
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs commands as child processes of this process, without a shell.
///
/// Each command runs in its own process group with the job directory as working directory. On timeout or
/// task cancellation the whole group gets SIGTERM, then SIGKILL after `killGracePeriod`; any member still
/// alive afterwards (a background grandchild) is killed too. Descendants that left the group with `setsid` are
/// found through the process tree (/proc) while the command still runs, and SIGKILLed with the groups they lead.
/// Orphans whose parent already exited are reparented to init unless the runner is a subreaper
/// (`ProcessTree.becomeSubreaper`); `JobManager` also sweeps the run's `HELIOS_RUN_OWNER` mark when a run ends.
public struct LocalWorkerAdapter: WorkerAdapter {
    /// Time between SIGTERM and SIGKILL.
    public var killGracePeriod: Duration
    /// Bytes kept of each output stream (the last ones).
    public var outputLimit: Int
    public var logger: Logger

    public init(killGracePeriod: Duration = .seconds(2), outputLimit: Int = 64 * 1024, logger: Logger = Logger(label: "helios.worker.local")) {
        self.killGracePeriod = killGracePeriod
        self.outputLimit = outputLimit
        self.logger = logger
    }

    /// Launches retried when the executable is busy (ETXTBSY), 20 ms to 0.3 s apart: about 0.6 s in all.
    static let busyRetries = 5

    public func execute(_ job: WorkerJob) async throws -> WorkerResult {
        let args: [String]
        do { args = try CommandLineSplitter.split(job.command) } catch {
            throw OrchestratorError.spawnFailed(chunkId: job.chunkId, command: job.command, reason: "\(error)")
        }
        let program = args[0]
        let executable: Executable
        if program.hasPrefix("/") {
            executable = .path(FilePath(program))
        } else if program.contains("/") {
            executable = .path(FilePath(job.workingDirectory.appendingPathComponent(program).standardizedFileURL.path))
        } else {
            executable = .name(program)
        }
        var options = PlatformOptions()
        options.processGroupID = 0  // own group, so signals reach every descendant
        options.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: killGracePeriod)]
        var overrides: [Environment.Key: String?] = [:]
        for (key, value) in job.environment {
            if let k = Environment.Key(rawValue: key) { overrides[k] = value }
        }
        let control = ProcessControl()
        let start = ContinuousClock.now
        let limit = outputLimit
        let timeout = job.timeout
        let onOutput = job.onOutput
        let teardown = options.teardownSequence
        logger.debug("spawning", metadata: ["job": "\(job.jobId)", "chunk": "\(job.chunkId)", "command": "\(job.command)"])

        var launched: ExecutionResult<CapturedOutput, SequenceOutput, SequenceOutput>?
        var retried = 0
        while launched == nil {
            do {
                launched = try await withTaskCancellationHandler {
                    try await run(
                        executable, arguments: Arguments(Array(args.dropFirst())),
                        environment: .inherit.updating(overrides),
                        workingDirectory: FilePath(job.workingDirectory.path),
                        platformOptions: options,
                        input: .none, output: .sequence, error: .sequence
                    ) { execution in
                        control.setPID(execution.processIdentifier.value)
                        return await withTaskGroup(of: StreamPart.self) { group in
                            group.addTask {
                                .stdout(await Self.tail(of: execution.standardOutput, .stdout, limit: limit, onOutput: onOutput))
                            }
                            group.addTask {
                                .stderr(await Self.tail(of: execution.standardError, .stderr, limit: limit, onOutput: onOutput))
                            }
                            if let timeout {
                                group.addTask {
                                    do { try await Task.sleep(for: timeout) } catch { return .timerStopped }
                                    control.markTimedOut()
                                    control.killEscapees()
                                    await execution.teardown(using: teardown)
                                    return .timerStopped
                                }
                            }
                            var captured = CapturedOutput()
                            var open = 2
                            while let part = await group.next() {
                                switch part {
                                case .stdout(let text): captured.stdout = text; open -= 1
                                case .stderr(let text): captured.stderr = text; open -= 1
                                case .timerStopped: break
                                }
                                if open == 0 { group.cancelAll() }
                            }
                            return captured
                        }
                    }
                } onCancel: {
                    // While the command still runs (its tree intact): the group gets the teardown sequence, but
                    // descendants that left the group with setsid would not, so they are killed now.
                    control.killEscapees()
                }
            } catch let error as SubprocessError where error.underlyingError == Errno(rawValue: ETXTBSY) && retried < Self.busyRetries
                                                        && !Task.isCancelled {
                // "Text file busy": a file being written is still open for writing somewhere, as a script just written
                // is in any child another thread forked meanwhile, until that child execs. Nothing ran; try again.
                retried += 1
                logger.debug("executable busy, retrying", metadata: ["chunk": "\(job.chunkId)", "retry": "\(retried)"])
                try await Task.sleep(for: .milliseconds(10 << retried))
            } catch let error as SubprocessError {
                control.sweep()
                if Task.isCancelled { throw CancellationError() }
                throw OrchestratorError.spawnFailed(chunkId: job.chunkId, command: job.command, reason: "\(error)")
            } catch {
                control.sweep()
                throw error
            }
        }
        guard let outcome = launched else { throw CancellationError() }
        let durationMs = Self.milliseconds(ContinuousClock.now - start)
        if Task.isCancelled {
            control.sweep()
            logger.debug("cancelled", metadata: ["chunk": "\(job.chunkId)"])
            throw CancellationError()
        }
        if control.timedOut {
            control.sweep()
            throw OrchestratorError.timedOut(chunkId: job.chunkId, seconds: Double(timeout?.components.seconds ?? 0) + Double(timeout?.components.attoseconds ?? 0) / 1e18)
        }
        let exitCode: Int32
        switch outcome.terminationStatus {
        case .exited(let code): exitCode = code
        case .signaled(let signal): exitCode = 128 + signal
        }
        logger.debug("exited", metadata: ["chunk": "\(job.chunkId)", "status": "\(exitCode)", "ms": "\(durationMs)"])
        let captured = outcome.closureResult
        return WorkerResult(exitCode: exitCode, stdout: captured.stdout, stderr: captured.stderr, durationMs: durationMs)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}

private struct CapturedOutput: Sendable {
    var stdout = ""
    var stderr = ""
}

extension LocalWorkerAdapter {
    /// Reads one of the command's output streams to its end, handing each piece to `onOutput`; its last `limit` bytes.
    fileprivate static func tail(of stream: SubprocessOutputSequence, _ kind: OutputStreamKind, limit: Int,
                                 onOutput: (@Sendable (OutputStreamKind, Data) -> Void)?) async -> String {
        var tail = OutputTail(limit: limit)
        do {
            for try await buffer in stream {
                let data = buffer.withUnsafeBytes { Data($0) }
                tail.append(data)
                onOutput?(kind, data)
            }
        } catch {}
        return tail.text
    }
}

private enum StreamPart: Sendable {
    case stdout(String), stderr(String), timerStopped
}

/// The child's pid (its process group id) and whether the timeout fired, shared with the watcher tasks.
private final class ProcessControl: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    private var _timedOut = false

    func setPID(_ pid: pid_t) { lock.withLock { self.pid = pid } }
    func markTimedOut() { lock.withLock { _timedOut = true } }
    var timedOut: Bool { lock.withLock { _timedOut } }

    /// SIGKILLs the child's descendants that left its process group (`setsid`), and the groups they lead.
    /// Must run while the child is alive: once it exits, its orphans are no longer its descendants.
    func killEscapees() {
        guard let pid = lock.withLock({ self.pid }), pid > 0 else { return }
        for descendant in ProcessTree.descendants(of: pid) where getpgid(descendant) != pid {
            if getpgid(descendant) == descendant { _ = kill(-descendant, SIGKILL) }
            _ = kill(descendant, SIGKILL)
        }
    }

    /// SIGKILLs whatever is left of the child's process group (background grandchildren).
    func sweep() {
        guard let pid = lock.withLock({ self.pid }), pid > 0 else { return }
        _ = kill(-pid, SIGKILL)
    }
}
