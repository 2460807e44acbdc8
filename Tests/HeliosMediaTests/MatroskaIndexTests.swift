import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// The walk of Matroska block headers that index-only probing uses: it must give up, leaving the file to the packet
/// scan, wherever its picture of the file could differ from the demuxer's, and say why.
@Suite("Matroska block header walk: where it gives up", .serialized)
struct MatroskaIndexTests {
    /// The walk's result for `file`: frame data regions found, or the negative reason it gave up.
    static func walk(_ file: URL) throws -> Int32? {
        try Demuxer(path: file.path, findStreamInfo: false, indexOnly: true).indexMatroska(everyMatroska: true)
    }

    /// A copy of `file` rewritten by mkvmerge with `options`.
    static func remuxed(_ file: URL, _ options: [String], into dir: URL, name: String) async throws -> URL {
        let out = dir.appendingPathComponent("\(name).mkv")
        let result = try await Shell.run("mkvmerge", ["-q", "-o", out.path] + options + [file.path])
        #expect(result.status == 0, "mkvmerge \(options): \(result.stdout) \(result.stderr)")
        return out
    }

    /// Probes `file` (after the set's first chunk, as a stitch does) both ways: the same result, and whether the
    /// index path was taken.
    static func probedAlike(_ first: URL, _ file: URL) -> Bool {
        ProbeModeTests.compared(first, file).indexedBytes != nil
    }

    @Test("walked: ffmpeg's, mkvmerge's and GStreamer's files, laced audio included")
    func walked() async throws {
        for set in ["matrix-mkv-h264-bf3-a", "mkvmerge-h264-bf3-a", "gst-mkv-bf3-b", "mkv-ffv1-pcm"] {
            let files = try await FixtureCache.shared.files(set)
            for file in files {
                let regions = try #require(try Self.walk(file))
                #expect(regions > 0, "\(set)/\(file.lastPathComponent): walk gave up (\(regions))")
            }
        }
        // Not Matroska: no walk.
        let mp4 = try await FixtureCache.shared.files("mp4-h264-aac")
        #expect(try Self.walk(mp4[0]) == nil)
    }

    @Test("stops where it does not pay: a file under 1 MiB, or one of small frames")
    func notWorthIt() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 600 frames of about 3 KB: 1.9 MB, where reading the headers between frames would cost as much as the frames.
        let file = dir.appendingPathComponent("small-frames.mkv")
        let made = try await Shell.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                                                  "-frames:v", "600", "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", file.path])
        #expect(made.status == 0, "\(made.stderr)")
        let demuxer = try Demuxer(path: file.path, findStreamInfo: false, indexOnly: true)
        #expect(demuxer.indexMatroska() == -7)
        #expect(try Self.walk(file).map { $0 > 0 } == true, "walked when asked to regardless")
        let small = try await FixtureCache.shared.files("matrix-mkv-h264-bf3-a")
        #expect(try Demuxer(path: small[1].path, findStreamInfo: false, indexOnly: true).indexMatroska() == -7)
    }

    @Test("gives up: no Cues, an encoded track, attachments, Cues that point elsewhere, a cut file")
    func givesUp() async throws {
        let files = try await FixtureCache.shared.files("matrix-mkv-h264-bf3-a")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = files[1]

        let noCues = try await Self.remuxed(source, ["--no-cues"], into: dir, name: "no-cues")
        #expect(try Self.walk(noCues) == -1)
        #expect(Self.probedAlike(files[0], noCues) == false)

        let compressed = try await Self.remuxed(source, ["--compression", "0:zlib"], into: dir, name: "zlib")
        #expect(try Self.walk(compressed) == -3)
        #expect(Self.probedAlike(files[0], compressed) == false)

        let note = dir.appendingPathComponent("note.txt")
        try Data("attached".utf8).write(to: note)
        let attached = try await Self.remuxed(source, ["--attach-file", note.path], into: dir, name: "attached")
        #expect(try Self.walk(attached) == -2)

        // A cue whose cluster position is off by one: it points inside a cluster, at no element the walk found.
        var bytes = try Data(contentsOf: source)
        // The Cues element is the last occurrence of its ID (the SeekHead before names it too).
        let cues = try #require(bytes.range(of: Data([0x1C, 0x53, 0xBB, 0x6B]), options: .backwards))
        let position = try #require(bytes[cues.upperBound...].firstRange(of: Data([0xF1])).flatMap { range -> Int? in
            let size = Int(bytes[range.upperBound])
            return size > 0x80 && size <= 0x88 ? range.upperBound + (size - 0x80) : nil
        })
        bytes[position] &+= 1
        let moved = dir.appendingPathComponent("moved-cue.mkv")
        try bytes.write(to: moved)
        #expect(try Self.walk(moved) == -4)
        #expect(Self.probedAlike(files[0], moved) == false)

        // Cut before its Cues (a renderer killed while writing): the last cluster runs past the end of the file.
        let whole = try Data(contentsOf: source)
        let cut = dir.appendingPathComponent("cut.mkv")
        try whole.prefix(cues.lowerBound - 10).write(to: cut)
        #expect(try Self.walk(cut) == -2)
        #expect(Self.probedAlike(files[0], cut) == false)
    }
}
