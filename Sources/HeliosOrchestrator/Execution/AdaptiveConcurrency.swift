/// How many chunks may run at once on a pool that can throttle (Lambda's 429): additive increase, multiplicative
/// decrease. Throttling halves the limit (never below 1); every `successesPerIncrease` successes in a row add one
/// back, up to the configured maximum. Pure: events in, the new limit out.
public struct AdaptiveConcurrency: Sendable, Hashable {
    public let maximum: Int
    public let successesPerIncrease: Int
    public private(set) var limit: Int
    public private(set) var successStreak = 0

    public init(maximum: Int, successesPerIncrease: Int = 1) {
        self.maximum = max(1, maximum)
        self.successesPerIncrease = max(1, successesPerIncrease)
        self.limit = self.maximum
    }

    /// A throttled request: halve.
    public mutating func throttled() {
        limit = max(1, limit / 2)
        successStreak = 0
    }

    /// A request that went through: after enough of them, add one.
    public mutating func succeeded() {
        guard limit < maximum else { successStreak = 0; return }
        successStreak += 1
        if successStreak >= successesPerIncrease {
            limit += 1
            successStreak = 0
        }
    }
}

/// A gate admitting at most ``AdaptiveConcurrency/limit`` holders at once, the limit moving as outcomes arrive.
/// Waiters are admitted in arrival order.
public actor ConcurrencyGate {
    public private(set) var control: AdaptiveConcurrency
    public private(set) var running = 0
    /// The highest and lowest limits seen, for reports and tests.
    public private(set) var lowestLimit: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(maximum: Int, successesPerIncrease: Int = 1) {
        control = AdaptiveConcurrency(maximum: maximum, successesPerIncrease: successesPerIncrease)
        lowestLimit = control.limit
    }

    public var limit: Int { control.limit }

    /// Waits for a slot.
    public func acquire() async {
        if running < control.limit && waiters.isEmpty {
            running += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// Frees a slot, reporting how the work went.
    public func release(throttled: Bool) {
        running -= 1
        if throttled { control.throttled() } else { control.succeeded() }
        lowestLimit = min(lowestLimit, control.limit)
        while running < control.limit, !waiters.isEmpty {
            running += 1
            waiters.removeFirst().resume()
        }
    }
}

extension ConcurrencyGate {
    /// Runs `body` holding a slot and frees it when `body` ends, reporting it throttled when `isThrottled` says so of
    /// the error. The outcome is returned, not thrown: callers decide whether to resend, retry or fail.
    public nonisolated func withSlot<T, E: Error>(isThrottled: (E) -> Bool, _ body: () async throws(E) -> T) async -> Result<T, E> {
        await acquire()
        let outcome: Result<T, E>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        switch outcome {
        case .success: await release(throttled: false)
        case .failure(let error): await release(throttled: isThrottled(error))
        }
        return outcome
    }
}
