import Foundation

/// `helios-worker serve` as a child process on 127.0.0.1 (or any command line that ends up serving the same way,
/// such as a package tree's entry point in a chroot): started on a free port, its JSON log lines readable, and
/// stoppable with SIGTERM (graceful) or SIGKILL.
public final class WorkerServerProcess: @unchecked Sendable {
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    public let log: URL
    let process: Process
    /// Run through unshare/chroot: the server is a descendant of ``process``.
    let chrooted: Bool

    /// Starts `command arguments` with `--host 127.0.0.1 --port P` appended (unless `portFromEnvironment`, which
    /// sets `PORT` instead), `environment` added, and waits until it listens. With `root`, it runs in a chroot of
    /// `root` as ``LambdaEmulator/chrooted(_:)`` sets one up. `port` picks the port (default: a free one).
    public init(command: String, arguments: [String], environment: [String: String] = [:], root: URL? = nil,
                portFromEnvironment: Bool = false, port: Int? = nil) async throws {
        self.port = try port ?? loopbackPorts(1)[0]
        log = FileManager.default.temporaryDirectory.appendingPathComponent("helios-serve-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process = Process()
        chrooted = root != nil
        let argv = [command] + arguments + (portFromEnvironment ? [] : ["--host", "127.0.0.1", "--port", String(self.port)])
        if let root {
            let prefix = LambdaEmulator.chrooted(root)
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + argv
        } else {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(argv.dropFirst())
        }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        if portFromEnvironment { env["PORT"] = String(self.port) }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try await waitUntilListening(port: self.port, process: process, log: log)
    }

    /// The built `helios-worker serve` with `arguments`, finding helios-synth on PATH.
    public static func built(_ arguments: [String] = [], environment: [String: String] = [:]) async throws -> WorkerServerProcess {
        var env = environment
        env["PATH"] = env["PATH"] ?? builtProductsDirectory().path + ":/usr/bin:/bin"
        return try await WorkerServerProcess(command: builtProductsDirectory().appendingPathComponent("helios-worker").path,
                                             arguments: ["serve"] + arguments, environment: env)
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` to the server (SIGTERM: graceful shutdown); in a chroot, to the server under unshare, whose
    /// exit status unshare then reports.
    public func signal(_ signal: Int32) {
        guard process.isRunning else { return }
        if chrooted {
            for pid in ProcessTreeReader.descendants(of: process.processIdentifier) { kill(pid, signal) }
        } else {
            kill(process.processIdentifier, signal)
        }
    }

    /// Kills the server and everything under it at once (SIGKILL), as a crashed instance (`ProcessTreeReader.crash`:
    /// a chunk command killed first could reach a server still running, which answered "exited with 137", a failure of
    /// the chunk itself, where a crash answers nothing).
    public func kill9() {
        guard process.isRunning else { return }
        ProcessTreeReader.crash(process.processIdentifier)
        process.waitUntilExit()
    }

    /// Waits (off the cooperative pool) for the server to exit; its exit status, or nil after `seconds`.
    public func waitForExit(seconds: Double = 60) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    public func stop() { kill9() }
    deinit { kill9() }

    /// Everything the server printed.
    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// The JSON objects among the printed lines.
    public var logLines: [[String: Any]] {
        output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }
}

/// A process's descendants, read from /proc.
public enum ProcessTreeReader {
    /// SIGKILLs `pid` and its descendants as one crash: every process of the tree is stopped (SIGSTOP, parents first)
    /// before any is killed, so no child's exit reaches a parent still able to report it.
    public static func crash(_ pid: Int32) {
        kill(pid, SIGSTOP)
        let tree = descendants(of: pid)
        for child in tree { kill(child, SIGSTOP) }
        for child in tree { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
    }


    public static func descendants(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var children: [Int32: [Int32]] = [:]
        for entry in entries {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, let parent = Int32(fields[1]) { children[parent, default: []].append(child) }
        }
        var result: [Int32] = []
        var queue = children[pid] ?? []
        while let next = queue.popLast() {
            result.append(next)
            queue += children[next] ?? []
        }
        return result
    }
}
