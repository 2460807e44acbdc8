import Foundation
import HeliosOrchestrator
import HeliosSynth
import Testing

extension E2E {
    /// With lossless codecs a chunked render stitched without re-encoding decodes to exactly the pictures (and PCM
    /// samples) of a single-pass render of the whole range: ffmpeg's per-frame MD5s of both files are equal.
    @Suite("Lossless stitch equals a single-pass render")
    struct LosslessE2ETests {
        static let cases: [PipelineCase] = [
            PipelineCase(label: "50 chunks of 1-3 frames, FFV1+PCM, Matroska", totalFrames: 99, split: .chunkSizes(PipelineCase.cyclingSizes(50)),
                         video: .ffv1, audio: .pcm, container: "mkv"),
            PipelineCase(label: "7 uneven chunks with 1-frame chunks, lossless H.264, MP4", totalFrames: 31, split: .chunkSizes([5, 1, 9, 4, 1, 8, 3]),
                         video: .h264, audio: .none, container: "mp4", lossless: true),
        ]

        @Test("decoded frames equal the single-pass render's", arguments: cases)
        func matchesSinglePass(_ c: PipelineCase) async throws {
            let dir = try WorkDirectory("lossless-\(c.container)")
            defer { dir.remove() }
            let run = try await SynthPipeline.run(c, in: dir.url)
            let reference = dir.file("single-pass.\(c.container)")
            try await SynthPipeline.renderSinglePass(c, to: reference)

            let stitched = try await FFmpegOracle.videoFrameHashes(run.output)
            let single = try await FFmpegOracle.videoFrameHashes(reference)
            #expect(stitched.count == c.totalFrames)
            #expect(single.count == c.totalFrames)
            let differing = zip(stitched, single).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            #expect(differing.isEmpty && stitched.count == single.count, "frames whose decoded pictures differ: \(differing.prefix(10))")
            // Each picture is the one its index calls for, not just the same as the reference.
            try await run.verifyFrames()

            if c.audio == .pcm {
                let stitchedAudio = try await FFmpegOracle.audioHash(run.output)
                let singleAudio = try await FFmpegOracle.audioHash(reference)
                #expect(stitchedAudio == singleAudio, "decoded PCM of the stitch equals the single-pass render's")
            }
        }
    }
}
