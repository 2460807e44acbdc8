import Foundation
@testable import HeliosOrchestrator
import Testing

/// What a progressive test merger saw, shared with the test: appends in the order made, discards, finishes.
final class MergeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var appendedIds: [String] = []
    private var discards = 0
    private var finishes = 0

    func appended(_ id: String) { lock.withLock { appendedIds.append(id) } }
    func discarded() { lock.withLock { discards += 1 } }
    func finished() { lock.withLock { finishes += 1 } }
    var appends: [String] { lock.withLock { appendedIds } }
    var discardCount: Int { lock.withLock { discards } }
    var finishCount: Int { lock.withLock { finishes } }
}

/// Why the concatenating session refused a chunk.
struct ChunkDoesNotFit: Error, CustomStringConvertible {
    var chunkId: String
    var description: String { "chunk \(chunkId) does not fit: its bytes start with 'bad'" }
}

/// A progressive merger with no media knowledge: each append fetches the chunk through the real fetcher (size and
/// SHA-256 verified) and appends its bytes to a temp file beside the output, which `finish` renames into place. A
/// chunk whose bytes start with "bad" does not fit. `gate`, when set, holds every append until that file exists.
struct ConcatProgressiveMerger: ProgressiveChunkMerger {
    var log = MergeLog()
    var gate: URL?

    func merge(_ records: [ChunkOutputRecord], into output: URL) async throws -> MergeSummary {
        try await ConcatMerger().merge(records, into: output)
    }

    func begin(into output: URL, jobId: String, expectedChunks: Int) async throws -> any ProgressiveMergeSession {
        ConcatSession(output: output, log: log, gate: gate)
    }
}

actor ConcatSession: ProgressiveMergeSession {
    let output: URL
    let temp: URL
    let log: MergeLog
    let gate: URL?
    var bytes = 0

    init(output: URL, log: MergeLog, gate: URL?) {
        self.output = output
        self.temp = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).partial")
        self.log = log
        self.gate = gate
        _ = FileManager.default.createFile(atPath: temp.path, contents: nil)
    }

    func append(_ record: ChunkOutputRecord) async throws {
        if let gate {
            while !FileManager.default.fileExists(atPath: gate.path) { try await Task.sleep(for: .milliseconds(20)) }
        }
        let file = try await ChunkOutputFetcher.standard().fetch([record], staging: temp.deletingLastPathComponent())[0]
        let data = try Data(contentsOf: file)
        let chunkId = record.chunkId ?? "?"
        if data.starts(with: Data("bad".utf8)) { throw ChunkDoesNotFit(chunkId: chunkId) }
        let handle = try FileHandle(forWritingTo: temp)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
        bytes += data.count
        log.appended(chunkId)
    }

    func finish() async throws {
        try? FileManager.default.removeItem(at: output)
        try FileManager.default.moveItem(at: temp, to: output)
        log.finished()
    }

    func summary() async throws -> MergeSummary { MergeSummary(outputPath: output.path, bytes: Int64(bytes)) }

    func discard() async {
        try? FileManager.default.removeItem(at: temp)
        log.discarded()
    }
}

@Suite("Progressive merge: in-order release and JobManager", .timeLimit(.minutes(6)))
struct ProgressiveMergeTests {
    @Test func releaseIsInTimelineOrderWhateverTheCompletionOrder() {
        var release = InOrderRelease<Int>(order: ["a", "b", "c", "d", "e"])
        #expect(release.complete("c", 2).isEmpty)
        #expect(release.complete("b", 1).isEmpty)
        #expect(release.complete("a", 0).map(\.chunkId) == ["a", "b", "c"])
        #expect(release.released == 3 && !release.isComplete)
        #expect(release.complete("b", 9).isEmpty, "a chunk already released is not released again")
        #expect(release.complete("zz", 9).isEmpty, "an unknown chunk is ignored")
        #expect(release.complete("e", 4).isEmpty)
        #expect(release.complete("e", 8).isEmpty, "the first value of a chunk is kept")
        let last = release.complete("d", 3)
        #expect(last.map(\.chunkId) == ["d", "e"] && last.map(\.value) == [3, 4])
        #expect(release.isComplete)
        // Positions in the timeline, releases or not: the first place of a repeated id, nil for an unknown one.
        #expect(release.index(of: "d") == 3 && release.index(of: "zz") == nil)
        #expect(InOrderRelease<Int>(order: ["x", "y", "x"]).index(of: "x") == 0)
    }

    @Test func positionsAreFoundFarFromTheReleasePointAndBehindIt() {
        // Unique ids are looked up by a scan from the release point; a chunk far ahead (one chunk held the rest
        // back) and chunks already released must be found all the same.
        let ids = (0..<500).map { "chunk-\($0)" }
        var release = InOrderRelease<Int>(order: ids)
        for i in stride(from: 499, through: 1, by: -1) {
            #expect(release.index(of: ids[i]) == i)
            #expect(release.complete(ids[i], i).isEmpty)
        }
        #expect(release.complete(ids[0], 0).map(\.value) == Array(0..<500))
        #expect(release.isComplete)
        #expect(release.index(of: "chunk-0") == 0 && release.index(of: "chunk-250") == 250 && release.index(of: "chunk-500") == nil)
        #expect(release.complete("chunk-3", 9).isEmpty, "a chunk already released is not released again")
        // Repeated ids keep their first place, before and after the release point passes them.
        var repeated = InOrderRelease<Int>(order: ["x", "y", "x", "z"])
        #expect(repeated.complete("x", 0).map(\.chunkId) == ["x"])
        #expect(repeated.index(of: "x") == 0 && repeated.index(of: "z") == 3)
        #expect(repeated.complete("y", 1).map(\.chunkId) == ["y"])
        #expect(repeated.complete("x", 2).isEmpty, "the second place of a repeated id is never filled by it")
    }

    @Test func everyPermutationOfFourReleasesInOrderExactlyOnce() {
        let ids = ["c0", "c1", "c2", "c3"]
        func permutations(_ items: [String]) -> [[String]] {
            items.count <= 1 ? [items] : items.indices.flatMap { i in
                permutations(Array(items[..<i] + items[(i + 1)...])).map { [items[i]] + $0 }
            }
        }
        for order in permutations(ids) {
            var release = InOrderRelease<String>(order: ids)
            let out = order.flatMap { release.complete($0, $0).map(\.value) }
            #expect(out == ids, "completion order \(order)")
        }
    }

    @Test func outOfOrderChunksAreAppendedInOrderWhileLaterChunksStillRun() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        // Chunk 0 waits for "first", chunk 5 for "last"; 1-4 finish at once: they complete before chunk 0.
        let spec = makeSpec(id: "prog", chunks: 6) { i in
            let wait = i == 0 ? waitForFile("first") + "; " : i == 5 ? waitForFile("last") + "; " : ""
            return "/bin/sh -c '\(wait)printf \(i), > out/c\(i).bin'"
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        let merger = ConcatProgressiveMerger()
        var options = testOptions(concurrency: 6)
        options.merger = merger
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self)
        let collected = Task { await events.reduce(into: [JobEvent]()) { $0.append($1) } }
        let run = Task { try await manager.run("prog", options: options, events: continuation) }
        try #require(await waitUntil { (try? await manager.get("prog").completedChunks) == 4 })
        #expect(merger.log.appends.isEmpty, "nothing is released while chunk 0 is missing")
        try openGate("first", in: dir)
        // Chunks 0-4 reach the merge while chunk 5 is still running.
        #expect(await waitUntil { merger.log.appends.count == 5 })
        #expect(try await manager.get("prog").state == .running)
        #expect(merger.log.finishCount == 0)
        try openGate("last", in: dir)
        let status = try await run.value
        #expect(status.state == .completed, "\(status.error ?? "")")
        #expect(merger.log.appends == ["c0", "c1", "c2", "c3", "c4", "c5"])
        #expect(merger.log.finishCount == 1 && merger.log.discardCount == 0)
        #expect(dir.read("prog.bin") == "0,1,2,3,4,5,")
        #expect(status.result?.merge?.bytes == 12)
        #expect(status.metrics.mergeProgressive == true)
        let tail = try #require(status.metrics.mergeTailMs)
        #expect(tail >= 0 && status.metrics.mergeDurationMs != nil)
        #expect(!FileManager.default.fileExists(atPath: dir.path(".prog.bin.partial")))
        let all = await collected.value
        #expect(all.contains(.merging(chunks: 6)))
        // The merge tail starts after the last chunk: `merging` comes after every chunk's completion.
        let merging = try #require(all.firstIndex(of: .merging(chunks: 6)))
        #expect(!all[merging...].contains { if case .chunkCompleted = $0 { true } else { false } })
    }

    @Test func aBlockedAppendNeverHoldsUpTheChunks() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        let spec = makeSpec(id: "slowmerge", chunks: 8) { i in "/bin/sh -c 'printf \(i) > out/c\(i).bin'" }
        try await manager.submit(spec, jobDirectory: dir.url)
        // Every append waits for "appends": the executor must still start and complete all 8 chunks (at 2 at a time).
        let merger = ConcatProgressiveMerger(gate: dir.url.appendingPathComponent("appends"))
        var options = testOptions(concurrency: 2)
        options.merger = merger
        let run = Task { try await manager.run("slowmerge", options: options) }
        #expect(await waitUntil { (try? await manager.get("slowmerge").completedChunks) == 8 })
        #expect(merger.log.appends.isEmpty)
        try openGate("appends", in: dir)
        let status = try await run.value
        #expect(status.state == .completed, "\(status.error ?? "")")
        #expect(dir.read("slowmerge.bin") == "01234567")
        #expect(merger.log.appends == (0..<8).map { "c\($0)" })
    }

    @Test func aChunkThatDoesNotFitFailsTheJobAndStopsTheRunningChunks() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path("started"), withIntermediateDirectories: true)
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        // Chunk 1 writes bytes the merger refuses; chunk 2 never ends; with 2 at a time, chunks 3-5 never start.
        let spec = makeSpec(id: "misfit", chunks: 6) { i in
            switch i {
            case 1: "/bin/sh -c 'touch started/1; printf bad > out/c1.bin'"
            case 0: "/bin/sh -c 'touch started/0; printf ok > out/c0.bin'"
            default: "/bin/sh -c 'touch started/\(i); \(runForever) & echo $! > pids/\(i); wait'"
            }
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        let merger = ConcatProgressiveMerger()
        var options = testOptions(concurrency: 2)
        options.merger = merger
        let status = try await manager.run("misfit", options: options)
        let children = pids(in: dir.path("pids"))
        defer { killSurvivors(children) }
        #expect(status.state == .failed)
        let error = try #require(status.error)
        #expect(error.contains("merge failed") && error.contains("chunk c1 does not fit"), "\(error)")
        #expect(merger.log.appends == ["c0"])
        #expect(merger.log.discardCount == 1 && merger.log.finishCount == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path("misfit.bin")))
        #expect(!FileManager.default.fileExists(atPath: dir.path(".misfit.bin.partial")))
        let started = Set((try? FileManager.default.contentsOfDirectory(atPath: dir.path("started"))) ?? [])
        #expect(started.isSubset(of: ["0", "1", "2", "3"]), "at most the chunks in flight when the merge failed started: \(started)")
        for pid in children { #expect(await waitUntil { !isProcessAlive(pid) }, "chunk child \(pid) survived") }
    }

    @Test func pauseDiscardsTheSessionAndResumeAppendsEarlierChunksFirst() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        let spec = makeSpec(id: "again", chunks: 5) { i in
            "/bin/sh -c '" + (i == 3 ? waitForFile("go") + "; " : "") + "printf \(i) > out/c\(i).bin'"
        }
        try await manager.submit(spec, jobDirectory: dir.url)
        let first = ConcatProgressiveMerger()
        var options = testOptions(concurrency: 1)
        options.merger = first
        let firstOptions = options
        let run = Task { try await manager.run("again", options: firstOptions) }
        try #require(await waitUntil { first.log.appends.count == 3 })
        try await manager.pause("again")
        let paused = try await run.value
        #expect(paused.state == .paused)
        #expect(first.log.discardCount == 1 && first.log.finishCount == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path("again.bin")))

        try openGate("go", in: dir)
        let second = ConcatProgressiveMerger()
        options.merger = second
        let done = try await manager.resume("again", options: options)
        #expect(done.state == .completed, "\(done.error ?? "")")
        #expect(second.log.appends == ["c0", "c1", "c2", "c3", "c4"], "the merge starts again: earlier chunks first, in order")
        #expect(dir.read("again.bin") == "01234")
        #expect(done.metrics.mergeProgressive == true && done.metrics.mergeTailMs != nil)
    }

    @Test func batchMergersRecordTheirTailToo() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(makeSpec(id: "batch", chunks: 3) { i in "/bin/sh -c 'printf \(i) > out/c\(i).bin'" }, jobDirectory: dir.url)
        let status = try await manager.run("batch", options: testOptions())
        #expect(status.state == .completed && dir.read("batch.bin") == "012")
        #expect(status.metrics.mergeProgressive == false)
        let tail = try #require(status.metrics.mergeTailMs)
        #expect(tail >= Double(status.metrics.mergeDurationMs ?? .max), "the tail holds the whole batch merge")
    }

    @Test func metricsWithoutTheTailStillDecode() throws {
        let old = Data(#"{"totalDurationMs":5,"mergeDurationMs":2,"chunks":{}}"#.utf8)
        let metrics = try JSONDecoder().decode(JobMetrics.self, from: old)
        #expect(metrics.mergeTailMs == nil && metrics.mergeProgressive == nil && metrics.mergeDurationMs == 2)
        // Whole milliseconds, as statuses stored before the tail kept microseconds, still decode.
        let whole = Data(#"{"totalDurationMs":5,"mergeTailMs":3,"chunks":{}}"#.utf8)
        #expect(try JSONDecoder().decode(JobMetrics.self, from: whole).mergeTailMs == 3)
        #expect(JobManager.fractionalMilliseconds(.microseconds(2_413)) == 2.413)
        #expect(JobManager.fractionalMilliseconds(.seconds(1) + .nanoseconds(999)) == 1000)
        let encoded = try JSONEncoder().encode(JobMetrics(totalDurationMs: 5, mergeDurationMs: 2, mergeTailMs: 1.25, mergeProgressive: true))
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(text.contains(#""mergeTailMs":1.25"#) && text.contains(#""mergeProgressive":true"#))
    }
}
