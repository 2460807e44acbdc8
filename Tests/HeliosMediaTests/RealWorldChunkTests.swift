import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// More of what a pipeline meets than the matrix's H.264/HEVC/VP9 with AAC and Opus: MP3, AC-3, E-AC-3 and MPEG-2
/// with MP2 in MPEG-TS, NTSC and 60 fps rates with 44.1 kHz audio, 120 fps (a frame shorter than half an AAC
/// frame), MP4 with a millisecond video time scale or millisecond timestamps (remuxed from Matroska), VP9 with
/// hidden alt-ref frames, AV1 from libaom, WebM written live (no Cues, unknown sizes, as browsers record), MXF, MPEG
/// program streams, AVI, and fragmented MP4 at 50 and 60 fps (its first frames stretched over more than a frame).
/// Each set is chunks of 1, 8, 2 and 20 frames (30 more at NTSC rates, two more single frames at 120 fps), from
/// `Fixtures/generate.sh` (`realworld-*`), checked with ffmpeg and ffprobe.
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
        // Recorded to Matroska and remuxed to MP4: millisecond timestamps in a 1/16000 time base (528 and 544 ticks).
        ("realworld-mp4-h264-aac-from-mkv", 30, 48000, 1024, false),
        ("realworld-mp4-h264-aac-120fps", 120, 48000, 1024, false), ("realworld-mxf-mpeg2-pcm", 25, 48000, 1920, true),
        ("realworld-ps-mpeg2-mp2", 25, 48000, 1152, false), ("realworld-mov-dnxhr-pcm", 30, 48000, 1600, true),
        ("realworld-webm-vp9-altref", 30, 48000, 960, true), ("realworld-webm-vp8-live", 30, 48000, 960, true),
        ("realworld-mkv-av1-aom", 30, 48000, 960, true),
        // FFmpeg's fragmented MP4 stretches each first frame over AAC's priming frame, 21.3 ms: more than a frame.
        ("realworld-fmp4-h264-aac-60fps", 60, 48000, 1024, false), ("realworld-fmp4-h264-aac-50fps", 50, 48000, 1024, false),
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

    /// GStreamer's `voaacenc` drops each chunk's partial last AAC frame: a 30-frame chunk holds 46 frames (47,104
    /// samples) for 48,000 samples of picture. Each boundary's gap stays under a frame, but ten of them add up.
    @Test("chunks whose sound ends before their pictures: copy mode warns of the shortfall, --audio exact fills it with silence")
    func soundShortOfPicture() async throws {
        let copy = try await StitchedSet("voaacenc-mov")
        defer { copy.remove() }
        #expect(copy.report.isValid)
        #expect(copy.report.output?.videoFrames == 300)
        let warnings = copy.report.issues.filter { $0.code == .avDrift }
        #expect(warnings.count == 1 && warnings.allSatisfy { $0.severity == .warning && $0.message.contains("(8960 samples)") },
                "\(warnings)")
        #expect(copy.report.output?.decodedAudioDriftSamples == -8960)
        // ffmpeg decodes what the chunks hold: 10 × 46 frames.
        #expect(try await Oracle.decodedAudioSamples(copy.output) == 460 * 1024)

        let exact = try await StitchedSet("voaacenc-mov", options: StitchOptions(audio: .exact))
        defer { exact.remove() }
        #expect(exact.report.issues.filter { $0.code == .avDrift }.isEmpty)
        let summary = try #require(exact.report.output?.exactAudio?.first)
        #expect(summary.samples == 300 * 1600)
        #expect(summary.silentSamples == Array(repeating: 896, count: 10))
        #expect(summary.videoOffsetSamples.allSatisfy { $0 == 0 })
        let decoded = try await Oracle.decodedAudioSamples(exact.output)
        #expect(decoded >= 300 * 1600 && decoded < 300 * 1600 + 1024, "decoded \(decoded)")
        #expect(try await Oracle.frameHashes(exact.output) == (try await copy.chunkFrameHashes()))
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
        let chunks = try await Self.videoSineChunks([1, 8], codecs: codecs.split(separator: " ").map(String.init), ext: container, in: dir)
        try await Self.expectRefusedAsUnsupported(chunks, output: dir.appendingPathComponent("out.\(container)")) { $0.hasPrefix(message) }
    }

    /// Vorbis beside video: copy mode's refusal points to `--audio exact`, which stitches it (the sound decoded, cut to
    /// each chunk's video, encoded once with libvorbis); audio-only Vorbis, which exact mode copies, is pointed to Opus.
    @Test("Vorbis: copy mode refuses it naming --audio exact, which stitches it; audio-only Vorbis is pointed to Opus")
    func vorbisThroughExactAudio() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.videoSineChunks([1, 8, 3], codecs: ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libvorbis"],
                                                    ext: "webm", in: dir)
        let sounds = try await Self.videoSineChunks([1, 8, 3], codecs: ["-map", "1:a", "-c:a", "libvorbis"], ext: "mka", name: "s", in: dir)
        let output = dir.appendingPathComponent("out.webm")
        try await Self.expectRefusedAsUnsupported(chunks, output: output) { $0.contains("stitch with --audio exact") }
        let report = try await NativeStitcher(options: StitchOptions(audio: .exact)).stitch(chunks, to: output)
        #expect(report.isValid && report.output?.videoFrames == 12)
        #expect(report.output?.exactAudio?.first?.encoder == "libvorbis" && report.output?.exactAudio?.first?.samples == 12 * 1600)
        var frames: [String] = []
        for chunk in chunks { frames += try await Oracle.frameHashes(chunk) }
        #expect(try await Oracle.frameHashes(output) == frames)
        #expect(try await Oracle.decodeWarnings(output) == [])
        // Decoded: the whole sound once, and at most the last block's padding, which WebM does not trim for Vorbis.
        let decoded = try await Oracle.decodedAudioSamples(output)
        #expect(decoded >= 12 * 1600 && decoded < 12 * 1600 + 2048, "decoded \(decoded)")

        let audioOnly = dir.appendingPathComponent("out.mka")
        for mode in [AudioMode.copy, .exact] {
            let refused = await #expect(throws: StitchError.self) {
                try await NativeStitcher(options: StitchOptions(audio: mode)).stitch(sounds, to: audioOnly)
            }
            guard case .invalidInputs(let report)? = refused else { Issue.record("\(mode): \(String(describing: refused))"); continue }
            let message = report.issues.first { $0.severity == .error }?.message ?? ""
            #expect(message.hasPrefix("Vorbis audio cannot be copied end to end") && !message.contains("--audio exact")
                    && message.contains("encode the chunks' audio as Opus"), "\(mode): \(message)")
        }
    }

    /// CAF (Apple's Core Audio Format) states no packet durations and counts its frames in samples: compressed
    /// chunks were refused as damaged ("24570 of 24576 frames could not be read"); PCM lays end to end as in WAV.
    @Test("CAF: ALAC and Opus chunks are refused for their missing durations, not as damaged; PCM stitches sample-exactly")
    func caf() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func chunks(_ codec: String) async throws -> [URL] { try await Self.sineChunks(codec: codec, ext: "caf", in: dir) }
        for codec in ["alac", "libopus"] {
            let output = dir.appendingPathComponent("\(codec).caf")
            let refused = await #expect(throws: StitchError.self) { try await NativeStitcher().stitch(try await chunks(codec), to: output) }
            guard case .invalidInputs(let report)? = refused else { Issue.record("\(codec): \(String(describing: refused))"); continue }
            let errors = report.issues.filter { $0.severity == .error }
            #expect(errors.map(\.code) == [.unsupportedCodec] && errors.first?.message.contains("in CAF carries no packet durations") == true, "\(errors)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
        let output = dir.appendingPathComponent("pcm.caf")
        let report = try await NativeStitcher().stitch(try await chunks("pcm_s16le"), to: output)
        #expect(report.isValid)
        #expect(try await Oracle.decodedAudioSamples(output) == 76800)
    }

    /// Ogg states a chunk's last Opus packet's duration without the samples its end trim discards (312 of 960),
    /// which the sample-exact placement counted a second time: each boundary lost 648 samples into WebM and
    /// Matroska (74,856 of 76,800 over three chunks), and 960 in all into Ogg.
    @Test("Ogg Opus chunks (.opus) into WebM, Matroska and Ogg decode to exactly the samples the chunks decode to", arguments: ["webm", "mka", "opus"])
    func oggOpus(output ext: String) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.sineChunks(codec: "libopus", ext: "opus", in: dir)
        var expected = 0
        for chunk in chunks { expected += try await Oracle.decodedAudioSamples(chunk) }
        #expect(expected == 76800)
        let output = dir.appendingPathComponent("out.\(ext)")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        #expect(report.isValid)
        #expect(try await Oracle.decodedAudioSamples(output) == expected)
        #expect(try await Oracle.decodeWarnings(output) == [])
    }

    /// Chunks of `frames` frames of 64x48 test video at 30 fps with a 48 kHz sine (1,600 samples a frame), encoded
    /// with `codecs` (ffmpeg's arguments) as `name`-K.`ext` in `dir`.
    static func videoSineChunks(_ frames: [Int], codecs: [String], ext: String, name: String = "c", in dir: URL) async throws -> [URL] {
        var urls: [URL] = []
        for (k, count) in frames.enumerated() {
            let url = dir.appendingPathComponent("\(name)\(k).\(ext)")
            let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30,trim=end_frame=\(count)",
                                                        "-f", "lavfi", "-i", "sine=sample_rate=48000,atrim=end_sample=\(count * 1600)"]
                                         + codecs + [url.path])
            try #require(result.status == 0, "\(result.stderr)")
            urls.append(url)
        }
        return urls
    }

    /// Three chunks of one 48 kHz sine cut one after another (24,000, 4,800 and 48,000 samples: half a second, a
    /// tenth, a second), encoded with `codec` by ffmpeg as `CODEC-K.ext`.
    static func sineChunks(codec: String, ext: String, in dir: URL) async throws -> [URL] {
        var urls: [URL] = [], start = 0
        for (k, samples) in [24000, 4800, 48000].enumerated() {
            let url = dir.appendingPathComponent("\(codec)-\(k).\(ext)")
            let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i",
                                                        "sine=sample_rate=48000,atrim=start_sample=\(start):end_sample=\(start + samples)",
                                                        "-c:a", codec, url.path])
            try #require(result.status == 0, "\(result.stderr)")
            urls.append(url)
            start += samples
        }
        return urls
    }

    /// Stitches `chunks` strictly and leniently: both must be refused with one `unsupported-codec` error about input
    /// 1's stream 1, whose message `accepts`, and leave no output behind.
    static func expectRefusedAsUnsupported(_ chunks: [URL], output: URL, alsoExact: Bool = false,
                                           _ accepts: (String) -> Bool) async throws {
        for (lenient, audio) in [(false, AudioMode.copy), (true, .copy)] + (alsoExact ? [(false, .exact)] : []) {
            do {
                _ = try await NativeStitcher(options: StitchOptions(lenient: lenient, audio: audio)).stitch(chunks, to: output)
                Issue.record("stitched \(chunks[0].lastPathComponent)")
            } catch StitchError.invalidInputs(let report) {
                let errors = report.issues.filter { $0.severity == .error }
                #expect(errors.map(\.code) == [.unsupportedCodec] && errors.first?.stream == 1 && errors.first?.inputIndex == 0)
                #expect(accepts(errors.first?.message ?? ""), "\(errors.first?.message ?? "")")
            }
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }

    /// GStreamer 1.22's mp4mux copies Ogg's little-endian Opus header fields into the big-endian dOps box: read as
    /// written, each chunk's pre-skip is 14,337 samples (0.3 s of its sound dropped), its input rate 2,159,738,880 Hz.
    @Test("Opus in MP4 with its header in the wrong byte order is refused, saying so, also when lenient or exact")
    func byteSwappedOpusHeader() async throws {
        let chunks = try await FixtureCache.shared.files("opus-mp4-gst")
        // ffmpeg reads the header as written: of the 8-frame chunk's 12,800 samples it decodes less than half.
        let decoded = try await Oracle.decodedAudioSamples(chunks[1])
        #expect(decoded < 6400, "ffmpeg decodes \(decoded) samples")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // --audio exact too: it would decode what the header says, dropping the same 0.3 s.
        try await Self.expectRefusedAsUnsupported(chunks, output: dir.appendingPathComponent("out.mp4"), alsoExact: true) { message in
            message.contains("wrong byte order") && message.contains("pre-skip is 14337 samples") && message.contains("312 and 48000")
        }
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

    @Test("pieces cut with stream copy between keyframes are refused for the frames their edit lists hide, also when lenient")
    func hiddenFrames() async throws {
        let chunks = try await FixtureCache.shared.files("copycut-keyframes-mp4")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        for lenient in [false, true] {
            let error = await #expect(throws: StitchError.self) {
                try await NativeStitcher(options: StitchOptions(lenient: lenient)).stitch(chunks, to: output)
            }
            guard case .invalidInputs(let report)? = error else { Issue.record("\(String(describing: error))"); return }
            let errors = report.issues.filter { $0.severity == .error }
            // The piece from 0.5 s starts at the keyframe at 0: 15 frames decoded and not shown.
            #expect(errors.contains { $0.code == .hiddenFrames && $0.inputIndex == 1 && $0.message.hasPrefix("its first 15 video frames come before") },
                    "\(errors)")
            #expect(!errors.contains { $0.inputIndex == 0 }, "\(errors)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
