import Foundation
import Testing
@testable import HeliosWorkers

@Suite struct ChunkProtocolTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func request(outputFile: String = "chunks/c0.mp4", spec: ChunkRequest.SpecSource = .url("s3://bucket/jobs/j1/spec.json"),
                        output: ChunkRequest.OutputTarget = .store(prefix: "s3://bucket/jobs")) -> ChunkRequest {
        ChunkRequest(jobId: "j1", chunk: .init(id: "c0", startFrame: 0, frameCount: 30, command: "helios-synth render --start 0 --frames 30 -o chunks/c0.mp4", outputFile: outputFile),
                     attempt: 1, spec: spec, assetsManifest: "file:///tmp/m.json", output: output,
                     deadlineMs: Int64(now.timeIntervalSince1970 * 1000) + 60_000)
    }

    static func json(_ request: ChunkRequest) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as! [String: Any]
    }

    static func decode(_ object: [String: Any]) -> Result<ChunkRequest, WorkerFailure> {
        let data = try! JSONSerialization.data(withJSONObject: object)
        do { return .success(try ChunkRequest.decode(data, now: now)) } catch { return .failure(error) }
    }

    @Test func roundTripsEveryShape() throws {
        for request in [Self.request(), Self.request(spec: .inline("{}")),
                        Self.request(output: .presignedPut(url: "https://h/b/k?X-Amz-Signature=1", uri: "s3://b/k"))] {
            let decoded = try ChunkRequest.decode(request.encoded(limit: 6_000_000), now: Self.now)
            #expect(decoded == request)
        }
    }

    @Test func everyMalformedRequestIsABadRequestNamingTheProblem() throws {
        var cases: [(String, [String: Any])] = []
        let base = try Self.json(Self.request())
        var unknownVersion = base; unknownVersion["version"] = 99; cases.append(("unsupported protocol version 99", unknownVersion))
        var noVersion = base; noVersion["version"] = nil; cases.append(("no integer 'version'", noVersion))
        var noJob = base; noJob["jobId"] = nil; cases.append(("missing field 'jobId'", noJob))
        var chunk = base["chunk"] as! [String: Any]; chunk["command"] = nil
        var noCommand = base; noCommand["chunk"] = chunk; cases.append(("missing field 'chunk.command'", noCommand))
        for (bad, why) in [("../x.mp4", "escapes the workspace"), ("/etc/passwd", "is absolute"), ("a//b.mp4", "not normal"), ("a\\b", "backslash")] {
            var chunk = base["chunk"] as! [String: Any]; chunk["outputFile"] = bad
            var request = base; request["chunk"] = chunk; cases.append((why, request))
        }
        var ftp = base; ftp["spec"] = ["url": "ftp://host/spec.json"]; cases.append(("unsupported scheme 'ftp'", ftp))
        var gopher = base; gopher["assetsManifest"] = "gopher://x/y"; cases.append(("unsupported scheme 'gopher'", gopher))
        var httpStore = base; httpStore["output"] = ["storePrefix": "https://bucket/jobs"]; cases.append(("unsupported scheme 'https'", httpStore))
        var noBucket = base; noBucket["output"] = ["storePrefix": "s3:///jobs"]; cases.append(("no host or bucket", noBucket))
        var late = base; late["deadlineMs"] = 1_000; cases.append(("already passed", late))
        var zero = base; zero["attempt"] = 0; cases.append(("attempt 0", zero))
        var badId = base; badId["jobId"] = "a/b"; cases.append(("invalid jobId", badId))
        for (expected, object) in cases {
            switch Self.decode(object) {
            case .success: Issue.record("accepted a request with \(expected)")
            case .failure(let failure):
                #expect(failure.type == .badRequest)
                #expect(failure.message.contains(expected), "\(failure.message) should say \(expected)")
            }
        }
        for garbage in [Data(), Data("[1]".utf8), Data("{".utf8), Data([0xff, 0xfe])] {
            #expect(throws: WorkerFailure.self) { try ChunkRequest.decode(garbage, now: Self.now) }
        }
    }

    @Test func refusesARequestLargerThanThePlatformAllowsBeforeSending() throws {
        let big = Self.request(spec: .inline(String(repeating: "x", count: 7_000_000)))
        do {
            _ = try big.encoded(limit: 6 * 1024 * 1024)
            Issue.record("a 7 MB request was accepted")
        } catch {
            #expect(error.type == .badRequest)
            #expect(error.message.contains("send the spec through storage"))
        }
    }

    @Test func responsesStayWithinTheirLimitAndKeepTheTails() throws {
        let stderr = String(repeating: "é", count: 400_000) + "THE END"
        let response = ChunkResponse.failure(WorkerFailure(.deterministic, String(repeating: "m", count: 300_000)),
                                             exitCode: 1, stdoutTail: String(repeating: "o", count: 500_000), stderrTail: stderr)
        let data = response.encodedWithinLimit()
        #expect(data.count <= ChunkResponse.maximumBytes)
        let decoded = try JSONDecoder().decode(ChunkResponse.self, from: data)
        #expect(decoded.stderrTail.hasSuffix("THE END"))
        #expect(decoded.error?.type == .deterministic)
        #expect(decoded.exitCode == 1)
        let small = ChunkResponse(status: .succeeded, exitCode: 0, output: .init(uri: "s3://b/k", bytes: 5, sha256: "ab"), durationMs: 3)
        #expect(try JSONDecoder().decode(ChunkResponse.self, from: small.encodedWithinLimit()) == small)
    }

    @Test func retryabilityFollowsTheErrorType() {
        #expect(WorkerFailure(.retryable, "").isRetryable)
        #expect(WorkerFailure(.timeout, "").isRetryable)
        #expect(!WorkerFailure(.deterministic, "").isRetryable)
        #expect(!WorkerFailure(.badRequest, "").isRetryable)
        #expect(ChunkRequest.outputKey(jobId: "j", chunkId: "c3", attempt: 2, file: "c3.mp4") == "j/chunks/c3/attempt-2/c3.mp4")
    }
}
