import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// libavformat's Matroska demuxer skips any element it does not expect where it finds it, without a word: a bit flip
/// in a block's ID drops that frame in silence (ffmpeg decodes one frame fewer and warns of nothing). The probe walks
/// the clusters itself and refuses such a chunk, naming the file and the byte.
@Suite("Matroska frames the demuxer skips in silence")
struct MatroskaLostFrameTests {
    /// The blocks of track `track` in `file`, by mkvinfo (an independent reader): each element's ID offset, in order,
    /// and whether it sits in a BlockGroup.
    static func blocks(_ file: URL, track: Int) async throws -> [(offset: Int, grouped: Bool)] {
        let info = try await Shell.run("/usr/bin/mkvinfo", ["-v", "-v", file.path]).stdout
        return info.split(separator: "\n").compactMap { line in
            guard line.contains("track number \(track),"), let at = line.range(of: " at ", options: .backwards),
                  let offset = Int(line[at.upperBound...]) else { return nil }
            if line.contains("Simple block:") { return (offset, false) }
            return line.contains(" Block:") ? (offset, true) : nil
        }
    }

    /// `file` with the byte at `offset` (an element's ID) set to `id`, written into `dir`.
    static func damaged(_ file: URL, at offset: Int, id: UInt8, into dir: URL) throws -> URL {
        var bytes = try Data(contentsOf: file)
        bytes[offset] = id
        let url = dir.appendingPathComponent("damaged-\(file.lastPathComponent)")
        try bytes.write(to: url)
        return url
    }

    /// A copy of `file` in `dir` without its tags (mkvpropedit), so that no per-stream DURATION or frame count
    /// declares the frames: as when the damage also detached them (fuzz case 580 of seed 5122261 flipped a bit of
    /// the video track's UID, which its tags name).
    static func untagged(_ file: URL, into dir: URL) async throws -> URL {
        let url = dir.appendingPathComponent("untagged-\(file.lastPathComponent)")
        try FileManager.default.copyItem(at: file, to: url)
        _ = try await Shell.run("/usr/bin/mkvpropedit", ["-q", url.path, "--tags", "all:"])
        return url
    }

    @Test("a SimpleBlock whose ID became another element's is refused, though libavformat reads on without it",
          arguments: [("matrix-mkv-h264-bf3-b", UInt8(0xA1), "outside any BlockGroup"), ("mkvmerge-h264-bf3-a", 0xE3, "which cannot be where it is"),
                      ("webm-vp9-opus", 0xA2, "outside any BlockGroup"), ("lossless-mkv-ffv1-flac-bf0-a", 0xA1, "outside any BlockGroup")])
    func damagedSimpleBlock(set: String, id: UInt8, expected: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunk = try await Self.untagged(files[1], into: dir)
        let video = try await Self.blocks(chunk, track: 1).filter { !$0.grouped }
        try #require(video.count >= 2, "\(set): \(video.count) video SimpleBlocks")
        // The last video block: with B-frames any other would leave frames that reference it (and errors to log).
        let target = video[video.count - 1].offset
        let damaged = try Self.damaged(chunk, at: target, id: id, into: dir)
        // The oracle: ffmpeg decodes one frame fewer from the damaged file, and says nothing about it.
        let whole = try await Oracle.frameHashes(chunk).count
        #expect(try await Oracle.frameHashes(damaged).count == whole - 1, "\(set): libavformat still reads the frame")
        let output = dir.appendingPathComponent("out.\(files[0].pathExtension)")
        do {
            _ = try await NativeStitcher().stitch([files[0], damaged, files[2]], to: output)
            Issue.record("\(set): stitched a chunk that lost a frame")
        } catch let error as StitchError {
            let text = "\(error)"
            #expect(text.contains(damaged.path) && text.contains("a frame is lost") && text.contains("at byte \(target)")
                    && text.contains(expected), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test("no frame of any Matroska or WebM fixture, from ffmpeg, mkvmerge and GStreamer, is taken for lost")
    func wholeFiles() async throws {
        for set in ["matrix-mkv-h264-bf3-b", "mkvmerge-h264-bf3-a", "webm-vp9-opus", "lossless-mkv-ffv1-flac-bf0-a", "mkv-av1-opus",
                    "gst-mkv-bf3-b", "segments-mkv-h264-bf2", "exact-mkv"] {
            for file in try await FixtureCache.shared.files(set) {
                #expect(Demuxer.matroskaLostFrame(file.path) == nil, "\(set): \(file.lastPathComponent)")
            }
        }
    }

    @Test("a live-written file (GStreamer's streamable Matroska: segment and clusters of unknown size) is walked too")
    func unknownSizeSegment() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("live.mkv")
        _ = try await Shell.run("/usr/bin/gst-launch-1.0", ["-q", "-e", "videotestsrc", "num-buffers=20", "!",
                                                          "video/x-raw,width=160,height=96,framerate=30/1,format=I420", "!", "x264enc", "bframes=0",
                                                          "threads=1", "!", "h264parse", "!", "matroskamux", "streamable=true", "!", "filesink",
                                                          "location=\(file.path)"])
        let sizes = try await Shell.run("/usr/bin/mkvinfo", ["-v", "-v", file.path]).stdout
        #expect(sizes.contains("Segment: size unknown"))
        // The cluster's size field has every value bit set: unknown, ended by the next element of the segment.
        let bytes = [UInt8](try Data(contentsOf: file))
        let cluster = try #require((0..<bytes.count - 12).first { bytes[$0..<$0 + 4].elementsEqual([0x1F, 0x43, 0xB6, 0x75]) })
        #expect(bytes[cluster + 4..<cluster + 12].elementsEqual([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(Demuxer.matroskaLostFrame(file.path) == nil)
        let blocks = try await Self.blocks(file, track: 1)
        try #require(blocks.count == 20)
        let damaged = try Self.damaged(file, at: blocks[19].offset, id: 0xA1, into: dir)
        #expect(Demuxer.matroskaLostFrame(damaged.path)?.contains("at byte \(blocks[19].offset)") == true)
    }
}
