import Foundation
import HeliosMedia
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
}
