import Foundation

/// How failed chunks are retried: exponential backoff with full jitter, capped.
///
/// The delay before attempt `n + 1` (after `n` failures) is uniform in `0...min(maximumBackoff, initialBackoff * 2^(n-1))`.
/// Cancellation is never retried; neither are errors whose `isRetryable` is false, nor exits listed in
/// `nonRetryableExitCodes`.
public struct RetryPolicy: Sendable {
    /// Attempts in all, including the first. 1 disables retries.
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// Exit statuses that mean "this will never work" (126: not executable, 127: not found by a wrapper).
    public var nonRetryableExitCodes: Set<Int32>
    /// Returns a number in `0...1`; the jitter fraction. Injectable for tests.
    public var jitter: @Sendable () -> Double

    public init(maxAttempts: Int = 3, initialBackoff: Duration = .milliseconds(500), maximumBackoff: Duration = .seconds(30),
                nonRetryableExitCodes: Set<Int32> = [126, 127], jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.nonRetryableExitCodes = nonRetryableExitCodes
        self.jitter = jitter
    }

    /// No retries.
    public static var none: RetryPolicy { RetryPolicy(maxAttempts: 1) }

    /// The upper bound of the delay after `failures` failed attempts (before jitter).
    public func backoffCeiling(afterFailures failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 40)
        let ceiling = initialBackoff * (1 << exponent)
        return min(ceiling, maximumBackoff)
    }

    /// The delay to wait after `failures` failed attempts.
    public func delay(afterFailures failures: Int) -> Duration {
        let fraction = min(max(jitter(), 0), 1)
        return backoffCeiling(afterFailures: failures) * fraction
    }

    /// Whether `error` from an attempt may be retried (attempt counting aside).
    public func isRetryable(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let error = error as? OrchestratorError {
            if case .commandFailed(_, let code, _) = error, nonRetryableExitCodes.contains(code) { return false }
            return error.isRetryable
        }
        if let error = error as? any RetryClassifying { return error.isRetryable }
        return true
    }
}

/// Errors from validators, mergers or adapters can say whether they are worth retrying.
public protocol RetryClassifying: Error {
    var isRetryable: Bool { get }
}

/// Sleeps; injected so tests do not wait for real backoff delays.
public protocol SleepClock: Sendable {
    func sleep(for duration: Duration) async throws
}

/// The real clock.
public struct ContinuousSleepClock: SleepClock {
    public init() {}
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
