import CHeliosProcess
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process tree below a process, read from /proc (Linux; elsewhere every query finds nothing), and the
/// subreaper setting that keeps escaped descendants in it.
public enum ProcessTree {
    /// Parent pid and state letter of every process.
    static func snapshot() -> [pid_t: (parent: pid_t, state: Character)] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [:] }
        var result: [pid_t: (pid_t, Character)] = [:]
        for entry in entries {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "comm)": " state ppid ..."
            let fields = stat[stat.index(after: close)...].split(separator: " ", maxSplits: 3)
            guard fields.count >= 2, let state = fields[0].first, let parent = pid_t(fields[1]) else { continue }
            result[pid] = (parent, state)
        }
        return result
    }

    /// Every live (not zombie) descendant of `root`, children before grandchildren.
    public static func descendants(of root: pid_t) -> [pid_t] {
        let table = snapshot()
        var children: [pid_t: [pid_t]] = [:]
        for (pid, info) in table { children[info.parent, default: []].append(pid) }
        var result: [pid_t] = []
        var queue = children[root] ?? []
        while let pid = queue.popLast() {
            if table[pid]?.state != "Z" { result.append(pid) }
            queue += children[pid] ?? []
        }
        return result
    }

    /// Makes this process the reaper of its orphaned descendants (Linux `PR_SET_CHILD_SUBREAPER`), so that a chunk's
    /// grandchild that escapes with `setsid` and loses its parent is reparented here, not to init, and stays
    /// findable by `descendants(of: getpid())`. Process-wide: meant for a runner process such as `helios job run`.
    @discardableResult
    public static func becomeSubreaper() -> Bool { helios_become_child_subreaper() == 0 }

    /// SIGKILLs every descendant of this process (and the process groups they lead) until none is left or
    /// `timeout` passes, reaping those that became its children. For a runner whose jobs are over: with the
    /// subreaper set, this includes orphans that escaped their chunk's process group and cleared their environment.
    @discardableResult
    public static func killAllDescendants(timeout: Duration = .seconds(5)) async -> [pid_t] {
        var killed: Set<pid_t> = []
        let deadline = ContinuousClock.now + timeout
        while true {
            let alive = descendants(of: getpid())
            reapZombieChildren()
            if alive.isEmpty || ContinuousClock.now >= deadline { break }
            for pid in alive {
                if getpgid(pid) == pid { _ = kill(-pid, SIGKILL) }
                _ = kill(pid, SIGKILL)
                killed.insert(pid)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return killed.sorted()
    }

    /// Waits for this process's children that are zombies (each by pid, never `waitpid(-1)`, which could steal the
    /// exit status of a child someone else waits for).
    static func reapZombieChildren() {
        let me = getpid()
        for (pid, info) in snapshot() where info.parent == me && info.state == "Z" {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }
}
