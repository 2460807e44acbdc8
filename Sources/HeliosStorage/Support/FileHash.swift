import Foundation

/// A local file's SHA-256 and size, read in 1 MiB blocks off the cooperative pool (cancellable). What a store
/// records for an object, so callers that must compare with a store's hash compute it the same way.
public enum FileHash {
    public static func sha256(of file: URL) async throws(StorageError) -> (sha256: String, size: Int64) {
        try await Blocking.run { cancellation throws(StorageError) in try BundleScanner.hash(file, cancellation: cancellation) }
    }
}
