import Foundation
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Many `helios job run` processes started at once on one job: exactly one runs it, every chunk runs once.
@Suite("helios job run: one runner per job", .timeLimit(.minutes(5)))
struct ConcurrentRunnersCLITests {
    static let runners = 8
    static let trials = 12
    static let chunks = 4

    @Test func concurrentRunnersExecuteEveryChunkExactlyOnce() async throws {
        var exits: [Int32: Int] = [:]
        for trial in 0..<Self.trials {
            let dir = try TempDir("runners\(trial)")
            defer { dir.cleanup() }
            // Each execution of a chunk appends a line: the count of lines is the count of executions.
            let spec = makeSpec(id: "race", chunks: Self.chunks) { i in
                "/bin/sh -c 'echo c\(i) >> runs.log; printf \(i) > out/c\(i).bin'"
            }
            try JobSpec.makeEncoder().encode(spec).write(to: dir.url.appendingPathComponent("race.json"))
            // Half the trials race on a pending job, half on a fresh spec (submit races too); both store formats.
            let store = ["--store", dir.path("store"), "--store-format", trial % 4 < 2 ? "sqlite" : "files"]
            if trial % 2 == 0 {
                #expect(try await runHelios(["job", "submit", dir.path("race.json")] + store, logDir: dir.url, tag: "submit") == 0)
            }
            let processes = try (0..<Self.runners).map { r in
                try startHelios(["job", "run", dir.path("race.json"), "--no-merge", "--output-check", "nonempty", "--quiet"] + store,
                                logDir: dir.url, tag: "run\(r)")
            }
            defer { for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) } }
            try #require(await waitUntil { processes.allSatisfy { !$0.isRunning } })
            let codes = processes.map(\.terminationStatus)
            for code in codes { exits[code, default: 0] += 1 }
            let runs = (dir.read("runs.log") ?? "").split(separator: "\n").map(String.init)
            let counts = Dictionary(runs.map { ($0, 1) }, uniquingKeysWith: +)
            #expect(counts == Dictionary(uniqueKeysWithValues: (0..<Self.chunks).map { ("c\($0)", 1) }),
                    "trial \(trial): executions \(counts), exits \(codes)")
            // One winner; the others found it running (8) or already completed (4).
            #expect(codes.filter { $0 == 0 }.count == 1, "trial \(trial): exits \(codes)")
            let unexpected = codes.enumerated().filter { ![0, 4, 8].contains($0.element) }.map { "run\($0.offset): \(dir.read("run\($0.offset).err") ?? "")" }
            #expect(unexpected.isEmpty, "trial \(trial): exits \(codes); \(unexpected.joined(separator: "; "))")
            for (r, code) in codes.enumerated() where code == 8 {
                let err = dir.read("run\(r).err") ?? ""
                #expect(err.contains("job race is running in process ") && err.contains(" on host "), "loser \(r) said: \(err)")
            }
        }
        // The measured figure for the record: how the runners ended.
        print("\(Self.runners) concurrent runners x \(Self.trials) trials: every chunk ran exactly once; exit codes \(exits.sorted { $0.key < $1.key })")
    }
}
