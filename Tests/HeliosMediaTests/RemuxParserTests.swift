import CHeliosShims
import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// The remux reads MP4/MOV inputs without libavformat's parsers when the probe showed they change nothing, and keeps
/// them where the H.264 parser marks key frames the sync sample table leaves out.
@Suite("Remux without parsers", .serialized)
struct RemuxParserTests {
    /// Two 15-frame H.264 + AAC chunks with an IDR every 5 frames, as ffmpeg writes them (every IDR in `stss`).
    static func chunks(in dir: URL) async throws -> [URL] {
        try await (0..<2).map { dir.appendingPathComponent("c\($0).mp4") }.asyncMap { url in
            let start = url.lastPathComponent == "c0.mp4" ? 0 : 0.5
            let result = try await Shell.run("ffmpeg", [
                "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30", "-f", "lavfi",
                "-i", "sine=frequency=440:sample_rate=48000", "-ss", "\(start)", "-t", "0.5",
                "-c:v", "libx264", "-g", "5", "-keyint_min", "5", "-sc_threshold", "0", "-bf", "2", "-c:a", "aac", url.path,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            return url
        }
    }

    /// Sets the entry count of `url`'s sync sample table (`stss`) to 1: only the first frame is marked.
    static func markOnlyFirstSyncSample(_ url: URL) throws {
        var data = try Data(contentsOf: url)
        let range = try #require(data.firstRange(of: Data("stss".utf8)))
        let count = range.upperBound + 4
        #expect(data[count..<count + 4] == Data([0, 0, 0, 3]), "3 IDRs in 15 frames")
        data.replaceSubrange(count..<count + 4, with: [0, 0, 0, 1])
        try data.write(to: url)
    }

    /// ffprobe's key flags of the video packets, in order ("K" or "_").
    static func keyFlags(_ url: URL) async throws -> String {
        let result = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                     "packet=flags", "-of", "csv=p=0", url.path])
        return result.stdout.split(separator: "\n").map { $0.hasPrefix("K") ? "K" : "_" }.joined()
    }

    @Test("inputs whose sync samples are every key frame are remuxed without the parser, into the bytes the parser gives")
    func parserSkippedWhereItChangesNothing() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.chunks(in: dir)
        let probed = try chunks.map { try MediaProbe.probe($0) }
        for input in probed {
            #expect(input.streams.map(\.parserKeyframes) == [0, 0])
            #expect(input.remuxesWithoutParser)
        }
        let output = dir.appendingPathComponent("out.mp4")
        _ = try await NativeStitcher().stitch(chunks, to: output)
        #expect(try await Self.keyFlags(output) == String(repeating: "K____", count: 6))
        // The same stitch with the parser on every input (a copy whose table marks one frame only, see below)
        // writes the same bytes.
        let marked = dir.appendingPathComponent("marked.mp4")
        try FileManager.default.copyItem(at: chunks[1], to: marked)
        try Self.markOnlyFirstSyncSample(marked)
        let viaParser = dir.appendingPathComponent("via-parser.mp4")
        _ = try await NativeStitcher().stitch([chunks[0], marked], to: viaParser)
        #expect(try Data(contentsOf: viaParser) == Data(contentsOf: output))
    }

    @Test("an input whose sync samples leave out key frames the H.264 parser finds keeps the parser in the remux")
    func parserKeptWhereItAddsKeyframes() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.chunks(in: dir)
        try Self.markOnlyFirstSyncSample(chunks[1])
        #expect(try await Self.keyFlags(chunks[1]) == "K____K____K____", "ffprobe's parser finds all three IDRs")
        let probed = try MediaProbe.probe(chunks[1])
        #expect(probed.streams[0].parserKeyframes == 2)
        #expect(!probed.remuxesWithoutParser)
        // Index-only and scanning probes agree.
        var reference: ProbeReference?
        #expect(try MediaProbe.probe(chunks[1], reference: &reference, cancellation: nil, mode: .scan) == probed)
        // Its key frames stay marked in the output.
        let output = dir.appendingPathComponent("out.mp4")
        _ = try await NativeStitcher().stitch(chunks, to: output)
        #expect(try await Self.keyFlags(output) == String(repeating: "K____", count: 6))
    }

    @Test("every chunk-matrix set and every MP4/MOV set: the same output bytes with the parser on every input",
          arguments: ["mp4-h264-aac", "mp4-hevc-aac", "mov-h264-pcm", "mov-prores-pcm", "mp4-video-only", "m4a-audio-only"]
              + ChunkMatrixTests.sets)
    func sameBytesAsWithParsers(set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "out." + chunks[0].pathExtension
        let (fast, parsed) = (dir.appendingPathComponent("fast-" + name), dir.appendingPathComponent("parsed-" + name))
        _ = try await NativeStitcher().stitch(chunks, to: fast)
        var options = StitchOptions()
        options.parsesEveryInput = true
        _ = try await NativeStitcher(options: options).stitch(chunks, to: parsed)
        #expect(try Data(contentsOf: fast) == Data(contentsOf: parsed))
    }

    @Test("fragmented MP4 keeps the parser: its fragments may leave sample durations for it to fill in")
    func fragmentedKeepsParser() async throws {
        for chunk in try await FixtureCache.shared.files("matrix-fmp4-h264-bf0-a") {
            let probed = try MediaProbe.probe(chunk)
            #expect(probed.streams.allSatisfy { $0.parserKeyframes == nil }, "\(chunk.lastPathComponent)")
            #expect(!probed.remuxesWithoutParser)
            #expect(helios_isobmff_fragmented(chunk.path) == 1)
        }
        let plain = try await FixtureCache.shared.files("mp4-h264-aac")[0]
        #expect(helios_isobmff_fragmented(plain.path) == 0)
        #expect(helios_isobmff_fragmented("/nonexistent.mp4") == -1)
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
