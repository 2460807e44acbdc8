/// Presigned-URL expiry limits, as S3 sets them.
public enum ArtifactURLExpiry {
    /// The default expiry of a presigned URL (one hour).
    public static let defaultSeconds = 3600
    /// The longest expiry S3 accepts (seven days).
    public static let maximumSeconds = 604_800

    /// Refuses an expiry below 1 s or above seven days.
    public static func validate(_ seconds: Int, key: ArtifactKey?) throws(StorageError) {
        guard (1...maximumSeconds).contains(seconds) else {
            throw StorageError(.invalidRequest, "URL expiry \(seconds) s is out of range: it must be 1 to \(maximumSeconds) s (7 days)",
                               key: key?.rawValue)
        }
    }
}
