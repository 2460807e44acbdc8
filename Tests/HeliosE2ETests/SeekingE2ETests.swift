import Foundation
import HeliosOrchestrator
import HeliosSynth
import Testing

extension E2E {
    /// Seeking in stitched files lands on exactly the frame asked for, with our decoder wrapper (`VideoFileReader`)
    /// and with the ffmpeg CLI's accurate seek, at the first and last frame of every chunk (where timestamps were
    /// offset by the stitcher and where keyframes start) and at a few random frames.
    @Suite("Seeking in stitched files")
    struct SeekingE2ETests {
        struct SeekCase: Sendable, CustomTestStringConvertible {
            var pipeline: PipelineCase
            /// Chunks whose first and last frames are sampled; nil samples every chunk.
            var sampledChunks: [Int]?
            var testDescription: String { pipeline.label }
        }

        static let cases: [SeekCase] = [
            // Several keyframes per chunk (gop 8) and B-frames, so most targets need decoding from an earlier keyframe.
            SeekCase(pipeline: PipelineCase(label: "7 uneven chunks, H.264+AAC, MP4, gop 8", totalFrames: 94,
                                            split: .chunkSizes([20, 13, 27, 4, 10, 6, 14]), video: .h264, audio: .aac, container: "mp4", gop: 8)),
            SeekCase(pipeline: PipelineCase(label: "7 uneven chunks with 1-frame chunks, VP9+Opus, WebM", totalFrames: 32,
                                            split: .chunkSizes([6, 1, 9, 4, 1, 8, 3]), video: .vp9, audio: .opus, container: "webm")),
            SeekCase(pipeline: PipelineCase(label: "2 chunks, ProRes+PCM, MOV", totalFrames: 40, split: .framesPerChunk(25),
                                            video: .prores, audio: .pcm, container: "mov")),
            // 50 chunks: every 7th chunk and the last are sampled (16 frames plus random ones), to keep ffmpeg runs few.
            SeekCase(pipeline: PipelineCase(label: "50 chunks of 3 frames, H.264+AAC, MP4", totalFrames: 150, split: .chunkCount(50),
                                            video: .h264, audio: .aac, container: "mp4"),
                     sampledChunks: Array(stride(from: 0, to: 50, by: 7)) + [49]),
        ]

        /// Random frames added to the chunk edges.
        static let randomFrames = 3

        @Test("seeking lands on the exact frame", arguments: cases)
        func seek(_ s: SeekCase) async throws {
            let c = s.pipeline
            let dir = try WorkDirectory("seek-\(c.container)")
            defer { dir.remove() }
            let run = try await SynthPipeline.run(c, in: dir.url)
            let chunks = s.sampledChunks.map { $0.map { run.spec.chunks[$0] } } ?? run.spec.chunks
            var targets = Set(chunks.flatMap { [$0.startFrame, $0.startFrame + $0.frameCount - 1] })
            var generator = SystemRandomNumberGenerator()
            while targets.count < chunks.count * 2 + Self.randomFrames, targets.count < c.totalFrames {
                targets.insert(Int.random(in: 0..<c.totalFrames, using: &generator))
            }
            let frames = targets.sorted().shuffled()  // out of order, so every seek really moves

            let output = run.output
            let found = try await onOwnThread {
                let reader = try VideoFileReader(url: output)
                return try frames.map { try reader.index(atFrame: $0) }
            }
            for (frame, index) in zip(frames, found) {
                #expect(index == frame, "VideoFileReader seek to frame \(frame) of \(output.lastPathComponent)")
            }
            let start = try await FFmpegOracle.videoStartTime(run.output)
            var wrong: [String] = []
            for frame in frames {
                do {
                    let index = try await FFmpegOracle.indexAfterSeek(run.output, frame: frame, fps: c.fps, videoStart: start,
                                                                      width: c.width, height: c.height)
                    if index != frame { wrong.append("\(frame) -> \(index.map(String.init) ?? "unreadable")") }
                } catch {
                    wrong.append("\(frame) -> \(error)")
                }
            }
            // Accurate seek trusts the timestamps: every stitched frame must sit on its own slot of the frame grid.
            #expect(wrong.isEmpty, "ffmpeg -ss to these frames (video starts at \(start) s) of \(run.output.lastPathComponent) decoded another: \(wrong)")
        }
    }
}
