import Foundation

/// Polls `condition` every 50 ms until it holds; the timeout is only a hang guard (a loaded 2-core machine running
/// the whole suite can starve the polling task for many seconds), so it returns as soon as the condition holds.
public func pollUntil(timeout: Duration = .seconds(120), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        do { try await Task.sleep(for: .milliseconds(50)) } catch { break }
    }
    return try await condition()
}
