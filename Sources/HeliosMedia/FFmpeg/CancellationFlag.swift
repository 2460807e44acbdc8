import Synchronization

/// Cancellation for FFmpeg work that runs on its own thread, outside any task: set from a task's cancellation
/// handler, read by libavformat's interrupt callback and by the copy loop.
package final class CancellationFlag: Sendable {
    private let state = Atomic<Bool>(false)

    package init() {}

    package func cancel() { state.store(true, ordering: .relaxed) }

    package var isCancelled: Bool { state.load(ordering: .relaxed) }
}

extension Optional where Wrapped == CancellationFlag {
    /// The flag's state, or the current task's cancellation when there is no flag.
    package var isCancelled: Bool {
        switch self {
        case .some(let flag): flag.isCancelled
        case .none: Task.isCancelled
        }
    }
}
