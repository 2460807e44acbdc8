import Foundation

/// Who may read an object through a URL.
public enum ArtifactVisibility: String, Sendable, Codable {
    /// Served from a CDN base (`publicBaseURL/key`), no signature.
    case `public`
    /// A presigned (expiring) URL.
    case `private`
}

extension ArtifactStore {
    /// A URL to hand out for `key` (REQ5): public objects get `publicBaseURL` + the key (percent-encoded, `/` kept);
    /// private ones a presigned GET valid `expiresIn` seconds. A public URL without a base is refused.
    public func shareURL(for key: ArtifactKey, visibility: ArtifactVisibility, publicBaseURL: URL?,
                         expiresIn: Int = SigV4Signer.defaultExpiry) throws(StorageError) -> URL {
        switch visibility {
        case .private:
            return try url(for: key, expiresIn: expiresIn, method: .get)
        case .public:
            guard let base = publicBaseURL else {
                throw StorageError(.configuration, "no public base URL (HELIOS_PUBLIC_BASE_URL) for public object \"\(key)\"",
                                   key: key.rawValue)
            }
            var text = base.absoluteString
            if text.hasSuffix("/") { text.removeLast() }
            guard let url = URL(string: text + "/" + S3Encoding.path(key.rawValue)) else {
                throw StorageError(.invalidKey, "cannot form a public URL for \"\(key)\"", key: key.rawValue)
            }
            return url
        }
    }
}

extension S3ArtifactStore {
    /// ``ArtifactStore/shareURL(for:visibility:publicBaseURL:expiresIn:)`` with the configured `publicBaseURL`.
    public func shareURL(for key: ArtifactKey, visibility: ArtifactVisibility,
                         expiresIn: Int = SigV4Signer.defaultExpiry) throws(StorageError) -> URL {
        try shareURL(for: key, visibility: visibility, publicBaseURL: configuration.publicBaseURL, expiresIn: expiresIn)
    }
}
