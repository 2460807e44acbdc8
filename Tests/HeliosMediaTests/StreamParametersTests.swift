import CFFmpeg
import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// The output's streams are made from the parameters the probe of input 1 kept (`ProbeReference.streams`) instead of a
/// second decode of that input's start: they must be what that decode gives. And a muxer truncates only a file that
/// holds data (a stitch's fresh temp file is not truncated: on ext4 that made its close write every page back).
@Suite("Stream parameters and output files")
struct StreamParametersTests {
    /// Every field of a stream's codec parameters and frame rates that a muxer may read, extradata included.
    struct Described: Equatable, CustomStringConvertible {
        var fields: [String: String]
        var description: String { fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }

        init(_ p: AVCodecParameters, averageRate: AVRational, realRate: AVRational) {
            let extradata = p.extradata.map { Array(UnsafeBufferPointer(start: $0, count: Int(p.extradata_size))) } ?? []
            fields = [
                "type": "\(p.codec_type.rawValue)", "codec": "\(p.codec_id.rawValue)", "tag": "\(p.codec_tag)",
                "extradata": extradata.map { String($0, radix: 16) }.joined(), "format": "\(p.format)",
                "bitRate": "\(p.bit_rate)", "bitsCoded": "\(p.bits_per_coded_sample)", "bitsRaw": "\(p.bits_per_raw_sample)",
                "profile": "\(p.profile)", "level": "\(p.level)", "size": "\(p.width)x\(p.height)",
                "sar": "\(p.sample_aspect_ratio.num)/\(p.sample_aspect_ratio.den)", "fieldOrder": "\(p.field_order.rawValue)",
                "color": "\(p.color_range.rawValue) \(p.color_primaries.rawValue) \(p.color_trc.rawValue) \(p.color_space.rawValue) \(p.chroma_location.rawValue)",
                "videoDelay": "\(p.video_delay)",
                "layout": "\(p.ch_layout.order.rawValue) \(p.ch_layout.nb_channels) \(p.ch_layout.u.mask)",
                "sampleRate": "\(p.sample_rate)", "blockAlign": "\(p.block_align)", "frameSize": "\(p.frame_size)",
                "padding": "\(p.initial_padding) \(p.trailing_padding)", "seekPreroll": "\(p.seek_preroll)",
                "avgRate": "\(averageRate.num)/\(averageRate.den)", "realRate": "\(realRate.num)/\(realRate.den)",
            ]
        }
    }

    @Test("input 1's probe keeps the parameters a fresh decode of its start gives, in both probe modes",
          arguments: ProbeModeTests.sets.filter { !$0.hasPrefix("bad-") }, [ProbeMode.index, .scan])
    func keptEqualsDecoded(set: String, mode: ProbeMode) async throws {
        let first = try await FixtureCache.shared.files(set)[0]
        var reference: ProbeReference?
        _ = try MediaProbe.probe(first, reference: &reference, mode: mode)
        let kept = try #require(reference?.streams)
        let fresh = try Demuxer(path: first.path, findStreamInfo: true)
        #expect(kept.count == fresh.streamCount)
        for s in 0..<min(kept.count, fresh.streamCount) {
            let rates = kept.frameRates(s), stream = fresh.stream(s).pointee
            let expected = Described(stream.codecpar.pointee, averageRate: stream.avg_frame_rate, realRate: stream.r_frame_rate)
            let actual = Described(kept.codecParameters(s).pointee, averageRate: rates.average, realRate: rates.real)
            #expect(actual == expected, "\(set) stream \(s)")
        }
    }

    @Test("a muxer writing over a file with data truncates it, through the kernel-copying context and libavformat's own",
          arguments: [true, false])
    func truncatesFileWithData(copiesPayloads: Bool) async throws {
        let input = try await FixtureCache.shared.files("mp4-h264-aac")[0]
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (fresh, reused, empty) = (dir.appendingPathComponent("fresh.mp4"), dir.appendingPathComponent("reused.mp4"),
                                      dir.appendingPathComponent("empty.mp4"))
        try Data(repeating: 0xA5, count: 8 << 20).write(to: reused)
        try Data().write(to: empty)
        for output in [fresh, reused, empty] {
            try Self.remux(input, to: output, copiesPayloads: copiesPayloads)
        }
        let expected = try Data(contentsOf: fresh)
        #expect(expected.count > 1000 && expected.count < 8 << 20)
        #expect(try Data(contentsOf: reused) == expected)
        #expect(try Data(contentsOf: empty) == expected)
        let probed = try MediaProbe.probe(reused)
        #expect(probed.streams.count == 2)
    }

    /// Copies every packet of `input` into `output` with a `Muxer`.
    static func remux(_ input: URL, to output: URL, copiesPayloads: Bool) throws {
        let demuxer = try Demuxer(path: input.path)
        let muxer = try Muxer(path: output.path, formatName: "mp4", copiesPayloads: copiesPayloads)
        for s in 0..<demuxer.streamCount {
            _ = try muxer.addStream(copying: demuxer.stream(s), timeBase: Rational(demuxer.stream(s).pointee.time_base))
        }
        try muxer.writeHeader(options: [:])
        let packet = try Packet()
        while try demuxer.read(into: packet) {
            let s = packet.streamIndex
            av_packet_rescale_ts(packet.pointer, demuxer.stream(s).pointee.time_base, muxer.formatContext.pointee.streams[s]!.pointee.time_base)
            packet.pointer.pointee.pos = -1
            try muxer.write(packet)
            packet.unref()
        }
        try muxer.finish()
    }
}
