import Foundation
import HeliosStorage
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stores each job as `jobs/ID.json` under a directory, chunk completions since the last save as lines of
/// `jobs/ID.chunks.jsonl`, the merge's report as `jobs/ID.stitch-report`, and control requests as `controls/ID`.
///
/// Writes are atomic: a temporary file in the same directory is written, fsynced and renamed over the
/// record, then the directory is fsynced. A completion line is appended with one write and fsynced; a torn
/// last line (a crash mid-append) is ignored, as that completion was never reported. A record that cannot
/// be decoded is reported, never dropped.
public struct FileJobRepository: JobRepository {
    public let root: URL
    var jobsDirectory: URL { root.appendingPathComponent("jobs", isDirectory: true) }
    var controlsDirectory: URL { root.appendingPathComponent("controls", isDirectory: true) }
    let logger: Logger

    public init(directory: URL, logger: Logger = Logger(label: "helios.store.file")) throws {
        self.root = directory
        self.logger = logger
        for dir in [jobsDirectory, controlsDirectory] {
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw OrchestratorError.storage(reason: "cannot create \(dir.path): \(error.localizedDescription)")
            }
        }
    }

    func recordURL(_ id: String) -> URL { jobsDirectory.appendingPathComponent(id + ".json") }
    func controlURL(_ id: String) -> URL { controlsDirectory.appendingPathComponent(id) }
    func chunkLogURL(_ id: String) -> URL { jobsDirectory.appendingPathComponent(id + ".chunks.jsonl") }
    func reportURL(_ id: String) -> URL { jobsDirectory.appendingPathComponent(id + ".stitch-report") }

    public func insert(_ status: JobStatus) async throws {
        try checkID(status.id)
        let temp = try writeTemp(encode(status), near: recordURL(status.id))
        defer { unlink(temp.path) }
        // link(2) fails if the record exists: create-if-absent is atomic even between processes.
        if link(temp.path, recordURL(status.id).path) != 0 {
            if errno == EEXIST { throw OrchestratorError.jobExists(id: status.id) }
            throw OrchestratorError.storage(reason: "cannot create \(recordURL(status.id).path): \(String(cString: strerror(errno)))")
        }
        fsyncDirectory(jobsDirectory)
    }

    public func save(_ status: JobStatus) async throws {
        try checkID(status.id)
        try withLock(status.id) {
            try atomicWrite(encode(status), to: recordURL(status.id))
            // The status now includes every logged completion (applying one twice is harmless if we crash here).
            unlink(chunkLogURL(status.id).path)
        }
    }

    /// Under the job's lock (`flock` on `jobs/ID.lock`): read, change, write a temporary file and rename it over
    /// the record.
    public func modify<T: Sendable>(_ id: String, _ change: @escaping @Sendable (inout JobStatus) throws -> T) async throws -> T {
        try checkID(id)
        return try withLock(id) {
            var status = try read(recordURL(id), id: id)
            let result = try change(&status)
            try atomicWrite(encode(status), to: recordURL(id))
            unlink(chunkLogURL(id).path)
            return result
        }
    }

    public func appendChunkCompletion(_ outcome: ChunkOutcome, jobId: String) async throws {
        try checkID(jobId)
        let line = try JobSpec.makeEncoder(pretty: false).encode(outcome) + Data("\n".utf8)
        let url = chunkLogURL(jobId)
        try withLock(jobId) {
            let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw OrchestratorError.storage(reason: "cannot open \(url.path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            guard written == line.count, fsync(fd) == 0 else {
                throw OrchestratorError.storage(reason: "cannot append to \(url.path): \(String(cString: strerror(errno)))")
            }
        }
    }

    public func load(_ id: String) async throws -> JobStatus {
        try checkID(id)
        return try read(recordURL(id), id: id)
    }

    public func list() async throws -> JobListing {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: jobsDirectory.path) } catch {
            throw OrchestratorError.storage(reason: "cannot list \(jobsDirectory.path): \(error.localizedDescription)")
        }
        var jobs: [JobStatus] = []
        var problems: [OrchestratorError] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let id = String(name.dropLast(5))
            do { jobs.append(try read(jobsDirectory.appendingPathComponent(name), id: id)) } catch let error as OrchestratorError {
                problems.append(error)
            }
        }
        return JobListing(jobs: jobs, problems: problems)
    }

    public func delete(_ id: String) async throws {
        try checkID(id)
        try withLock(id) {
            if unlink(recordURL(id).path) != 0 {
                if errno == ENOENT { throw OrchestratorError.jobNotFound(id: id) }
                throw OrchestratorError.storage(reason: "cannot delete \(recordURL(id).path): \(String(cString: strerror(errno)))")
            }
            unlink(controlURL(id).path)
            unlink(chunkLogURL(id).path)
            unlink(reportURL(id).path)
            fsyncDirectory(jobsDirectory)
        }
    }

    public func saveReport(_ report: Data, for id: String) async throws {
        try await saveReport(SpooledText(report), for: id)
    }

    public func saveReport(_ report: SpooledText, for id: String) async throws {
        try checkID(id)
        try withLock(id) { try atomicWrite(report, to: reportURL(id)) }
    }

    public func report(for id: String) async throws -> Data? {
        try checkID(id)
        return FileManager.default.contents(atPath: reportURL(id).path)
    }

    public func requestControl(_ request: ControlRequest, for id: String) async throws {
        try checkID(id)
        try atomicWrite(Data(request.rawValue.utf8), to: controlURL(id))
    }

    public func pendingControl(for id: String) async throws -> ControlRequest? {
        try checkID(id)
        guard let data = FileManager.default.contents(atPath: controlURL(id).path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let request = ControlRequest(rawValue: text) else {
            throw OrchestratorError.corruptRecord(id: id, location: controlURL(id).path, reason: "unknown control request '\(text)'")
        }
        return request
    }

    public func clearControl(for id: String) async throws {
        try checkID(id)
        unlink(controlURL(id).path)
    }

    // MARK: - Files

    private func encode(_ status: JobStatus) throws -> Data {
        try JobSpec.makeEncoder().encode(status)
    }

    private func read(_ url: URL, id: String) throws -> JobStatus {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            if !FileManager.default.fileExists(atPath: url.path) { throw OrchestratorError.jobNotFound(id: id) }
            throw OrchestratorError.storage(reason: "cannot read \(url.path): \(error.localizedDescription)")
        }
        var status: JobStatus
        do {
            status = try JobSpec.makeDecoder().decode(JobStatus.self, from: data)
        } catch {
            throw OrchestratorError.corruptRecord(id: id, location: url.path, reason: data.isEmpty ? "file is empty" : describeDecodingError(error))
        }
        guard status.id == id else {
            throw OrchestratorError.corruptRecord(id: id, location: url.path, reason: "record is for job '\(status.id)'")
        }
        try applyChunkLog(to: &status)
        return status
    }

    /// Folds `ID.chunks.jsonl` into `status`. Only the last line may be torn (then it was never reported).
    private func applyChunkLog(to status: inout JobStatus) throws {
        let url = chunkLogURL(status.id)
        guard let data = FileManager.default.contents(atPath: url.path), !data.isEmpty else { return }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let decoder = JobSpec.makeDecoder()
        var outcomes: [ChunkOutcome] = []
        for (index, line) in lines.enumerated() where !line.isEmpty {
            do { outcomes.append(try decoder.decode(ChunkOutcome.self, from: Data(line))) } catch {
                if index == lines.count - 1 { break }  // torn final append: no newline yet
                throw OrchestratorError.corruptRecord(id: status.id, location: "\(url.path) line \(index + 1)", reason: describeDecodingError(error))
            }
        }
        status.apply(contentsOf: outcomes)
    }

    /// Runs `body` holding an exclusive `flock` on `jobs/ID.lock`, which every writer of the job takes, in any process.
    /// The lock file stays (removing it would let two processes lock different files); it is a few bytes of nothing.
    private func withLock<T>(_ id: String, _ body: () throws -> T) throws -> T {
        let url = jobsDirectory.appendingPathComponent(id + ".lock")
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw OrchestratorError.storage(reason: "cannot open lock \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }  // releases the lock
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw OrchestratorError.storage(reason: "cannot lock \(url.path): \(String(cString: strerror(errno)))")
        }
        return try body()
    }

    private func writeTemp(_ data: Data, near url: URL) throws -> URL {
        try writeTemp(SpooledText(data), near: url)
    }

    /// A synced temp file beside `url` holding `text`, read a piece at a time.
    private func writeTemp(_ text: SpooledText, near url: URL) throws -> URL {
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OrchestratorError.storage(reason: "cannot create \(temp.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        struct WriteFailed: Error {}
        do {
            try text.forEachPiece { guard POSIX.writeAll(fd, $0) else { throw WriteFailed() } }
            guard fsync(fd) == 0 else { throw WriteFailed() }
        } catch {
            let reason = error is WriteFailed ? String(cString: strerror(errno)) : "\(error)"
            unlink(temp.path)
            throw OrchestratorError.storage(reason: "cannot write \(temp.path): \(reason)")
        }
        return temp
    }

    private func atomicWrite(_ data: Data, to url: URL) throws {
        try atomicWrite(SpooledText(data), to: url)
    }

    /// Writes `text` to a synced temp file renamed over `url`.
    private func atomicWrite(_ text: SpooledText, to url: URL) throws {
        let temp = try writeTemp(text, near: url)
        guard rename(temp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp.path)
            throw OrchestratorError.storage(reason: "cannot replace \(url.path): \(reason)")
        }
        fsyncDirectory(url.deletingLastPathComponent())
    }

    private func fsyncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
