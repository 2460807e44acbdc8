import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import HeliosWorkers
import Testing

/// `helios-worker serve` as a real process on loopback: real chunk commands, a real local store, AsyncHTTPClient
/// as the caller.
@Suite(.serialized) struct WorkerServerTests {
    @Test("a chunk is served: 200 with a succeeded response, the output stored under its attempt key; /healthz answers; logs are JSON lines with severity")
    func servesAChunk() async throws {
        let chunk = ServerHarness.synthChunk("c1", start: 3, count: 2)
        let harness = try await ServerHarness(chunks: [ServerHarness.synthChunk("c0", start: 0, count: 3), chunk])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(environment: harness.environment)
        defer { server.stop() }

        let health = try await exchange(server.url + "/healthz", method: "GET")
        #expect(health.status == 200)
        #expect(String(decoding: health.body, as: UTF8.self).contains("\"status\":\"ok\""))

        let answer = try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(chunk)),
                                        headers: [("Content-Type", "application/json")])
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self)) \(server.output)")
        let response = try #require(answer.response)
        #expect(response.status == .succeeded)
        let key = try ArtifactKey("renders/job1/chunks/c1/attempt-1/c1.mp4")
        #expect(response.output?.uri == harness.store.uri(for: key))
        let stored = try await harness.store.metadata(key)
        #expect(stored.sha256 == response.output?.sha256)
        let local = harness.home.appendingPathComponent("c1.mp4")
        _ = try await harness.store.download(key, to: local)
        #expect(try await Oracle.frameHashes(local).count == 2)

        let lines = server.logLines
        #expect(lines.contains { $0["message"] as? String == "listening" && $0["severity"] as? String == "NOTICE" })
        #expect(lines.contains { $0["message"] as? String == "chunk" && $0["chunk"] as? String == "c1" && $0["severity"] as? String == "INFO" })
        #expect(lines.allSatisfy { $0["severity"] != nil && $0["time"] != nil })
    }

    @Test("with Accept: application/x-ndjson the answer streams progress and heartbeat lines, then the response")
    func streamsProgress() async throws {
        let chunk = ServerHarness.slowChunk("slow", seconds: 2)
        let harness = try await ServerHarness(chunks: [chunk])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(["--heartbeat", "0.3"], environment: harness.environment)
        defer { server.stop() }

        let answer = try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(chunk)),
                                        headers: [("Accept", "application/x-ndjson")])
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"] == "application/x-ndjson")
        let lines = answer.lines
        let phases = lines.compactMap { line -> ChunkProgress.Phase? in if case .progress(let p) = line { p.phase } else { nil } }
        // helios-synth reports its frames through HELIOS_PROGRESS_FILE, so `rendering` may repeat with counts.
        #expect(phases.reduce(into: [ChunkProgress.Phase]()) { if $0.last != $1 { $0.append($1) } } == [.accepted, .rendering, .rendered, .uploaded], "\(lines)")
        #expect(lines.contains { if case .heartbeat = $0 { true } else { false } })
        guard case .response(let response)? = lines.last else { Issue.record("the last line is not the response: \(lines)"); return }
        #expect(response.status == .succeeded)
        let uploaded = lines.compactMap { line -> ChunkProgress? in if case .progress(let p) = line, p.phase == .uploaded { p } else { nil } }.first
        #expect(uploaded?.bytesUploaded == response.output?.bytes)
        #expect(uploaded?.framesDone == 2)
    }

    @Test("frames done stream while the command runs: each count it writes to HELIOS_PROGRESS_FILE becomes a rendering line, in order, at most the frame count")
    func streamsFramesDone() async throws {
        // A renderer that reports frames 1, 2 and 3 a second apart (an over-count of 99 is capped), then renders.
        let command = "sh -c 'for n in 1 2 3 99; do echo $n > \"$HELIOS_PROGRESS_FILE.tmp\" && mv \"$HELIOS_PROGRESS_FILE.tmp\" \"$HELIOS_PROGRESS_FILE\"; sleep 1; done; exec helios-synth render --start-frame 0 --frame-count 3 --size 160x96 -o out/p.mp4'"
        let chunk = RenderJobChunk(id: "p", startFrame: 0, frameCount: 3, outputFile: "out/p.mp4", command: command)
        let harness = try await ServerHarness(chunks: [chunk])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(environment: harness.environment)
        defer { server.stop() }

        let answer = try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(chunk)),
                                        headers: [("Accept", "application/x-ndjson")])
        #expect(answer.status == 200)
        let counts = answer.lines.compactMap { line -> Int? in
            if case .progress(let p) = line, p.phase == .rendering, p.framesDone > 0 { p.framesDone } else { nil }
        }
        #expect(!counts.isEmpty, "\(answer.lines)")
        #expect(counts == counts.sorted() && Set(counts).count == counts.count, "\(counts)")
        #expect(counts.allSatisfy { $0 <= 3 }, "\(counts)")
        #expect(counts.contains(1) || counts.contains(2), "counts heard while the command ran: \(counts)")
        guard case .response(let response)? = answer.lines.last else { Issue.record("no response line: \(answer.lines)"); return }
        #expect(response.status == .succeeded)

        // helios-synth itself keeps the convention: its file ends holding the frames it rendered.
        let file = harness.home.appendingPathComponent("progress")
        let rendered = try await Shell.run("/usr/bin/env", ["HELIOS_PROGRESS_FILE=\(file.path)",
                                                            builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                                            "render", "--start-frame", "0", "--frame-count", "12", "--size", "160x96",
                                                            "-o", harness.home.appendingPathComponent("p12.mp4").path])
        #expect(rendered.status == 0, "\(rendered.stderr)")
        #expect(try String(contentsOf: file, encoding: .utf8) == "12\n")
        #expect(!FileManager.default.fileExists(atPath: file.path + ".partial"))
    }

    @Test("a second chunk while one runs gets 429 with Retry-After; a body over the limit gets 413; a malformed one 400")
    func limits() async throws {
        let slow = ServerHarness.slowChunk("slow", seconds: 3)
        let harness = try await ServerHarness(chunks: [slow])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(["--max-request-bytes", "4096", "--retry-after", "7"], environment: harness.environment)
        defer { server.stop() }

        let first = Task { try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow))) }
        // Wait until the first chunk holds the slot.
        var busy = 0
        for _ in 0..<200 where busy == 0 {
            try await Task.sleep(for: .milliseconds(25))
            let health = try await exchange(server.url + "/healthz", method: "GET")
            busy = (try? JSONSerialization.jsonObject(with: health.body) as? [String: Any])?["busy"] as? Int ?? 0
        }
        #expect(busy == 1)
        let second = try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow, attempt: 2)))
        #expect(second.status == 429)
        #expect(second.headers["retry-after"] == "7")
        #expect(second.response?.error?.type == .retryable)

        let big = Data(repeating: 0x20, count: 5000)
        let tooLarge = try await exchange(server.url + "/v1/chunks", body: big)
        #expect(tooLarge.status == 413)
        #expect(tooLarge.response?.error?.type == .badRequest)

        #expect(try await first.value.response?.status == .succeeded)
        let malformed = try await exchange(server.url + "/v1/chunks", body: Data("{\"version\":1}".utf8))
        #expect(malformed.status == 400)
        #expect(malformed.response?.error?.message.contains("missing field") == true)
    }

    @Test("--max-concurrent-chunks 2 runs two chunks at once, each in its own workspace and under its own attempt key; a third gets 429")
    func twoChunksAtOnce() async throws {
        let slow = ServerHarness.slowChunk("slow", seconds: 3)
        let harness = try await ServerHarness(chunks: [slow])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(["--max-concurrent-chunks", "2", "--retry-after", "5"], environment: harness.environment)
        defer { server.stop() }

        let first = Task { try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow, attempt: 1))) }
        let second = Task { try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow, attempt: 2))) }
        // Both hold a slot at the same time: the chunk commands sleep 3 s, so neither can have finished.
        try await waitUntil { (try? await busyCount(server)) == 2 }
        let third = try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow, attempt: 3)))
        #expect(third.status == 429)
        #expect(third.headers["retry-after"] == "5")
        #expect(third.response?.error?.type == .retryable)

        for (attempt, task) in [(1, first), (2, second)] {
            let answer = try await task.value
            #expect(answer.status == 200)
            let response = try #require(answer.response)
            #expect(response.status == .succeeded, "\(response.error?.description ?? "")")
            let key = try ArtifactKey("renders/job1/chunks/slow/attempt-\(attempt)/slow.mp4")
            #expect(response.output?.uri == harness.store.uri(for: key))
            #expect(try await harness.store.metadata(key).sha256 == response.output?.sha256)
        }
        #expect(!(try await harness.store.exists(try ArtifactKey("renders/job1/chunks/slow/attempt-3/slow.mp4"))))
        #expect(try await busyCount(server) == 0)
    }

    @Test("SIGTERM with a chunk running: it finishes within the grace period, new chunks get 503, and the server exits 0")
    func sigtermFinishesInFlight() async throws {
        let slow = ServerHarness.slowChunk("slow", seconds: 2)
        let harness = try await ServerHarness(chunks: [slow])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(["--shutdown-grace", "30"], environment: harness.environment)
        defer { server.stop() }

        let first = Task { try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow))) }
        try await waitUntil { (try? await busyCount(server)) == 1 }
        server.signal(SIGTERM)
        try await waitUntil { server.output.contains("\"draining\"") }
        let refused = try? await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow, attempt: 2)))
        // Still listening while it drains: a new chunk is refused as retryable.
        #expect(refused?.status == 503)
        #expect(refused?.response?.error?.type == .retryable)
        let answer = try await first.value
        #expect(answer.status == 200)
        #expect(answer.response?.status == .succeeded)
        #expect(await server.waitForExit() == 0)
    }

    @Test("SIGTERM with a chunk that outlasts the grace period: the chunk is stopped, answers 503 with a retryable error, nothing is stored, and the server exits 0")
    func sigtermStopsLongChunk() async throws {
        let slow = ServerHarness.slowChunk("slow", seconds: 60)
        let harness = try await ServerHarness(chunks: [slow])
        defer { harness.stop() }
        let server = try await WorkerServerProcess.built(["--shutdown-grace", "0.5"], environment: harness.environment)
        defer { server.stop() }

        let first = Task { try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(slow))) }
        try await waitUntil { (try? await busyCount(server)) == 1 }
        server.signal(SIGTERM)
        let answer = try await first.value
        #expect(answer.status == 503)
        #expect(answer.response?.error?.type == .retryable, "\(String(decoding: answer.body, as: UTF8.self))")
        #expect(answer.response?.error?.message.contains("shutting down") == true)
        #expect(await server.waitForExit() == 0)
        #expect(try await harness.store.exists(try ArtifactKey("renders/job1/chunks/slow/attempt-1/slow.mp4")) == false)
    }
}

func busyCount(_ server: WorkerServerProcess) async throws -> Int {
    let health = try await exchange(server.url + "/healthz", method: "GET", timeout: .seconds(5))
    return (try JSONSerialization.jsonObject(with: health.body) as? [String: Any])?["busy"] as? Int ?? -1
}

/// Polls `condition` every 25 ms for at most 120 s (the whole suite runs in parallel on two cores).
func waitUntil(_ condition: () async -> Bool) async throws {
    for _ in 0..<4800 {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("condition not met within 120 s")
}
