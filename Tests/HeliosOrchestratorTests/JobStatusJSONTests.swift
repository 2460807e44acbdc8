import Foundation
@testable import HeliosOrchestrator
import Testing

/// `JobStatus.compactJSON` writes the per-chunk collections a slice at a time; its bytes must be exactly what
/// `JSONEncoder` gives for the whole status, whatever the slice length, the keys or the members set.
@Suite("Job status: JSON encoded a slice at a time")
struct JobStatusJSONTests {
    /// Chunk ids whose order under `.sortedKeys` is not the order of their numbers, plus case, punctuation,
    /// non-ASCII, escapes and slashes.
    static let ids = ["c10", "c9", "C2", "c01", "c1", "a", "B", "é", "e", "z~", "z_", "q\"uote", "back\\slash", "s/l", "ü", "Z", "\u{1}", "日本"]

    /// A status with every member set and `ids.count + extra` completed chunks.
    static func populated(extra: Int = 0) -> JobStatus {
        let names = ids + (0..<extra).map { "chunk-\($0)" }
        var spec = makeSpec(id: "sliced", chunks: names.count) { "render --frame \($0) \"/out/\($0).mp4\"" }
        for k in spec.chunks.indices { spec.chunks[k].id = names[k] }
        spec.mergeCommand = "merge {inputs}"
        var status = JobStatus(spec: spec, jobDirectory: "/tmp/jobs/sliced", now: Date(timeIntervalSince1970: 1_700_000_000))
        status.apply(contentsOf: names.enumerated().map { k, id in
            ChunkOutcome(chunkId: id, durationMs: Int64(k), attempts: 1 + k % 3, log: k % 2 == 0 ? "line \(k)\nwith \"quotes\" / slash\n" : "",
                         output: ChunkOutputRecord(uri: "s3://bucket/sliced/\(id)/1", bytes: Int64(k * 1000), sha256: String(repeating: "b", count: 64),
                                                   attempt: 1, worker: "lambda:f@\(k % 2)", chunkId: id))
        })
        status.state = .completed
        status.error = "none, \"quoted\""
        status.metrics.totalDurationMs = 1234
        status.metrics.mergeDurationMs = 56
        status.metrics.mergeTailMs = 1.5
        status.metrics.mergeProgressive = true
        status.result = JobResult(outputPath: "/tmp/jobs/sliced/sliced.mp4", merge: MergeSummary(outputPath: "/tmp/jobs/sliced/sliced.mp4", bytes: 99, warnings: 1))
        status.runSettings = RunSettings(concurrency: 4, maxAttempts: 3, chunkTimeoutSeconds: 60, outputPath: "/o.mp4", workers: "local@4", storage: "s3://b/p", audio: "exact")
        status.lease = JobLease(token: "token", pid: 42, startTime: 7, host: "host", acquiredAt: Date(timeIntervalSince1970: 1_700_000_000),
                                heartbeatAt: Date(timeIntervalSince1970: 1_700_000_100), expiresAt: Date(timeIntervalSince1970: 1_700_000_200))
        return status
    }

    static func encodedWhole(_ status: JobStatus) throws -> Data { try JobSpec.makeEncoder(pretty: false).encode(status) }

    @Test("the same bytes as JSONEncoder, for slices of 1, 2, 7 and 256 elements", arguments: [1, 2, 7, 256])
    func sameBytes(sliceLength: Int) throws {
        let status = Self.populated(extra: 600)
        let sliced = try status.compactJSON(sliceLength: sliceLength)
        #expect(sliced == (try Self.encodedWhole(status)))
        #expect(try JobSpec.makeDecoder().decode(JobStatus.self, from: sliced) == status)
    }

    @Test("handed on in pieces: each about the flush length, ending between elements, together the same bytes")
    func pieces() throws {
        let status = Self.populated(extra: 600)
        let whole = try Self.encodedWhole(status)
        var pieces: [Data] = []
        try status.compactJSON(sliceLength: 7, flushingAt: 4_096) { pieces.append($0) }
        #expect(pieces.count > 5, "\(whole.count) bytes in \(pieces.count) pieces")
        #expect(pieces.reduce(Data(), +) == whole)
        // All but the last reached the flush length; none is longer than that plus one slice.
        #expect(pieces.dropLast().allSatisfy { $0.count >= 4_096 && $0.count < 4_096 + 8_192 }, "\(pieces.map(\.count))")
        // Spooled and stored the way the SQLite store stores a large status, it reads back the same.
        let spooled = try SpooledText.write(memoryLimit: 4_096) { try status.compactJSON(flushingAt: 4_096, to: $0) }
        #expect(spooled.isSpooled)
        #expect(try spooled.data() == whole)
    }

    @Test("small collections, none and nil outputs: encoded whole, the same bytes")
    func smallAndEmpty() throws {
        var status = Self.populated()
        #expect(try status.compactJSON() == (try Self.encodedWhole(status)))
        #expect(try status.compactJSON(sliceLength: 3) == (try Self.encodedWhole(status)))
        status.chunkOutputs = nil
        status.chunkLogs = [:]
        #expect(try status.compactJSON(sliceLength: 3) == (try Self.encodedWhole(status)))
        let fresh = JobStatus(spec: makeSpec(id: "fresh", chunks: 1) { "r \($0)" }, jobDirectory: "/tmp/fresh")
        #expect(try fresh.compactJSON(sliceLength: 1) == (try Self.encodedWhole(fresh)))
    }

    @Test("an emptied member is found only where it occurs once; twice means the status is encoded whole")
    func placesAreUnique() {
        let pattern = Array("\"chunks\":[]".utf8)
        #expect(JobStatus.ranges(of: pattern, in: Data("{\"a\":1}".utf8)).isEmpty)
        #expect(JobStatus.ranges(of: pattern, in: Data("{\"chunks\":[],\"id\":\"x\"}".utf8)) == [1..<12])
        #expect(JobStatus.ranges(of: pattern, in: Data("{\"chunks\":[],\"m\":{\"chunks\":[]}}".utf8)).count == 2)
        // Inside a string the quotes are escaped, so the text cannot match there.
        #expect(JobStatus.ranges(of: pattern, in: Data(#"{"s":"\"chunks\":[]"}"#.utf8)).isEmpty)
    }
}
