import Foundation
import HeliosOrchestrator
import Testing

/// Peak memory of `helios job submit`, `list` and `status` grows with the number of chunks by a small constant.
/// Measured as the difference in peak RSS (GNU time, `%M`) between a 2,000 and a 20,000 chunk job, so the
/// runtime's fixed cost cancels out.
@Suite("helios job: memory per chunk", .timeLimit(.minutes(6)))
struct SpecMemoryCLITests {
    static let time = "/usr/bin/time"
    /// Bytes of peak memory per chunk allowed; a chunk's spec text is about 170 bytes.
    static let bytesPerChunkLimit = 2048

    func peakKiB(_ arguments: [String], dir: TempDir, tag: String) async throws -> Int {
        let code = try await runHelios(arguments, logDir: dir.url, tag: tag, via: [Self.time, "-f", "%M", "-o", dir.path("\(tag).rss")])
        try #require(code == 0, "\(arguments) failed: \(dir.read("\(tag).err") ?? "")")
        return try #require(Int((dir.read("\(tag).rss") ?? "").split(separator: "\n").last.map(String.init) ?? ""))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: time)))
    func submitListAndStatusUseMemoryProportionalToChunks() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var peaks: [String: [Int]] = [:]
        let sizes = [2_000, 20_000]
        for chunks in sizes {
            let spec = try JobPlanner(id: "m\(chunks)", totalFrames: chunks, fps: 25, width: 16, height: 16, split: .framesPerChunk(1),
                                      commandTemplate: "/usr/bin/render --start {start} --count {count} --output {output}",
                                      outputPattern: "chunks/chunk-{chunk}.mp4").plan()
            let path = dir.path("m\(chunks).json")
            try JobSpec.makeEncoder().encode(spec).write(to: URL(fileURLWithPath: path))
            let store = ["--store", dir.path("store\(chunks)")]
            peaks["submit", default: []].append(try await peakKiB(["job", "submit", path] + store, dir: dir, tag: "submit\(chunks)"))
            peaks["list", default: []].append(try await peakKiB(["job", "list"] + store, dir: dir, tag: "list\(chunks)"))
            peaks["status", default: []].append(try await peakKiB(["job", "status", "m\(chunks)", "--json"] + store, dir: dir, tag: "status\(chunks)"))
        }
        for (command, kib) in peaks.sorted(by: { $0.key < $1.key }) {
            let perChunk = (kib[1] - kib[0]) * 1024 / (sizes[1] - sizes[0])
            print("memory: helios job \(command): peak \(kib[0]) KiB at \(sizes[0]) chunks, \(kib[1]) KiB at \(sizes[1]); \(perChunk) bytes per chunk")
            #expect(perChunk < Self.bytesPerChunkLimit, "helios job \(command): \(perChunk) bytes per chunk")
        }
    }
}
