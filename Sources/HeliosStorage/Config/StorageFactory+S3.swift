import Foundation

extension StorageFactory {
    /// A factory whose `s3://` locations are served by ``S3ArtifactStore``, configured from AWS's variables
    /// (`AWS_ENDPOINT_URL_S3`, `AWS_REGION`, the credential chain). What every Helios binary uses.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> StorageFactory {
        StorageFactory(environment: environment) { bucket, environment throws(StorageError) in
            S3ArtifactStore(configuration: try S3Configuration.fromEnvironment(bucket: bucket, environment: environment))
        }
    }
}
