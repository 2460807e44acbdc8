import Foundation
import HeliosWorkers

/// A chunk's response, and whether a shutdown stopped it.
struct ChunkOutcome: Sendable {
    var response: ChunkResponse
    var stopped: Bool
}

/// The server's chunk slots: at most `capacity` chunks at once, the tasks running them (so a shutdown can stop
/// them), and whether the server is draining.
actor ChunkSlots {
    let capacity: Int
    private(set) var busy = 0
    private(set) var draining = false
    private var running: [UUID: Task<ChunkOutcome, Never>] = [:]
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int) { self.capacity = max(1, capacity) }

    enum Admission { case admitted, busy, draining }

    /// Takes a slot if one is free and the server is not draining.
    func admit() -> Admission {
        if draining { return .draining }
        guard busy < capacity else { return .busy }
        busy += 1
        return .admitted
    }

    /// Records the task running an admitted chunk, so ``stopAll()`` can cancel it.
    func track(_ id: UUID, _ task: Task<ChunkOutcome, Never>) {
        running[id] = task
    }

    /// Gives back a slot (`id` names its tracked task, if one was started).
    func release(_ id: UUID?) {
        if let id { running[id] = nil }
        busy -= 1
        if busy == 0 {
            for waiter in idleWaiters { waiter.resume() }
            idleWaiters.removeAll()
        }
    }

    /// Refuses new chunks from now on.
    func drain() { draining = true }

    /// Cancels every running chunk (each answers with a retryable error).
    func stopAll() {
        for task in running.values { task.cancel() }
    }

    /// Returns when no chunk is running.
    func waitUntilIdle() async {
        if busy == 0 { return }
        await withCheckedContinuation { idleWaiters.append($0) }
    }
}
