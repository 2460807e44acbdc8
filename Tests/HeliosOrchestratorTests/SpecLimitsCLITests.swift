import Foundation
import HeliosOrchestrator
import Testing

/// Specs that used to crash `helios` or exhaust memory, and specs in the original TypeScript shape, through the CLI.
@Suite("helios job: hostile and original-shape specs", .timeLimit(.minutes(6)))
struct SpecLimitsCLITests {
    @Test func framesNearThe64BitLimitAreAValidationErrorNotACrash() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let json = """
            {"id": "huge", "metadata": {"totalFrames": 9223372036854775807, "fps": 25, "width": 16, "height": 16, "duration": 1},
             "chunks": [{"id": "a", "startFrame": 0, "frameCount": 9223372036854775807, "outputFile": "a.bin", "command": "true"},
                        {"id": "b", "startFrame": 9223372036854775807, "frameCount": 9223372036854775807, "outputFile": "b.bin", "command": "true"}]}
            """
        try Data(json.utf8).write(to: dir.url.appendingPathComponent("huge.json"))
        #expect(try await runHelios(["job", "submit", dir.path("huge.json"), "--store", dir.path("store")], logDir: dir.url, tag: "submit") == 2)
        let err = dir.read("submit.err") ?? ""
        #expect(err.contains("chunk 'b': startFrame 9223372036854775807 exceeds the limit of 1000000000000 frames"), "\(err)")
        #expect(err.contains("metadata.totalFrames 9223372036854775807 exceeds the limit"), "\(err)")

        let plan = ["job", "plan", "--id", "p", "--fps", "25", "--width", "16", "--height", "16", "--command", "render {start}"]
        #expect(try await runHelios(plan + ["--frames", "9223372036854775807", "--chunk-size", "9223372036854775807"], logDir: dir.url, tag: "plan1") == 2)
        #expect(dir.read("plan1.err")?.contains("total frames 9223372036854775807 exceed the limit of 1000000000000") == true)
        #expect(try await runHelios(plan + ["--frames", "1000000000000", "--chunk-size", "1"], logDir: dir.url, tag: "plan2") == 2)
        #expect(dir.read("plan2.err")?.contains("cuts 1000000000000 frames into 1000000000000 chunks; the limit is 100000") == true)
    }

    @Test func specFilesOverTheLimitAreRefusedBeforeParsing() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // A valid spec padded with whitespace past 16 MiB: only its size is wrong.
        var data = try JobSpec.makeEncoder().encode(makeSpec(id: "big", chunks: 1) { _ in "true" })
        data.append(Data(repeating: 0x20, count: JobSpec.maximumSpecBytes + 1 - data.count))
        try data.write(to: dir.url.appendingPathComponent("big.json"))
        #expect(try await runHelios(["job", "submit", dir.path("big.json"), "--store", dir.path("store")], logDir: dir.url, tag: "submit") == 2)
        #expect(dir.read("submit.err")?.contains("big.json: is 16777217 bytes; job specs are limited to 16 MiB (16777216 bytes)") == true,
                "\(dir.read("submit.err") ?? "")")
        data.removeLast()  // exactly at the limit: accepted
        try data.write(to: dir.url.appendingPathComponent("big.json"))
        #expect(try await runHelios(["job", "submit", dir.path("big.json"), "--store", dir.path("store")], logDir: dir.url, tag: "ok") == 0)
    }

    /// `RenderJobChunk.id: number` and a numeric job id (the original TypeScript interface) are read as their decimal
    /// strings; the stored spec writes them back as strings.
    @Test func numericIdsOfTheOriginalShapeAreReadAsStrings() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let json = """
            {"id": 42, "metadata": {"totalFrames": 2, "fps": 25, "width": 16, "height": 16, "duration": 0.08},
             "chunks": [{"id": 0, "startFrame": 0, "frameCount": 1, "outputFile": "out/0.bin", "command": "/bin/sh -c 'printf a > out/0.bin'"},
                        {"id": 1, "startFrame": 1, "frameCount": 1, "outputFile": "out/1.bin", "command": "/bin/sh -c 'printf b > out/1.bin'"}]}
            """
        let spec = try JobSpec.makeDecoder().decode(JobSpec.self, from: Data(json.utf8))
        #expect(spec.id == "42" && spec.chunks.map(\.id) == ["0", "1"])
        let written = String(decoding: try JobSpec.makeEncoder(pretty: false).encode(spec), as: UTF8.self)
        #expect(written.contains("\"id\":\"0\"") && written.contains("\"id\":\"42\""))
        #expect(throws: DecodingError.self) { try JobSpec.makeDecoder().decode(JobSpec.self, from: Data(json.replacingOccurrences(of: "\"id\": 0,", with: "\"id\": 0.5,").utf8)) }

        try Data(json.utf8).write(to: dir.url.appendingPathComponent("ts.json"))
        let code = try await runHelios(["job", "run", dir.path("ts.json"), "--store", dir.path("store"), "--output-check", "nonempty",
                                        "--merge-command", "/bin/sh -c 'cat out/0.bin out/1.bin > {output}'"], logDir: dir.url, tag: "run")
        #expect(code == 0, "\(dir.read("run.err") ?? "")")
        #expect(dir.read("42.bin") == "ab")
        #expect(try await runHelios(["job", "status", "42", "--json", "--store", dir.path("store")], logDir: dir.url, tag: "status") == 0)
        let status = try JobSpec.makeDecoder().decode(JobStatus.self, from: Data((dir.read("status.out") ?? "").utf8))
        #expect(status.completedChunkIds.sorted() == ["0", "1"])
    }
}
