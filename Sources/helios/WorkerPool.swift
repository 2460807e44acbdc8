import ArgumentParser
import Foundation
import HeliosOrchestrator
import HeliosRuntime
import HeliosStorage
import HeliosWorkers

/// `--workers` (repeatable): `local[@N]`, `lambda:FUNCTION[@N]` or `cloudrun:URL[@N]`.
enum WorkerPool: Equatable {
    case local(concurrency: Int?)
    case lambda(function: String, concurrency: Int?)
    case cloudrun(url: String, concurrency: Int?)

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static let usage = "expected local[@N], lambda:FUNCTION[@N] or cloudrun:https://SERVICE-URL[@N]"

    static func parse(_ text: String) throws -> WorkerPool {
        var pool = text
        var concurrency: Int?
        // The concurrency is what follows the last '@' (a URL may hold another '@').
        if let at = text.lastIndex(of: "@") {
            let suffix = text[text.index(after: at)...]
            guard let n = Int(suffix), n >= 1 else { throw ParseError(description: "--workers \(text): the concurrency after '@' must be a whole number of at least 1") }
            concurrency = n
            pool = String(text[..<at])
        }
        if pool == "local" { return .local(concurrency: concurrency) }
        if pool.hasPrefix("lambda:"), pool.count > 7 { return .lambda(function: String(pool.dropFirst(7)), concurrency: concurrency) }
        if pool.hasPrefix("cloudrun:") {
            let url = String(pool.dropFirst(9))
            guard let components = URLComponents(string: url), ["https", "http"].contains(components.scheme?.lowercased() ?? ""),
                  !(components.host ?? "").isEmpty else {
                throw ParseError(description: "--workers \(text): cloudrun: needs the service URL, e.g. cloudrun:https://render-abc123-ew.a.run.app@4")
            }
            return .cloudrun(url: url, concurrency: concurrency)
        }
        throw ParseError(description: "--workers \(text): \(usage)")
    }

    /// The pools of a run's settings (stored space-separated; nil or empty: local).
    static func pools(_ settings: RunSettings) throws -> [WorkerPool] {
        guard let text = settings.workers, !text.isEmpty else { return [] }
        return try text.split(separator: " ").map { try parse(String($0)) }
    }

    var concurrency: Int? {
        switch self {
        case .local(let n), .lambda(_, let n), .cloudrun(_, let n): n
        }
    }

    var isRemote: Bool {
        if case .local = self { return false }
        return true
    }

    /// Whether any of the run's chunks may be rendered remotely (their outputs live in a store).
    static func isRemote(_ settings: RunSettings) -> Bool {
        ((try? pools(settings)) ?? []).contains(where: \.isRemote)
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

    /// Where the merged output is published: for remote workers (any remote pool), or whenever `--storage` is given.
    static func publication(for settings: RunSettings, job spec: JobSpec, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> MergePublication? {
        guard isRemote(settings) || settings.storage != nil else { return nil }
        let (store, prefix) = try jobStore(for: settings, environment: environment)
        let ext = settings.outputPath.map { URL(fileURLWithPath: $0).pathExtension }
            ?? ((spec.chunks.first?.outputFile ?? "") as NSString).pathExtension
        return try MergePublication(store: store, prefix: prefix, jobId: spec.id, fileExtension: ext)
    }

    /// The worker adapter for a run's settings: local processes, Lambda or Cloud Run through a store, or several pools
    /// at once (``MultiPoolAdapter``), every remote pool sharing one attempt counter.
    ///
    /// Lambda is invoked at `AWS_ENDPOINT_URL_LAMBDA` (else AWS's regional endpoint). `HELIOS_LAMBDA_ENDPOINTS`
    /// (comma-separated URLs) instead names emulators that each take one invoke at a time, as AWS's Runtime
    /// Interface Emulator does. Cloud Run tokens come from ``GoogleIDTokenProvider/Source/fromEnvironment(_:)``.
    static func adapter(for settings: RunSettings, job spec: JobSpec,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any WorkerAdapter {
        let pools = try pools(settings)
        guard pools.contains(where: \.isRemote) else { return LocalWorkerAdapter() }
        let (store, prefix) = try jobStore(for: settings, environment: environment)
        let context = RemoteJobContext(spec: spec, store: store, storePrefix: prefix)
        let timeout: Duration = settings.chunkTimeoutSeconds.map { .milliseconds(Int64($0 * 1000)) } ?? .seconds(900)
        var tokens: GoogleIDTokenProvider?
        let built: [MultiPoolAdapter.Pool] = try pools.map { pool in
            let capacity = pools.count == 1 ? settings.concurrency : (pool.concurrency ?? defaultPoolConcurrency)
            switch pool {
            case .local:
                return .init(name: "local", adapter: LocalWorkerAdapter(), capacity: capacity)
            case .lambda(let function, _):
                let (endpoint, region) = AwsLambdaInvoker.endpoint(environment: environment)
                let credentials = CredentialProviderChain.default(environment: environment)
                let invokers: InvokerPool
                if let list = environment["HELIOS_LAMBDA_ENDPOINTS"], !list.isEmpty {
                    let urls = list.split(separator: ",").compactMap { URL(string: $0.trimmingCharacters(in: .whitespaces)) }
                    invokers = InvokerPool(urls.map { AwsLambdaInvoker(functionName: function, endpoint: $0, region: region, credentials: credentials) }, capacity: 1)
                } else {
                    invokers = InvokerPool([AwsLambdaInvoker(functionName: function, endpoint: endpoint, region: region, credentials: credentials)],
                                           capacity: capacity)
                }
                return .init(name: "lambda:\(function)", adapter: AwsLambdaAdapter(
                    context: context, invokers: invokers, maximumConcurrency: capacity, invokeTimeout: timeout), capacity: capacity)
            case .cloudrun(let text, _):
                guard let url = URL(string: text) else { throw ParseError(description: "--workers cloudrun:\(text): not a URL") }
                if tokens == nil { tokens = GoogleIDTokenProvider(source: try GoogleIDTokenProvider.Source.fromEnvironment(environment)) }
                let invoker = CloudRunInvoker(serviceURL: url, tokens: tokens!)
                return .init(name: "cloudrun:\(text)", adapter: CloudRunAdapter(context: context, invoker: invoker, maximumConcurrency: capacity,
                                                                                 requestTimeout: timeout), capacity: capacity)
            }
        }
        return built.count == 1 ? built[0].adapter : MultiPoolAdapter(pools: built)
    }

    /// A pool's concurrency in a mixed set when its `@N` is left out.
    static let defaultPoolConcurrency = 4

    /// Of `total` chunks at once, those run here as local processes (the rest go to remote workers): all of them
    /// without `--workers` or with one local pool, the local pools' share of several.
    static func localConcurrency(of texts: [String], total: Int) throws -> Int {
        let pools = try texts.map(parse)
        if pools.count <= 1 { return pools.first.map { if case .local = $0 { total } else { 0 } } ?? total }
        return pools.reduce(0) { sum, pool in if case .local(let n) = pool { sum + (n ?? defaultPoolConcurrency) } else { sum } }
    }

    /// The executor's concurrency for `texts` (each `--workers` value): one pool's `@N` (else `--concurrency`);
    /// for several pools, the sum of theirs.
    static func concurrency(of texts: [String], explicit: Int?) throws -> Int? {
        let pools = try texts.map(parse)
        if pools.count <= 1 { return explicit ?? pools.first?.concurrency }
        return pools.reduce(0) { $0 + ($1.concurrency ?? defaultPoolConcurrency) }
    }
}
