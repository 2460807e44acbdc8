import Foundation

/// Turns locations into stores. S3 support is injected (`makeS3`), so this module's callers choose whether and
/// how an S3 store is built; without it, `s3://` locations are refused with a clear message.
public struct StorageFactory: Sendable {
    /// Builds a store for a bucket (credentials, endpoint and region come from the environment).
    public typealias S3Constructor = @Sendable (_ bucket: String, _ environment: [String: String]) throws(StorageError) -> any ArtifactStore

    public let environment: [String: String]
    public let makeS3: S3Constructor?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, makeS3: S3Constructor? = nil) {
        self.environment = environment
        self.makeS3 = makeS3
    }

    /// The default store and the prefix bare keys live under (`s3://bucket/prefix`'s prefix).
    public func defaultStore() throws(StorageError) -> (store: any ArtifactStore, prefix: ArtifactKey?) {
        switch try DefaultBackend.resolve(environment: environment) {
        case .local(let root): return (try LocalArtifactStore(root: root), nil)
        case .s3(let bucket, let prefix): return (try s3(bucket), prefix)
        }
    }

    /// The store and key a location names. An explicit `s3://` URI needs no `HELIOS_ALLOW_CLOUD_DEFAULT`.
    public func resolve(_ location: StorageLocation) throws(StorageError) -> (store: any ArtifactStore, key: ArtifactKey?) {
        switch location {
        case .s3(let bucket, let key):
            return (try s3(bucket), key)
        case .file(let path):
            let root: URL
            if case .local(let configured) = try? DefaultBackend.resolve(environment: environment) {
                root = configured
            } else {
                root = LocalArtifactStore.defaultRoot(environment: environment)
            }
            let store = try LocalArtifactStore(root: root)
            return (store, try StorageLocation.key(ofPath: path, in: store.objectsDirectory))
        case .key(let key):
            let (store, prefix) = try defaultStore()
            guard let prefix else { return (store, key) }
            guard let key else { return (store, prefix) }
            return (store, try prefix.appending(key.rawValue))
        }
    }

    /// Parses and resolves `text`.
    public func resolve(_ text: String) throws(StorageError) -> (store: any ArtifactStore, key: ArtifactKey?) {
        try resolve(StorageLocation.parse(text))
    }

    private func s3(_ bucket: String) throws(StorageError) -> any ArtifactStore {
        guard let makeS3 else {
            throw StorageError(.configuration, "s3://\(bucket): this build of Helios has no S3 store")
        }
        return try makeS3(bucket, environment)
    }
}
