import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// More of what a pipeline meets than the matrix's H.264/HEVC/VP9 with AAC and Opus: MP3, AC-3, E-AC-3 and MPEG-2
/// with MP2 in MPEG-TS, NTSC and 60 fps rates with 44.1 kHz audio, 120 fps (a frame shorter than half an AAC
/// frame), MP4 with a millisecond video time scale, VP9 with hidden alt-ref frames, AV1 from libaom, WebM written
/// live (no Cues, unknown sizes, as browsers record), MXF, MPEG program streams and AVI. Each set is chunks of 1, 8,
/// 2 and 20 frames (30 more at NTSC rates, two more single frames at 120 fps), from `Fixtures/generate.sh`
/// (`realworld-*`), checked with ffmpeg and ffprobe.
@Suite("Real-world chunk sets: other codecs, rates and writers", .serialized)
struct RealWorldChunkTests {
    /// Set, frame rate, audio sample rate, samples in one audio packet of its codec, and whether its audio is laid
    /// end to end exactly (Opus in Matroska and WebM, trimmed by DiscardPadding) rather than whole frames.
    static let sets: [(String, Double, Int, Int, Bool)] = [
        ("realworld-mkv-h264-mp3", 30, 48000, 1152, false), ("realworld-mp4-h264-ac3", 30, 48000, 1536, false),
        ("realworld-mkv-h264-eac3", 30, 48000, 1536, false), ("realworld-ts-mpeg2-mp2", 30, 48000, 1152, false),
        ("realworld-mp4-h264-aac-ntsc", 30000.0 / 1001, 48000, 1024, false),
        ("realworld-mkv-h264-opus-ntsc", 30000.0 / 1001, 48000, 960, true),
        ("realworld-mp4-h264-aac-60fps-44k", 60, 44100, 1024, false), ("realworld-mp4-h264-aac-ms", 30, 48000, 1024, false),
        ("realworld-mp4-h264-aac-120fps", 120, 48000, 1024, false), ("realworld-mxf-mpeg2-pcm", 25, 48000, 1920, true),
        ("realworld-ps-mpeg2-mp2", 25, 48000, 1152, false), ("realworld-mov-dnxhr-pcm", 30, 48000, 1600, true),
        ("realworld-webm-vp9-altref", 30, 48000, 960, true), ("realworld-webm-vp8-live", 30, 48000, 960, true),
        ("realworld-mkv-av1-aom", 30, 48000, 960, true),
    ]

    @Test("frames exact, no decode warnings, audio within half a codec frame at every boundary", arguments: sets)
    func stitch(set: (name: String, fps: Double, rate: Int, frameSamples: Int, exact: Bool)) async throws {
        let stitched = try await StitchedSet(set.name)
        defer { stitched.remove() }
        let (chunks, output, report) = (stitched.chunks, stitched.output, stitched.report)
        #expect(report.isValid)
        let expected = try await stitched.chunkFrameHashes()
        let frames = expected.count
        #expect(report.output?.videoFrames == Int64(frames))
        #expect(try await Oracle.frameHashes(output) == expected, "decoded frames differ from the chunks' frames")
        // MXF stores a channel count and no layout, so ffmpeg guesses one, for the chunks as for the output.
        #expect(try await Oracle.decodeWarnings(output).filter { !$0.hasPrefix("Guessed Channel Layout") } == [])

        let seconds = Double(frames) / set.fps
        let timing = try await Oracle.timing(output)
        let video = try #require(timing.first { $0.kind == "video" })
        let audio = try #require(timing.first { $0.kind == "audio" })
        #expect(video.packets == frames)
        #expect(abs(video.packetSpan - seconds) <= 0.5 / set.fps + 0.001, "video spans \(video.packetSpan) s for \(frames) frames")
        // Packet spans count whole packets (a trimmed last Opus packet too): within one and a half frames, as measured.
        let frameSeconds = Double(set.frameSamples) / Double(set.rate)
        #expect(abs(audio.packetSpan - video.packetSpan) <= 1.5 * frameSeconds + 0.001, "audio spans \(audio.packetSpan) s, video \(video.packetSpan) s")

        // Frame codecs keep the frames whose midpoint falls before the next chunk's start: each boundary is off by
        // at most half a frame, and what a player decodes stays within a frame and a half of the video (as
        // measured: the first chunk's decoder delay and the last frame's end). Opus in Matroska and WebM is exact.
        let decoded = try await Oracle.decodedAudioSamples(output)
        let ideal = Int((seconds * Double(set.rate)).rounded())
        let boundaries = report.boundaries.filter { $0.kind == .audio }
        #expect(boundaries.count == chunks.count - 1)
        if set.exact {
            #expect(abs(decoded - ideal) <= 1, "decoded audio: \(decoded) samples for \(ideal)")
            #expect(boundaries.allSatisfy { $0.audioDiscontinuitySamples == 0 })
        } else {
            #expect(Double(abs(decoded - ideal)) <= 1.5 * Double(set.frameSamples), "decoded audio: \(decoded) samples for \(ideal)")
            for boundary in boundaries {
                #expect(abs(boundary.audioDiscontinuitySamples ?? .max) <= set.frameSamples / 2,
                        "boundary before input \(boundary.index + 1): \(boundary.audioDiscontinuitySamples ?? 0) samples")
            }
        }
    }

    @Test("MPEG-TS chunks with ADTS AAC into MP4, MOV and Matroska: the muxer converts the audio to raw AAC",
          arguments: [("matrix-ts-h264-bf3-a", "mp4", false), ("matrix-ts-h264-bf3-a", "mp4", true),
                      ("matrix-ts-h264-bf0-b", "mov", true), ("matrix-ts-h264-bf3-a", "mkv", false)])
    func transportStreamToOtherContainers(set: String, container: String, faststart: Bool) async throws {
        let stitched = try await StitchedSet(set, container: container, options: StitchOptions(faststart: faststart))
        defer { stitched.remove() }
        let (output, report) = (stitched.output, stitched.report)
        #expect(report.isValid)
        let expected = try await stitched.chunkFrameHashes()
        #expect(try await Oracle.frameHashes(output) == expected)
        #expect(try await Oracle.decodeWarnings(output) == [])
        // Raw AAC with its AudioSpecificConfig, as these containers hold AAC (an ADTS header on every frame is not).
        #expect(try await Oracle.extradata(output).count == 2)
        let timing = try await Oracle.timing(output)
        let video = try #require(timing.first { $0.kind == "video" })
        let audio = try #require(timing.first { $0.kind == "audio" })
        #expect(abs(audio.packetSpan - video.packetSpan) <= 1024.0 / 48000 + 0.001, "audio spans \(audio.packetSpan) s, video \(video.packetSpan) s")
        #expect(abs(try await Oracle.decodedAudioSamples(output) - expected.count * 1600) <= 1024)
        for boundary in report.boundaries where boundary.kind == .audio {
            #expect(abs(boundary.audioDiscontinuitySamples ?? .max) <= 512)
        }
    }

    @Test("audio a remux cannot lay end to end is refused, naming the stream, also when lenient",
          arguments: [("webm", "-c:v libvpx -deadline realtime -c:a libvorbis", "Vorbis audio cannot be copied end to end"),
                      ("mkv", "-c:v libx264 -c:a alac", "ALAC in Matroska carries no packet durations")])
    func refused(container: String, codecs: String, message: String) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var chunks: [URL] = []
        for (k, frames) in [1, 8].enumerated() {
            let url = dir.appendingPathComponent("c\(k).\(container)")
            let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30,trim=end_frame=\(frames)",
                                                        "-f", "lavfi", "-i", "sine=sample_rate=48000,atrim=end_sample=\(frames * 1600)"]
                                         + codecs.split(separator: " ").map(String.init) + [url.path])
            try #require(result.status == 0, "\(result.stderr)")
            chunks.append(url)
        }
        let output = dir.appendingPathComponent("out.\(container)")
        for lenient in [false, true] {
            do {
                _ = try await NativeStitcher(options: StitchOptions(lenient: lenient)).stitch(chunks, to: output)
                Issue.record("stitched \(codecs)")
            } catch StitchError.invalidInputs(let report) {
                let errors = report.issues.filter { $0.severity == .error }
                #expect(errors.map(\.code) == [.unsupportedCodec] && errors.first?.stream == 1 && errors.first?.inputIndex == 0)
                #expect(errors.first?.message.hasPrefix(message) == true, "\(errors.first?.message ?? "")")
            }
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }

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

    @Test("an AVI cut short where a packet starts reads cleanly, and is refused as truncated, not stitched short")
    func truncatedAVI() async throws {
        let chunks = try await FixtureCache.shared.files("realworld-avi-mpeg4-mp3")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The last chunk up to its last video packet: its index at the end is gone, and so is that frame.
        let last = try #require(chunks.last)
        let probe = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=pos", "-of", "csv=p=0", last.path])
        let cut = try #require(probe.stdout.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.last) - 8
        let short = dir.appendingPathComponent("short.avi")
        try Data(try Data(contentsOf: last).prefix(cut)).write(to: short)
        let inputs = Array(chunks.dropLast()) + [short]
        let output = dir.appendingPathComponent("out.avi")
        do {
            _ = try await NativeStitcher().stitch(inputs, to: output)
            Issue.record("stitched a truncated AVI")
        } catch StitchError.damagedInput(_, let path, let reason) {
            #expect(path == short.path)
            #expect(reason.hasPrefix("the file is truncated: its RIFF header declares"), "\(reason)")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test("an MPEG program stream cut inside a pack is refused as truncated: it has no index or frame count to tell")
    func truncatedProgramStream() async throws {
        let chunks = try await FixtureCache.shared.files("realworld-ps-mpeg2-mp2")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let last = try #require(chunks.last)
        let bytes = try Data(contentsOf: last)
        // ffmpeg writes packs of 2,048 bytes: cut 1,000 bytes into the one before last.
        let cut = (bytes.count / 2048 - 2) * 2048 + 1000
        let short = dir.appendingPathComponent("short.mpg")
        try Data(bytes.prefix(cut)).write(to: short)
        #expect(Demuxer.programStreamCutShort(last.path) == false)
        #expect(Demuxer.programStreamCutShort(short.path) == true)
        let output = dir.appendingPathComponent("out.mpg")
        do {
            _ = try await NativeStitcher().stitch(Array(chunks.dropLast()) + [short], to: output)
            Issue.record("stitched a truncated program stream")
        } catch StitchError.damagedInput(_, let path, let reason) {
            #expect(path == short.path)
            #expect(reason == "the file is truncated: its last pack runs past the end of the file")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test("pieces cut with stream copy are refused for their timing, not as damaged, and --lenient loses none of their frames")
    func copyCutPieces() async throws {
        // Each piece ends past its cut on a reference frame without the B-frames shown before it: holes in its frame
        // grid that were written so. Every frame the sample table declares is read, so nothing was lost in reading.
        let chunks = try await FixtureCache.shared.files("copycut-mp4")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let error = await #expect(throws: StitchError.self) { try await NativeStitcher().stitch(chunks, to: output) }
        guard case .invalidInputs(let report)? = error else { Issue.record("\(String(describing: error))"); return }
        let errors = report.issues.filter { $0.severity == .error }
        #expect(errors.contains { $0.code == .irregularFrameDuration && $0.inputIndex == 0 }, "\(errors)")
        #expect(errors.allSatisfy { $0.code.isContinuity }, "\(errors)")

        let lenient = try await NativeStitcher(options: StitchOptions(lenient: true)).stitch(chunks, to: output)
        #expect(lenient.isValid)
        var expected: [String] = []
        for chunk in chunks { expected += try await Oracle.frameHashes(chunk) }
        #expect(try await Oracle.frameHashes(output) == expected)
    }
}
