import Foundation
import Synchronization

/// Runs blocking file work on a queue of its own, never on the cooperative pool, and passes task cancellation in
/// as a flag the work polls between chunks.
enum Blocking {
    private static let queue = DispatchQueue(label: "helios.storage.blocking", attributes: .concurrent)

    /// Set when the awaiting task is cancelled; long loops check it and stop with `.cancelled`.
    final class Cancellation: Sendable {
        private let flag = Atomic<Bool>(false)
        var isCancelled: Bool { flag.load(ordering: .relaxed) }
        func cancel() { flag.store(true, ordering: .relaxed) }

        /// Throws `.cancelled` naming `what` if the task was cancelled.
        func check(_ what: String, key: String? = nil) throws(StorageError) {
            if isCancelled { throw StorageError(.cancelled, "\(what): cancelled", key: key) }
        }
    }

    static func run<T: Sendable>(_ body: @escaping @Sendable (Cancellation) throws(StorageError) -> T) async throws(StorageError) -> T {
        let cancellation = Cancellation()
        if Task.isCancelled { throw StorageError(.cancelled, "cancelled before the operation started") }
        let result: Result<T, StorageError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                queue.async { continuation.resume(returning: Result { () throws(StorageError) -> T in try body(cancellation) }) }
            }
        } onCancel: {
            cancellation.cancel()
        }
        return try result.get()
    }
}
