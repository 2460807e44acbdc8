import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who runs a job, recorded in the job's status when a runner claims it.
///
/// A lease is valid until `expiresAt`; its holder renews it (heartbeat) well before then. Another runner may take
/// the job over once the lease has expired or, on the same host, as soon as the holding process is gone.
public struct JobLease: Codable, Sendable, Hashable {
    /// Unique per claim; every write of the holder is checked against it (fencing).
    public var token: String
    /// Process id of the holder.
    public var pid: Int32
    /// Start time of that process (Linux: clock ticks since boot), so a reused pid is not mistaken for the holder.
    public var startTime: UInt64?
    /// Host name of the holder.
    public var host: String
    public var acquiredAt: Date
    /// Last renewal.
    public var heartbeatAt: Date
    public var expiresAt: Date

    public init(token: String, pid: Int32, startTime: UInt64?, host: String, acquiredAt: Date, heartbeatAt: Date, expiresAt: Date) {
        self.token = token
        self.pid = pid
        self.startTime = startTime
        self.host = host
        self.acquiredAt = acquiredAt
        self.heartbeatAt = heartbeatAt
        self.expiresAt = expiresAt
    }

    /// A new lease for this process, valid for `duration` from `now`.
    public static func forThisProcess(now: Date, duration: Duration) -> JobLease {
        let pid = getpid()
        return JobLease(token: UUID().uuidString.lowercased(), pid: pid, startTime: ProcessIdentity.startTime(of: pid),
                        host: ProcessIdentity.hostName, acquiredAt: now, heartbeatAt: now, expiresAt: now + duration.timeInterval)
    }

    /// The lease renewed at `now` for `duration`.
    public func renewed(at now: Date, for duration: Duration) -> JobLease {
        var next = self
        next.heartbeatAt = now
        next.expiresAt = now + duration.timeInterval
        return next
    }

    /// The `HELIOS_RUN_OWNER` mark carried by this lease holder's chunk processes.
    public var processMark: String { "\(pid):\(startTime.map(String.init) ?? "?"):\(token)" }
}

/// Whether the process holding a lease still exists, as far as this host can tell.
public enum OwnerLiveness: Sendable, Hashable {
    /// The process exists (same host, same pid and start time).
    case alive
    /// The process is gone (same host: no such pid, or the pid was reused).
    case dead
    /// Another host: only the lease's expiry tells.
    case unknown
}

/// Facts about processes on this host: identity of this process and liveness of lease holders.
public enum ProcessIdentity {
    /// This host's name (`gethostname`).
    public static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or nil where unavailable.
    public static func startTime(of pid: pid_t) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); start time is field 22.
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// Whether the holder of `lease` is alive, checked with `kill(pid, 0)` and its start time on this host.
    public static func liveness(of lease: JobLease) -> OwnerLiveness {
        guard lease.host == hostName else { return .unknown }
        if lease.pid == getpid() { return lease.startTime == startTime(of: getpid()) ? .alive : .dead }
        guard lease.pid > 0, kill(lease.pid, 0) == 0 || errno == EPERM else { return .dead }
        if let recorded = lease.startTime, let current = startTime(of: lease.pid), recorded != current { return .dead }
        // A zombie is gone as far as the job is concerned.
        if let stat = try? String(contentsOfFile: "/proc/\(lease.pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
           stat.index(close, offsetBy: 2) < stat.endIndex, stat[stat.index(close, offsetBy: 2)] == "Z" { return .dead }
        return .alive
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
