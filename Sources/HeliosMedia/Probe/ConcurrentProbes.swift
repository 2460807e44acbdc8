#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Probes the inputs after a series' first on this thread and one more. Once input 1's probe set the reference (the
/// parameters its start decoded to, shared by later inputs with the same header), every later probe depends only on
/// its own file, so two run at once; results come back in input order, and the caller goes through them in that order
/// as a sequential probe would (the first error by input order is the one it reports).
///
/// After a failure, inputs past it are not probed: the caller stops at the failure.
final class ConcurrentProbes: Sendable {
    private struct State {
        var next = 0
        var done = 0
        var failedAt = Int.max
        var results: [Result<ProbedInput, StitchError>?]
    }

    private let urls: [URL]
    private let reference: ProbeReference
    private let mode: ProbeMode
    private let everyMatroska: Bool
    private let cancellation: CancellationFlag?
    /// Called with the number of probes done, in increasing order, from either thread.
    private let probed: @Sendable (Int) -> Void
    private let state: Mutex<State>

    private init(urls: [URL], reference: ProbeReference, mode: ProbeMode, everyMatroska: Bool, cancellation: CancellationFlag?,
                 probed: @escaping @Sendable (Int) -> Void) {
        self.urls = urls
        self.reference = reference
        self.mode = mode
        self.everyMatroska = everyMatroska
        self.cancellation = cancellation
        self.probed = probed
        state = Mutex(State(results: Array(repeating: nil, count: urls.count)))
    }

    /// Probes `urls` on this thread and one more; per input, its probe or its error, or nil where it was not probed
    /// (past a failure, or cancelled).
    static func probe(_ urls: [URL], reference: ProbeReference, mode: ProbeMode, everyMatroska: Bool, cancellation: CancellationFlag?,
                      probed: @escaping @Sendable (Int) -> Void) -> [Result<ProbedInput, StitchError>?] {
        let probes = ConcurrentProbes(urls: urls, reference: reference, mode: mode, everyMatroska: everyMatroska,
                                      cancellation: cancellation, probed: probed)
        DedicatedThread.alongside({ probes.work() }) { probes.work() }
        return probes.state.withLock { $0.results }
    }

    /// Whether probing two at a time may pay at all: two cores, and a minimum input size
    /// (`StitchOptions.concurrentProbeMinimumInputBytes`; nil never).
    static func enabled(minimumBytes: Int64?) -> Bool {
        minimumBytes != nil && sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2
    }

    /// Whether `url` is large enough to be probed alongside another: at least `minimumBytes` (1 MiB by default; a probe
    /// of a one-frame chunk takes a tenth of a millisecond, and a second thread's malloc arena would cost a run of
    /// thousands of them more memory than it saves time).
    static func isLarge(_ url: URL, minimumBytes: Int64?) -> Bool {
        guard let minimumBytes else { return false }
        var info = stat()
        return minimumBytes <= 0 || (stat(url.path, &info) == 0 && info.st_size >= minimumBytes)
    }

    private func work() {
        var reference: ProbeReference? = self.reference
        while true {
            let taken: Int? = state.withLock { state in
                guard state.next < urls.count, state.next < state.failedAt else { return nil }
                defer { state.next += 1 }
                return state.next
            }
            guard let index = taken, cancellation?.isCancelled != true else { return }
            let result = Result { () throws(StitchError) -> ProbedInput in
                try MediaProbe.probeCounting(urls[index], reference: &reference, cancellation: cancellation, mode: mode,
                                             everyMatroska: everyMatroska).input
            }
            state.withLock { state in
                state.results[index] = result
                state.done += 1
                if case .failure = result { state.failedAt = min(state.failedAt, index) }
                probed(state.done)
            }
        }
    }
}
