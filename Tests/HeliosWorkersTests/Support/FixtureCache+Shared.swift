import HeliosTestSupport

extension FixtureCache {
    /// This target's fixtures, under Fixtures/.generated/workers.
    static let shared = FixtureCache(namespace: "workers")
}
