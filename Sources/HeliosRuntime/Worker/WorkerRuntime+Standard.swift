import Foundation
import HeliosMedia
import HeliosOrchestrator
import HeliosStorage
import Logging

extension WorkerRuntime {
    /// The runtime every Helios worker runs: stores from ``StorageFactory/standard(environment:)`` (local or S3),
    /// asset bundles with the standard cache, outputs checked with ``MediaProbe``, commands run as local processes.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment,
                                logger: Logger = Logger(label: "helios.worker.runtime")) -> WorkerRuntime {
        let factory = StorageFactory.standard(environment: environment)
        let resolve: StoreResolver = { uri throws(StorageError) in
            let (store, key) = try factory.resolve(uri)
            guard let key else { throw StorageError(.invalidURI, "\(uri) names a store, not an object", key: uri) }
            return (store, key)
        }
        let fetchAssets: AssetFetcher = { jobId, manifestURI, target in
            let (store, key) = try resolve(manifestURI)
            let report = try await AssetBundles(store: store).downloadAssetBundle(jobId: jobId, manifest: key, to: target)
            logger.info("assets", metadata: ["files": "\(report.files)", "downloaded": "\(report.downloadedFiles)", "cached": "\(report.cachedFiles)"])
        }
        return WorkerRuntime(
            configuration: .fromEnvironment(environment), resolve: resolve, fetchAssets: fetchAssets,
            adapter: LocalWorkerAdapter(logger: logger),
            validateOutput: { url, chunk, metadata in try MediaProbeValidator.check(try MediaProbe.probe(url), chunk: chunk, metadata: metadata) },
            logger: logger)
    }
}
