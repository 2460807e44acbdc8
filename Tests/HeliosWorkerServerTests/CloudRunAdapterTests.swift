import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import Testing
import _CryptoExtras
@testable import HeliosWorkers

/// `CloudRunAdapter` against the real `helios-worker serve` (verifying tokens itself), behind google_peer.py's front
/// end, which checks every token the adapter sends with google-auth; tokens come from google_peer.py's metadata
/// server or token endpoint.
@Suite(.serialized) struct CloudRunAdapterTests {
    /// The peers and the server for one test.
    struct Stack {
        let harness: ServerHarness
        let metadata: GooglePeer
        let server: WorkerServerProcess
        let front: GooglePeer
        var audience: String { front.url }

        init(chunks: [RenderJobChunk], serverArguments: [String] = [], lifetime: Int = 3600, keyFile: URL? = nil) async throws {
            harness = try await ServerHarness(chunks: chunks)
            metadata = try await GooglePeer.metadata(lifetime: lifetime, keyFile: keyFile)
            // The front's URL is the audience, as a Cloud Run service's URL is; the server learns it after the front starts,
            // so the front relays to a port chosen now.
            let port = try loopbackPorts(1)[0]
            front = try await GooglePeer.front(upstream: "http://127.0.0.1:\(port)", audience: "", certsURL: metadata.pemCertsURL)
            server = try await WorkerServerProcess(
                command: builtProductsDirectory().appendingPathComponent("helios-worker").path,
                arguments: ["serve", "--verify-id-token", "--audience", front.url, "--certs-url", metadata.jwksURL] + serverArguments,
                environment: harness.environment.merging(["PATH": builtProductsDirectory().path + ":/usr/bin:/bin"]) { $1 },
                port: port)
        }

        func adapter(source: GoogleIDTokenProvider.Source? = nil, concurrency: Int = 1, resend: ResendPolicy = ResendPolicy(base: .milliseconds(20))) -> (CloudRunAdapter, GoogleIDTokenProvider) {
            let tokens = GoogleIDTokenProvider(source: source ?? .metadataServer(host: metadata.host))
            let context = RemoteJobContext(spec: harness.spec, store: harness.store, storePrefix: try! ArtifactKey("renders"))
            let adapter = CloudRunAdapter(context: context, invoker: CloudRunInvoker(serviceURL: URL(string: front.url)!, tokens: tokens),
                                          maximumConcurrency: concurrency, resend: resend)
            return (adapter, tokens)
        }

        func job(_ chunk: RenderJobChunk) throws -> WorkerJob {
            let directory = harness.home.appendingPathComponent("job-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("out"), withIntermediateDirectories: true)
            return WorkerJob(jobId: harness.spec.id, chunkId: chunk.id, command: chunk.command, workingDirectory: directory)
        }

        func tokenChecks() async throws -> [[String: Any]] { try await front.log().filter { $0["event"] as? String == "token" } }

        func stop() {
            server.stop()
            front.stop()
            metadata.stop()
            harness.stop()
        }
    }

    @Test("metadata-server tokens: two chunks render; google-auth accepts every token sent; one token is fetched and reused for the audience")
    func metadataTokens() async throws {
        let chunks = [ServerHarness.synthChunk("c0", start: 0, count: 2), ServerHarness.synthChunk("c1", start: 2, count: 3)]
        let stack = try await Stack(chunks: chunks)
        defer { stack.stop() }
        let (adapter, tokens) = stack.adapter()
        for chunk in chunks {
            let result = try await adapter.execute(try stack.job(chunk))
            let record = try #require(result.output)
            #expect(record.attempt == 1)
            #expect(record.worker == "cloudrun:127.0.0.1:\(stack.front.port)")
            #expect(record.uri == stack.harness.store.uri(for: try ArtifactKey("renders/job1/chunks/\(chunk.id)/attempt-1/\(chunk.id).mp4")))
            #expect(try await stack.harness.store.metadata(try ArtifactKey("renders/job1/chunks/\(chunk.id)/attempt-1/\(chunk.id).mp4")).sha256 == record.sha256)
        }
        let checks = try await stack.tokenChecks()
        #expect(checks.count == 2)
        #expect(checks.allSatisfy { $0["valid"] as? Bool == true && $0["aud"] as? String == stack.audience }, "\(checks)")
        #expect(await tokens.fetches == 1)
        let identity = try await stack.metadata.log().filter { $0["event"] as? String == "identity" }
        #expect(identity.count == 1)
        #expect(identity.first?["format"] as? String == "full")
        #expect(identity.first?["audience"] as? String == stack.audience)
    }

    @Test("service-account key file: google-auth verifies the RS256 assertion we sign (kid, aud = token_uri, target_audience), and the ID token it buys")
    func keyFileTokens() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("sa.json")
        let chunk = ServerHarness.synthChunk("c0", start: 0, count: 2)
        let stack = try await Stack(chunks: [chunk], keyFile: keyFile)
        defer { stack.stop() }
        let source = try GoogleIDTokenProvider.Source.fromEnvironment(["GOOGLE_APPLICATION_CREDENTIALS": keyFile.path, "GCE_METADATA_HOST": "127.0.0.1:9"])
        guard case .serviceAccount(let key) = source else { Issue.record("not the key file: \(source)"); return }
        let (adapter, _) = stack.adapter(source: source)
        _ = try await adapter.execute(try stack.job(chunk))

        let assertions = try await stack.metadata.log().filter { $0["event"] as? String == "assertion" }
        #expect(assertions.count == 1)
        let assertion = try #require(assertions.first)
        #expect(assertion["valid"] as? Bool == true, "\(assertion)")
        #expect(assertion["grant_type"] as? String == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        let claims = assertion["claims"] as? [String: Any] ?? [:]
        #expect(claims["target_audience"] as? String == stack.audience)
        #expect(claims["iss"] as? String == key.clientEmail)
        #expect(claims["aud"] as? String == key.tokenURI)
        #expect((assertion["header"] as? [String: Any])?["kid"] as? String == key.privateKeyID)
        let checks = try await stack.tokenChecks()
        #expect(checks.count == 1)
        #expect(checks.first?["valid"] as? Bool == true, "\(checks)")
    }

    @Test("a refused token (401) is refreshed once and the chunk goes through")
    func refreshesOn401() async throws {
        let chunk = ServerHarness.synthChunk("c0", start: 0, count: 1)
        let stack = try await Stack(chunks: [chunk])
        defer { stack.stop() }
        let (adapter, tokens) = stack.adapter()
        // A token the service does not accept (signed by a key it does not know), cached as if still fresh.
        let stranger = try JSONWebToken.signRS256(
            claims: ["aud": .string(stack.audience), "iss": "https://accounts.google.com", "exp": .integer(Int64(Date().timeIntervalSince1970) + 3600)],
            keyID: "rotated-away", key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        await tokens.seed(audience: stack.audience, token: stranger)
        let result = try await adapter.execute(try stack.job(chunk))
        #expect(result.output?.attempt == 1)
        let checks = try await stack.tokenChecks()
        #expect(checks.map { $0["valid"] as? Bool } == [false, true], "\(checks)")
        #expect(await tokens.fetches == 1)
    }

    @Test("tokens are reused until 5 minutes before they expire, then fetched again")
    func tokenExpiry() async throws {
        let metadata = try await GooglePeer.metadata(lifetime: 600)
        defer { metadata.stop() }
        let clock = TestClock()
        let tokens = GoogleIDTokenProvider(source: .metadataServer(host: metadata.host), now: { clock.now })
        let first = try await tokens.token(audience: "https://a.run.app")
        clock.advance(seconds: 290)
        #expect(try await tokens.token(audience: "https://a.run.app") == first)
        #expect(try await tokens.token(audience: "https://b.run.app") != first)
        #expect(await tokens.fetches == 2)
        clock.advance(seconds: 20)  // 310 s of 600: within 5 minutes of expiry
        // Fetched again (the stand-in may mint the same bytes within one second, so the count tells, not the text).
        _ = try await tokens.token(audience: "https://a.run.app")
        #expect(await tokens.fetches == 3)
    }

    @Test("503s from the front are resent with the same attempt; a busy server's 429 halves the concurrency and the chunk is resent")
    func resendsAndThrottles() async throws {
        let chunks = (0..<3).map { ServerHarness.slowChunk("s\($0)", seconds: 1, start: $0 * 2) }
        let stack = try await Stack(chunks: chunks, serverArguments: ["--retry-after", "0"])
        defer { stack.stop() }
        try await stack.front.control(["fail": 2, "status": 503])
        let (adapter, _) = stack.adapter(concurrency: 3, resend: ResendPolicy(maximumResends: 8, base: .milliseconds(50)))
        let results = try await withThrowingTaskGroup(of: WorkerResult.self) { group in
            for chunk in chunks { group.addTask { try await adapter.execute(try stack.job(chunk)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 3)
        #expect(results.allSatisfy { $0.output?.attempt == 1 })
        let log = try await stack.front.log()
        #expect(log.filter { $0["event"] as? String == "fault" }.count == 2)
        #expect(await adapter.gate.lowestLimit < 3)
    }

    @Test("cancelling a chunk closes its request: the adapter returns while the server is still running the chunk, and resends nothing")
    func cancellationClosesTheRequest() async throws {
        let chunk = ServerHarness.slowChunk("slow", seconds: 60)
        let stack = try await Stack(chunks: [chunk])
        defer { stack.stop() }
        let (adapter, _) = stack.adapter()
        let job = try stack.job(chunk)
        let task = Task { try await adapter.execute(job) }
        try await waitUntil { (try? await busyCount(stack.server)) == 1 }
        task.cancel()
        let result = await task.result
        guard case .failure(let error) = result else { Issue.record("a cancelled chunk succeeded"); return }
        #expect(error is CancellationError || (error as? RemoteChunkError)?.failure.message.contains("cancelled") == true, "\(error)")
        // Returned on cancellation, not on the chunk's answer: the server still holds the 60-second chunk.
        #expect(try await busyCount(stack.server) == 1)
        #expect(try await stack.tokenChecks().count == 1, "one request, not resent")
    }

    @Test("after its resends a dead service is a retryable failure for the executor")
    func deadServiceIsRetryable() async throws {
        let chunk = ServerHarness.synthChunk("c0", start: 0, count: 1)
        let harness = try await ServerHarness(chunks: [chunk])
        defer { harness.stop() }
        let port = try loopbackPorts(1)[0]
        let context = RemoteJobContext(spec: harness.spec, store: harness.store, storePrefix: try ArtifactKey("renders"))
        let adapter = CloudRunAdapter(context: context, invoker: CloudRunInvoker(serviceURL: URL(string: "http://127.0.0.1:\(port)")!,
                                                                                 tokens: GoogleIDTokenProvider(source: .none)),
                                      maximumConcurrency: 1, resend: ResendPolicy(maximumResends: 2, base: .milliseconds(10)))
        let directory = harness.home.appendingPathComponent("job")
        do {
            _ = try await adapter.execute(WorkerJob(jobId: "job1", chunkId: "c0", command: chunk.command, workingDirectory: directory))
            Issue.record("a dead service answered")
        } catch let error as RemoteChunkError {
            #expect(error.isRetryable)
            #expect(error.failure.message.contains("could not be reached"), "\(error)")
        }
    }
}

/// A settable clock for token-expiry tests.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date()
    var now: Date { lock.withLock { current } }
    func advance(seconds: Double) { lock.withLock { current = current.addingTimeInterval(seconds) } }
}
