import Foundation
import Testing
@testable import HeliosOrchestrator

/// Pool choice is pure; the adapter is driven with in-memory pools that record what they ran.
@Suite struct MultiPoolAdapterTests {
    @Test("a free pool is chosen by its share of free slots, pools a chunk failed on come last, none when all are full")
    func choice() {
        #expect(PoolScheduler.choose(free: [2, 8, 4], capacities: [2, 8, 4], avoid: []) == 0)
        #expect(PoolScheduler.choose(free: [1, 8, 4], capacities: [2, 8, 4], avoid: []) == 1)
        #expect(PoolScheduler.choose(free: [2, 8, 4], capacities: [2, 8, 4], avoid: [0, 1]) == 2)
        #expect(PoolScheduler.choose(free: [2, 0, 0], capacities: [2, 8, 4], avoid: [0]) == 0)
        #expect(PoolScheduler.choose(free: [0, 0, 0], capacities: [2, 8, 4], avoid: []) == nil)
        #expect(PoolScheduler.choose(free: [2, 8, 0], capacities: [2, 8, 4], avoid: [], resting: [0, 1]) == nil)
        #expect(PoolScheduler.choose(free: [2, 8, 4], capacities: [2, 8, 4], avoid: [], resting: [0]) == 1)
    }

    struct Flaky: Error, RetryClassifying { var isRetryable: Bool { true } }

    /// Runs chunks by recording them; fails the chunks in `failing` (retryably) the first time it sees them.
    final class RecordingPool: WorkerAdapter, @unchecked Sendable {
        let lock = NSLock()
        var ran: [String] = []
        var running = 0
        var peak = 0
        let failing: Set<String>
        init(failing: Set<String> = []) { self.failing = failing }
        func execute(_ job: WorkerJob) async throws -> WorkerResult {
            let fail = lock.withLock { () -> Bool in
                ran.append(job.chunkId)
                running += 1
                peak = max(peak, running)
                return failing.contains(job.chunkId)
            }
            try await Task.sleep(for: .milliseconds(5))
            lock.withLock { running -= 1 }
            if fail { throw Flaky() }
            return WorkerResult(exitCode: 0, stdout: "", stderr: "", durationMs: 5)
        }
    }

    @Test("chunks spread over the pools within each pool's capacity; a chunk that failed on one pool is retried on another")
    func spreadsAndMovesRetries() async throws {
        let a = RecordingPool(failing: ["c3"]), b = RecordingPool(), c = RecordingPool()
        let adapter = MultiPoolAdapter(pools: [.init(name: "a", adapter: a, capacity: 1), .init(name: "b", adapter: b, capacity: 2),
                                               .init(name: "c", adapter: c, capacity: 3)])
        #expect(adapter.totalCapacity == 6)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<24 {
                group.addTask {
                    let job = WorkerJob(jobId: "j", chunkId: "c\(index)", command: "x", workingDirectory: URL(fileURLWithPath: "/tmp"))
                    do { _ = try await adapter.execute(job) } catch is Flaky {
                        _ = try await adapter.execute(job)  // the executor's retry
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(a.peak <= 1 && b.peak <= 2 && c.peak <= 3)
        #expect(a.ran.count + b.ran.count + c.ran.count >= 24)
        #expect(!a.ran.isEmpty && !b.ran.isEmpty && !c.ran.isEmpty)
    }

    @Test("a retry after a retryable failure goes to another pool with room; a success clears the chunk's record")
    func retryMoves() async throws {
        let a = RecordingPool(failing: ["c0"]), b = RecordingPool()
        let adapter = MultiPoolAdapter(pools: [.init(name: "a", adapter: a, capacity: 1), .init(name: "b", adapter: b, capacity: 1)])
        let job = WorkerJob(jobId: "j", chunkId: "c0", command: "x", workingDirectory: URL(fileURLWithPath: "/tmp"))
        await #expect(throws: Flaky.self) { try await adapter.execute(job) }
        _ = try await adapter.execute(job)
        #expect(await adapter.dispatches().map(\.pool) == ["a", "b"])
        #expect(a.ran == ["c0"] && b.ran == ["c0"])
    }

    @Test("a pool that failed twice in a row rests while another is healthy, even if that one is busy")
    func failingPoolRests() async throws {
        let dead = RecordingPool(failing: ["c0", "c1", "c2", "c3"]), alive = RecordingPool()
        let adapter = MultiPoolAdapter(pools: [.init(name: "dead", adapter: dead, capacity: 4), .init(name: "alive", adapter: alive, capacity: 1)])
        for id in ["c0", "c1"] {
            let job = WorkerJob(jobId: "j", chunkId: id, command: "x", workingDirectory: URL(fileURLWithPath: "/tmp"))
            await #expect(throws: Flaky.self) { try await adapter.execute(job) }
        }
        for id in ["c2", "c3"] {
            _ = try await adapter.execute(WorkerJob(jobId: "j", chunkId: id, command: "x", workingDirectory: URL(fileURLWithPath: "/tmp")))
        }
        #expect(dead.ran == ["c0", "c1"])
        #expect(alive.ran == ["c2", "c3"])
    }
}
