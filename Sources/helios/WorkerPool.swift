import ArgumentParser
import Foundation
import HeliosOrchestrator
import HeliosRuntime
import HeliosStorage
import HeliosWorkers

/// `--workers`: `local[@N]` or `lambda:FUNCTION[@N]`.
enum WorkerPool: Equatable {
    case local(concurrency: Int?)
    case lambda(function: String, concurrency: Int?)

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ text: String) throws -> WorkerPool {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        var concurrency: Int?
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 1 else { throw ParseError(description: "--workers \(text): the concurrency after '@' must be a whole number of at least 1") }
            concurrency = n
        }
        let pool = String(parts[0])
        if pool == "local" { return .local(concurrency: concurrency) }
        if pool.hasPrefix("lambda:"), pool.count > 7 { return .lambda(function: String(pool.dropFirst(7)), concurrency: concurrency) }
        throw ParseError(description: "--workers \(text): expected local[@N] or lambda:FUNCTION[@N]")
    }

    var concurrency: Int? {
        switch self {
        case .local(let n), .lambda(_, let n): n
        }
    }

    /// Whether the run's chunks are rendered remotely (their outputs live in a store).
    static func isRemote(_ settings: RunSettings) -> Bool {
        guard let text = settings.workers, let pool = try? parse(text) else { return false }
        if case .lambda = pool { return true }
        return false
    }

    /// The store a run's job goes to (`--storage`, else the default store) and the prefix under it
    /// (`s3://bucket/prefix`'s prefix, else `helios-jobs`): specs, bundles, chunk outputs and the merged output.
    static func jobStore(for settings: RunSettings, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> (store: any ArtifactStore, prefix: ArtifactKey) {
        let factory = StorageFactory.standard(environment: environment)
        let (store, key): (any ArtifactStore, ArtifactKey?)
        if let storage = settings.storage { (store, key) = try factory.resolve(storage) } else { (store, key) = try factory.defaultStore() }
        return (store, try key ?? ArtifactKey("helios-jobs"))
    }

    /// Where the merged output is published: for remote workers, or whenever `--storage` is given.
    static func publication(for settings: RunSettings, job spec: JobSpec, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> MergePublication? {
        guard isRemote(settings) || settings.storage != nil else { return nil }
        let (store, prefix) = try jobStore(for: settings, environment: environment)
        let ext = settings.outputPath.map { URL(fileURLWithPath: $0).pathExtension }
            ?? ((spec.chunks.first?.outputFile ?? "") as NSString).pathExtension
        return try MergePublication(store: store, prefix: prefix, jobId: spec.id, fileExtension: ext)
    }

    /// The worker adapter for a run's settings: local processes, or Lambda through a store.
    ///
    /// Lambda is invoked at `AWS_ENDPOINT_URL_LAMBDA` (else AWS's regional endpoint). `HELIOS_LAMBDA_ENDPOINTS`
    /// (comma-separated URLs) instead names emulators that each take one invoke at a time, as AWS's Runtime
    /// Interface Emulator does.
    static func adapter(for settings: RunSettings, job spec: JobSpec,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any WorkerAdapter {
        guard let text = settings.workers, case .lambda(let function, _) = try parse(text) else { return LocalWorkerAdapter() }
        let (store, prefix) = try jobStore(for: settings, environment: environment)
        let (endpoint, region) = AwsLambdaInvoker.endpoint(environment: environment)
        let credentials = CredentialProviderChain.default(environment: environment)
        let invokers: InvokerPool
        if let list = environment["HELIOS_LAMBDA_ENDPOINTS"], !list.isEmpty {
            let urls = list.split(separator: ",").compactMap { URL(string: $0.trimmingCharacters(in: .whitespaces)) }
            invokers = InvokerPool(urls.map { AwsLambdaInvoker(functionName: function, endpoint: $0, region: region, credentials: credentials) }, capacity: 1)
        } else {
            invokers = InvokerPool([AwsLambdaInvoker(functionName: function, endpoint: endpoint, region: region, credentials: credentials)],
                                   capacity: settings.concurrency)
        }
        let timeout: Duration = settings.chunkTimeoutSeconds.map { .milliseconds(Int64($0 * 1000)) } ?? .seconds(900)
        return AwsLambdaAdapter(spec: spec, store: store, storePrefix: prefix, invokers: invokers,
                                maximumConcurrency: settings.concurrency, invokeTimeout: timeout)
    }
}
