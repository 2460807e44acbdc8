import Foundation
@testable import HeliosMedia
import Testing

/// Index-only probing (`ProbeMode.index`: MP4/MOV packets from the sample tables, Matroska packets from a walk of its
/// block headers, payloads unread) must report exactly what the packet scan reports, on every fixture set and on damaged
/// copies of its files: the same `ProbedInput`, or the same error. The fixtures are small, so Matroska files are walked
/// here even where a plain read costs less (`everyMatroska`); `matroskaPolicy` checks when the probe walks them.
@Suite("Probe modes: index-only equals the scan", .serialized)
struct ProbeModeTests {
    static let sets = [
        "mp4-h264-aac", "mp4-hevc-aac", "mov-h264-pcm", "mov-prores-pcm", "webm-vp9-opus", "mkv-av1-opus", "ts-h264-aac",
        "mp4-video-only", "m4a-audio-only", "exact-mp4", "exact-mkv", "exact-webm", "webm-opus-uneven",
        "bad-resolution", "bad-codec", "bad-samplerate", "bad-layout", "bad-fps", "bad-nokeyframe", "bad-ac3-audio",
        "bad-short-audio", "mkv-ffv1-pcm", "mkv-h264-opus",
        "mp4-h264-opus", "mp4-h264-flac", "mov-mpeg4-alac", "mov-mjpeg-pcm",
    ] + ChunkMatrixTests.sets + SegmentedStreamTests.sets + ["subtitles-mp4", "subtitles-mkv", "sidedata-rotation", "sidedata-hdr", "mov-prores4444-pcm", "m4a-cover-art", "mkv-attachment",
         "realworld-avi-mpeg4-mp3", "realworld-mp4-h264-aac-120fps", "realworld-mxf-mpeg2-pcm", "realworld-ps-mpeg2-mp2", "realworld-mov-dnxhr-pcm",
         "realworld-fmp4-h264-aac-60fps", "silent-mp4", "silent-cmaf", "silent-first-mp4", "datastream-ts", "vob-mpeg2-ac3", "splitmux-ts",
         "shorttrack-mp4", "shorttrack-ts", "shorttrack-fmp4", "shorttrack-last-mp4"]

    /// What probing gave: the input, or the error's description.
    enum Outcome: Equatable, CustomStringConvertible {
        case probed(ProbedInput)
        case failed(String)

        var description: String {
            switch self {
            case .probed(let input): "probed \(input.streams.map(\.packetCount)) packets"
            case .failed(let message): "failed: \(message)"
            }
        }
    }

    /// Extensions of the containers probed from an index (sample tables, or the Matroska walk).
    static let indexedExtensions: Set<String> = ["mp4", "mov", "m4a", "mkv", "webm"]

    /// Probes `file` after `first` (the reference, as in a stitch) both ways and expects the same outcome; returns the
    /// scan's outcome and the bytes the index path read (nil: the file was scanned).
    static func compared(_ first: URL, _ file: URL) -> (scanned: Outcome, indexedBytes: Int64?) {
        let scanned = probe([first, file], mode: .scan), indexed = probe([first, file], mode: .index)
        #expect(indexed[1].0 == scanned[1].0, "\(file.lastPathComponent): index \(indexed[1].0), scan \(scanned[1].0)")
        return (scanned[1].0, indexed[1].1)
    }

    /// Probes `files` in series (the first is the reference, as in a stitch) with `mode`.
    static func probe(_ files: [URL], mode: ProbeMode, everyMatroska: Bool = true) -> [(Outcome, Int64?)] {
        var reference: ProbeReference?
        return files.map { file in
            do {
                let (input, bytes) = try MediaProbe.probeCounting(file, reference: &reference, cancellation: nil, mode: mode,
                                                                  everyMatroska: everyMatroska)
                return (.probed(input), bytes)
            } catch {
                return (.failed("\(error)"), nil)
            }
        }
    }

    @Test("the same probe results, and MP4/MOV payloads not read", arguments: sets)
    func sameResults(set: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let scanned = Self.probe(files, mode: .scan), indexed = Self.probe(files, mode: .index)
        for (k, file) in files.enumerated() {
            #expect(indexed[k].0 == scanned[k].0, "\(file.lastPathComponent): index \(indexed[k].0), scan \(scanned[k].0)")
            #expect(scanned[k].1 == nil)
            // Once payloads are skipped, what is read from disk is at most the NAL unit headers of H.264/HEVC (tiny
            // frames may be read whole) and, for other codecs, no more than the bytes that are not payload. A Matroska
            // walk reads the block headers (here with their small frames whole, as these fixtures are), then the probe
            // what is not payload: at most the file twice (`matroskaPolicy` measures a file whose frames are large).
            if case .probed(let input) = indexed[k].0, let bytes = indexed[k].1 {
                let payload = input.streams.reduce(Int64(0)) { $0 + $1.payloadBytes }
                let nal = input.streams.contains { ["h264", "hevc"].contains($0.signature.codec) }
                let bound = input.formatName.hasPrefix("matroska") ? 2 * input.fileSize : nal ? payload : input.fileSize - payload
                #expect(bytes <= bound, "\(file.lastPathComponent): read \(bytes) bytes, payloads \(payload) of \(input.fileSize)")
            }
        }
        // Index-only reading applies to MP4/MOV and Matroska/WebM streams of indexable codecs (not fragmented MP4 with
        // H.264/HEVC or CMAF, nor a Matroska file without Cues, nor one whose block walk declines: mkvmerge's files
        // with an attachment are scanned); everything else is scanned.
        let indexable = Self.indexedExtensions.contains(files[0].pathExtension)
        if indexable, !set.contains("fmp4"), !set.contains("cmaf"), set != "mkv-attachment", case .probed(let input) = indexed.last!.0,
           input.streams.allSatisfy({ MediaProbe.isIndexable($0.signature, formatName: input.formatName) }), files.count > 1 {
            #expect(indexed.last!.1 != nil, "\(set): expected index-only probing")
        }
        if !indexable { #expect(indexed.allSatisfy { $0.1 == nil }, "\(set): scanned") }
    }

    @Test("Matroska: block headers walked where that saves reads, small files read whole")
    func matroskaPolicy() async throws {
        // Frames of about 70 KB in files of 1.6 MB: the walk reads a few hundred bytes around each block header.
        let large = try await FixtureCache.shared.files("mkv-large-h264")
        let scanned = Self.probe(large, mode: .scan), indexed = Self.probe(large, mode: .index, everyMatroska: false)
        for (k, file) in large.enumerated() {
            #expect(indexed[k].0 == scanned[k].0, "\(file.lastPathComponent)")
            guard case .probed(let input) = indexed[k].0, let bytes = indexed[k].1 else {
                Issue.record("\(file.lastPathComponent): expected its block headers walked, got \(indexed[k].0)")
                continue
            }
            #expect(input.fileSize > 1 << 20)
            #expect(bytes * 20 < input.fileSize, "\(file.lastPathComponent): read \(bytes) of \(input.fileSize) bytes")
        }
        // Files under 1 MiB are read in a few reads anyway: scanned.
        let small = try await FixtureCache.shared.files("matrix-mkv-h264-bf3-a")
        #expect(Self.probe(small, mode: .index, everyMatroska: false).allSatisfy { $0.1 == nil })
    }

    /// Damaged copies of a file: cut at several points, a byte flipped at evenly spread offsets (sample tables,
    /// box headers and payloads alike), an mdat that claims more than the file holds.
    static func damagedCopies(of file: URL, into dir: URL) throws -> [URL] {
        let data = try Data(contentsOf: file)
        var copies: [(String, Data)] = []
        for fraction in [0.25, 0.5, 0.9, 0.99] { copies.append(("cut\(Int(fraction * 100))", data.prefix(Int(Double(data.count) * fraction)))) }
        copies.append(("cut-last-byte", data.dropLast()))
        for k in 1...12 {
            var flipped = data
            let at = data.count * k / 13
            flipped[at] ^= 0x5A
            copies.append(("flip\(k)", flipped))
        }
        if let range = data.range(of: Data("mdat".utf8)), range.lowerBound >= 4 {
            var grown = data
            let at = range.lowerBound - 4
            let size = UInt32(grown[at]) << 24 | UInt32(grown[at + 1]) << 16 | UInt32(grown[at + 2]) << 8 | UInt32(grown[at + 3])
            if size > 1 {
                let bigger = size &+ 4096
                for i in 0..<4 { grown[at + i] = UInt8(truncatingIfNeeded: bigger >> (24 - 8 * UInt32(i))) }
                copies.append(("mdat-too-long", grown))
            }
        }
        return try copies.map { name, bytes in
            let url = dir.appendingPathComponent("\(file.deletingPathExtension().lastPathComponent)-\(name).\(file.pathExtension)")
            try bytes.write(to: url)
            return url
        }
    }

    @Test("damaged copies: the same result or the same error", arguments: [
        "mp4-h264-aac", "mov-h264-pcm", "m4a-audio-only", "matrix-mp4-h264-bf3-b", "matrix-fmp4-h264-bf3-a", "matrix-mp4-hevc-bf4-a",
        "webm-vp9-opus", "ts-h264-aac", "matrix-mkv-h264-bf3-a", "mkvmerge-h264-bf3-a", "gst-mkv-bf3-b",
    ])
    func damaged(set: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var failures = 0, walked = 0
        for file in files.dropFirst().prefix(2) {
            for copy in try Self.damagedCopies(of: file, into: dir) {
                // The good first chunk as reference, then the damaged one: as a stitch would probe them.
                let (scanned, indexedBytes) = Self.compared(files[0], copy)
                if case .failed = scanned { failures += 1 }
                if indexedBytes != nil { walked += 1 }
            }
        }
        #expect(failures > 0, "some damage must be caught, or the copies test nothing")
        // Damage the index walk does not notice (most payload bytes) must still leave the index path in use.
        if Self.indexedExtensions.contains(files[0].pathExtension), !set.contains("fmp4") {
            #expect(walked > 0, "no damaged copy was probed from its index")
        }
    }
}
