import Foundation
import GRDB
import Logging

/// Stores jobs in an SQLite database (WAL mode), safe to share between processes.
///
/// Each job is one row of small columns (state, lease) beside its JSON status in `job_body`; control requests live
/// in their own table so that a pause from another process never races with the runner's status writes.
/// The body is apart because SQLite rewrites a row's overflow pages when any of its columns changes: with the body
/// in the row, a state change or lease renewal of a 10,000-chunk job wrote about 1.6 MB and took 8 ms.
public struct SQLiteJobRepository: JobRepository {
    public let path: String
    private let pool: DatabasePool

    public init(path: String, logger: Logger = Logger(label: "helios.store.sqlite")) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "helios.jobs"
        // 512 KiB of page cache a connection instead of SQLite's 2 MiB: the runner touches a job's few rows and
        // streams its status body through blob I/O, and the kernel caches the file anyway. A 10,000-chunk job
        // peaked 2.2 MB lower (median of three), no slower.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -512") }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // Opening a new database (switching it to WAL) and migrating it take locks SQLite's busy handler does not
            // wait for (a deferred transaction upgrading to write returns SQLITE_BUSY at once), so runners started
            // together would fail with "database is locked". One process at a time opens and migrates.
            let lock = open(path + ".open-lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
            if lock >= 0 { _ = flock(lock, LOCK_EX) }
            defer { if lock >= 0 { _ = flock(lock, LOCK_UN); close(lock) } }
            pool = try DatabasePool(path: path, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE job (id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, createdAt TEXT NOT NULL, body BLOB NOT NULL);
                    CREATE TABLE control (jobId TEXT PRIMARY KEY NOT NULL, request TEXT NOT NULL);
                    CREATE TABLE chunk_done (jobId TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);
                    CREATE INDEX chunk_done_job ON chunk_done (jobId);
                    """)
            }
            migrator.registerMigration("v2-lease") { db in
                // The lease token of the job's holder, for the conditional update in `modify`.
                try db.execute(sql: "ALTER TABLE job ADD COLUMN leaseToken TEXT")
            }
            migrator.registerMigration("v3-state-apart") { db in
                // Set (with the state column) by `changeState`, which leaves the body as it was; NULL once a
                // whole status is written again.
                try db.execute(sql: "ALTER TABLE job ADD COLUMN stateAt REAL")
            }
            migrator.registerMigration("v4-report") { db in
                try db.execute(sql: "CREATE TABLE report (jobId TEXT PRIMARY KEY NOT NULL, body BLOB NOT NULL)")
            }
            migrator.registerMigration("v5-lease-apart") { db in
                // The holder's lease as JSON, set by `renewLease` (the heartbeat), which leaves the body as it was,
                // and by every whole write; NULL in rows written by earlier versions (the body holds it).
                try db.execute(sql: "ALTER TABLE job ADD COLUMN lease BLOB")
            }
            migrator.registerMigration("v6-body-apart") { db in
                // The status body in its own table (see the type's notes): the job row stays a few hundred bytes.
                try db.execute(sql: """
                    CREATE TABLE job_body (id TEXT PRIMARY KEY NOT NULL, body BLOB NOT NULL);
                    INSERT INTO job_body (id, body) SELECT id, body FROM job;
                    ALTER TABLE job DROP COLUMN body;
                    """)
            }
            try migrator.migrate(pool)
        } catch {
            throw OrchestratorError.storage(reason: "cannot open database \(path): \(Self.explainWrite(error, path: path))")
        }
        logger.debug("opened job database", metadata: ["path": "\(path)"])
    }

    public func insert(_ status: JobStatus) async throws {
        try checkID(status.id)
        let body = try Self.body(of: status)
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM job WHERE id = ?", arguments: [status.id]) == true {
                throw OrchestratorError.jobExists(id: status.id)
            }
            try db.execute(sql: "INSERT INTO job (id, state, createdAt, leaseToken, lease) VALUES (?, ?, ?, ?, ?)",
                           arguments: [status.id, status.state.rawValue, status.createdAt.timeIntervalSince1970, status.lease?.token, try Self.leaseColumn(status)])
            try db.writeBody(body, table: "job_body", keyColumn: "id", key: status.id)
        }
    }

    public func save(_ status: JobStatus) async throws {
        try checkID(status.id)
        let body = try Self.body(of: status)
        try await write { db in
            try db.execute(sql: """
                INSERT INTO job (id, state, createdAt, leaseToken, lease) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, leaseToken = excluded.leaseToken, stateAt = NULL, lease = excluded.lease
                """, arguments: [status.id, status.state.rawValue, status.createdAt.timeIntervalSince1970, status.lease?.token, try Self.leaseColumn(status)])
            try db.writeBody(body, table: "job_body", keyColumn: "id", key: status.id)
            try db.execute(sql: "DELETE FROM chunk_done WHERE jobId = ?", arguments: [status.id])
        }
    }

    public func appendChunkCompletion(_ outcome: ChunkOutcome, jobId: String) async throws {
        try checkID(jobId)
        let body = try JobSpec.makeEncoder(pretty: false).encode(outcome)
        try await write { db in
            try db.execute(sql: "INSERT INTO chunk_done (jobId, body) VALUES (?, ?)", arguments: [jobId, body])
        }
    }

    /// `BEGIN IMMEDIATE` (the database's write lock, taken before reading), read, change, then a conditional
    /// `UPDATE ... WHERE leaseToken IS <the token read>`.
    public func modify<T: Sendable>(_ id: String, _ change: @escaping @Sendable (inout JobStatus) throws -> T) async throws -> T {
        try checkID(id)
        return try await writeImmediate { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT body, leaseToken, state, stateAt, lease FROM job JOIN job_body USING (id) WHERE id = ?", arguments: [id]) else {
                throw OrchestratorError.jobNotFound(id: id)
            }
            let previousToken: String? = row["leaseToken"]
            var status = try decode(StoredJob(row), id: id, completions: try completions(db, id: id))
            let result = try change(&status)
            try writeWhole(db, status, id: id, ifHeldBy: previousToken)
            return result
        }
    }

    /// `BEGIN IMMEDIATE`, read the state and lease token columns, then update the state and `stateAt` columns only:
    /// the body (whose size grows with the job) is neither read nor written.
    public func changeState(_ id: String, at: Date, _ next: @escaping @Sendable (JobState, _ holder: String?) throws -> JobState) async throws {
        try checkID(id)
        try await writeImmediate { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state, leaseToken FROM job WHERE id = ?", arguments: [id]) else {
                throw OrchestratorError.jobNotFound(id: id)
            }
            let changed = try next(try state(row["state"] as String? ?? "", id: id), row["leaseToken"])
            try db.execute(sql: "UPDATE job SET state = ?, stateAt = ? WHERE id = ?", arguments: [changed.rawValue, at.timeIntervalSince1970, id])
        }
    }

    /// `BEGIN IMMEDIATE`, read the state, lease token and lease columns, then update the lease columns only: the body
    /// (whose size grows with the job) is read only when no renewal since the last whole write holds the lease.
    public func renewLease(_ id: String, _ renew: @escaping @Sendable (JobState, JobLease?) throws -> JobLease?) async throws -> JobLease? {
        try checkID(id)
        return try await writeImmediate { db in
            let (state, current, previousToken) = try stateAndLease(db, id: id)
            let next = try renew(state, current)
            // `null` for no lease: NULL would mean that the body holds it.
            let encoded = try JobSpec.makeEncoder(pretty: false).encode(next)
            try db.execute(sql: "UPDATE job SET lease = ?, leaseToken = ? WHERE id = ? AND leaseToken IS ?",
                           arguments: [encoded, next?.token, id, previousToken])
            guard db.changesCount == 1 else { throw OrchestratorError.storage(reason: "\(path): job \(id) changed during an atomic update") }
            return next
        }
    }

    /// The status's text to store: spooled to an unnamed temporary file once it is long (the status of 10,000 chunks
    /// is 4.5 MB, written as a run ends, where its peak memory was).
    static func body(of status: JobStatus) throws -> SpooledText {
        try SpooledText.write { try status.compactJSON(flushingAt: 1 << 16, to: $0) }
    }

    /// `BEGIN IMMEDIATE`, read the state and lease as `renewLease` does, write the new status like `modify` (conditional
    /// on the lease token read) and drop the completions recorded apart; the stored body is not decoded.
    public func replace(_ id: String, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus {
        try await replace(id, keepingCompletions: false, make)
    }

    /// `replace`, but the completions recorded apart are kept, and the status returned has them applied, a row at a time.
    public func replaceKeepingCompletions(_ id: String, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus {
        try await replace(id, keepingCompletions: true, make)
    }

    private func replace(_ id: String, keepingCompletions: Bool, _ make: @escaping @Sendable (JobState, JobLease?) throws -> JobStatus) async throws -> JobStatus {
        try checkID(id)
        return try await writeImmediate { db in
            let (state, lease, previousToken) = try stateAndLease(db, id: id)
            var status = try make(state, lease)
            guard status.id == id else { throw OrchestratorError.storage(reason: "\(path): job \(id) cannot be replaced by job \(status.id)") }
            try writeWhole(db, status, id: id, ifHeldBy: previousToken, keepingCompletions: keepingCompletions)
            guard keepingCompletions else { return status }
            // The body as `make` gave it, and the completions stay rows of their own (`load` applies them, as it does
            // while a job runs): the status was written without its chunks' details, which are applied to the status
            // returned once the writer's page cache is let go.
            try db.execute(sql: "PRAGMA shrink_memory")
            try apply(try completions(db, id: id), to: &status)
            return status
        }
    }

    /// Writes `status` as the whole record of job `id` if the lease token column still reads `previousToken`, and drops
    /// the completions recorded apart (the status includes them, unless `keepingCompletions`) and any state or lease set
    /// apart.
    private func writeWhole(_ db: Database, _ status: JobStatus, id: String, ifHeldBy previousToken: String?, keepingCompletions: Bool = false) throws {
        let body = try Self.body(of: status)
        try db.execute(sql: "UPDATE job SET state = ?, leaseToken = ?, stateAt = NULL, lease = ? WHERE id = ? AND leaseToken IS ?",
                       arguments: [status.state.rawValue, status.lease?.token, try Self.leaseColumn(status), id, previousToken])
        guard db.changesCount == 1 else { throw OrchestratorError.storage(reason: "\(path): job \(id) changed during an atomic update") }
        try db.writeBody(body, table: "job_body", keyColumn: "id", key: id)
        if !keepingCompletions { try db.execute(sql: "DELETE FROM chunk_done WHERE jobId = ?", arguments: [id]) }
    }

    /// The `lease` column for a whole write of `status`: its lease as JSON (`null` for none), so that reading the
    /// lease (each heartbeat, the run's last write) never parses the body: the body of a 10,000-chunk job took 4 MB
    /// to parse for it. Rows written before hold NULL, and their lease is read from the body.
    private static func leaseColumn(_ status: JobStatus) throws -> Data {
        try JobSpec.makeEncoder(pretty: false).encode(status.lease)
    }

    /// The job's state, its lease (renewed apart, or the body's) and the lease token column, read in `db`'s
    /// transaction; the body is parsed for its lease alone, and only when no renewal holds it.
    private func stateAndLease(_ db: Database, id: String) throws -> (JobState, JobLease?, String?) {
        guard let row = try Row.fetchOne(db, sql: "SELECT state, leaseToken, lease FROM job WHERE id = ?", arguments: [id]) else {
            throw OrchestratorError.jobNotFound(id: id)
        }
        let current: JobLease?
        if let renewed = row["lease"] as Data? {
            current = try lease(renewed, id: id)
        } else {
            current = try bodyLease(try Data.fetchOne(db, sql: "SELECT body FROM job_body WHERE id = ?", arguments: [id]) ?? Data(), id: id)
        }
        return (try state(row["state"] as String? ?? "", id: id), current, row["leaseToken"])
    }

    public func load(_ id: String) async throws -> JobStatus {
        try checkID(id)
        return try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT body, state, stateAt, lease FROM job JOIN job_body USING (id) WHERE id = ?", arguments: [id]) else {
                throw OrchestratorError.jobNotFound(id: id)
            }
            return try decode(StoredJob(row), id: id, completions: try completions(db, id: id))
        }
    }

    public func list() async throws -> JobListing {
        let (rows, chunkRows) = try await read { db in
            (try Row.fetchAll(db, sql: "SELECT id, body, state, stateAt, lease FROM job JOIN job_body USING (id) ORDER BY createdAt, id").map { ($0["id"] as String, StoredJob($0)) },
             try Row.fetchAll(db, sql: "SELECT jobId, body FROM chunk_done ORDER BY seq").map { ($0["jobId"] as String, $0["body"] as Data? ?? Data()) })
        }
        let chunks = Dictionary(grouping: chunkRows, by: \.0).mapValues { $0.map(\.1) }
        var jobs: [JobStatus] = []
        var problems: [OrchestratorError] = []
        for (id, row) in rows {
            var rest = (chunks[id] ?? []).makeIterator()
            do { jobs.append(try decode(row, id: id, completions: { rest.next() })) } catch let error as OrchestratorError { problems.append(error) }
        }
        return JobListing(jobs: jobs, problems: problems)
    }

    public func delete(_ id: String) async throws {
        try checkID(id)
        try await write { db in
            try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
            if db.changesCount == 0 { throw OrchestratorError.jobNotFound(id: id) }
            try db.execute(sql: "DELETE FROM job_body WHERE id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM control WHERE jobId = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM chunk_done WHERE jobId = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM report WHERE jobId = ?", arguments: [id])
        }
    }

    public func saveReport(_ report: Data, for id: String) async throws {
        try await saveReport(SpooledText(report), for: id)
    }

    public func saveReport(_ report: SpooledText, for id: String) async throws {
        try checkID(id)
        try await write { db in
            try db.writeBody(report, table: "report", keyColumn: "jobId", key: id)
        }
    }

    public func report(for id: String) async throws -> Data? {
        try checkID(id)
        return try await read { db in try Data.fetchOne(db, sql: "SELECT body FROM report WHERE jobId = ?", arguments: [id]) }
    }

    public func requestControl(_ request: ControlRequest, for id: String) async throws {
        try checkID(id)
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO control (jobId, request) VALUES (?, ?)", arguments: [id, request.rawValue])
        }
    }

    public func pendingControl(for id: String) async throws -> ControlRequest? {
        try checkID(id)
        let text = try await read { db in try String.fetchOne(db, sql: "SELECT request FROM control WHERE jobId = ?", arguments: [id]) }
        guard let text else { return nil }
        guard let request = ControlRequest(rawValue: text) else {
            throw OrchestratorError.corruptRecord(id: id, location: "\(path) (control)", reason: "unknown control request '\(text)'")
        }
        return request
    }

    public func clearControl(for id: String) async throws {
        try checkID(id)
        try await write { db in try db.execute(sql: "DELETE FROM control WHERE jobId = ?", arguments: [id]) }
    }

    // MARK: - Helpers

    /// The columns of a job row that make its status.
    private struct StoredJob: Sendable {
        var body: Data
        var state: String
        /// When `changeState` set `state` apart from the body; nil when the body holds it.
        var stateAt: Double?
        /// The lease column (JSON, `null` for none): a heartbeat's or the last whole write's; nil when the body holds it.
        var lease: Data?
        init(_ row: Row) {
            body = row["body"] as Data? ?? Data()
            state = row["state"] as String? ?? ""
            stateAt = row["stateAt"]
            lease = row["lease"]
        }
    }

    /// A job row with its recorded chunk completions: the body, the completions applied, and the state the columns
    /// hold when `changeState` set it apart.
    private func decode(_ row: StoredJob, id: String, completions: () throws -> Data?) throws -> JobStatus {
        var status = try decode(row.body, id: id, completions: completions)
        if let at = row.stateAt {
            status.state = try state(row.state, id: id)
            status.updatedAt = Date(timeIntervalSince1970: at)
        }
        if let renewed = row.lease { status.lease = try lease(renewed, id: id) }
        return status
    }

    /// The `lease` column of job `id`'s row.
    private func lease(_ json: Data, id: String) throws -> JobLease? {
        do { return try JobSpec.makeDecoder().decode(JobLease?.self, from: json) } catch {
            throw OrchestratorError.corruptRecord(id: id, location: "\(path) (row \(id), lease)", reason: describeDecodingError(error))
        }
    }

    /// The lease a status body holds, without building the rest of the status.
    private func bodyLease(_ body: Data, id: String) throws -> JobLease? {
        struct LeaseOnly: Decodable { var lease: JobLease? }
        do { return try JobSpec.makeDecoder().decode(LeaseOnly.self, from: body).lease } catch {
            throw OrchestratorError.corruptRecord(id: id, location: "\(path) (row \(id))", reason: describeDecodingError(error))
        }
    }

    /// The `state` column of job `id`'s row.
    private func state(_ text: String, id: String) throws -> JobState {
        guard let state = JobState(rawValue: text) else {
            throw OrchestratorError.corruptRecord(id: id, location: "\(path) (row \(id))", reason: "unknown state '\(text)'")
        }
        return state
    }

    private func decode(_ body: Data, id: String, completions: () throws -> Data?) throws -> JobStatus {
        var status: JobStatus
        do { status = try JobSpec.makeDecoder().decode(JobStatus.self, from: body) } catch {
            throw OrchestratorError.corruptRecord(id: id, location: "\(path) (row \(id))", reason: describeDecodingError(error))
        }
        guard status.id == id else {
            throw OrchestratorError.corruptRecord(id: id, location: "\(path) (row \(id))", reason: "record is for job '\(status.id)'")
        }
        try apply(completions, to: &status)
        return status
    }

    /// The job's completions recorded apart, oldest first, one row at a time (a whole run's rows were 2.5 MB at
    /// 10,000 chunks); nil after the last.
    private func completions(_ db: Database, id: String) throws -> () throws -> Data? {
        let cursor = try Data.fetchCursor(db, sql: "SELECT body FROM chunk_done WHERE jobId = ? ORDER BY seq", arguments: [id])
        return { try cursor.next() }
    }

    /// Applies each completion `next` gives to `status`, decoded one at a time.
    private func apply(_ next: () throws -> Data?, to status: inout JobStatus) throws {
        let decoder = JobSpec.makeDecoder()
        var seen = Set(status.completedChunkIds)
        while let body = try next() {
            let outcome: ChunkOutcome
            do { outcome = try decoder.decode(ChunkOutcome.self, from: body) } catch {
                throw OrchestratorError.corruptRecord(id: status.id, location: "\(path) (row \(status.id), chunk completion)", reason: describeDecodingError(error))
            }
            status.apply(outcome, seen: &seen)
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as OrchestratorError { throw error } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw OrchestratorError.storage(reason: "\(path): \(Self.explainWrite(error, path: path))")
        }
    }

    /// `error`, led by what failed where SQLite says only "disk I/O error" or "database or disk is full" (a write,
    /// an fsync), with the space left on the store's file system: a full disk, the usual cause in a long render
    /// whose chunks share the disk, then reads as one.
    private static func explainWrite(_ error: any Error, path: String) -> String {
        guard let failure = error as? DatabaseError else { return "\(error)" }
        let what: String
        switch failure.extendedResultCode {
        case .SQLITE_IOERR_WRITE: what = "a write to it failed"
        case .SQLITE_IOERR_FSYNC, .SQLITE_IOERR_DIR_FSYNC: what = "an fsync of it failed"
        case .SQLITE_IOERR_TRUNCATE: what = "a truncation of it failed"
        case .SQLITE_FULL: what = "its file system is full"
        default:
            guard failure.resultCode == .SQLITE_IOERR else { return "\(error)" }
            what = "an I/O call on it failed"
        }
        var space = statvfs()
        let directory = (path as NSString).deletingLastPathComponent
        guard statvfs(directory, &space) == 0 else { return "\(what): \(error)" }
        let free = Int64(space.f_bavail) * Int64(space.f_frsize)
        return "\(what) (\(ByteCountFormatter.string(fromByteCount: free, countStyle: .binary)) free on its file system): \(error)"
    }

    private func writeImmediate<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw OrchestratorError.storage(reason: "\(path): transaction produced no result") }
                return result
            }
        } catch let error as OrchestratorError { throw error } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw OrchestratorError.storage(reason: "\(path): \(Self.explainWrite(error, path: path))")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch let error as OrchestratorError { throw error } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw OrchestratorError.storage(reason: "\(path): \(error)")
        }
    }
}
