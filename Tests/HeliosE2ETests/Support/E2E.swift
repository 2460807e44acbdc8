import Testing

/// Every end-to-end suite is nested here so that `.serialized` runs their tests one at a time. Each pipeline already
/// runs two render processes at once, which is what a 2-core machine can take beside the timing-sensitive
/// orchestrator tests that share the `swift test` process.
@Suite(.serialized)
struct E2E {}
