import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Containers with rules of their own, as ffmpeg writes them: AVI (its header counts timeline slots, its index the
/// packets; its muxer counts frames in slots of the time base), MXF (the video's time base is its edit rate; PCM is
/// cut into one packet a frame) and MPEG program streams (no index, no frame count; a pts on a pack's first frame);
/// and data streams beside picture and sound, which no output keeps.
@Suite("Container rules: AVI, MXF, program streams, data streams", .serialized)
struct ContainerRuleTests {
    /// AVI as ffmpeg writes it (MPEG-4 Part 2 with MP3, chunks of 1, 8, 2 and 20 frames): the header's frame count
    /// is not the packets' (the index is), and a 1-frame chunk's single MP3 frame is covered by the next chunk's.
    @Test("AVI chunks into AVI, Matroska and MP4: every frame kept, none called lost", arguments: ["avi", "mkv", "mp4"])
    func aviChunks(container: String) async throws {
        let stitched = try await StitchedSet("realworld-avi-mpeg4-mp3", container: container)
        defer { stitched.remove() }
        let (chunks, output, report) = (stitched.chunks, stitched.output, stitched.report)
        #expect(report.isValid)
        let expected = try await stitched.chunkFrameHashes()
        #expect(expected.count == 31)
        #expect(report.output?.videoFrames == 31)
        #expect(try await Oracle.frameHashes(output) == expected, "decoded frames differ from the chunks' frames")
        #expect(try await Oracle.decodeWarnings(output) == [])
        // ffmpeg starts each chunk's second frame a frame late (it shifts the video for the MP3 priming, in whole
        // frames): the output keeps every chunk's timeline as the chunk has it, so a player shows the same.
        var spans = 0.0
        for chunk in chunks { spans += try #require(try await Oracle.timing(chunk).first { $0.kind == "video" }).packetSpan }
        let timing = try await Oracle.timing(output)
        let video = try #require(timing.first { $0.kind == "video" })
        let audio = try #require(timing.first { $0.kind == "audio" })
        #expect(video.packets == 31)
        #expect(abs(video.packetSpan - spans) <= 0.002, "video spans \(video.packetSpan) s, the chunks \(spans) s")
        #expect(abs(audio.packetSpan - video.packetSpan) <= 2 * 1152.0 / 48000, "audio spans \(audio.packetSpan) s, video \(video.packetSpan) s")
    }

    /// CMAF (FFmpeg's `-movflags +cmaf`) writes signed composition offsets and no edit list: its frames present from
    /// 0. libavformat keeps every pts at or after its dts by adding the most negative offset to them all, so a chunk
    /// with B-frames would start two frames (1,024 ticks) late and one without them on time; the probe and the remux
    /// take that shift off.
    @Test("CMAF: the composition shift libavformat adds to a chunk with B-frames is taken off, so every chunk starts at 0")
    func cmafCompositionShift() async throws {
        let chunks = try await FixtureCache.shared.files("matrix-cmaf-h264-bf3-a")  // 2, 9, 1 and 30 frames
        func ffprobeVideo(_ url: URL) async throws -> [(pts: Int64, dts: Int64)] {
            let result = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts,dts",
                                                         "-of", "csv=p=0", url.path])
            return result.stdout.split(separator: "\n").map { line in
                let fields = line.split(separator: ",").map { Int64($0)! }
                return (fields[0], fields[1])
            }
        }
        for (k, chunk) in chunks.enumerated() {
            let read = try await ffprobeVideo(chunk)
            let facts = try #require(try Demuxer(path: chunk.path, findStreamInfo: false).fragmentFacts())
            let shift = facts[0].compositionShift
            #expect(facts[0].firstComposition == 0, "CMAF: the first frame presents at its decode time")
            #expect(facts[0].firstDuration == 512)
            // Only a chunk long enough for B-frames has negative offsets: its first frame reads 1,024 ticks late.
            #expect(shift == (k == 1 || k == 3 ? 1024 : 0), "chunk \(k + 1)")
            #expect(read.map(\.pts).min() == shift, "chunk \(k + 1): ffprobe's first pts")
            let probed = try MediaProbe.probe(chunk)
            #expect(probed.timestampShifts == (shift > 0 ? [shift, 0] : []))
            #expect(probed.streams[0].startPts == 0, "chunk \(k + 1)")
            #expect(probed.streams[0].firstDts == read[0].dts - shift)
            #expect(probed.statedFirstFrameDuration == 512)
        }
        // Stitched, the video is as continuous as a single render's: every frame 512 ticks after the one before.
        let stitched = try await StitchedSet("matrix-cmaf-h264-bf3-a")
        defer { stitched.remove() }
        let pts = try await ffprobeVideo(stitched.output).map(\.pts).sorted()
        #expect(pts.count == 42)
        #expect(zip(pts, pts.dropFirst()).allSatisfy { $1 - $0 == 512 }, "\(pts)")
    }

    /// GStreamer's program stream of a 1- or 2-frame chunk is under 4 KB, and libavformat's probe scores it as MP4,
    /// whose demuxer then finds no `moov` (ffprobe fails the same way): the demuxer the extension names opens it, and
    /// the stitch names what is really wrong with the set (mpegpsmux leaves B-frames' decode timestamps unordered).
    @Test("GStreamer's small program streams, which libavformat's probe takes for MP4, open by their extension")
    func smallProgramStreams() async throws {
        let chunks = try await FixtureCache.shared.files("ps-h264-gst")  // 2, 9, 1 and 30 frames
        let ffprobe = try await Shell.run("ffprobe", ["-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0", chunks[2].path])
        #expect(ffprobe.status != 0, "ffprobe opened it: \(ffprobe.stdout)")
        #expect(try MediaProbe.probe(chunks[2]).formatName == "mpeg")
        #expect(try MediaProbe.probe(chunks[0]).formatName == "mpeg")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try await NativeStitcher().stitch(chunks, to: dir.appendingPathComponent("out.mpg"))
            Issue.record("stitched")
        } catch StitchError.invalidInputs(let report) {
            let errors = report.issues.filter { $0.severity == .error }
            #expect(!errors.isEmpty && errors.allSatisfy { $0.code == .nonIncreasingDts && $0.stream == 0 }, "\(errors)")
        }
    }

    @Test("MOV chunks (DNxHR with PCM, as editors export) into MXF: the edit rate is the frame rate, every frame and sample kept")
    func movIntoMXF() async throws {
        let stitched = try await StitchedSet("realworld-mov-dnxhr-pcm", container: "mxf")
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        #expect(try await Oracle.frameHashes(stitched.output) == (try await stitched.chunkFrameHashes()))
        // MXF takes the video's time base for its edit rate: the MOV's 1/15360 would make a 15,360 fps file.
        let rate = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "stream=r_frame_rate,time_base",
                                                   "-of", "csv=p=0", stitched.output.path])
        #expect(rate.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "30/1,1/30")
        // The chunks' PCM back to back, sample for sample (the muxer cuts it into one packet per frame).
        func samples(_ url: URL) async throws -> Data {
            try await Shell.runRaw("ffmpeg", ["-nostdin", "-v", "error", "-i", url.path, "-map", "0:a", "-f", "s24le", "-"]).stdout
        }
        var expected = Data()
        for chunk in stitched.chunks { expected += try await samples(chunk) }
        let decoded = try await samples(stitched.output)
        #expect(decoded.count == expected.count && decoded == expected)
        #expect(try await Oracle.decodeWarnings(stitched.output).filter { !$0.hasPrefix("Guessed Channel Layout") } == [])
    }

    @Test("MP4 chunks into AVI, which counts frames in slots of its time base: one slot a frame, none left empty",
          arguments: [("realworld-mp4-h264-aac-ms", "30/1,1/30"), ("realworld-mp4-h264-aac-ntsc", "30000/1001,1001/30000")])
    func mp4IntoAVI(set: String, rate: String) async throws {
        let stitched = try await StitchedSet(set, container: "avi")
        defer { stitched.remove() }
        let expected = try await stitched.chunkFrameHashes()
        #expect(try await Oracle.frameHashes(stitched.output) == expected)
        // A millisecond MP4's 33 and 34 ms frames are 30 fps; handed 1/1000, the muxer wrote 1,032 slots for 31 frames.
        let probe = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v", "-count_packets", "-show_entries",
                                                    "stream=r_frame_rate,time_base,nb_frames,nb_read_packets", "-of", "csv=p=0", stitched.output.path])
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(rate),\(expected.count),\(expected.count)")
    }

    /// A data stream beside picture and sound (MPEG-TS private data; a DVD's navigation packets, a stream the
    /// program stream declares only once read) was refused for its timestamps or as empty. It is left out, with a
    /// warning naming it, as ffmpeg's default stream selection leaves it.
    @Test("a data stream is left out with a warning, and picture and sound are stitched",
          arguments: [("datastream-ts", "ts", "bin_data"), ("datastream-ts", "mkv", "bin_data"),
                      ("vob-mpeg2-ac3", "vob", "dvd_nav_packet"), ("vob-mpeg2-ac3", "mkv", "dvd_nav_packet")])
    func dataStreamLeftOut(set: String, container: String, data: String) async throws {
        let stitched = try await StitchedSet(set, container: container)
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        let warnings = stitched.report.issues.filter { $0.severity == .warning && $0.code == .unsupportedByContainer }
        #expect(warnings.count == 1 && warnings.first?.message.hasPrefix("its data stream(s) (\(data)) are left out") == true, "\(warnings)")
        #expect(try await Oracle.frameHashes(stitched.output) == (try await stitched.chunkFrameHashes()))
        #expect(try await Oracle.decodeWarnings(stitched.output) == [])
        let kinds = try await Oracle.timing(stitched.output).map(\.kind)
        #expect(kinds.sorted() == ["audio", "video"], "\(kinds)")
    }

    /// libavformat's MPEG-TS muxer writes a codec it has no stream type for as private data, which readers take for a
    /// data stream: the "stitched" file would hold no picture (VP9, FFV1), sound (FLAC) or text (mov_text). Refused before a byte
    /// is written; the codecs it does map (H.264 with AAC) still go in.
    @Test("MPEG-TS output refuses a codec it would write as a data stream, as ffmpeg's own copy shows",
          arguments: [("webm-vp9-opus", "vp9"), ("lossless-mkv-ffv1-flac-bf0-a", "ffv1"), ("lossless-mp4-h264-flac-bf3-c", "flac"),
                      ("subtitles-mp4", "mov_text")])
    func mpegtsRefusesUnmappedCodecs(set: String, codec: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The oracle: ffmpeg's stream copy into MPEG-TS reads back as bin_data in place of the codec.
        let copied = dir.appendingPathComponent("ffmpeg.ts")
        _ = try await Shell.run("ffmpeg", ["-v", "error", "-i", files[0].path, "-map", "0", "-c", "copy", copied.path])
        let read = try await Oracle.streams(copied).compactMap { $0["codec_name"] }
        #expect(read.contains("bin_data") && !read.contains(codec), "ffmpeg read back \(read)")
        try FileManager.default.removeItem(at: copied)
        let output = dir.appendingPathComponent("out.ts")
        do {
            _ = try await NativeStitcher().stitch(files, to: output)
            Issue.record("stitched \(codec) into MPEG-TS")
        } catch let error as StitchError {
            #expect("\(error)".contains("the mpegts container cannot hold \(codec) (it has no stream type for it"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // H.264 with AAC is read back as itself.
        if set == "webm-vp9-opus" {
            let ts = try await StitchedSet("ts-h264-aac", container: "ts")
            defer { ts.remove() }
            #expect(try await Oracle.streams(ts.output).compactMap { $0["codec_name"] }.sorted() == ["aac", "h264"])
        }
    }

    /// A muxer that refuses a stream when it writes its header says why only in its log: the error carries it. What
    /// a muxer calls unofficial goes only into the chunks' own container (or MP4/MOV): MPEG-4 Part 2 forced into FLV
    /// reads back, by FFmpeg's own demuxer, as a dozen streams of garbage.
    @Test("a container whose muxer refuses a stream says why, as inputs it cannot hold: VP9 into MOV, 48 kHz PCM or MPEG-4 Part 2 into FLV",
          arguments: [("webm-vp9-opus", "mov", "vp9 only supported in MP4"), ("mov-h264-pcm", "flv", "FLV does not support sample rate 48000"),
                      ("realworld-avi-mpeg4-mp3", "flv", "Codec mpeg4 is not supported in the official FLV specification")])
    func muxerRefusalIsExplained(set: String, container: String, said: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try await NativeStitcher().stitch(Array(files.prefix(2)), to: dir.appendingPathComponent("out.\(container)"))
            Issue.record("stitched \(set) into \(container)")
        } catch StitchError.invalidInputs(let report) {
            // Refused as inputs the container cannot hold (exit 1, not retried), not as a failed write.
            #expect(report.issues.count == 1 && report.issues.first?.code == .unsupportedByContainer, "\(report.issues)")
            #expect(report.issues.first?.message.contains("libavformat: \(said)") == true, "\(report.issues)")
            #expect(!StitchError.invalidInputs(report).isRetryable)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("an AVI cut short where a packet starts reads cleanly, and is refused as truncated, not stitched short")
    func truncatedAVI() async throws {
        try await expectTruncatedLastChunk(of: "realworld-avi-mpeg4-mp3") { bytes, last in
            // Up to its last video packet: its index at the end is gone, and so is that frame.
            let probe = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=pos", "-of", "csv=p=0", last.path])
            return try #require(probe.stdout.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.last) - 8
        } reason: { $0.hasPrefix("the file is truncated: its RIFF header declares") }
    }

    @Test("an MPEG program stream cut inside a pack is refused as truncated: it has no index or frame count to tell")
    func truncatedProgramStream() async throws {
        let last = try #require(try await FixtureCache.shared.files("realworld-ps-mpeg2-mp2").last)
        #expect(Demuxer.programStreamCutShort(last.path) == false)
        try await expectTruncatedLastChunk(of: "realworld-ps-mpeg2-mp2") { bytes, _ in
            // ffmpeg writes packs of 2,048 bytes: 1,000 bytes into the one before last.
            (bytes.count / 2048 - 2) * 2048 + 1000
        } reason: { $0 == "the file is truncated: its last pack runs past the end of the file" }
    }

    /// Stitches `set` with its last chunk cut to the first `cut(bytes, file)` bytes: refused as damaged, naming the
    /// cut file with a `reason` that passes, and nothing written.
    func expectTruncatedLastChunk(of set: String, cut: (Data, URL) async throws -> Int,
                                  reason: (String) -> Bool) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let last = try #require(chunks.last)
        let bytes = try Data(contentsOf: last)
        let short = dir.appendingPathComponent("short.\(last.pathExtension)")
        try Data(bytes.prefix(try await cut(bytes, last))).write(to: short)
        let output = dir.appendingPathComponent("out.\(last.pathExtension)")
        do {
            _ = try await NativeStitcher().stitch(Array(chunks.dropLast()) + [short], to: output)
            Issue.record("stitched a truncated \(last.pathExtension) file")
        } catch StitchError.damagedInput(_, let path, let why) {
            #expect(path == short.path)
            #expect(reason(why), "\(why)")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// Video-only chunks of `frames` frames of one test pattern, cut one after another, written by ffmpeg with
    /// `arguments` (codec and its options) as `chunkK.ext`; with each chunk's decoded frames, in order.
    static func patternChunks(_ frames: [Int], ext: String, rate: Int, _ arguments: [String], in dir: URL) async throws -> (chunks: [URL], frames: [String]) {
        var chunks: [URL] = [], expected: [String] = [], start = 0
        for (k, n) in frames.enumerated() {
            let chunk = dir.appendingPathComponent("chunk\(k).\(ext)")
            let made = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                                                      "testsrc2=size=160x96:rate=\(rate),trim=start_frame=\(start):end_frame=\(start + n),setpts=PTS-STARTPTS"]
                                           + arguments + [chunk.path])
            try #require(made.status == 0, "\(made.stderr)")
            chunks.append(chunk)
            expected += try await Oracle.frameHashes(chunk)
            start += n
        }
        return (chunks, expected)
    }

    /// A codec a muxer keeps no official tag for, which it wrote all the same: CineForm in MOV (its fourcc) and Ut Video
    /// in Matroska (a VfW track), as editors export intermediates. Into the chunks' own container they stitch, as
    /// ffmpeg -c copy does; into another they are refused up front as before.
    @Test("CineForm MOV and Ut Video Matroska chunks stitch into their own container with every frame; MP4 and WebM refuse them",
          arguments: [("cfhd", "mov", "mp4"), ("utvideo", "mkv", "webm")])
    func unofficialCodecIntoOwnContainer(codec: String, ext: String, other: String) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (chunks, expected) = try await Self.patternChunks([1, 8, 2, 5], ext: ext, rate: 30, ["-c:v", codec], in: dir)
        let output = dir.appendingPathComponent("out.\(ext)")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        #expect(report.isValid && report.output?.videoFrames == 16)
        #expect(try await Oracle.frameHashes(output) == expected)
        #expect(try await Oracle.streams(output).first?["codec_name"] == codec)

        let elsewhere = dir.appendingPathComponent("out.\(other)")
        let refused = await #expect(throws: StitchError.self) { try await NativeStitcher().stitch(chunks, to: elsewhere) }
        guard case .invalidInputs(let refusal)? = refused else { Issue.record("\(String(describing: refused))"); return }
        #expect(refusal.issues.contains { $0.code == .unsupportedByContainer && $0.message.contains(codec) }, "\(refusal.issues)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere.path))
    }

    /// FLV stores no packet durations; H.264's parser supplies them, but Sorenson Spark (flv1, Flash-era renders) has
    /// none: a 1-frame chunk lasted no time, so it was refused ("frame duration is 40.000 ms but input 1 has 0.000 ms").
    @Test("FLV chunks without durations (Sorenson Spark) take the stated frame rate: 1-frame chunks last a frame, first and between")
    func flvWithoutDurations() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (chunks, expected) = try await Self.patternChunks([1, 5, 1, 5], ext: "flv", rate: 25, ["-c:v", "flv"], in: dir)
        let output = dir.appendingPathComponent("out.flv")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        #expect(report.isValid && report.output?.videoFrames == 12)
        #expect(try await Oracle.frameHashes(output) == expected)
        let pts = try await Oracle.entries(output, "packet=pts", select: "v").compactMap { Int($0.split(separator: "=").last ?? "") }
        #expect(pts.sorted() == Array(stride(from: 0, to: 480, by: 40)), "\(pts)")
    }

    /// The mov muxer has no tag for uncompressed yuv420p: it wrote such chunks under RGB 24's tag without a word, and
    /// the stitch (exit 0) played nothing, every frame decoded as RGB of the wrong size.
    @Test("uncompressed yuv420p chunks (AVI) stitch into AVI with every frame, and are refused for MOV, whose tag would misdescribe them")
    func rawvideoIntoMOV() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (chunks, expected) = try await Self.patternChunks([1, 4], ext: "avi", rate: 25, ["-c:v", "rawvideo", "-pix_fmt", "yuv420p"], in: dir)
        let own = dir.appendingPathComponent("out.avi")
        _ = try await NativeStitcher().stitch(chunks, to: own)
        #expect(try await Oracle.frameHashes(own) == expected)
        let mov = dir.appendingPathComponent("out.mov")
        let refused = await #expect(throws: StitchError.self) { try await NativeStitcher().stitch(chunks, to: mov) }
        guard case .invalidInputs(let report)? = refused else { Issue.record("\(String(describing: refused))"); return }
        #expect(report.issues.contains { $0.code == .unsupportedByContainer && $0.message.contains("cannot hold rawvideo in yuv420p") }, "\(report.issues)")
        #expect(!FileManager.default.fileExists(atPath: mov.path))
    }
}
