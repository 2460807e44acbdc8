import Foundation
import HeliosOrchestrator
import HeliosStorage
import Testing

/// The merge's input side: recorded chunk outputs made verified local files, from `file://` in place or from a store.
@Suite("ChunkOutputFetcher and the records the merge reads", .timeLimit(.minutes(6)))
struct ChunkOutputFetcherTests {
    static func record(_ uri: String, _ bytes: [UInt8], chunk: String, attempt: Int = 1) async throws -> ChunkOutputRecord {
        ChunkOutputRecord(uri: uri, bytes: Int64(bytes.count), sha256: try await TestHash.sha256(bytes), attempt: attempt, worker: "test", chunkId: chunk)
    }

    @Test func fileOutputsAreReadInPlaceAndStoredOnesDownloadedInOrder() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = InMemoryArtifactStore(name: "jobs")
        var records: [ChunkOutputRecord] = []
        for i in 0..<9 {
            let bytes = Array("chunk \(i) ".utf8) + Array(repeating: UInt8(i), count: 1000 * i)
            if i % 2 == 0 {
                let file = dir.url.appendingPathComponent("c\(i).bin")
                try Data(bytes).write(to: file)
                records.append(try await Self.record(file.absoluteString, bytes, chunk: "c\(i)"))
            } else {
                let key = try ArtifactKey("job/chunks/c\(i)/attempt-1/c\(i).bin")
                _ = try await store.put(bytes: bytes, to: key)
                records.append(try await Self.record(store.uri(for: key), bytes, chunk: "c\(i)"))
            }
        }
        let fetcher = ChunkOutputFetcher { uri throws(StorageError) in
            guard uri.hasPrefix("memory://jobs/") else { throw StorageError(.invalidURI, "unknown store", key: uri) }
            return (store, try ArtifactKey(String(uri.dropFirst("memory://jobs/".count))))
        }
        let staging = dir.url.appendingPathComponent("staging")
        let files = try await fetcher.fetch(records, staging: staging)
        #expect(files.count == 9)
        for (i, file) in files.enumerated() {
            #expect(try await TestHash.sha256(Array(try Data(contentsOf: file))) == records[i].sha256, "c\(i) in order")
            // file:// outputs are used where they are; stored ones land in the staging directory.
            #expect(file.path.hasPrefix(staging.path) == (i % 2 == 1), "\(file.path)")
        }
    }

    /// A progressive merge fetches batch after batch into one staging directory: each batch's downloads are named
    /// on from `firstIndex`, so a later batch never lands on an earlier one's files.
    @Test func laterBatchesAreNamedOnFromTheirFirstIndex() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = InMemoryArtifactStore(name: "jobs")
        var records: [ChunkOutputRecord] = []
        for i in 0..<6 {
            let bytes = Array("chunk \(i) ".utf8) + Array(repeating: UInt8(i), count: 100 * i)
            // Every attempt's object has the same file name: only the index tells the downloads apart.
            let key = try ArtifactKey("job/chunks/c\(i)/attempt-1/out.bin")
            _ = try await store.put(bytes: bytes, to: key)
            records.append(try await Self.record(store.uri(for: key), bytes, chunk: "c\(i)"))
        }
        let fetcher = ChunkOutputFetcher { uri throws(StorageError) in
            (store, try ArtifactKey(String(uri.dropFirst("memory://jobs/".count))))
        }
        let staging = dir.url.appendingPathComponent("staging")
        let first = try await fetcher.fetch(Array(records.prefix(2)), staging: staging)
        let second = try await fetcher.fetch(Array(records.dropFirst(2)), firstIndex: 2, staging: staging)
        let files = first + second
        #expect(files.map(\.lastPathComponent) == (0..<6).map { String(format: "%06d-out.bin", $0) })
        for (i, file) in files.enumerated() {
            #expect(try await TestHash.sha256(Array(try Data(contentsOf: file))) == records[i].sha256, "c\(i) kept its own bytes")
        }
    }

    @Test func atMostFourDownloadsAreInFlight() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let inner = InMemoryArtifactStore(name: "jobs")
        let store = GatedStore(inner: inner)
        var records: [ChunkOutputRecord] = []
        for i in 0..<10 {
            let bytes = Array("chunk \(i)".utf8)
            let key = try ArtifactKey("job/chunks/c\(i)/attempt-1/c\(i).bin")
            _ = try await inner.put(bytes: bytes, to: key)
            records.append(try await Self.record(inner.uri(for: key), bytes, chunk: "c\(i)"))
        }
        let fetcher = ChunkOutputFetcher { uri throws(StorageError) in
            (store, try ArtifactKey(String(uri.dropFirst("memory://jobs/".count))))
        }
        let fetch = Task { try await fetcher.fetch(records, staging: dir.url.appendingPathComponent("staging")) }
        // Every download waits at the gate: the fetcher starts 4 and no more until one ends.
        #expect(await waitUntil { store.inFlight == 4 })
        try await Task.sleep(for: .milliseconds(200))
        #expect(store.inFlight == 4 && store.peak == 4)
        store.open()
        #expect(try await fetch.value.count == 10)
        #expect(store.peak == 4 && store.started == 10)
    }

    @Test func aMismatchIsANonRetryableErrorNamingChunkURIAndBothValues() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file = dir.url.appendingPathComponent("c0.bin")
        let bytes = Array("the accepted output".utf8)
        try Data(bytes).write(to: file)
        let good = try await Self.record(file.absoluteString, bytes, chunk: "c0", attempt: 2)
        try Data("changed after it was recorded".utf8).write(to: file)
        do {
            _ = try await ChunkOutputFetcher.standard().fetch([good], staging: dir.url.appendingPathComponent("s"))
            Issue.record("a changed file was accepted")
        } catch let error as ChunkOutputFetchError {
            #expect(error.code == .mismatch)
            #expect(!error.isRetryable)
            let text = "\(error)"
            #expect(text.contains("chunk c0") && text.contains(file.absoluteString), "\(text)")
            #expect(text.contains(good.sha256) && text.contains("\(bytes.count) bytes") && text.contains("attempt 2"), "\(text)")
            #expect(text.contains("29 bytes"), "the actual size: \(text)")
        }

        // A stored object that is not the recorded one: refused, and nothing is left in the staging directory.
        let store = InMemoryArtifactStore(name: "jobs")
        let key = try ArtifactKey("job/chunks/c1/attempt-1/c1.bin")
        _ = try await store.put(bytes: Array("late attempt".utf8), to: key)
        let fetcher = ChunkOutputFetcher { _ throws(StorageError) in (store, key) }
        let staging = dir.url.appendingPathComponent("staging")
        let accepted = try await Self.record(store.uri(for: key), Array("accepted".utf8), chunk: "c1")
        await #expect(throws: ChunkOutputFetchError.self) { _ = try await fetcher.fetch([accepted], staging: staging) }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? []).isEmpty)
    }

    @Test func aMissingOutputNamesTheChunk() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let missing = ChunkOutputRecord(uri: dir.url.appendingPathComponent("gone.bin").absoluteString, bytes: 3,
                                        sha256: String(repeating: "0", count: 64), attempt: 1, worker: "local", chunkId: "c7")
        do {
            _ = try await ChunkOutputFetcher.standard().fetch([missing], staging: dir.url)
            Issue.record("a missing file was accepted")
        } catch let error as ChunkOutputFetchError {
            #expect(error.chunkId == "c7" && "\(error)".contains("gone.bin"), "\(error)")
        }
    }

    @Test func localChunksAreRecordedAsFileURIsWithTheirHashAndTheMergeVerifiesThem() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(makeSpec(id: "records", chunks: 3) { i in "/bin/sh -c 'printf c\(i) > out/c\(i).bin'" }, jobDirectory: dir.url)
        let status = try await manager.run("records", options: testOptions(concurrency: 1))
        #expect(status.state == .completed)
        let outputs = try #require(status.chunkOutputs)
        #expect(outputs.count == 3)
        for i in 0..<3 {
            let record = try #require(outputs["c\(i)"])
            #expect(record.uri == dir.url.appendingPathComponent("out/c\(i).bin").absoluteString)
            #expect(record.sha256 == (try await TestHash.sha256(Array("c\(i)".utf8))) && record.bytes == 2)
            #expect(record.worker == "local" && record.attempt == 1 && record.chunkId == "c\(i)")
        }
        #expect(dir.read("records.bin") == "c0c1c2")

        // A chunk output changed after it was accepted (here by the next chunk's command) fails the merge by name.
        let tamper = makeSpec(id: "tamper", chunks: 2) { i in
            i == 0 ? "/bin/sh -c 'printf ok > out/c0.bin'" : "/bin/sh -c 'printf changed > out/c0.bin; printf c1 > out/c1.bin'"
        }
        try await manager.submit(tamper, jobDirectory: dir.url)
        let failed = try await manager.run("tamper", options: testOptions(concurrency: 1))
        #expect(failed.state == .failed)
        #expect(failed.error?.contains("chunk c0") == true && failed.error?.contains("expected 2 bytes") == true, "\(failed.error ?? "")")
    }

    @Test func aLocalAssetsURLIsTheDirectoryLocalCommandsSee() async throws {
        let job = URL(fileURLWithPath: "/jobs/a")
        func spec(_ assets: String?) -> JobSpec {
            JobSpec(id: "x", assetsUrl: assets, metadata: JobMetadata(totalFrames: 1, fps: 1, width: 1, height: 1), chunks: [])
        }
        #expect(spec("assets").localAssetsDirectory(relativeTo: job)?.path == "/jobs/a/assets")
        #expect(spec("/srv/fonts").localAssetsDirectory(relativeTo: job)?.path == "/srv/fonts")
        #expect(spec("file:///srv/my%20fonts").localAssetsDirectory(relativeTo: job)?.path == "/srv/my fonts")
        #expect(spec("s3://bucket/assets").localAssetsDirectory(relativeTo: job) == nil)
        #expect(spec("https://cdn.example.com/a").localAssetsDirectory(relativeTo: job) == nil)
        #expect(spec(nil).localAssetsDirectory(relativeTo: job) == nil)

        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("assets"), withIntermediateDirectories: true)
        try Data("font".utf8).write(to: dir.url.appendingPathComponent("assets/font.ttf"))
        var withAssets = makeSpec(id: "assets", chunks: 1) { _ in "/bin/sh -c 'cat \"$HELIOS_ASSETS_DIR/font.ttf\" > out/c0.bin'" }
        withAssets.assetsUrl = "assets"
        let manager = JobManager(repository: try FileJobRepository(directory: dir.url.appendingPathComponent("store")))
        try await manager.submit(withAssets, jobDirectory: dir.url)
        #expect(try await manager.run("assets", options: testOptions()).state == .completed)
        #expect(dir.read("out/c0.bin") == "font")
    }
}

/// SHA-256 as the stores record it, of bytes in memory (through a temp file and the stores' own hash).
enum TestHash {
    static func sha256(_ bytes: [UInt8]) async throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("helios-hash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(bytes).write(to: file)
        return try await FileHash.sha256(of: file).sha256
    }
}

/// A store whose downloads wait until ``open()``, counting how many are in flight: the fetcher's bound, observed.
final class GatedStore: ArtifactStore, @unchecked Sendable {
    let inner: InMemoryArtifactStore
    private let lock = NSLock()
    private var current = 0, maximum = 0, calls = 0, isOpen = false
    init(inner: InMemoryArtifactStore) { self.inner = inner }

    var inFlight: Int { lock.withLock { current } }
    var peak: Int { lock.withLock { maximum } }
    var started: Int { lock.withLock { calls } }
    func open() { lock.withLock { isOpen = true } }

    var backend: String { inner.backend }
    func uri(for key: ArtifactKey) -> String { inner.uri(for: key) }
    func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        try await inner.put(file: file, to: key, options: options)
    }
    func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        try await inner.put(bytes: bytes, to: key, options: options)
    }
    func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8] { try await inner.get(key) }
    func download(_ key: ArtifactKey, to destination: URL,
                  progress: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata {
        lock.withLock { current += 1; calls += 1; maximum = max(maximum, current) }
        defer { lock.withLock { current -= 1 } }
        while !lock.withLock({ isOpen }) {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { throw StorageError(.cancelled, "cancelled") }
        }
        return try await inner.download(key, to: destination, progress: progress)
    }
    func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata { try await inner.metadata(key) }
    func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool { try await inner.delete(key) }
    func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing { inner.list(prefix: prefix, recursive: recursive) }
    func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL {
        try inner.url(for: key, expiresIn: expiresIn, method: method)
    }
}
