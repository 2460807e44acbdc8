import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import Testing
@testable import HeliosWorkers

/// Inputs that reach the worker by reference: the asset bundle pushed before dispatch, and presigned URLs that may
/// have expired by the time the worker uses them. Real emulators, the real worker, a real SeaweedFS.
@Suite(.serialized) struct LambdaAssetsE2ETests {
    typealias Setup = LambdaJobE2ETests.Setup

    @Test("a local assetsUrl is pushed once as a bundle before dispatch; the worker downloads it for the first chunk and takes it from its cache for the other 11, and every command finds it at HELIOS_ASSETS_DIR")
    func assetBundleIsPushedOnceAndCachedByTheWorker() async throws {
        let setup = try await Setup(emulators: 1)
        defer { setup.stop() }
        var spec = LambdaJobE2ETests.spec(id: "lambdaassets")
        spec.assetsUrl = "assets"
        for index in spec.chunks.indices {
            // Each chunk renders only if the bundle's file is there, whole.
            spec.chunks[index].command = "sh -c 'test $(wc -c < \"$HELIOS_ASSETS_DIR/fonts/Inter.ttf\") -eq 65536 && exec \(spec.chunks[index].command)'"
        }
        let specFile = try setup.write(spec)
        let fonts = specFile.deletingLastPathComponent().appendingPathComponent("assets/fonts")
        try FileManager.default.createDirectory(at: fonts, withIntermediateDirectories: true)
        try Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(to: fonts.appendingPathComponent("Inter.ttf"))

        let run = try await setup.helios(["job", "run", specFile.path, "--workers", "lambda:function@1", "--audio", "exact", "--quiet"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(setup.emulators[0].output)")
        #expect(setup.invocations == 12)
        let log = setup.emulators[0].output
        let bundleLines = log.split(separator: "\n").filter { $0.contains("bundle lambdaassets into") }
        #expect(bundleLines.count == 12, "one bundle fetch per chunk: \(bundleLines)")
        #expect(bundleLines.filter { $0.contains(": 1 downloaded, 0 from cache") }.count == 1, "\(bundleLines)")
        #expect(bundleLines.filter { $0.contains(": 0 downloaded, 1 from cache") }.count == 11, "\(bundleLines)")
        // The bundle went to the store once: a manifest and one content-addressed file object.
        let store = try LocalArtifactStore(root: setup.home.appendingPathComponent("artifacts"))
        #expect(try await store.exists(try ArtifactKey("helios-jobs/bundles/jobs/lambdaassets/manifest.json")))
        var blobs = 0
        for try await _ in store.list(prefix: try ArtifactKey("helios-jobs/bundles/blobs")) { blobs += 1 }
        #expect(blobs == 1)
        let merged = specFile.deletingLastPathComponent().appendingPathComponent("lambdaassets.mp4")
        let verify = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                         ["verify", merged.path, "--expect-frames", "60", "--boundaries", LambdaJobE2ETests.boundaries])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test("an expired presigned URL, for the spec (GET) or for the output (PUT), is a badRequest naming the URL without its query, HTTP 403 and when it expired; nothing is stored")
    func expiredPresignedURLsAreClearBadRequests() async throws {
        let server = try await SeaweedFS.shared()
        let bucket = "helios-expired-\(UUID().uuidString.prefix(8).lowercased())"
        let environment = ["AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_ACCESS_KEY_ID": SeaweedFS.accessKey,
                           "AWS_SECRET_ACCESS_KEY": SeaweedFS.secretKey, "AWS_REGION": SeaweedFS.region]
        let store = S3ArtifactStore(configuration: try S3Configuration.fromEnvironment(bucket: bucket, environment: environment))
        try await store.createBucket()
        try await store.prepare()
        let chunk = LambdaHarness.synthChunk("c0", start: 0, count: 1)
        let harness = try await LambdaHarness(chunks: [chunk])
        defer { harness.stop() }
        let specKey = try ArtifactKey("jobs/job1/spec.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        _ = try await store.put(bytes: Array(try encoder.encode(harness.spec)), to: specKey)
        let outputKey = try ArtifactKey("jobs/job1/chunks/c0/attempt-1/c0.mp4")
        let get = try store.url(for: specKey, expiresIn: 1, method: .get).absoluteString
        let put = try store.url(for: outputKey, expiresIn: 1, method: .put).absoluteString
        // A fresh URL works (the server checks these signatures); once expired, the same URL is refused.
        var fresh = harness.request(chunk)
        fresh.spec = .url(try store.url(for: specKey, expiresIn: 600, method: .get).absoluteString)
        #expect(try await harness.invoker.invoke(fresh, timeout: .seconds(120)).status == .succeeded)
        #expect(await pollUntil { Date() > (PresignedURLExpiry.expiry(of: put) ?? .distantPast).addingTimeInterval(1) })

        var expiredSpec = harness.request(chunk)
        expiredSpec.spec = .url(get)
        let refused = try await harness.invoker.invoke(expiredSpec, timeout: .seconds(120))
        let specError = try #require(refused.error)
        #expect(specError.type == .badRequest && !specError.isRetryable)
        #expect(specError.message.contains("\(bucket)/jobs/job1/spec.json failed: HTTP 403: the presigned URL expired at "), "\(specError.message)")
        #expect(!specError.message.contains("spec.json?") && !specError.message.contains("X-Amz-Signature"), "no query in \(specError.message)")

        var expiredOutput = harness.request(chunk, attempt: 1)
        expiredOutput.output = .presignedPut(url: put, uri: store.uri(for: outputKey))
        let unstored = try await harness.invoker.invoke(expiredOutput, timeout: .seconds(120))
        let putError = try #require(unstored.error)
        #expect(putError.type == .badRequest, "\(putError)")
        #expect(putError.message.contains("upload to") && putError.message.contains("\(bucket)/jobs/job1/chunks/c0/attempt-1/c0.mp4 failed: HTTP 403: the presigned URL expired at "),
                "\(putError.message)")
        #expect(!putError.message.contains("X-Amz-Signature"))
        #expect(try await store.exists(outputKey) == false)
        // The orchestrator fails the chunk at once: a badRequest is never retried.
        #expect(RemoteChunkError(putError, chunkId: "c0").isRetryable == false)
    }
}
