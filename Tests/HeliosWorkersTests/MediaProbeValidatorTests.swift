import Foundation
import HeliosMedia
import HeliosOrchestrator
@testable import HeliosRuntime
import HeliosTestSupport
import Testing

@Suite("Chunk output validation by probing (real FFmpeg)")
struct MediaProbeValidatorTests {
    @Test("chunks of one encoder are accepted after one decode; other media is decoded; non-media and cut files are refused by path")
    func acceptsMediaAndRefusesTheRest() async throws {
        let validator = MediaProbeValidator()
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        #expect(!validator.hasReference)
        for chunk in chunks { try await validator.validate(chunk) }
        #expect(validator.hasReference, "the first chunk's decoded parameters are kept")
        // A different encoder's chunk declares other parameters: it is decoded, not compared.
        try await validator.validate(try #require(try await FixtureCache.shared.files("webm-vp9-opus").first))

        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.mp4")
        try Data("not a video\n".utf8).write(to: text)
        let cut = dir.appendingPathComponent("cut.mp4")
        let whole = try Data(contentsOf: chunks[1])
        try whole.prefix(whole.count / 3).write(to: cut)
        for bad in [text, cut] {
            do {
                try await validator.validate(bad)
                Issue.record("\(bad.lastPathComponent) was accepted")
            } catch let failure as MediaFailure {
                #expect(failure.description.contains(bad.lastPathComponent), "\(failure)")
                #expect(!failure.isRetryable)
            }
        }
        // The refusals left the reference as it was: the encoder's chunks are still accepted.
        try await validator.validate(chunks[0])
    }

    @Test("chunks validated at once before any reference is known decode one at a time: only the first decodes")
    func firstChunksDecodeOneAtATime() async throws {
        let validator = MediaProbeValidator()
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in chunks + chunks { group.addTask { try await validator.validate(chunk) } }
            try await group.waitForAll()
        }
        // Without the wait, the validations that started before the first decode ended each decoded too.
        #expect(validator.probesWithoutReference == 1)
        #expect(validator.hasReference)
    }

    @Test("a chunk's output must hold the chunk's frames: one short or long is refused, naming both counts, and not retried")
    func countsFrames() async throws {
        let validator = MediaProbeValidator()
        let output = try #require(try await FixtureCache.shared.files("mp4-h264-aac").first)  // 30 frames
        func chunk(_ count: Int) -> RenderJobChunk {
            RenderJobChunk(id: "chunk-2", startFrame: 60, frameCount: count, outputFile: "c2.mp4", command: "render")
        }
        try await validator.validate(output, for: chunk(30))
        for count in [29, 31, 1] {
            do {
                try await validator.validate(output, for: chunk(count))
                Issue.record("30 frames accepted for a chunk of \(count)")
            } catch let mismatch as FrameCountMismatch {
                #expect(mismatch.frames == 30 && !mismatch.isRetryable)
                let frames = count == 1 ? "frame 60" : "frames 60 to \(60 + count - 1)"
                #expect(mismatch.description.hasPrefix("holds 30 video frames, but chunk chunk-2 is \(count) frame\(count == 1 ? "" : "s") (\(frames) of the composition)"),
                        "\(mismatch)")
            }
        }
        // Sound alone has no frames to count.
        try await validator.validate(try #require(try await FixtureCache.shared.files("m4a-audio-only").first), for: chunk(7))
    }
}
