#if canImport(Glibc)
import Glibc
#endif

/// The open-file limit (`RLIMIT_NOFILE`) of this process. A job runs each chunk's command with two pipes and a
/// process descriptor of the runner's, so `--concurrency 400` needs about 1,200 descriptors: more than the 1,024 a
/// Linux login session's soft limit allows, where the hard limit is usually far higher. Out of descriptors, the
/// subprocess library stops the process with a fatal error, so the executables raise the soft limit at start and
/// refuse a concurrency that still does not fit.
public enum OpenFileLimit {
    /// Descriptors one running chunk holds in the runner (two pipes for its output, a process descriptor), and
    /// those the process keeps besides (the job store, event loops, standard streams, a stitch's files).
    public static let perChunk = 3
    public static let reserve = 64

    /// The soft and hard limits (`Int.max` for unlimited).
    public static var current: (soft: Int, hard: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (Int.max, Int.max) }
        func value(_ raw: rlim_t) -> Int { raw > rlim_t(Int.max) ? Int.max : Int(raw) }
        return (value(limit.rlim_cur), value(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one, at most 1,048,576 (the kernel's default `nr_open`); returns the limits
    /// then in force. For `main` only: children inherit the raised limit.
    @discardableResult
    public static func raise() -> (soft: Int, hard: Int) {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            let target = min(limit.rlim_max, rlim_t(1 << 20))
            if limit.rlim_cur < target {
                limit.rlim_cur = target
                _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
        }
        return current
    }

    /// Why `concurrency` running chunks may not fit in `limits`, or nil when they fit.
    public static func shortfall(concurrency: Int, limits: (soft: Int, hard: Int) = current) -> String? {
        let needed = concurrency * perChunk + reserve
        guard needed > limits.soft else { return nil }
        let hard = limits.hard == Int.max ? "unlimited" : "\(limits.hard)"
        return "\(concurrency) chunks at once need about \(needed) open files (\(perChunk) for each running chunk and \(reserve) more), "
            + "but this process may open \(limits.soft) (ulimit -n; hard limit \(hard)): lower the concurrency, or raise the hard limit"
    }
}
