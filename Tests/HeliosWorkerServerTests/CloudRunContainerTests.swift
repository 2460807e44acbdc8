import Foundation
import HeliosStorage
import HeliosTestSupport
import HeliosWorkers
import Testing

/// The Cloud Run image without a Docker engine: `scripts/cloudrun-context.sh` assembles the build context, and its
/// root/ (what `FROM scratch` + `COPY root/ /` makes the image's filesystem) runs as a chroot with only the host's
/// /dev, /proc and /tmp, started the way the Dockerfile's ENV and ENTRYPOINT say, with PORT set as Cloud Run sets it.
/// Needs root (unshare, mount, chroot); without it the test fails, it is never skipped.
@Suite(.serialized) struct CloudRunContainerTests {
    static let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// ENV and ENTRYPOINT of a Dockerfile (the simple forms ours uses).
    static func entry(of dockerfile: String) -> (environment: [String: String], command: [String]) {
        var environment: [String: String] = [:]
        var command: [String] = []
        let joined = dockerfile.replacingOccurrences(of: "\\\n", with: " ")
        for line in joined.split(separator: "\n") where !line.hasPrefix("#") {
            if line.hasPrefix("ENV ") {
                for pair in line.dropFirst(4).split(separator: " ") where pair.contains("=") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    environment[String(parts[0])] = String(parts[1])
                }
            } else if line.hasPrefix("ENTRYPOINT "), let data = line.dropFirst(11).data(using: .utf8) {
                command = (try? JSONDecoder().decode([String].self, from: data)) ?? []
            }
        }
        return (environment, command)
    }

    @Test("the image's root filesystem serves a chunk over loopback from a chroot without /usr, FFmpeg or Swift")
    func imageRootServesAChunk() async throws {
        let work = URL(fileURLWithPath: "/tmp/helios-cloudrun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let context = work.appendingPathComponent("context")
        let built = try await Shell.run(Self.packageDirectory.appendingPathComponent("scripts/cloudrun-context.sh").path,
                                        ["-c", "debug", "-b", builtProductsDirectory().path, "-z", "1", "-o", context.path])
        try #require(built.status == 0, "cloudrun-context.sh failed: \(built.stderr)")
        let root = context.appendingPathComponent("root")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: context.path)) == ["Dockerfile", "root"])
        let top = Set(try FileManager.default.contentsOfDirectory(atPath: root.path))
        #expect(top.isSuperset(of: ["bootstrap-serve", "bin", "lib", "libexec", "tmp", "etc"]) && !top.contains("bootstrap") && !top.contains("usr"), "\(top)")
        let dockerfile = try String(contentsOf: context.appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("FROM scratch"))
        let (environment, command) = Self.entry(of: dockerfile)
        #expect(command == ["/bootstrap-serve"])

        let chunk = ServerHarness.synthChunk("c1", start: 4, count: 3)
        let harness = try await ServerHarness(chunks: [ServerHarness.synthChunk("c0", start: 0, count: 4), chunk], underTmp: true)
        defer { harness.stop() }
        let server = try await WorkerServerProcess(command: command[0], arguments: Array(command.dropFirst()),
                                                   environment: environment.merging(harness.environment) { $1 }, root: root,
                                                   portFromEnvironment: true)
        defer { server.stop() }
        let answer = try await exchange(server.url + "/v1/chunks", body: try encoded(harness.request(chunk)))
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self)) \(server.output)")
        #expect(answer.response?.status == .succeeded)
        let key = try ArtifactKey("renders/job1/chunks/c1/attempt-1/c1.mp4")
        let local = work.appendingPathComponent("c1.mp4")
        _ = try await harness.store.download(key, to: local)
        #expect(try await Oracle.frameHashes(local).count == 3)
        #expect(server.logLines.contains { $0["message"] as? String == "listening" && $0["port"] as? String == String(server.port) })
        server.signal(SIGTERM)
        #expect(await server.waitForExit() == 0)
    }
}
