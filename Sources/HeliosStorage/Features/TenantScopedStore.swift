import Foundation

/// A store bound to one tenant (REQ13): every key, listing and URL must lie under `{tenant}/`; anything else is
/// refused with `.outsideScope` before the underlying store is asked.
public struct TenantScopedStore: ArtifactStore {
    public let base: any ArtifactStore
    public let tenant: ArtifactKey

    /// `tenant` must be a single key segment.
    public init(_ base: any ArtifactStore, tenant: String) throws(StorageError) {
        guard !tenant.contains("/") else {
            throw StorageError(.invalidKey, "tenant \"\(tenant)\" must be one key segment", key: tenant)
        }
        self.base = base
        self.tenant = try ArtifactKey(tenant)
    }

    public var backend: String { base.backend }

    /// The key `relative` inside the tenant (`{tenant}/{relative}`).
    public func key(_ relative: String) throws(StorageError) -> ArtifactKey { try tenant.appending(relative) }

    /// Throws `.outsideScope` unless `key` is under `{tenant}/`.
    public func check(_ key: ArtifactKey) throws(StorageError) {
        guard key.rawValue.hasPrefix(tenant.rawValue + "/") else {
            throw StorageError(.outsideScope, "\"\(key)\" is outside tenant \"\(tenant)\"'s scope (\(tenant)/…)",
                               key: key.rawValue)
        }
    }

    /// Throws `.outsideScope` unless `uri` names an object of this store under `{tenant}/`.
    public func check(uri: String) throws(StorageError) {
        let root = base.uri(for: tenant)
        guard uri.hasPrefix(root + "/"), !uri.dropFirst(root.count).contains("/../"),
              !uri.dropFirst(root.count).hasSuffix("/..") else {
            throw StorageError(.outsideScope, "\"\(uri)\" is outside tenant \"\(tenant)\"'s scope (\(root)/…)", key: uri)
        }
    }

    public func uri(for key: ArtifactKey) -> String { base.uri(for: key) }

    public func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        try check(key)
        return try await base.put(file: file, to: key, options: options)
    }

    public func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        try check(key)
        return try await base.put(bytes: bytes, to: key, options: options)
    }

    public func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8] {
        try check(key)
        return try await base.get(key)
    }

    public func download(_ key: ArtifactKey, to destination: URL,
                         progress: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata {
        try check(key)
        return try await base.download(key, to: destination, progress: progress)
    }

    public func exists(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        try check(key)
        return try await base.exists(key)
    }

    public func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata {
        try check(key)
        return try await base.metadata(key)
    }

    @discardableResult
    public func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        try check(key)
        return try await base.delete(key)
    }

    /// Nil lists the whole tenant; a prefix outside it fails on the first page.
    public func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing {
        let scoped = prefix ?? tenant
        if scoped != tenant {
            do { try check(scoped) } catch {
                return ArtifactListing { _ throws(StorageError) in throw error }
            }
        }
        return base.list(prefix: scoped, recursive: recursive)
    }

    public func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL {
        try check(key)
        return try base.url(for: key, expiresIn: expiresIn, method: method)
    }
}
