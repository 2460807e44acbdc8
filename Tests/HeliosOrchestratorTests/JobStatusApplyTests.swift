import Foundation
@testable import HeliosOrchestrator
import Testing

/// Recording completions in a status: the first accepted output of a chunk stays (a late attempt never replaces
/// it), a repeated completion counts once, and one by one or all at once give the same status.
@Suite("Job status: recording chunk completions")
struct JobStatusApplyTests {
    static func status(chunks: Int) -> JobStatus {
        JobStatus(spec: makeSpec(id: "apply", chunks: chunks) { "render \($0)" }, jobDirectory: "/tmp/jobs/apply",
                  now: Date(timeIntervalSince1970: 1_700_000_000))
    }

    static func outcome(_ chunk: Int, attempt: Int) -> ChunkOutcome {
        ChunkOutcome(chunkId: "c\(chunk)", durationMs: Int64(10 + attempt), attempts: attempt, log: "attempt \(attempt)\n",
                     output: ChunkOutputRecord(uri: "s3://bucket/apply/c\(chunk)/\(attempt)", bytes: 100, sha256: String(repeating: "a", count: 64),
                                               attempt: attempt, worker: "lambda", chunkId: "c\(chunk)"))
    }

    /// Chunks 0..<n completed by attempt 1, then chunk 1 again by a late attempt 2.
    static let outcomes = (0..<5).map { outcome($0, attempt: 1) } + [outcome(1, attempt: 2)]

    @Test("the first accepted output stays; a repeat counts once")
    func firstOutputStays() {
        var status = Self.status(chunks: 5)
        let copy = status
        for outcome in Self.outcomes { status.apply(outcome) }
        #expect(status.completedChunkIds == ["c0", "c1", "c2", "c3", "c4"])
        #expect(status.completedChunks == 5 && status.progress == 1)
        #expect(status.chunkOutputs?["c1"]?.attempt == 1)
        #expect(status.chunkOutputs?.count == 5)
        // A value: the copy taken before is untouched by the in-place updates.
        #expect(copy.chunkOutputs == nil && copy.completedChunkIds.isEmpty)
    }

    @Test("one by one and all at once give the same status")
    func batchEqualsSteps() {
        var steps = Self.status(chunks: 5), batch = Self.status(chunks: 5)
        for outcome in Self.outcomes { steps.apply(outcome) }
        batch.apply(contentsOf: Self.outcomes)
        #expect(steps == batch)
    }
}
