import Foundation
import HeliosTestSupport
import Testing

/// `helios job run --workers` as the CLI parses it: repeatable pools, each with its own concurrency.
@Suite struct WorkerPoolCLITests {
    func run(_ arguments: [String]) async throws -> Shell.Result {
        let home = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: home) }
        let spec = home.appendingPathComponent("spec.json")
        try Data("{\"id\":\"p\",\"metadata\":{\"totalFrames\":1,\"fps\":30,\"width\":16,\"height\":16,\"duration\":0.0333},\"chunks\":[{\"id\":\"c0\",\"startFrame\":0,\"frameCount\":1,\"outputFile\":\"c0.txt\",\"command\":\"sh -c 'echo x > c0.txt'\"}]}".utf8).write(to: spec)
        return try await Shell.run("/usr/bin/env", ["HELIOS_HOME=\(home.path)", builtProductsDirectory().appendingPathComponent("helios").path,
                                                    "job", "run", spec.path, "--quiet", "--no-merge", "--output-check", "nonempty"] + arguments)
    }

    @Test("bad pools are refused (exit 2, the usage error) before anything runs, naming the pool; --concurrency with several pools is refused")
    func badPools() async throws {
        for (pools, message) in [(["cloudrun:ftp://x.example"], "service URL"), (["cloudrun:https://a.run.app@0"], "at least 1"),
                                 (["gpu:1"], "expected local[@N]"), (["local@2", "local@x"], "whole number")] {
            let result = try await run(pools.flatMap { ["--workers", $0] })
            #expect(result.status == 2, "\(pools): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(message), "\(pools): \(result.stderr)")
        }
        let both = try await run(["--workers", "local@1", "--workers", "local@2", "--concurrency", "3"])
        #expect(both.status == 2 && both.stderr.contains("give each --workers its own @N"), "\(both.stderr)")
    }

    @Test("several pools (local ones here) run one job")
    func severalPools() async throws {
        let result = try await run(["--workers", "local@1", "--workers", "local@2"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("completed, 1/1 chunks"), "\(result.stdout)")
    }
}
