import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// A codec tag says more than the codec where a codec has several: HEVC in MP4 as hvc1 (parameter sets in the
/// sample entry, what Apple's players require) or hev1 (FFmpeg's default), ProRes as apco/apcs/apcn/apch or ap4h
/// (4444, whose decoder reads alpha and 12 bits from the tag). The output keeps the input's tag where its container
/// knows it, as `ffmpeg -c copy` does.
@Suite("Codec tags: hvc1 stays hvc1, ProRes 4444 stays ap4h", .serialized)
struct CodecTagTests {
    static func tags(_ url: URL) async throws -> [String] {
        try await Oracle.entries(url, "stream=codec_tag_string", format: "csv=p=0")
    }

    @Test("HEVC tagged hvc1 keeps its tag into MP4 and MOV", arguments: ["mp4", "mov"])
    func hevc(container: String) async throws {
        let stitched = try await StitchedSet("mp4-hevc-aac", container: container)
        defer { stitched.remove() }
        #expect(try await Self.tags(stitched.chunks[0]).first == "hvc1")
        #expect(try await Self.tags(stitched.output).first == "hvc1")
    }

    @Test("ProRes 4444 keeps ap4h, so its alpha and 12 bits decode as the chunks' do")
    func prores4444() async throws {
        let stitched = try await StitchedSet("mov-prores4444-pcm")
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        #expect(try await Self.tags(stitched.output).first == "ap4h")
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())
    }

    @Test("a tag the output container does not know for the codec is left to its muxer: MPEG-TS H.264 becomes avc1")
    func foreignTag() async throws {
        let stitched = try await StitchedSet("ts-h264-aac", container: "mp4")
        defer { stitched.remove() }
        #expect(try await Self.tags(stitched.output) == ["avc1", "mp4a"])
    }
}
