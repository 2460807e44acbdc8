@_exported import HeliosTestSupport

extension FixtureCache {
    /// This target's fixtures, under Fixtures/.generated/media.
    static let shared = FixtureCache(namespace: "media")
}
