import Foundation
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Leases through real repositories and real chunk processes, in process.
@Suite("Job ownership and leases", .timeLimit(.minutes(6)))
struct JobOwnershipTests {
    /// `modify` is a compare-and-set: many writers through separate repository instances (separate SQLite
    /// connections, separate lock file descriptors) never lose an update.
    @Test(arguments: StoreKind.allCases)
    func concurrentModifiesNeverLoseAnUpdate(kind: StoreKind) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repos = try (0..<4).map { _ in try kind.make(dir) }
        try await repos[0].insert(JobStatus(spec: makeSpec(id: "counter", chunks: 1) { _ in "true" }, jobDirectory: dir.url.path))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    try await repos[i % repos.count].modify("counter") { status in
                        status.completedChunkIds.append("w\(i)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try await repos[1].load("counter")
        #expect(Set(final.completedChunkIds).count == 40)
    }

    @Test func aLeaseHeldOnAnotherHostBlocksUntilItExpires() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let repo = try FileJobRepository(directory: dir.url.appendingPathComponent("store"))
        let manager = JobManager(repository: repo)
        try await manager.submit(makeSpec(id: "remote", chunks: 2) { i in "/bin/sh -c 'printf \(i) > out/c\(i).bin'" }, jobDirectory: dir.url)
        let now = Date()
        var status = try await repo.load("remote")
        status.state = .running
        status.lease = JobLease(token: "far", pid: 4242, startTime: nil, host: "render-07.example", acquiredAt: now, heartbeatAt: now, expiresAt: now + 3600)
        try await repo.save(status)
        await #expect(throws: OrchestratorError.alreadyRunning(id: "remote", pid: 4242, host: "render-07.example")) {
            _ = try await manager.run("remote", options: testOptions())
        }
        #expect(OrchestratorError.alreadyRunning(id: "remote", pid: 4242, host: "render-07.example").description
                == "job remote is running in process 4242 on host render-07.example")
        // Pause cannot stop it here either: the request is stored for the holder.
        #expect(try await manager.pause("remote").state == .running)
        #expect(try await repo.pendingControl(for: "remote") == .pause)
        // Its heartbeat stopped an hour ago: the lease expired, the job is taken over.
        status.lease?.expiresAt = now - 1
        try await repo.save(status)
        let final = try await manager.run("remote", options: testOptions())
        #expect(final.state == .completed && final.lease == nil)
    }

    /// A runner whose lease is taken over (it had expired, say while the runner was stopped) notices at its next
    /// heartbeat, kills its chunks and exits without writing over the new holder's record.
    @Test func aRunnerThatLostItsLeaseStopsWithoutWriting() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path("pids"), withIntermediateDirectories: true)
        let repo = try SQLiteJobRepository(path: dir.path("store/jobs.sqlite"))
        let manager = JobManager(repository: repo)
        try await manager.submit(makeSpec(id: "fenced", chunks: 1) { _ in "/bin/sh -c 'echo $$ > pids/c0; \(runForever)'" }, jobDirectory: dir.url)
        var options = testOptions()
        options.leaseDuration = .milliseconds(600)  // heartbeat every 200 ms
        let run = Task { try await manager.run("fenced", options: options) }
        try #require(await waitUntil { pid(in: dir.path("pids/c0")) != nil })
        let child = try #require(pid(in: dir.path("pids/c0")))
        defer { killSurvivors([child]) }
        let now = Date()
        let usurper = JobLease(token: "usurper", pid: 1, startTime: nil, host: "elsewhere", acquiredAt: now, heartbeatAt: now, expiresAt: now + 3600)
        try await repo.modify("fenced") { $0.lease = usurper }
        await #expect(throws: OrchestratorError.leaseLost(id: "fenced")) { _ = try await run.value }
        #expect(await waitUntil { !isProcessAlive(child) }, "the chunk of the ousted runner survived")
        let stored = try await repo.load("fenced")
        #expect(stored.lease?.token == "usurper" && stored.state == .running)
    }
}
