/// Exponential backoff with full jitter: the wait before retry `n` (0-based) is uniform in
/// `0 ... min(maximumDelay, baseDelay · 2ⁿ)`. Only errors that are ``StorageError/isRetryable`` are retried
/// (5xx, 429/SlowDown, RequestTimeout, connection errors), never auth or validation errors.
public struct S3RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maximumAttempts: Int
    /// In seconds.
    public var baseDelay: Double
    public var maximumDelay: Double

    public init(maximumAttempts: Int = 5, baseDelay: Double = 0.1, maximumDelay: Double = 5) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    /// The upper bound of the wait before retry `retry` (0-based).
    public func ceiling(forRetry retry: Int) -> Double {
        min(maximumDelay, baseDelay * Double(1 << min(retry, 30)))
    }

    /// The wait before retry `retry`, given a uniform `unit` in [0, 1] (the caller's random number).
    public func delay(forRetry retry: Int, unit: Double) -> Double {
        ceiling(forRetry: retry) * min(1, max(0, unit))
    }

    /// Whether an attempt that failed with `error` should be followed by another, after `attempt` (1-based) attempts.
    public func shouldRetry(_ error: StorageError, afterAttempt attempt: Int) -> Bool {
        error.isRetryable && attempt < maximumAttempts
    }
}
