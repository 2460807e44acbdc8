import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// How inputs' codec parameters are compared: byte for byte, except bytes that carry no decoding parameter.
@Suite("CodecSignature comparison")
struct CodecSignatureTests {
    static func signature(_ extradata: [UInt8], codec: String = "h264") -> CodecSignature {
        CodecSignature(kind: .video, codec: codec, profile: 100, level: 13, width: 320, height: 180, pixelFormat: "yuv420p",
                       sampleAspectRatio: Rational(1, 1), fieldOrder: "progressive", colorRange: "tv", colorPrimaries: "",
                       colorTransfer: "", colorSpace: "", sampleRate: 0, channelLayout: "", channels: 0, sampleFormat: nil,
                       frameSize: 0, extradata: Data(extradata))
    }

    static let annexB: [UInt8] = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x0D, 0xAC, 0, 0, 0, 1, 0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0]

    @Test("an unknown field order is no claim: it matches any, while two known ones must agree")
    func unknownFieldOrder() {
        var unknown = Self.signature(Self.annexB, codec: "mpeg2video"), interlaced = unknown
        unknown.fieldOrder = "unknown"
        interlaced.fieldOrder = "tt"
        let progressive = Self.signature(Self.annexB, codec: "mpeg2video")
        #expect(unknown.differences(from: progressive).isEmpty && progressive.differences(from: unknown).isEmpty)
        #expect(interlaced.differences(from: progressive).map(\.field) == ["field order"])
    }

    @Test("Annex B parameter sets: trailing zero bytes belong to no NAL unit and are not compared")
    func annexBTrailingZeros() {
        for codec in ["h264", "hevc"] {
            #expect(Self.signature(Self.annexB + [0], codec: codec).differences(from: Self.signature(Self.annexB, codec: codec)).isEmpty)
            #expect(Self.signature(Self.annexB + [0, 0], codec: codec).differences(from: Self.signature(Self.annexB + [0], codec: codec)).isEmpty)
        }
        // A parameter that differs still does, and so does anything in avcC form (its sizes are explicit).
        var other = Self.annexB
        other[8] = 0xAD
        #expect(Self.signature(other).differences(from: Self.signature(Self.annexB)).map(\.field) == ["extradata"])
        let avcC: [UInt8] = [1, 0x64, 0x00, 0x0D, 0xFF, 0xE1, 0, 4, 0x67, 0x64, 0x00, 0x0D]
        #expect(Self.signature(avcC + [0]).differences(from: Self.signature(avcC)).map(\.field) == ["extradata"])
        #expect(Self.signature(Self.annexB + [0], codec: "mpeg2video").differences(from: Self.signature(Self.annexB, codec: "mpeg2video"))
                .map(\.field) == ["extradata"])
    }

    @Test("HLS segments of one H.264 encode, whose parameter sets differ by a trailing zero byte, join frame for frame")
    func hlsSegments() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await Shell.run("ffmpeg", [
            "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30:d=4", "-c:v", "libx264", "-threads", "1",
            "-bf", "3", "-g", "15", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
            "-hls_segment_filename", dir.appendingPathComponent("s%02d.ts").path, dir.appendingPathComponent("list.m3u8").path])
        try #require(result.status == 0, "\(result.stderr)")
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".ts") }.sorted()
            .map { dir.appendingPathComponent($0) }
        try #require(segments.count == 4)
        var reference: ProbeReference?
        let sizes = try segments.map { try MediaProbe.probe($0, reference: &reference).streams[0].signature.extradata.count }
        #expect(Set(sizes).count == 2, "the segments' parameter sets no longer differ (\(sizes)): the case is not exercised")

        let output = dir.appendingPathComponent("out.ts")
        let report = try await NativeStitcher().stitch(segments, to: output)
        #expect(report.isValid && report.output?.videoFrames == 120)
        var expected: [String] = []
        for segment in segments { expected += try await Oracle.frameHashes(segment) }
        #expect(try await Oracle.frameHashes(output) == expected)
        #expect(try await Oracle.decodeWarnings(output) == [])
    }
}

@Suite("Opus identification header (pure)")
struct OpusHeaderTests {
    static func head(preSkip: [UInt8], rate: [UInt8]) -> Data {
        Data("OpusHead".utf8) + Data([1, 2] + preSkip + rate + [0, 0, 0])
    }

    @Test func fieldsAndByteOrder() throws {
        // As FFmpeg writes it (and reads a proper dOps box into it): pre-skip 312, 48 kHz.
        let proper = try #require(OpusHeader(Self.head(preSkip: [0x38, 0x01], rate: [0x80, 0xbb, 0, 0])))
        #expect(proper.channels == 2 && proper.preSkip == 312 && proper.inputRate == 48000 && !proper.isByteSwapped)
        // GStreamer 1.22's dOps, read as written.
        let swapped = try #require(OpusHeader(Self.head(preSkip: [0x01, 0x38], rate: [0, 0, 0xbb, 0x80])))
        #expect(swapped.preSkip == 14337 && swapped.inputRate == 2_159_738_880 && swapped.isByteSwapped)
        #expect(swapped.preSkip.byteSwapped == 312 && swapped.inputRate.byteSwapped == 48000)
        // An unusual but possible rate is no sign; neither is a header too short or not Opus's.
        #expect(OpusHeader(Self.head(preSkip: [0, 0], rate: [0x40, 0x1f, 0, 0]))?.isByteSwapped == false)
        #expect(OpusHeader(Data("OpusHead".utf8)) == nil)
        #expect(OpusHeader(Data(repeating: 0, count: 19)) == nil)
    }
}

