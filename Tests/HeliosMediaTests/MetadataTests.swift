import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Tags that describe the content (a title, an audio track's language) and streams' dispositions reach the
/// output from input 1, as `ffmpeg -c copy` keeps them; tags that describe one chunk file (Matroska's DURATION and
/// statistics, MP4 brands) do not.
@Suite("Metadata: title, languages and dispositions from input 1", .serialized)
struct MetadataTests {
    /// ffprobe's format and stream tags and default dispositions, as "key=value" lines.
    static func tags(_ url: URL) async throws -> [String] {
        try await Oracle.entries(url, "format_tags:stream_tags:stream_disposition=default")
    }

    @Test("a title and an audio language", arguments: ["mp4", "mkv"])
    func describingTags(container: String) async throws {
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var tagged: [URL] = []
        for (k, chunk) in chunks.enumerated() {
            let copy = dir.appendingPathComponent("tagged\(k).mp4")
            let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", chunk.path, "-map", "0", "-c", "copy",
                                                        "-metadata", "title=Helios test", "-metadata:s:a:0", "language=fra", copy.path])
            #expect(result.status == 0, "\(result.stderr)")
            tagged.append(copy)
        }
        let output = dir.appendingPathComponent("out.\(container)")
        _ = try await NativeStitcher().stitch(tagged, to: output)
        let lines = try await Self.tags(output)
        #expect(lines.contains { $0.lowercased() == "format.tags.title=\"helios test\"" }, "\(lines)")
        #expect(lines.contains("streams.stream.1.tags.language=\"fra\""), "\(lines)")
        #expect(!lines.contains { $0.contains("major_brand") && container == "mkv" }, "\(lines)")
    }

    @Test("a Matroska chunk's DURATION tag is the chunk's: the output's is its own")
    func durationIsNotCopied() async throws {
        let stitched = try await StitchedSet("mkv-h264-opus")
        defer { stitched.remove() }
        let lines = try await Self.tags(stitched.output)
        // Three 1-second chunks: a stream DURATION of 00:00:03, not input 1's 00:00:01.
        let durations = lines.filter { $0.contains(".tags.DURATION=") }
        #expect(!durations.isEmpty && durations.allSatisfy { $0.contains("=\"00:00:03") || $0.contains("=\"00:00:02.9") }, "\(durations)")
    }

    @Test("cover art: input 1's attached picture is the M4A output's; Matroska warns that it is left out")
    func coverArt() async throws {
        let stitched = try await StitchedSet("m4a-cover-art")
        defer { stitched.remove() }
        #expect(stitched.report.isValid && stitched.report.issues.isEmpty, "\(stitched.report.issues)")
        let streams = try await Oracle.streams(stitched.output)
        #expect(streams.map { $0["codec_type"] ?? "" } == ["audio", "video"], "\(streams)")
        // The picture decodes to input 1's.
        func pictureHash(_ url: URL) async throws -> String {
            try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", url.path, "-map", "0:v", "-f", "md5", "-"]).stdout
        }
        #expect(try await pictureHash(stitched.output) == pictureHash(stitched.chunks[0]))
        #expect(abs(try await Oracle.decodedAudioSamples(stitched.output) - 3 * 48000) < 1024)

        let mkv = try await StitchedSet("m4a-cover-art", container: "mkv")
        defer { mkv.remove() }
        #expect(mkv.report.issues.map(\.code) == [.unsupportedByContainer] && mkv.report.issues.first?.severity == .warning,
                "\(mkv.report.issues)")
        #expect(try await Oracle.streams(mkv.output).map { $0["codec_type"] ?? "" } == ["audio"])
    }

    @Test("attachments: input 1's font reaches a Matroska output, byte for byte; MP4 warns that it is left out")
    func attachments() async throws {
        let stitched = try await StitchedSet("mkv-attachment")
        defer { stitched.remove() }
        #expect(stitched.report.isValid && stitched.report.issues.isEmpty, "\(stitched.report.issues)")
        let streams = try await Oracle.streams(stitched.output)
        #expect(streams.map { $0["codec_type"] ?? "" } == ["video", "audio", "attachment"], "\(streams)")
        let font = stitched.directory.appendingPathComponent("font.ttf")
        let extract = try await Shell.run("mkvextract", [stitched.output.path, "attachments", "1:\(font.path)"])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try String(contentsOf: font, encoding: .utf8) == "helios test font\n")
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())

        let mp4 = try await StitchedSet("mkv-attachment", container: "mp4")
        defer { mp4.remove() }
        #expect(mp4.report.issues.map(\.code) == [.unsupportedByContainer] && mp4.report.issues.first?.severity == .warning,
                "\(mp4.report.issues)")
    }
}
