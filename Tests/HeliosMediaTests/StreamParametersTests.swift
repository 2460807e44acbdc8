import CFFmpeg
import CHeliosShims
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

    /// The page cache's state of `file` from the kernel (`cachestat`, Linux 6.5): pages cached, dirty and under
    /// writeback; nil where the system call is missing.
    static func cacheState(_ file: URL) async throws -> (cached: Int, dirty: Int, writeback: Int)? {
        let script = """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(sys.argv[1], os.O_RDONLY)
        span, state = (ctypes.c_uint64 * 2)(0, 0), (ctypes.c_uint64 * 5)()
        if libc.syscall(451, fd, ctypes.byref(span), ctypes.byref(state), 0) != 0: sys.exit(3)
        print(state[0], state[1], state[2])
        """
        let result = try await Shell.run("python3", ["-c", script, file.path])
        let numbers = result.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard result.status == 0, numbers.count == 3 else { return nil }
        return (numbers[0], numbers[1], numbers[2])
    }

    @Test("the early writeback runs on its own thread: a request returns at once, and once closed every page written before the last request has left the dirty state (cachestat); a file it cannot open gives none")
    func writebackThread() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let block = Data(repeating: 0x5C, count: 1 << 20)
        // Two files of 32 MiB, written alike: one left to the kernel, one written back as it grows.
        var states: [(cached: Int, dirty: Int, writeback: Int)] = []
        for requests in [false, true] {
            let file = dir.appendingPathComponent(requests ? "requested.bin" : "left.bin")
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            let writeback = requests ? helios_writeback_open(file.path) : nil
            if requests { #expect(writeback != nil) }
            for _ in 0..<32 {
                try handle.write(contentsOf: block)
                if let writeback { helios_writeback_request(writeback) }
            }
            helios_writeback_close(writeback)
            try handle.close()
            #expect(try Data(contentsOf: file) == Data((0..<32).flatMap { _ in block }))
            guard let state = try await Self.cacheState(file) else { return }  // no cachestat: nothing more to see
            states.append(state)
        }
        let (left, requested) = (states[0], states[1])
        // The untouched file is still dirty (unless something synced the whole machine meanwhile: then nothing compares).
        guard left.dirty > 4096 else { return }
        #expect(requested.dirty == 0, "requested: \(requested), left alone: \(left)")
        #expect(helios_writeback_open(dir.appendingPathComponent("missing/file").path) == nil)
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
