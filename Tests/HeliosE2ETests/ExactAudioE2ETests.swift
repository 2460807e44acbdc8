import Foundation
import HeliosMedia
import HeliosSynth
import Testing

extension E2E {
    /// `--audio exact` through the whole pipeline: planner → executor with `helios-synth render` workers →
    /// `NativeStitcher` with the audio re-encoded → SynthVerifier locating the programme's tone at every boundary.
    @Suite("Exact audio end to end")
    struct ExactAudioE2ETests {
        static let cases: [PipelineCase] = [
            PipelineCase(label: "exact audio: 7 uneven chunks with 1-frame chunks, H.264 B-frames+AAC, Matroska", totalFrames: 62,
                         split: .chunkSizes([16, 1, 19, 4, 1, 18, 3]), video: .h264, audio: .aac, container: "mkv"),
            PipelineCase(label: "exact audio: 7 uneven chunks with 1-frame chunks, H.264 B-frames+AAC, MP4", totalFrames: 62,
                         split: .chunkSizes([16, 1, 19, 4, 1, 18, 3]), video: .h264, audio: .aac, container: "mp4"),
        ]

        @Test("every boundary sample-exact, the audio as long as the video", arguments: cases)
        func pipeline(_ c: PipelineCase) async throws {
            let dir = try WorkDirectory("exact-\(c.container)")
            defer { dir.remove() }
            let run = try await SynthPipeline.run(c, in: dir.url, audio: .exact)
            #expect(run.report.isValid, "\(run.report.issues)")
            let exact = try #require(run.report.output?.exactAudio?.first)
            #expect(exact.samples == Int64(c.totalFrames * 1600))
            let verify = try await run.verifyFrames()
            let audio = try #require(verify.audio)
            let measured = audio.boundaries.compactMap(\.discontinuity)
            print("[E2E] \(c.label): decoded audio drift \(audio.driftSamples) samples, start lag \(audio.startLag.map(String.init) ?? "-"),"
                  + " end lag \(audio.endLag.map(String.init) ?? "-"), measured boundary discontinuities \(measured)"
                  + " at frames \(audio.boundaries.map(\.frame))")
            #expect(audio.boundaries.count == run.measurableBoundaries.count)
            #expect(!measured.isEmpty && measured.count == audio.boundaries.count, "\(verify.text)")
            // Lags are estimated to the sample on a lossy codec: allow the estimate's wobble, nothing like copy mode's
            // hundreds of samples.
            #expect(measured.allSatisfy { abs($0) <= 2 }, "\(verify.text)")
            #expect(audio.startLag == 0 && audio.endLag == 0, "\(verify.text)")
            if c.container == "mkv" {
                #expect(audio.driftSamples == 0, "Matroska marks the short last frame: \(verify.text)")
            } else {
                #expect(audio.driftSamples >= 0 && audio.driftSamples < 1024, "the last AAC frame decodes whole: \(verify.text)")
            }
        }
    }
}
