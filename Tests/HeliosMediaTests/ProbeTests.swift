import CHeliosShims
import Foundation
@testable import HeliosMedia
import Testing

/// Probing a series decodes the start of input 1 only; every other input must come out as if probed alone.
@Suite("Probing a series of inputs", .serialized)
struct ProbeTests {
    @Test("a file the system would not open (out of descriptors or memory, an I/O error) is said so, not called a file libavformat cannot read")
    func openRefusedBySystem() {
        func said(_ errno: Int32) -> String {
            MediaProbe.describe(FFmpegError(code: helios_averror(errno), function: "avformat_open_input", path: "/x/c1.mp4"))
        }
        #expect(said(EMFILE) == "cannot open it: Too many open files")
        #expect(said(EIO) == "cannot open it: Input/output error")
        #expect(MediaProbe.describe(FFmpegError(code: helios_averror_invaliddata(), function: "avformat_open_input"))
                    .hasPrefix("not a media file libavformat can read ("))
    }

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

    @Test("after an MP4 reference (whose demuxer later MP4 files open with), other containers and broken MP4 files probe, or fail, as alone")
    func otherFilesAfterAnMP4Reference() async throws {
        let mp4 = try await FixtureCache.shared.files("mp4-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try Data(contentsOf: mp4[1])
        // An MP4 cut short (no index), one whose box sizes are garbage, a Matroska file named .mp4, and a JPEG 2000
        // brand (which libavformat's probe does not give to its MOV demuxer).
        let cut = dir.appendingPathComponent("cut.mp4")
        try whole.prefix(whole.count / 3).write(to: cut)
        let garbled = dir.appendingPathComponent("garbled.mp4")
        var bytes = whole
        bytes.replaceSubrange(32..<64, with: Data(repeating: 0xFF, count: 32))
        try bytes.write(to: garbled)
        let matroska = dir.appendingPathComponent("matroska.mp4")
        try Data(contentsOf: try await FixtureCache.shared.files("mkv-av1-opus")[0]).write(to: matroska)
        let jp2 = dir.appendingPathComponent("image.mp4")
        try (Data([0, 0, 0, 12]) + Data("ftypjp2 ".utf8) + Data(repeating: 0, count: 64)).write(to: jp2)
        #expect(Demuxer.isPlainISOBMFF(mp4[0].path) && !Demuxer.isPlainISOBMFF(jp2.path) && !Demuxer.isPlainISOBMFF(matroska.path))
        for file in [cut, garbled, matroska, jp2, mp4[2]] {
            var reference: ProbeReference?
            _ = try MediaProbe.probe(mp4[0], reference: &reference)
            let inSeries = Result { () throws(StitchError) in try MediaProbe.probe(file, reference: &reference) }
            let alone = Result { () throws(StitchError) in try MediaProbe.probe(file) }
            switch (inSeries, alone) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(file.lastPathComponent)")
            case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)", "\(file.lastPathComponent)")
            default: Issue.record("\(file.lastPathComponent): in series \(inSeries), alone \(alone)")
            }
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

    @Test("inputs probed after a reference share its signatures and container name, one stored copy for the series",
          arguments: ["mp4-h264-aac", "webm-vp9-opus"])
    func seriesSharesSignatures(set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        var reference: ProbeReference?
        let probed = try chunks.map { try MediaProbe.probe($0, reference: &reference) }
        for input in probed.dropFirst() {
            for (stream, first) in zip(input.streams, probed[0].streams) {
                #expect(stream.signature.sharesStorage(with: first.signature), "\(input.path) stream \(stream.index)")
            }
            #expect(input.formatName == probed[0].formatName)
        }
        // Short chunks keep one buffer of packet timings for both ends.
        for input in probed {
            for stream in input.streams where stream.packetCount <= StreamAccumulator.trailingKept {
                #expect(stream.leadingPackets == stream.trailingPackets)
            }
        }
    }

    /// Equal signatures from separate probes are equal, and the JSON is one flat object.
    @Test("a codec signature is a value: setting a field of a copy leaves the original and every sharer alone")
    func signatureIsAValue() async throws {
        let chunk = try await FixtureCache.shared.files("mp4-h264-aac")[0]
        let original = try MediaProbe.probe(chunk).streams[0].signature
        let sharer = original
        var copy = original
        copy.width = original.width + 2
        copy.extradata = Data([9])
        #expect(original.width == sharer.width && original.width + 2 == copy.width)
        #expect(original.extradata != copy.extradata && !copy.sharesStorage(with: original))
        #expect(sharer.sharesStorage(with: original))
        let again = try MediaProbe.probe(chunk).streams[0].signature
        #expect(again == original && !again.sharesStorage(with: original) && again.hashValue == original.hashValue)
        #expect(copy != original)
        let data = try JSONEncoder().encode(original)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // Every field at the top level (sampleFormat is absent for video, where it is nil).
        #expect(Set(object.keys) == ["kind", "codec", "profile", "level", "width", "height", "pixelFormat",
                                     "sampleAspectRatio", "fieldOrder", "colorRange", "colorPrimaries", "colorTransfer",
                                     "colorSpace", "sampleRate", "channelLayout", "channels", "frameSize", "extradata"])
        #expect(try JSONDecoder().decode(CodecSignature.self, from: data) == original)
    }

    @Test("numbers in messages are formatted as printf does", arguments: [
        ("%.3f ms", 1.23456, "1.235 ms"), ("%.1f MB", 0.05, "0.1 MB"), ("%.0f", 2.5, "2"), ("%.2f", -0.004, "-0.00"),
    ])
    func cFormatMatchesPrintf(format: String, value: Double, expected: String) {
        #expect(cFormat(format, value) == expected)
    }
}
