#if canImport(Glibc)
import Glibc
#endif

/// The open-file limit (`RLIMIT_NOFILE`) of this process. A job runs each chunk's command with two pipes and a
/// process descriptor of the runner's, and about twice that while the command starts: `--concurrency 400` peaked at
/// 2,488 descriptors, 200 at 1,145 and 100 at 619, where a Linux login session's soft limit is 1,024 (its hard
/// limit is usually far higher). Out of descriptors, the subprocess library stops the process with a fatal error, so
/// the commands that run chunks raise the soft limit as far as their concurrency needs, and refuse a concurrency that
/// still does not fit.
public enum OpenFileLimit {
    /// Descriptors one chunk may hold in the runner (two pipes for its output and a process descriptor while it
    /// runs, about six while its command starts, with room to spare), and those the process keeps besides (the job
    /// store, event loops, standard streams, a stitch's files).
    public static let perChunk = 7
    /// Descriptors a chunk on a remote worker (Lambda, Cloud Run) holds here: its request's connection, with room.
    public static let perRemoteChunk = 2
    public static let reserve = 64

    /// The soft and hard limits (`Int.max` for unlimited).
    public static var current: (soft: Int, hard: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (Int.max, Int.max) }
        func value(_ raw: rlim_t) -> Int { raw > rlim_t(Int.max) ? Int.max : Int(raw) }
        return (value(limit.rlim_cur), value(limit.rlim_max))
    }

    /// Descriptors `local` chunks run here and `remote` chunks in flight to remote workers may need at once.
    public static func needed(local: Int, remote: Int = 0) -> Int { local * perChunk + remote * perRemoteChunk + reserve }

    /// Makes room for `local` chunks run here and `remote` in flight to remote workers: raises the soft limit as far
    /// as they need (no further, since chunk commands inherit it, and a program that closes every descriptor up to
    /// its limit pays for each), within the hard limit. Returns why they still do not fit, or nil when they do.
    /// For `main`'s command only.
    public static func ensure(local: Int, remote: Int = 0) -> String? {
        let needed = needed(local: local, remote: remote)
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(needed) {
            limit.rlim_cur = min(limit.rlim_max, rlim_t(needed))
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return shortfall(local: local, remote: remote)
    }

    /// Why `local` and `remote` chunks at once may not fit in `limits`, or nil when they fit.
    public static func shortfall(local: Int, remote: Int = 0, limits: (soft: Int, hard: Int) = current) -> String? {
        let needed = needed(local: local, remote: remote)
        guard needed > limits.soft else { return nil }
        let hard = limits.hard == Int.max ? "unlimited" : "\(limits.hard)"
        let each = remote == 0 ? "\(perChunk) for each chunk while its command starts"
            : "\(perChunk) for each chunk run here while its command starts, \(perRemoteChunk) for each on a remote worker"
        return "\(local + remote) chunks at once need about \(needed) open files (\(each), and \(reserve) more), "
            + "but this process may open \(limits.soft) (ulimit -n; hard limit \(hard)): lower the concurrency, or raise the hard limit"
    }
}
