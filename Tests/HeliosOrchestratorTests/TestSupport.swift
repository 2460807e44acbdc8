import Foundation
import HeliosOrchestrator
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed by `cleanup()`.
struct TempDir {
    let url: URL
    init(_ name: String = #function) throws {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        url = FileManager.default.temporaryDirectory.appendingPathComponent("helios-orch-\(safe)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ component: String) -> String { url.appendingPathComponent(component).path }
    func read(_ component: String) -> String? {
        FileManager.default.contents(atPath: path(component)).map { String(decoding: $0, as: UTF8.self) }
    }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// Records every sleep and returns at once, so backoff is checked without waiting.
actor RecordingClock: SleepClock {
    private(set) var sleeps: [Duration] = []
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        sleeps.append(duration)
    }
}

/// Concatenates chunk files into the output: a merger with no media knowledge. The chunks come through the real
/// fetcher, so every recorded output is verified by size and SHA-256 first.
struct ConcatMerger: ChunkMerger {
    var fetcher = ChunkOutputFetcher.standard()

    func merge(_ records: [ChunkOutputRecord], into output: URL) async throws -> MergeSummary {
        let chunks = try await fetcher.fetch(records, staging: output.deletingLastPathComponent().appendingPathComponent(".fetch"))
        var data = Data()
        for chunk in chunks { data.append(try Data(contentsOf: chunk)) }
        try data.write(to: output)
        return MergeSummary(outputPath: output.path, bytes: Int64(data.count))
    }
}

/// Wraps a worker and records the most commands ever in flight at once.
final class InFlightCounter: WorkerAdapter, @unchecked Sendable {
    let inner: any WorkerAdapter
    private let lock = NSLock()
    private var current = 0
    private var maximum = 0
    private var calls = 0

    init(_ inner: any WorkerAdapter) { self.inner = inner }

    func execute(_ job: WorkerJob) async throws -> WorkerResult {
        lock.withLock { current += 1; calls += 1; maximum = max(maximum, current) }
        defer { lock.withLock { current -= 1 } }
        return try await inner.execute(job)
    }
    var peak: Int { lock.withLock { maximum } }
    var total: Int { lock.withLock { calls } }
}

/// True when `pid` is a live (not zombie) process.
func isProcessAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    guard let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Pids written one per file into `directory`.
func pids(in directory: String) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.compactMap { name in
        (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

/// The pid written into `file`, if it has been written.
func pid(in file: String) -> Int32? {
    (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// SIGKILLs whichever of `pids` are still alive, so a failing test leaves no processes behind.
func killSurvivors(_ pids: [Int32]) {
    for pid in pids where pid > 0 && isProcessAlive(pid) { kill(pid, SIGKILL) }
}

/// A shell loop that blocks until the file `name` exists in the working directory: the way a test holds a
/// chunk command at a known point, instead of hoping a `sleep` is long (or short) enough on a loaded machine.
func waitForFile(_ name: String) -> String { "while [ ! -e \(name) ]; do sleep 0.02; done" }

/// A command body that never ends by itself (only a signal stops it): a child that outlives every hang guard,
/// so "it is dead" can only mean it was killed.
let runForever = "sleep 100000"

/// Creates the (empty) gate file `name` in `dir`, releasing the commands waiting for it.
func openGate(_ name: String, in dir: TempDir) throws {
    try Data().write(to: dir.url.appendingPathComponent(name))
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
///
/// The timeout is only a hang guard: it returns as soon as the condition holds, so it is generous (a loaded
/// 2-core machine running the whole suite can starve the polling task for many seconds).
func waitUntil(timeout: Duration = .seconds(180), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        // Cancelled (the test's time limit): answer now rather than spin until the deadline.
        do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
    }
    return try await condition()
}

/// A spec whose chunks run `command(index)`, one frame each, writing `out/cN.bin`.
func makeSpec(id: String, chunks: Int, mergeCommand: String? = nil, command: (Int) -> String) -> JobSpec {
    JobSpec(id: id, metadata: JobMetadata(totalFrames: chunks, fps: 25, width: 16, height: 16),
            chunks: (0..<chunks).map { i in
                RenderJobChunk(id: "c\(i)", startFrame: i, frameCount: 1, outputFile: "out/c\(i).bin", command: command(i))
            }, mergeCommand: mergeCommand)
}

/// Options for tests: real local processes, non-empty-file validation, concat merge, fast polling.
func testOptions(concurrency: Int = 2, retry: RetryPolicy = .none, clock: any SleepClock = RecordingClock(),
                 worker: any WorkerAdapter = LocalWorkerAdapter(killGracePeriod: .milliseconds(300)), timeout: Duration? = nil) -> RunOptions {
    RunOptions(executor: JobExecutor(worker: worker, validator: NonEmptyFileValidator(), retryPolicy: retry, concurrency: concurrency,
                                     chunkTimeout: timeout, clock: clock),
               merger: ConcatMerger(), controlPollInterval: .milliseconds(50))
}

/// The built `helios` executable, next to the test bundle.
func heliosBinary() -> URL {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("helios").path) && dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("helios")
}

/// Starts `helios` with `arguments`; stdout/stderr go to files in `logDir`. `via` runs it under a wrapper
/// (its executable and arguments, e.g. GNU time).
func startHelios(_ arguments: [String], logDir: URL, tag: String, via wrapper: [String] = []) throws -> Process {
    let process = Process()
    if let first = wrapper.first {
        process.executableURL = URL(fileURLWithPath: first)
        process.arguments = Array(wrapper.dropFirst()) + [heliosBinary().path] + arguments
    } else {
        process.executableURL = heliosBinary()
        process.arguments = arguments
    }
    _ = FileManager.default.createFile(atPath: logDir.appendingPathComponent("\(tag).out").path, contents: nil)
    _ = FileManager.default.createFile(atPath: logDir.appendingPathComponent("\(tag).err").path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: logDir.appendingPathComponent("\(tag).out"))
    process.standardError = try FileHandle(forWritingTo: logDir.appendingPathComponent("\(tag).err"))
    try process.run()
    return process
}

/// Runs `helios` to completion and returns its exit status.
func runHelios(_ arguments: [String], logDir: URL, tag: String, via wrapper: [String] = []) async throws -> Int32 {
    let process = try startHelios(arguments, logDir: logDir, tag: tag, via: wrapper)
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }  // only when the test's time limit cancelled us
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    return process.terminationStatus
}
