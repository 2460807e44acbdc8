@_exported import HeliosTestSupport

extension FixtureCache {
    /// This target's fixtures, under Fixtures/.generated/cli.
    static let shared = FixtureCache(namespace: "cli")
}
