import Foundation
import HeliosOrchestrator
import HeliosSynth
import Testing

extension E2E {
    /// Rendering and stitching the same plan twice, in different directories, gives byte-identical chunks and
    /// byte-identical stitched files (bit-exact encoders and muxers; nothing random, no paths or dates in the output).
    @Suite("Determinism")
    struct DeterminismE2ETests {
        static let cases: [PipelineCase] = [
            PipelineCase(label: "3 chunks, H.264+AAC, MP4", totalFrames: 24, split: .chunkSizes([10, 5, 9]), video: .h264, audio: .aac, container: "mp4"),
            PipelineCase(label: "3 chunks, VP9+Opus, WebM", totalFrames: 24, split: .chunkSizes([10, 1, 13]), video: .vp9, audio: .opus, container: "webm"),
            PipelineCase(label: "3 chunks, ProRes+PCM, MOV", totalFrames: 24, split: .chunkCount(3), video: .prores, audio: .pcm, container: "mov"),
            PipelineCase(label: "3 chunks, FFV1+PCM, Matroska", totalFrames: 24, split: .chunkSizes([1, 20, 3]), video: .ffv1, audio: .pcm, container: "mkv"),
        ]

        @Test("two runs give byte-identical outputs", arguments: cases)
        func twice(_ c: PipelineCase) async throws {
            let first = try WorkDirectory("determinism-a-\(c.container)")
            let second = try WorkDirectory("determinism-b-\(c.container)")
            defer { first.remove(); second.remove() }
            let a = try await SynthPipeline.run(c, in: first.url)
            let b = try await SynthPipeline.run(c, in: second.url)
            for (k, (x, y)) in zip(a.chunks, b.chunks).enumerated() {
                #expect(try Data(contentsOf: x) == Data(contentsOf: y), "chunk \(k) differs between runs")
            }
            let outputA = try Data(contentsOf: a.output), outputB = try Data(contentsOf: b.output)
            #expect(outputA.count > 0)
            #expect(outputA == outputB, "stitched files differ (\(outputA.count) vs \(outputB.count) bytes)")
            try await a.verifyFrames()
        }
    }
}
