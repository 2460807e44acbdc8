import Foundation
import CFFmpeg
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Chunks with a QuickTime timecode track (`tmcd`), as editors and renderers write MOV and MP4: the track is not a
/// stream to copy (its one sample is the start timecode); the output starts at input 1's timecode, in a timecode
/// track of its own (MOV, MP4) or a tag (Matroska). Checked with ffprobe and ffmpeg.
@Suite("Timecode tracks", .serialized)
struct TimecodeTrackTests {
    static let frames = 31  // chunks of 1, 8, 2 and 20 frames

    @Test("stitched into every container that can hold the media, starting at input 1's timecode",
          arguments: [("timecode-mov", "mov", false), ("timecode-mov", "mkv", false),
                      ("timecode-mp4", "mp4", false), ("timecode-mp4", "mp4", true), ("timecode-mp4", "mov", true)])
    func stitch(set: String, container: String, faststart: Bool) async throws {
        let stitched = try await StitchedSet(set, container: container, options: StitchOptions(faststart: faststart))
        defer { stitched.remove() }
        let (output, report) = (stitched.output, stitched.report)
        #expect(report.isValid)
        #expect(report.output?.videoFrames == Int64(Self.frames))
        // Matroska stores a channel count but no layout: ffmpeg guesses mono for PCM, as for its own such files.
        #expect(try await Oracle.decodeWarnings(output).filter { !$0.hasPrefix("Guessed Channel Layout") } == [])
        #expect(try await Oracle.frameHashes(output) == stitched.chunkFrameHashes())

        let streams = try await Self.streams(output)
        #expect(streams.filter { $0.type == "video" }.map(\.timecode) == ["01:00:00:00"])
        #expect(streams.filter { $0.type == "audio" }.count == 1)
        if container == "mkv" {
            #expect(streams.count == 2)
        } else {
            // One timecode track, made by the muxer from input 1's timecode (not the chunks' tracks copied).
            let tracks = streams.filter { $0.type == "data" }
            #expect(tracks.map(\.tag) == ["tmcd"] && tracks.map(\.timecode) == ["01:00:00:00"])
        }
    }

    @Test("the demuxer shows the media streams only, and the probe records the start timecode")
    func probe() async throws {
        let chunks = try await FixtureCache.shared.files("timecode-mov")
        let demuxer = try Demuxer(path: chunks[1].path, findStreamInfo: false)
        #expect(Int(demuxer.formatContext.pointee.nb_streams) == 3)
        #expect(demuxer.streamCount == 2)
        #expect((0..<demuxer.streamCount).map { demuxer.stream($0).pointee.codecpar.pointee.codec_type }
                == [AVMEDIA_TYPE_VIDEO, AVMEDIA_TYPE_AUDIO])
        let packet = try Packet()
        var counts = [0, 0]
        while try demuxer.read(into: packet) { counts[packet.streamIndex] += 1 }
        #expect(counts[0] == 8)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = try await NativeStitcher(options: StitchOptions(checkOnly: true)).stitch(chunks, to: dir.appendingPathComponent("out.mov"))
        #expect(report.inputs.allSatisfy { $0.streams.count == 2 })
        let probed = try MediaProbe.probe(chunks[2])
        #expect(probed.timecode == "01:00:00:09")
    }

    /// Every stream's type, codec tag and timecode tag (ffprobe).
    static func streams(_ url: URL) async throws -> [(type: String, tag: String, timecode: String?)] {
        let result = try await Shell.run("ffprobe", ["-v", "error", "-show_entries",
                                                     "stream=codec_type,codec_tag_string:stream_tags=timecode", "-of", "json", url.path])
        struct Probe: Decodable {
            struct Stream: Decodable {
                var codec_type: String
                var codec_tag_string: String
                var tags: [String: String]?
            }
            var streams: [Stream]
        }
        return try JSONDecoder().decode(Probe.self, from: Data(result.stdout.utf8)).streams.map { stream in
            (stream.codec_type, stream.codec_tag_string,
             stream.tags?.first { $0.key.lowercased() == "timecode" }?.value)
        }
    }
}
