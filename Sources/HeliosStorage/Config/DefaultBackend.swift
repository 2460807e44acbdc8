import Foundation

/// The default store, chosen from the environment (seed 003): local unless S3 is explicitly opted into.
///
/// - `HELIOS_STORAGE` unset or empty: local, at `$HELIOS_HOME/artifacts` (default `~/.helios/artifacts`).
/// - `HELIOS_STORAGE=/path` or `file:///path`: local, at that root.
/// - `HELIOS_STORAGE=s3://bucket/prefix`: S3, only with `HELIOS_ALLOW_CLOUD_DEFAULT=true`; refused otherwise.
public enum DefaultBackend: Sendable, Hashable {
    case local(root: URL)
    case s3(bucket: String, prefix: ArtifactKey?)

    /// Resolves the environment. Pure: reads only `environment` (and `home` for the default root).
    public static func resolve(environment: [String: String]) throws(StorageError) -> DefaultBackend {
        let value = environment["HELIOS_STORAGE"]?.trimmingCharacters(in: .whitespaces) ?? ""
        if value.isEmpty { return .local(root: LocalArtifactStore.defaultRoot(environment: environment)) }
        if value.hasPrefix("s3://") {
            guard case .s3(let bucket, let prefix) = try StorageLocation.parse(value) else {
                throw StorageError(.configuration, "HELIOS_STORAGE=\(value) is not a valid s3:// URI")
            }
            guard environment["HELIOS_ALLOW_CLOUD_DEFAULT"]?.lowercased() == "true" else {
                throw StorageError(.configuration, """
                    HELIOS_STORAGE=\(value) makes S3 the default store, which also needs HELIOS_ALLOW_CLOUD_DEFAULT=true \
                    (set it to confirm that artifacts should leave this machine by default, or pass s3:// URIs explicitly)
                    """)
            }
            return .s3(bucket: bucket, prefix: prefix)
        }
        if value.lowercased().hasPrefix("file:") {
            guard case .file(let path) = try StorageLocation.parse(value) else {
                throw StorageError(.configuration, "HELIOS_STORAGE=\(value) is not a valid file:// URI")
            }
            return .local(root: URL(fileURLWithPath: path, isDirectory: true))
        }
        if value.contains("://") {
            throw StorageError(.configuration, "HELIOS_STORAGE=\(value): unknown scheme; use a path, file:///path or s3://bucket/prefix")
        }
        let expanded = (value as NSString).expandingTildeInPath
        guard expanded.hasPrefix("/") else {
            throw StorageError(.configuration, "HELIOS_STORAGE=\(value): a local store path must be absolute")
        }
        return .local(root: URL(fileURLWithPath: expanded, isDirectory: true))
    }
}
