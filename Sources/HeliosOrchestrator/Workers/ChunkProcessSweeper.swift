import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds and kills the chunk processes a dead runner left behind.
///
/// Every chunk process of a run carries `HELIOS_RUN_OWNER=<pid>:<start time>:<lease token>` in its environment
/// (inherited by everything it starts, including processes that leave its process group with `setsid`). A runner
/// killed with SIGKILL cannot stop its chunks; when another runner takes the job over, or `pause`/`cancel` stops
/// the job, every process whose environment carries the dead holder's mark (and its process group) is killed, so
/// no orphan keeps writing a chunk file that a new run writes too. A run also sweeps its own mark when it ends.
/// Linux only (it reads /proc); elsewhere it finds nothing.
public enum ChunkProcessSweeper {
    /// The environment variable that marks a run's chunk processes.
    public static let variable = "HELIOS_RUN_OWNER"

    /// Processes (other than this one) whose environment carries `token`.
    public static func processes(carrying token: String) -> [pid_t] {
        let needle = Data("\(variable)=\(token)".utf8)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != getpid(), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environ.split(separator: 0).contains { Data($0) == needle }
        }
    }

    /// SIGKILLs every process carrying `token` and the process groups they lead or belong to, then waits (up to
    /// `timeout`) until none is left. Returns the pids that were found.
    @discardableResult
    public static func killAll(carrying token: String, timeout: Duration = .seconds(5)) async -> [pid_t] {
        let found = processes(carrying: token)
        for pid in found {
            let group = getpgid(pid)
            if group > 1, group != getpgrp() { _ = kill(-group, SIGKILL) }
            _ = kill(pid, SIGKILL)
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !processes(carrying: token).isEmpty {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return found
    }
}
