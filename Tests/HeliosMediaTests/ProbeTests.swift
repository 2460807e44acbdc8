import Foundation
@testable import HeliosMedia
import Testing

/// Probing a series decodes the start of input 1 only; every other input must come out as if probed alone.
@Suite("Probing a series of inputs", .serialized)
struct ProbeTests {
    @Test("inputs probed after a reference equal inputs probed alone", arguments: ["mp4-h264-aac", "webm-vp9-opus", "ts-h264-aac", "mov-prores-pcm"])
    func seriesEqualsStandalone(set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        var reference: ProbeReference?
        for chunk in chunks {
            let inSeries = try MediaProbe.probe(chunk, reference: &reference)
            let alone = try MediaProbe.probe(chunk)
            #expect(inSeries == alone, "\(chunk.lastPathComponent)")
        }
    }

    @Test("an input whose header differs from the reference is decoded, so its own parameters are reported")
    func differingHeaderIsDecoded() async throws {
        let good = try await FixtureCache.shared.files("mp4-h264-aac")
        let other = try await FixtureCache.shared.files("bad-resolution")
        var reference: ProbeReference?
        _ = try MediaProbe.probe(good[0], reference: &reference)
        let probed = try MediaProbe.probe(other[0], reference: &reference)
        let video = try #require(probed.streams.first { $0.signature.kind == .video })
        #expect(video.signature.width == 192)
        #expect(video.signature.pixelFormat == "yuv420p")
        #expect(video.signature.profile >= 0)
        #expect(probed == (try MediaProbe.probe(other[0])))
    }
}
