import Foundation
import HeliosOrchestrator
import Testing

/// The two stores under test.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case files, sqlite
    var testDescription: String { rawValue }
    func make(_ dir: TempDir) throws -> any JobRepository {
        switch self {
        case .files: try FileJobRepository(directory: dir.url.appendingPathComponent("store"))
        case .sqlite: try SQLiteJobRepository(path: dir.path("store/jobs.sqlite"))
        }
    }
}

@Suite("Job repository conformance")
struct JobRepositoryTests {
    func status(_ id: String, chunks: Int = 2) -> JobStatus {
        JobStatus(spec: makeSpec(id: id, chunks: chunks) { "render \($0)" }, jobDirectory: "/tmp/jobs/\(id)",
                  now: Date(timeIntervalSince1970: 1_700_000_000 + Double(id.hashValue % 1000)))
    }

    /// A running job held by lease "mine" until `expiresAt`.
    func running(_ id: String, chunks: Int, since t0: Date, expiresAt: Date) -> JobStatus {
        var s = status(id, chunks: chunks)
        s.state = .running
        s.lease = JobLease(token: "mine", pid: 42, startTime: nil, host: "h", acquiredAt: t0, heartbeatAt: t0, expiresAt: expiresAt)
        return s
    }

    /// A store of `kind` in a new directory (the caller cleans it up) holding job `id`, running under lease "mine"
    /// since t0 until t0 + `lease` seconds, with chunk c1's completion recorded apart from the status.
    func runningWithOneCompletion(_ id: String, kind: StoreKind, lease: TimeInterval)
        async throws -> (dir: TempDir, repo: any JobRepository, t0: Date, status: JobStatus) {
        let dir = try TempDir()
        let repo = try kind.make(dir)
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let s = running(id, chunks: 3, since: t0, expiresAt: t0 + lease)
        try await repo.insert(s)
        try await repo.appendChunkCompletion(ChunkOutcome(chunkId: "c1", durationMs: 5, attempts: 1), jobId: id)
        return (dir, repo, t0, s)
    }

    @Test(arguments: StoreKind.allCases)
    func insertLoadSaveListDelete(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        var a = status("a")
        try await repo.insert(a)
        try await repo.insert(status("b"))
        await #expect(throws: OrchestratorError.jobExists(id: "a")) { try await repo.insert(a) }
        #expect(try await repo.load("a") == a)

        a.state = .running
        a.completedChunkIds = ["c0"]
        a.metrics.chunks["c0"] = ChunkMetrics(durationMs: 12, attempts: 2)
        a.chunkLogs["c0"] = "last line\n"
        try await repo.save(a)
        #expect(try await repo.load("a") == a)
        // A second instance (another process) sees the same record.
        #expect(try await kind.make(dir).load("a") == a)

        let listing = try await repo.list()
        #expect(Set(listing.jobs.map(\.id)) == ["a", "b"])
        #expect(listing.problems.isEmpty)

        try await repo.delete("b")
        await #expect(throws: OrchestratorError.jobNotFound(id: "b")) { _ = try await repo.load("b") }
        await #expect(throws: OrchestratorError.jobNotFound(id: "b")) { try await repo.delete("b") }
        #expect(try await repo.list().jobs.map(\.id) == ["a"])
    }

    @Test(arguments: StoreKind.allCases)
    func chunkCompletionsAreDurableWithoutRewritingTheStatus(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        var s = status("inc", chunks: 3)
        try await repo.insert(s)
        try await repo.appendChunkCompletion(ChunkOutcome(chunkId: "c0", durationMs: 5, attempts: 1, log: "warn\n"), jobId: "inc")
        try await repo.appendChunkCompletion(ChunkOutcome(chunkId: "c2", durationMs: 7, attempts: 3), jobId: "inc")
        let loaded = try await kind.make(dir).load("inc")
        #expect(loaded.completedChunkIds == ["c0", "c2"])
        #expect(loaded.completedChunks == 2)
        #expect(loaded.metrics.chunks["c2"] == ChunkMetrics(durationMs: 7, attempts: 3))
        #expect(loaded.chunkLogs == ["c0": "warn\n"])
        #expect(try await repo.list().jobs.first?.completedChunkIds == ["c0", "c2"])
        // A full save supersedes the log.
        s.state = .paused
        s.apply(ChunkOutcome(chunkId: "c0", durationMs: 5, attempts: 1))
        try await repo.save(s)
        #expect(try await repo.load("inc").completedChunkIds == ["c0"])
    }

    @Test func tornFinalChunkLineIsIgnoredButEarlierDamageIsReported() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try FileJobRepository(directory: dir.url.appendingPathComponent("store"))
        try await repo.insert(status("torn", chunks: 3))
        try await repo.appendChunkCompletion(ChunkOutcome(chunkId: "c0", durationMs: 1, attempts: 1), jobId: "torn")
        let log = dir.url.appendingPathComponent("store/jobs/torn.chunks.jsonl")
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"chunkId\":\"c1\",\"dura".utf8))  // killed mid-append
        try handle.close()
        #expect(try await repo.load("torn").completedChunkIds == ["c0"])

        try Data("garbage\n{\"chunkId\":\"c1\",\"durationMs\":1,\"attempts\":1,\"log\":\"\"}\n".utf8).write(to: log)
        let error = try await #require(throws: OrchestratorError.self) { _ = try await repo.load("torn") }
        #expect(error.description.contains("torn.chunks.jsonl line 1 is corrupt"))
    }

    @Test(arguments: StoreKind.allCases)
    func controlRequestsAreSeparateFromStatus(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        try await repo.insert(status("ctl"))
        #expect(try await repo.pendingControl(for: "ctl") == nil)
        try await kind.make(dir).requestControl(.pause, for: "ctl")
        #expect(try await repo.pendingControl(for: "ctl") == .pause)
        try await repo.save(status("ctl"))  // a status write does not lose the request
        #expect(try await repo.pendingControl(for: "ctl") == .pause)
        try await repo.requestControl(.cancel, for: "ctl")
        #expect(try await repo.pendingControl(for: "ctl") == .cancel)
        try await repo.clearControl(for: "ctl")
        #expect(try await repo.pendingControl(for: "ctl") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func idsThatCouldEscapeTheStoreAreRejected(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        for id in ["../evil", "a/b", "", "..", "sp ace", "ü"] {
            await #expect(throws: OrchestratorError.invalidJobId(id)) { _ = try await repo.load(id) }
        }
        var bad = status("ok")
        bad.id = "../../etc/x"
        await #expect(throws: OrchestratorError.invalidJobId("../../etc/x")) { try await repo.save(bad) }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentWritersNeverCorruptRecords(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    var s = self.status("job\(i % 4)", chunks: 50)
                    s.completedChunkIds = (0..<i).map { "c\($0)" }
                    try await repo.save(s)
                    _ = try await repo.load("job\(i % 4)")
                }
            }
            try await group.waitForAll()
        }
        let listing = try await repo.list()
        #expect(listing.jobs.count == 4)
        #expect(listing.problems.isEmpty)
    }

    @Test func corruptOrPartialFilesAreReportedNotDropped() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try FileJobRepository(directory: dir.url.appendingPathComponent("store"))
        try await repo.insert(status("good"))
        let jobs = dir.url.appendingPathComponent("store/jobs")
        try Data("{\"id\": \"trunc".utf8).write(to: jobs.appendingPathComponent("trunc.json"))
        try Data().write(to: jobs.appendingPathComponent("empty.json"))
        // A leftover temporary file from an interrupted write is not a record.
        try Data("junk".utf8).write(to: jobs.appendingPathComponent(".good.json.1234.tmp"))

        let listing = try await repo.list()
        #expect(listing.jobs.map(\.id) == ["good"])
        let problems = listing.problems.map(\.description).sorted()
        #expect(problems.count == 2)
        #expect(problems[0].hasPrefix("job 'empty': stored record \(jobs.path)/empty.json is corrupt: file is empty"))
        #expect(problems[1].hasPrefix("job 'trunc': stored record \(jobs.path)/trunc.json is corrupt"))
        let error = try await #require(throws: OrchestratorError.self) { _ = try await repo.load("trunc") }
        guard case .corruptRecord(let id, _, _) = error else { Issue.record("\(error)"); return }
        #expect(id == "trunc")
        #expect(FileManager.default.fileExists(atPath: jobs.appendingPathComponent("trunc.json").path))
    }

    @Test("changeState moves a job to stitching under its lease, keeps the completions recorded, refuses another token; the next modify starts from it",
          arguments: StoreKind.allCases)
    func stateChangesApartFromTheStatus(kind: StoreKind) async throws {
        let (dir, repo, t0, _) = try await runningWithOneCompletion("st", kind: kind, lease: 3600)
        defer { dir.cleanup() }
        @Sendable func stitch(_ token: String) -> @Sendable (JobState, String?) throws -> JobState {
            { state, holder in
                guard let next = JobLifecycle.stitched(state: state, holder: holder, token: token) else { throw OrchestratorError.leaseLost(id: "st") }
                return next
            }
        }
        await #expect(throws: OrchestratorError.leaseLost(id: "st")) { try await repo.changeState("st", at: t0 + 5, stitch("theirs")) }
        #expect(try await repo.load("st").state == .running)

        try await repo.changeState("st", at: t0 + 10, stitch("mine"))
        for reader in [repo, try kind.make(dir)] {
            let loaded = try await reader.load("st")
            #expect(loaded.state == .stitching)
            #expect(loaded.updatedAt == t0 + 10)
            #expect(loaded.completedChunkIds == ["c1"])
            #expect(loaded.lease?.token == "mine")
            #expect(try await reader.list().jobs.first { $0.id == "st" }?.state == .stitching)
        }
        // The next whole write starts from the stitching state and supersedes it.
        let seen = try await repo.modify("st") { status -> JobState in
            defer { status.state = .completed; status.lease = nil }
            return status.state
        }
        #expect(seen == .stitching)
        let done = try await repo.load("st")
        #expect(done.state == .completed)
        #expect(done.completedChunkIds == ["c1"])
        await #expect(throws: OrchestratorError.leaseLost(id: "st")) { try await repo.changeState("st", at: t0 + 20, stitch("mine")) }
    }

    @Test("renewLease renews the holder's lease from the stored state and lease, refuses without writing, and the next modify starts from it",
          arguments: StoreKind.allCases)
    func leaseRenewedApartFromTheStatus(kind: StoreKind) async throws {
        let (dir, repo, t0, _) = try await runningWithOneCompletion("hb", kind: kind, lease: 30)
        defer { dir.cleanup() }
        @Sendable func renew(_ token: String, at: Date) -> @Sendable (JobState, JobLease?) throws -> JobLease? {
            { state, lease in
                guard state == .running, var lease, lease.token == token else { throw OrchestratorError.leaseLost(id: "hb") }
                lease.heartbeatAt = at
                lease.expiresAt = at + 30
                return lease
            }
        }
        await #expect(throws: OrchestratorError.leaseLost(id: "hb")) { try await repo.renewLease("hb", renew("theirs", at: t0 + 5)) }
        #expect(try await repo.load("hb").lease?.expiresAt == t0 + 30)

        // The first renewal reads the lease the body holds, the second the one the first stored.
        #expect(try await repo.renewLease("hb", renew("mine", at: t0 + 10))?.expiresAt == t0 + 40)
        #expect(try await repo.renewLease("hb", renew("mine", at: t0 + 20))?.expiresAt == t0 + 50)
        for reader in [repo, try kind.make(dir)] {
            let loaded = try await reader.load("hb")
            #expect(loaded.lease?.heartbeatAt == t0 + 20 && loaded.lease?.expiresAt == t0 + 50)
            #expect(loaded.state == .running)
            #expect(loaded.completedChunkIds == ["c1"])
            #expect(try await reader.list().jobs.first { $0.id == "hb" }?.lease?.expiresAt == t0 + 50)
        }
        if kind == .sqlite {
            // The body was neither rewritten nor folded: the completion is still a row of its own.
            #expect(try Self.sqlite(dir.path("store/jobs.sqlite"), "SELECT count(*) FROM chunk_done") == "1")
        }
        // The next whole write starts from the renewed lease and supersedes the stored one.
        let seen = try await repo.modify("hb") { status -> Date? in
            defer { status.state = .paused; status.lease = nil }
            return status.lease?.expiresAt
        }
        #expect(seen == t0 + 50)
        let done = try await repo.load("hb")
        #expect(done.state == .paused && done.lease == nil)
        #expect(done.completedChunkIds == ["c1"])
        await #expect(throws: OrchestratorError.leaseLost(id: "hb")) { try await repo.renewLease("hb", renew("mine", at: t0 + 25)) }
    }

    @Test("replace stores a status built from the stored state and lease over the whole record (completions recorded apart included); a refusal writes nothing",
          arguments: StoreKind.allCases)
    func replaceFromStateAndLease(kind: StoreKind) async throws {
        let (dir, repo, t0, s) = try await runningWithOneCompletion("rp", kind: kind, lease: 30)
        defer { dir.cleanup() }
        try await repo.changeState("rp", at: t0 + 5) { state, holder in
            guard let next = JobLifecycle.stitched(state: state, holder: holder, token: "mine") else { throw OrchestratorError.leaseLost(id: "rp") }
            return next
        }
        _ = try await repo.renewLease("rp") { _, lease in
            var lease = lease
            lease?.expiresAt = t0 + 50
            return lease
        }
        // What `make` is given: the state set apart and the renewed lease.
        let expected: @Sendable (JobState, JobLease?) throws -> Void = { state, lease in
            guard state == .stitching, lease?.token == "mine", lease?.expiresAt == t0 + 50 else { throw OrchestratorError.leaseLost(id: "rp") }
        }
        await #expect(throws: OrchestratorError.leaseLost(id: "rp")) {
            try await repo.replace("rp") { state, lease in
                try expected(state, lease)
                throw OrchestratorError.leaseLost(id: "rp")
            }
        }
        let kept = try await repo.load("rp")
        #expect(kept.state == .stitching && kept.completedChunkIds == ["c1"] && kept.lease?.expiresAt == t0 + 50, "a refusal writes nothing")

        var next = s
        next.state = .completed
        next.lease = nil
        next.apply(ChunkOutcome(chunkId: "c0", durationMs: 4, attempts: 1))
        next.apply(ChunkOutcome(chunkId: "c2", durationMs: 6, attempts: 2))
        let final = next
        let stored = try await repo.replace("rp") { state, lease in
            try expected(state, lease)
            return final
        }
        #expect(stored == final)
        for reader in [repo, try kind.make(dir)] {
            let loaded = try await reader.load("rp")
            #expect(loaded == final, "the completion recorded apart (c1) is superseded with the rest of the record")
            #expect(try await reader.list().jobs.first { $0.id == "rp" } == final)
        }
        if kind == .sqlite { #expect(try Self.sqlite(dir.path("store/jobs.sqlite"), "SELECT count(*) FROM chunk_done") == "0") }
    }

    @Test("replaceKeepingCompletions stores a runner's status that knows its chunks only as completed: the details recorded apart are kept and returned with it, the first accepted output stands, and a refusal writes nothing",
          arguments: StoreKind.allCases)
    func replaceKeepingCompletions(kind: StoreKind) async throws {
        let (dir, repo, t0, s) = try await runningWithOneCompletion("rk", kind: kind, lease: 30)
        defer { dir.cleanup() }
        let early = ChunkOutputRecord(uri: "file:///w/c2.bin", bytes: 7, sha256: String(repeating: "ab", count: 32), attempt: 1, worker: "local")
        let late = ChunkOutputRecord(uri: "file:///w/c2-late.bin", bytes: 9, sha256: String(repeating: "cd", count: 32), attempt: 2, worker: "local")
        try await repo.appendChunkCompletion(ChunkOutcome(chunkId: "c2", durationMs: 6, attempts: 2, log: "done\n", output: early), jobId: "rk")
        try await repo.appendChunkCompletion(ChunkOutcome(chunkId: "c2", durationMs: 8, attempts: 3, output: late), jobId: "rk")
        await #expect(throws: OrchestratorError.leaseLost(id: "rk")) {
            try await repo.replaceKeepingCompletions("rk") { _, _ in throw OrchestratorError.leaseLost(id: "rk") }
        }
        #expect(try await repo.load("rk").state == .running, "a refusal writes nothing")

        // What a runner holds at its end: which chunks completed (c1 and c2, in that order), none of their details.
        var lean = s
        lean.completedChunkIds = ["c1", "c2"]
        lean.completedChunks = 2
        lean.progress = 2.0 / 3
        lean.state = .completed
        lean.lease = nil
        let made = lean
        let stored = try await repo.replaceKeepingCompletions("rk") { state, lease in
            guard state == .running, lease?.token == "mine", lease?.expiresAt == t0 + 30 else { throw OrchestratorError.leaseLost(id: "rk") }
            return made
        }
        var expected = made
        expected.metrics.chunks = ["c1": ChunkMetrics(durationMs: 5, attempts: 1), "c2": ChunkMetrics(durationMs: 8, attempts: 3)]
        expected.chunkLogs = ["c2": "done\n"]
        expected.chunkOutputs = ["c2": early]
        #expect(stored == expected)
        for reader in [repo, try kind.make(dir)] {
            #expect(try await reader.load("rk") == expected)
            #expect(try await reader.list().jobs.first { $0.id == "rk" } == expected)
        }
        if kind == .sqlite {
            #expect(try Self.sqlite(dir.path("store/jobs.sqlite"), "SELECT count(*) FROM chunk_done") == "3", "the completions stay rows of their own")
        }
        // The next whole write folds them into the body.
        try await repo.modify("rk") { $0.error = "noted" }
        var noted = expected
        noted.error = "noted"
        #expect(try await repo.load("rk") == noted)
        if kind == .sqlite { #expect(try Self.sqlite(dir.path("store/jobs.sqlite"), "SELECT count(*) FROM chunk_done") == "0") }
    }

    @Test("a SQLite store written before the lease column opens, migrates, and renews a lease its body holds")
    func upgradesAStoreWithoutTheLeaseColumn() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("store"), withIntermediateDirectories: true)
        let path = dir.path("store/jobs.sqlite")
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let s = running("old", chunks: 2, since: t0, expiresAt: t0 + 30)
        let body = try JobSpec.makeEncoder(pretty: false).encode(s).map { String(format: "%02x", $0) }.joined()
        // The schema and a row as the previous version (migrations v1 to v4) wrote them.
        _ = try Self.sqlite(path, """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1'), ('v2-lease'), ('v3-state-apart'), ('v4-report');
            CREATE TABLE job (id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, createdAt TEXT NOT NULL, body BLOB NOT NULL, leaseToken TEXT, stateAt REAL);
            CREATE TABLE control (jobId TEXT PRIMARY KEY NOT NULL, request TEXT NOT NULL);
            CREATE TABLE chunk_done (jobId TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);
            CREATE INDEX chunk_done_job ON chunk_done (jobId);
            CREATE TABLE report (jobId TEXT PRIMARY KEY NOT NULL, body BLOB NOT NULL);
            INSERT INTO job (id, state, createdAt, body, leaseToken) VALUES ('old', 'running', 1700000000, X'\(body)', 'mine');
            """)
        let repo = try SQLiteJobRepository(path: path)
        #expect(try await repo.load("old") == s)
        let renewed = try await repo.renewLease("old") { state, lease in
            guard state == .running, var lease, lease.token == "mine" else { throw OrchestratorError.leaseLost(id: "old") }
            lease.expiresAt = t0 + 60
            return lease
        }
        #expect(renewed?.expiresAt == t0 + 60)
        #expect(try await SQLiteJobRepository(path: path).load("old").lease?.expiresAt == t0 + 60)
        #expect(try Self.sqlite(path, "SELECT count(*) FROM grdb_migrations WHERE identifier IN ('v5-lease-apart', 'v6-body-apart')") == "2")
        #expect(try Self.sqlite(path, "SELECT count(*) FROM pragma_table_info('job') WHERE name = 'body'") == "0", "the body moved out of the job row")
        // A renewal to no lease is stored as none, not as "the body holds it" (whose lease is older).
        #expect(try await repo.renewLease("old") { _, _ in nil } == nil)
        #expect(try await SQLiteJobRepository(path: path).load("old").lease == nil)
    }

    /// The output of one query by the `sqlite3` shell, trimmed.
    static func sqlite(_ path: String, _ query: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, query]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("a report is stored apart from the status: replaced by the next, read by another instance, removed with the job",
          arguments: StoreKind.allCases)
    func reportsApartFromTheStatus(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        let s = status("rep")
        try await repo.insert(s)
        #expect(try await repo.report(for: "rep") == nil)
        try await repo.saveReport(Data("{\"first\":1}".utf8), for: "rep")
        try await repo.saveReport(Data("{\"second\":2}".utf8), for: "rep")
        #expect(try await kind.make(dir).report(for: "rep") == Data("{\"second\":2}".utf8))
        #expect(try await repo.load("rep") == s, "the status is untouched")
        #expect(try await repo.list().jobs.map(\.id) == ["rep"], "the report is no job record")
        try await repo.delete("rep")
        #expect(try await repo.report(for: "rep") == nil)
    }

    @Test("reports and status bodies larger than a write slice (64 KiB) read back byte for byte, longer or shorter than before",
          arguments: StoreKind.allCases)
    func largeValuesReadBackExactly(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try kind.make(dir)
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let big = running("big", chunks: 3_000, since: t0, expiresAt: t0 + 30)
        try await repo.insert(big)
        #expect(try await kind.make(dir).load("big") == big)
        // Bytes that differ from slice to slice, so a slice written at the wrong offset shows.
        let long = Data((0..<(3 << 16) + 12_345).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) })
        try await repo.saveReport(long, for: "big")
        #expect(try await kind.make(dir).report(for: "big") == long)
        let short = Data(long.prefix(70_000).reversed())
        try await repo.saveReport(short, for: "big")
        #expect(try await kind.make(dir).report(for: "big") == short)
        // A report in its temporary file, handed over in pieces of odd lengths, is stored read a piece at a time.
        let text = try SpooledText.write { write in
            var offset = 0
            for length in [1, 65_535, 70_001, 3, 100_000] where offset < long.count {
                try write(long[offset..<min(offset + length, long.count)])
                offset += length
            }
            if offset < long.count { try write(long[offset...]) }
        }
        #expect(text.count == long.count && text.isSpooled, "\(text)")
        try await repo.saveReport(text, for: "big")
        #expect(try await kind.make(dir).report(for: "big") == long)
        #expect(try text.data() == long, "the text can be read again")
        // Text up to the memory limit stays in memory, and is stored the same way.
        let small = try SpooledText.write { write in
            try write(Data("{\"a\":".utf8))
            try write(Data("1}".utf8))
        }
        #expect(!small.isSpooled && small.count == 7)
        try await repo.saveReport(small, for: "big")
        #expect(try await kind.make(dir).report(for: "big") == Data("{\"a\":1}".utf8))
        try await repo.changeState("big", at: t0 + 1) { _, _ in .stitching }
        let stitching = try await kind.make(dir).load("big")
        #expect(stitching.state == .stitching && stitching.metrics == big.metrics && stitching.spec == big.spec)
    }

    @Test("SQLite records a state change in its columns: the status body is not rewritten")
    func sqliteStateChangeLeavesTheBody() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 (make deps installs it) reads the row")
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path("store/jobs.sqlite")
        let repo = try SQLiteJobRepository(path: path)
        var s = status("col")
        s.state = .running
        try await repo.insert(s)
        func body() throws -> String {
            let sqlite = Process()
            let pipe = Pipe()
            sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            sqlite.arguments = [path, "SELECT hex(body) FROM job_body WHERE id = 'col'"]
            sqlite.standardOutput = pipe
            try sqlite.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            sqlite.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let before = try body()
        try await repo.changeState("col", at: Date()) { _, _ in .stitching }
        #expect(try body() == before)
        #expect(try await repo.load("col").state == .stitching)
    }

    @Test("SQLite's state changes and lease renewals write a few pages, however large the status body")
    func sqliteSmallWritesStaySmall() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path("store/jobs.sqlite")
        let repo = try SQLiteJobRepository(path: path)
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        try await repo.insert(running("big", chunks: 4_000, since: t0, expiresAt: t0 + 30))
        let body = try #require(Int(try Self.sqlite(path, "SELECT length(body) FROM job_body WHERE id = 'big'")))
        #expect(body > 300_000, "the status body is large: \(body) bytes")
        func walBytes() throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue ?? 0
        }
        let before = try walBytes()
        for n in 1...4 {
            try await repo.changeState("big", at: t0 + Double(n)) { _, _ in n % 2 == 0 ? .running : .stitching }
            _ = try await repo.renewLease("big") { _, lease in
                var lease = lease
                lease?.expiresAt = t0 + Double(60 + n)
                return lease
            }
        }
        // 8 transactions of a page or two each (4 KiB pages, plus WAL frame headers); with the body in the job row,
        // each rewrote a large part of its overflow pages (hundreds of KiB).
        let grown = try walBytes() - before
        #expect(grown < 128 * 1024, "WAL grew by \(grown) bytes")
        let loaded = try await repo.load("big")
        #expect(loaded.state == .running && loaded.lease?.expiresAt == t0 + 64)
    }

    @Test func corruptSQLiteRowIsReported() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path("store/jobs.sqlite")
        let repo = try SQLiteJobRepository(path: path)
        try await repo.insert(status("fine"))
        try await repo.insert(status("broken"))
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [path, "UPDATE job_body SET body = X'7B7D' WHERE id = 'broken'"]
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 (make deps installs it) corrupts the row")
        try sqlite.run()
        sqlite.waitUntilExit()
        try #require(sqlite.terminationStatus == 0, "sqlite3 could not corrupt the row")
        let listing = try await repo.list()
        #expect(listing.jobs.map(\.id) == ["fine"])
        #expect(listing.problems.count == 1)
        #expect(listing.problems.first?.description.contains("job 'broken'") == true)
    }
}
