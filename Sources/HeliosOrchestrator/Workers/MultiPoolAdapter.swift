import Foundation
import Logging

/// Spreads one job's chunks over several worker pools (local processes, Lambda, Cloud Run…), each taking at most its
/// own number of chunks at once.
///
/// A chunk goes to the pool with the most free slots, preferring pools where it has not failed yet: the executor's
/// retry after a retryable failure (a crashed instance, a throttled function) goes to another pool when one has room.
/// A pool whose last ``PoolScheduler/failuresToCool`` dispatches all failed (a service that is down) gets no chunks
/// for ``PoolScheduler/cooldown`` while another pool is healthy; then one chunk probes it again.
/// The executor's concurrency should be ``totalCapacity``.
public struct MultiPoolAdapter: WorkerAdapter {
    /// One pool: a name for logs and reports, its adapter and how many chunks it takes at once.
    public struct Pool: Sendable {
        public var name: String
        public var adapter: any WorkerAdapter
        public var capacity: Int
        public init(name: String, adapter: any WorkerAdapter, capacity: Int) {
            self.name = name
            self.adapter = adapter
            self.capacity = max(1, capacity)
        }
    }

    public let pools: [Pool]
    let scheduler: PoolScheduler
    let logger: Logger

    public init(pools: [Pool], logger: Logger = Logger(label: "helios.worker.pools")) {
        precondition(!pools.isEmpty, "MultiPoolAdapter needs at least one pool")
        self.pools = pools
        self.scheduler = PoolScheduler(capacities: pools.map(\.capacity))
        self.logger = logger
    }

    /// The sum of the pools' capacities.
    public var totalCapacity: Int { pools.reduce(0) { $0 + $1.capacity } }

    public func execute(_ job: WorkerJob) async throws -> WorkerResult {
        let index = await scheduler.acquire(chunk: job.chunkId)
        let pool = pools[index]
        logger.debug("dispatch", metadata: ["chunk": "\(job.chunkId)", "pool": "\(pool.name)"])
        do {
            let result = try await pool.adapter.execute(job)
            await scheduler.release(index, chunk: job.chunkId, failed: result.exitCode != 0)
            return result
        } catch {
            await scheduler.release(index, chunk: job.chunkId, failed: true)
            logger.info("pool failed a chunk", metadata: ["chunk": "\(job.chunkId)", "pool": "\(pool.name)", "error": "\(error)"])
            throw error
        }
    }

    /// Which pool ran each dispatch so far, in order (for tests and reports).
    public func dispatches() async -> [(chunk: String, pool: String)] {
        await scheduler.history.map { ($0.chunk, pools[$0.pool].name) }
    }
}

/// Free slots per pool, the pools each chunk has failed on, and chunks waiting for a slot. Pure state in an actor.
actor PoolScheduler {
    /// Consecutive failures that rest a pool.
    static let failuresToCool = 2
    static let cooldown: Duration = .seconds(30)

    var free: [Int]
    let capacities: [Int]
    var consecutiveFailures: [Int]
    var lastFailure: [ContinuousClock.Instant?]
    var failedOn: [String: Set<Int>] = [:]
    var waiters: [CheckedContinuation<Void, Never>] = []
    private(set) var history: [(chunk: String, pool: Int)] = []

    init(capacities: [Int]) {
        self.capacities = capacities
        self.free = capacities
        self.consecutiveFailures = capacities.map { _ in 0 }
        self.lastFailure = capacities.map { _ in nil }
    }

    /// Pools resting after repeated failures (all of them count as healthy when every one is resting).
    func cooling(now: ContinuousClock.Instant = .now) -> Set<Int> {
        let resting = Set(capacities.indices.filter { index in
            consecutiveFailures[index] >= Self.failuresToCool && lastFailure[index].map { now - $0 < Self.cooldown } == true
        })
        return resting.count == capacities.count ? [] : resting
    }

    /// The pool `chunk` should run on, chosen by ``choose(free:capacities:avoid:)``, waiting while every pool is full.
    func acquire(chunk: String) async -> Int {
        while true {
            if let index = Self.choose(free: free, capacities: capacities, avoid: failedOn[chunk] ?? [], resting: cooling()) {
                free[index] -= 1
                history.append((chunk, index))
                return index
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ index: Int, chunk: String, failed: Bool) {
        free[index] += 1
        if failed {
            failedOn[chunk, default: []].insert(index)
            consecutiveFailures[index] += 1
            lastFailure[index] = .now
        } else {
            failedOn[chunk] = nil
            consecutiveFailures[index] = 0
        }
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// A pool with a free slot, never one in `resting`: first those `avoid` does not name, then the largest share of
    /// free slots, then the lowest index. Nil when every usable pool is full. Pure.
    static func choose(free: [Int], capacities: [Int], avoid: Set<Int>, resting: Set<Int> = []) -> Int? {
        let open = free.indices.filter { free[$0] > 0 && !resting.contains($0) }
        guard !open.isEmpty else { return nil }
        let preferred = open.filter { !avoid.contains($0) }
        let candidates = preferred.isEmpty ? open : preferred
        return candidates.min { a, b in
            // free[a]/capacities[a] > free[b]/capacities[b], without division.
            let left = free[a] * capacities[b], right = free[b] * capacities[a]
            return left != right ? left > right : a < b
        }
    }
}
