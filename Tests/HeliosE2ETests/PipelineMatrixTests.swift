import Foundation
import HeliosMedia
import HeliosOrchestrator
import HeliosSynth
import Testing

extension E2E {
    /// The pipeline over a matrix of chunk counts, splits, codecs and containers: planner → executor with local
    /// `helios-synth render` workers → native stitcher → SynthVerifier (frames and audio) on the result.
    ///
    /// | chunks | split                         | video+audio | container |
    /// |--------|-------------------------------|-------------|-----------|
    /// | 1      | 30 frames                     | H.264+AAC   | MP4       |
    /// | 2      | 25 + 15 (planner, by size)    | ProRes+PCM  | MOV       |
    /// | 7      | 6,1,9,4,1,8,3 (two 1-frame)   | VP9+Opus    | WebM      |
    /// | 7      | 45 frames by count (7,7,7,6…) | H.264+AAC   | MP4       |
    /// | 50     | 1,2,3,1,2,3… (99 frames)      | FFV1+PCM    | Matroska  |
    /// | 50     | 3 each (150 frames)           | H.264+AAC   | MP4       |
    /// | 7      | 6,1,9,4,1,8,3                 | H.264 (B-frames)+AAC | MP4 |
    /// | 7      | 6,1,9,4,1,8,3                 | HEVC (B-frames)+AAC  | Matroska |
    /// | 7      | 6,1,9,4,1,8,3                 | H.264 (B-frames)+AAC | fragmented MP4 |
    ///
    /// The synth's x264 and x265 settings use B-frames, so a 1- or 2-frame chunk decodes with less delay than its
    /// neighbours: the stitcher gives the output one decode delay for all.
    @Suite("Pipeline matrix")
    struct PipelineMatrixTests {
        static let cases: [PipelineCase] = [
            PipelineCase(label: "1 chunk, H.264+AAC, MP4", totalFrames: 30, split: .chunkCount(1), video: .h264, audio: .aac, container: "mp4"),
            PipelineCase(label: "2 chunks, ProRes+PCM, MOV", totalFrames: 40, split: .framesPerChunk(25), video: .prores, audio: .pcm, container: "mov"),
            PipelineCase(label: "7 uneven chunks with 1-frame chunks, VP9+Opus, WebM", totalFrames: 32, split: .chunkSizes([6, 1, 9, 4, 1, 8, 3]),
                         video: .vp9, audio: .opus, container: "webm"),
            PipelineCase(label: "7 chunks, H.264+AAC, MP4", totalFrames: 45, split: .chunkCount(7), video: .h264, audio: .aac, container: "mp4"),
            PipelineCase(label: "50 chunks of 1-3 frames, FFV1+PCM, Matroska", totalFrames: 99, split: .chunkSizes(PipelineCase.cyclingSizes(50)),
                         video: .ffv1, audio: .pcm, container: "mkv"),
            PipelineCase(label: "50 chunks of 3 frames, H.264+AAC, MP4", totalFrames: 150, split: .chunkCount(50), video: .h264, audio: .aac, container: "mp4"),
            PipelineCase(label: "7 uneven chunks with 1-frame chunks, H.264 B-frames+AAC, MP4", totalFrames: 32,
                         split: .chunkSizes([6, 1, 9, 4, 1, 8, 3]), video: .h264, audio: .aac, container: "mp4"),
            PipelineCase(label: "7 uneven chunks with 1-frame chunks, HEVC B-frames+AAC, Matroska", totalFrames: 32,
                         split: .chunkSizes([6, 1, 9, 4, 1, 8, 3]), video: .hevc, audio: .aac, container: "mkv"),
            PipelineCase(label: "7 uneven chunks with 1-frame chunks, H.264 B-frames+AAC, fragmented MP4", totalFrames: 32,
                         split: .chunkSizes([6, 1, 9, 4, 1, 8, 3]), video: .h264, audio: .aac, container: "mp4", fragmented: true),
        ]

        /// One AAC frame: the bound on the stitched file's decoded audio drift.
        static let aacFrame = 1024
        /// Lags are estimated to the sample; this is how far a seamless join's estimate may wobble on a lossy codec.
        static let lagResolution = 2

        @Test("frames are exact and audio is continuous", arguments: cases)
        func pipeline(_ c: PipelineCase) async throws {
            let dir = try WorkDirectory("matrix-\(c.container)")
            defer { dir.remove() }
            let run = try await SynthPipeline.run(c, in: dir.url)
            #expect(run.spec.chunks.count == run.chunks.count)
            #expect(run.report.isValid, "\(run.report.issues)")
            #expect(run.report.issues.isEmpty, "stitch findings: \(run.report.issues)")
            let verify = try await run.verifyFrames()
            let offGrid = try await run.framesOffTimestampGrid()
            #expect(offGrid.isEmpty, "frames off the timestamp grid (frame, ms): \(offGrid.prefix(8))")
            let audio = try #require(verify.audio, "the output has an audio stream")
            let stitchedDrift = run.report.output?.decodedAudioDriftSamples
            let discontinuities = run.stitchedAudioDiscontinuities
            let measured = audio.boundaries.compactMap(\.discontinuity)
            let summary = "\(c.label): decoded audio drift \(audio.driftSamples) samples (\(String(format: "%.2f", audio.driftMilliseconds)) ms),"
                + " stitcher's decoded drift \(stitchedDrift.map(String.init) ?? "-"), stitcher boundary discontinuities \(discontinuities),"
                + " measured boundary discontinuities \(measured)"
            print("[E2E] \(summary)")
            #expect(discontinuities.count == run.boundaries.count, "one audio boundary per chunk boundary")
            #expect(audio.boundaries.count == run.measurableBoundaries.count)
            #expect(audio.boundaries.allSatisfy { $0.discontinuity != nil }, "\(verify.text)")

            // Boundaries where the chunks on both sides have 3 frames or more, where a lag estimate is meaningful.
            let settled = Set(run.boundaries.indices.filter { k in
                let previous = k == 0 ? 0 : run.boundaries[k - 1]
                let next = k + 1 < run.boundaries.count ? run.boundaries[k + 1] : c.totalFrames
                return run.boundaries[k] - previous >= 3 && next - run.boundaries[k] >= 3
            }.map { run.boundaries[$0] })
            switch c.audio {
            case .pcm:
                #expect(audio.driftSamples == 0, "\(summary)")
                #expect(measured.allSatisfy { $0 == 0 }, "\(summary)")
                #expect(stitchedDrift == 0, "\(summary)")
                #expect(discontinuities.allSatisfy { $0 == 0 }, "\(summary)")
                #expect(audio.startLag == 0 && audio.endLag == 0, "\(summary)")
                #expect(verify.passed, "\(verify.text)")
            case .opus:
                #expect(audio.driftSamples == 0, "\(summary)")
                #expect(stitchedDrift == 0, "\(summary)")
                #expect(discontinuities.allSatisfy { $0 == 0 }, "\(summary)")
                // Independently encoded Opus chunks make the decoder ring for a few thousand samples after each
                // boundary (ffmpeg's concat output rings the same), which throws the lag estimate off when another
                // boundary sits inside its windows: measure where the chunks on both sides have 3 frames or more.
                // AudioPlacementTests locates every chunk's samples against an independent reference.
                let settledLags = audio.boundaries.filter { settled.contains($0.frame) }.compactMap(\.discontinuity)
                #expect(!settledLags.isEmpty, "\(summary)")
                #expect(settledLags.allSatisfy { abs($0) <= Self.lagResolution }, "\(summary)")
            case .aac:
                #expect(abs(audio.driftSamples) <= Self.aacFrame, "\(summary)")
                #expect(stitchedDrift.map { abs($0) <= Int64(Self.aacFrame) } == true, "\(summary)")
                // The stitcher keeps every boundary within half a frame of where the video says the audio belongs.
                #expect(discontinuities.allSatisfy { abs($0) <= Int64(Self.aacFrame / 2) }, "\(summary)")
                // And measured on the decoded audio: every stretch sits within half a frame of where the video puts it
                // (a few samples of slack for the lag estimate on a lossy codec).
                // (Where the chunks on both sides have 3 frames or more: a 1-frame chunk holds 1.5 AAC frames, too
                // little for the estimator's windows, which then straddle two boundaries.)
                let lags = audio.boundaries.filter { settled.contains($0.frame) }.flatMap { [$0.lagBefore, $0.lagAfter] }.compactMap { $0 }
                #expect(lags.allSatisfy { abs($0) <= Self.aacFrame / 2 + 8 }, "lags \(lags); \(summary)")
                #expect(verify.passed, "\(verify.text)")
            case .none:
                Issue.record("every matrix case has audio")
            }
        }
    }
}
