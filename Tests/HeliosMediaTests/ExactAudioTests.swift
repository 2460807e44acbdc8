import Foundation
import HeliosMedia
import Testing

/// `--audio exact` against an independent decoder (ffmpeg) and an independent rendering: uneven chunks (one of a
/// single frame) of an aperiodic chirp with B-frame video, stitched with the audio re-encoded; every chunk's content
/// is located against ffmpeg's raw chirp, and every boundary's largest sample-to-sample jump is compared with the
/// single-pass render of the same 120 frames at the same place.
@Suite("Exact audio (--audio exact)", .serialized)
struct ExactAudioTests {
    static let chunkFrames = [31, 29, 1, 44, 15]
    static let samplesPerFrame = 1600
    static var total: Int { chunkFrames.reduce(0, +) * samplesPerFrame }

    /// The lag (samples) at which `output[start..<end]` best matches the reference, searching ±`search`.
    static func lag(_ output: [Float], _ reference: [Float], start: Int, end: Int, search: Int) -> Int {
        var best = (score: -Double.infinity, lag: 0)
        output.withUnsafeBufferPointer { out in
            reference.withUnsafeBufferPointer { ref in
                var outEnergy = 0.0
                for i in start..<end { outEnergy += Double(out[i] * out[i]) }
                for lag in -search...search {
                    var dot: Float = 0, energy: Float = 0
                    for i in start..<end {
                        let r = ref[i + lag]
                        dot += out[i] * r
                        energy += r * r
                    }
                    let score = Double(dot) / (outEnergy * Double(energy)).squareRoot()
                    if score > best.score { best = (score, lag) }
                }
            }
        }
        return best.lag
    }

    /// Per chunk, the lag of the whole chunk against the reference: ±200 samples for chunks long enough that the
    /// chirp cannot match itself a period away, ±48 (under half a period) for the 1-frame chunk.
    static func chunkLags(_ output: [Float], reference: [Float]) -> [Int] {
        var start = 0
        return chunkFrames.map { frames in
            let length = frames * samplesPerFrame
            let search = length >= 8192 ? 200 : 48
            defer { start += length }
            return lag(output, reference, start: max(start, search), end: min(start + length, reference.count - search), search: search)
        }
    }

    /// The largest sample-to-sample jump within ±32 samples of `at`.
    static func step(_ x: [Float], at: Int) -> Float {
        (at - 32..<at + 32).map { abs(x[$0 + 1] - x[$0]) }.max() ?? 0
    }

    func reference() async throws -> [Float] {
        try Oracle.floats(Data(contentsOf: try await FixtureCache.shared.set("chirp-reference").appendingPathComponent("reference.f32")))
    }

    /// Stitches `exact-SET` (files `.EXT`; SET defaults to EXT) with --audio exact and checks placement, length and
    /// boundaries against ffmpeg.
    func check(_ ext: String, set: String? = nil, maxStepRatio: Float) async throws {
        let chunks = try await FixtureCache.shared.files("exact-\(set ?? ext)")
        let single = try await FixtureCache.shared.files("exact-\(set ?? ext)-single")[0]
        let reference = try await reference()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.\(ext)")
        let report = try await NativeStitcher(options: StitchOptions(audio: .exact)).stitch(chunks, to: output)
        let summary = try #require(report.output?.exactAudio?.first)
        #expect(report.output?.audioMode == .exact)
        #expect(summary.samples == Int64(Self.total), "encoded \(summary.samples) samples for \(Self.total) of video")
        #expect(summary.videoOffsetSamples.allSatisfy { $0 == 0 }, "\(summary.videoOffsetSamples)")
        #expect(summary.silentSamples.allSatisfy { $0 == 0 })
        #expect(report.output?.decodedAudioDriftSamples == 0)

        // Video copied packet for packet: the chunks' frames, in order.
        var frames: [String] = []
        for chunk in chunks { frames += try await Oracle.frameHashes(chunk) }
        #expect(try await Oracle.frameHashes(output) == frames)
        #expect(try await Oracle.decodeWarnings(output) == [])

        // Same codec, rate and layout.
        let streams = try await Oracle.streams(output)
        let input = try await Oracle.streams(chunks[0])
        let audio = try #require(streams.first { $0["codec_type"] == "audio" })
        let inputAudio = try #require(input.first { $0["codec_type"] == "audio" })
        #expect(audio["codec_name"] == inputAudio["codec_name"])
        #expect(audio["sample_rate"] == inputAudio["sample_rate"])

        let decoded = try await Oracle.decodedAudio(output)
        let singlePass = try await Oracle.decodedAudio(single)
        let lags = Self.chunkLags(decoded, reference: reference)
        // The container's own duration: MP4 states it (edit list); Matroska trims the last frame (DiscardPadding).
        let timing = try await Oracle.timing(output)
        let audioTiming = try #require(timing.first { $0.kind == "audio" })
        let videoTiming = try #require(timing.first { $0.kind == "video" })
        // The chunks' own edges, decoded alone (MP4 and WebM tell ffmpeg their priming; Matroska AAC does not).
        let ownEdges = ext != "mkv"
        var chunkAudio: [[Float]] = []
        if ownEdges { for chunk in chunks { chunkAudio.append(try await Oracle.decodedAudio(chunk)) } }
        var steps: [(out: Float, single: Float, edges: Float)] = []
        var at = 0
        for (i, frames) in Self.chunkFrames.dropLast().enumerated() {
            at += frames * Self.samplesPerFrame
            var edges: Float = 0
            if ownEdges {
                let end = frames * Self.samplesPerFrame
                let tail = (end - 32..<end - 1).map { abs(chunkAudio[i][$0 + 1] - chunkAudio[i][$0]) }.max() ?? 0
                let head = (0..<31).map { abs(chunkAudio[i + 1][$0 + 1] - chunkAudio[i + 1][$0]) }.max() ?? 0
                edges = max(tail, head)
            }
            steps.append((Self.step(decoded, at: at), Self.step(singlePass, at: at), edges))
        }
        let ratios = steps.map { $0.out / $0.single }
        print("exact audio \(ext): \(summary.encoder) at \(summary.bitRate) b/s; decoded \(decoded.count) samples for \(Self.total) "
              + "(drift \(decoded.count - Self.total)); stated durations audio \(audioTiming.statedDuration.map { "\($0)" } ?? "none") s, video \(videoTiming.statedDuration.map { "\($0)" } ?? "none") s; "
              + "chunk lags \(lags); boundary steps (out/single-pass/chunks' own edges) "
              + steps.map { String(format: "%.4f/%.4f/%.4f", $0.out, $0.single, $0.edges) }.joined(separator: " ")
              + " ratios " + ratios.map { String(format: "%.2f", $0) }.joined(separator: " ")
              + String(format: "; %.1f s of audio per second of decoding and encoding", summary.audioSecondsPerSecond))
        #expect(lags == [0, 0, 0, 0, 0], "every chunk's content on its exact sample: \(lags)")
        if set == "vorbis" {
            // WebM states no end trim for Vorbis: the last block decodes whole, as in the single pass.
            let singleDecoded = try await Oracle.decodedAudio(single)
            #expect(decoded.count >= Self.total && decoded.count < Self.total + 2048 && singleDecoded.count >= Self.total,
                    "decoded \(decoded.count), video holds \(Self.total)")
        } else if ext == "mp4" {
            let audioSeconds = try #require(audioTiming.statedDuration), videoSeconds = try #require(videoTiming.statedDuration)
            #expect(abs(audioSeconds - videoSeconds) <= 1.0 / 48000 + 1e-6, "MP4 audio track lasts \(audioSeconds) s, video \(videoSeconds) s")
            // ffmpeg 5.1 does not apply an MP4 edit list's end to audio: it decodes the last frame whole.
            #expect(decoded.count >= Self.total && decoded.count < Self.total + (set == "mp3" ? 1152 : 1024))
        } else {
            #expect(abs(decoded.count - Self.total) <= 1, "decoded \(decoded.count), video holds \(Self.total)")
        }
        #expect(ratios.allSatisfy { $0 <= maxStepRatio }, "boundary steps against the single pass: \(ratios)")
        // What remains is the chunks' own coding error at their edges (a chunk's audio starts and ends abruptly):
        // the join adds no step of its own beyond the larger of that and the single pass.
        if ownEdges {
            #expect(steps.allSatisfy { $0.out <= 1.25 * max($0.single, $0.edges) }, "steps: \(steps)")
        }
    }

    @Test("AAC in MP4 (B-frame H.264): every chunk on its exact sample, the track as long as the video")
    func aacInMP4() async throws { try await check("mp4", maxStepRatio: 8) }

    @Test("AAC in Matroska: sample-exact, decodes to exactly the video's samples")
    func aacInMatroska() async throws { try await check("mkv", maxStepRatio: 8) }

    @Test("Opus in WebM: sample-exact, decodes to exactly the video's samples")
    func opusInWebM() async throws { try await check("webm", maxStepRatio: 4) }

    /// Copying cannot lay Vorbis end to end (its blocks vary in length, and nothing trims a chunk's padded last
    /// block); exact mode decodes it, cuts it to every chunk's video and encodes it once with libvorbis.
    @Test("Vorbis in WebM, which copy mode refuses: sample-exact, the same codec again")
    func vorbisInWebM() async throws { try await check("webm", set: "vorbis", maxStepRatio: 4) }

    /// LAME's delay (1,105 samples) ends 47 samples into each chunk's first 1,152-sample frame, which the MP4 edit
    /// list marks: that frame is content after its skip, though it ends within a millisecond of the video's start.
    @Test("MP3 in MP4 (B-frame H.264): every chunk on its exact sample, the track as long as the video")
    func mp3InMP4() async throws { try await check("mp4", set: "mp3", maxStepRatio: 8) }

    /// Matroska does not say how long each MP3 chunk's encoder delay is: exact mode cannot cut it and says so.
    @Test("MP3 in Matroska: --audio exact refuses it, naming why and the way out")
    func mp3InMatroskaRefused() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await RealWorldChunkTests.videoSineChunks([2, 3], codecs: ["-c:v", "libx264", "-c:a", "libmp3lame"], ext: "mkv", in: dir)
        let output = dir.appendingPathComponent("out.mkv")
        let error = await #expect(throws: StitchError.self) {
            try await NativeStitcher(options: StitchOptions(audio: .exact)).stitch(chunks, to: output)
        }
        guard case .usage(let message)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(message.contains("is MP3 in a container that does not say how long that delay is") && message.contains("use --audio copy"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test("the oracle sees copy mode's AAC frames laid end to end: chunks off their exact sample")
    func oracleCatchesCopyMode() async throws {
        let chunks = try await FixtureCache.shared.files("exact-mp4")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("copy.mp4")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        #expect(report.output?.audioMode == .copy)
        #expect(report.output?.exactAudio == nil)
        let lags = Self.chunkLags(try await Oracle.decodedAudio(output), reference: try await reference())
        print("copy mode AAC in MP4: chunk lags \(lags)")
        #expect(lags.first == 0)
        #expect(lags.dropFirst().contains { $0 != 0 }, "lags: \(lags)")
    }

    @Test("the oracle sees where ffmpeg's concat demuxer re-encoding the same audio puts the chunks: off their sample")
    func oracleCatchesFFmpegReencode() async throws {
        let chunks = try await FixtureCache.shared.files("exact-mp4")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("list.txt")
        try chunks.map { "file '\($0.path)'\n" }.joined().write(to: list, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("ffmpeg.mp4")
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "concat", "-safe", "0", "-i", list.path,
                                                    "-c:v", "copy", "-c:a", "aac", "-b:a", "64k", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let decoded = try await Oracle.decodedAudio(output)
        let lags = Self.chunkLags(decoded, reference: try await reference())
        print("ffmpeg concat re-encoding AAC: chunk lags \(lags), decoded \(decoded.count) samples for \(Self.total)")
        #expect(lags.contains { $0 != 0 }, "lags: \(lags)")
    }

    /// Chunk-matrix sets (the chunk-matrix tests' fixtures): 1-frame chunks, B-frames, Matroska milliseconds,
    /// fragmented MP4 with unflagged priming, ADTS AAC in MPEG-TS, Opus in WebM; CMAF and GStreamer's MP4, whose
    /// unflagged priming frame starts with the video and pushes each chunk's sound a frame late.
    @Test("chunk-matrix sets: the audio lasts exactly the video's frames × 1,600 samples, every chunk at offset 0",
          arguments: ["matrix-mkv-h264-bf3-c", "matrix-fmp4-h264-bf3-c", "matrix-ts-h264-bf0-b", "matrix-webm-vp9-bf0-c",
                      "matrix-mp4-h264-bf3-b", "matrix-cmaf-h264-bf3-a", "matrix-cmaf-hevc-bf3-c", "gst-mp4-bf3-a",
                      "gst-fmp4-bf3-c", "matrix-fmp4-hevc-bf0-c"])
    func matrix(_ set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let ext = chunks[0].pathExtension
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.\(ext)")
        let report = try await NativeStitcher(options: StitchOptions(audio: .exact)).stitch(chunks, to: output)
        var frames: [String] = []
        for chunk in chunks { frames += try await Oracle.frameHashes(chunk) }
        let summary = try #require(report.output?.exactAudio?.first)
        let decoded = try await Oracle.decodedAudioSamples(output)
        print("exact audio \(set): \(frames.count) frames, \(summary.samples) samples encoded, decoded \(decoded) "
              + "(drift \(decoded - frames.count * Self.samplesPerFrame)), offsets \(summary.videoOffsetSamples)")
        #expect(summary.samples == Int64(frames.count * Self.samplesPerFrame))
        #expect(summary.videoOffsetSamples.allSatisfy { $0 == 0 }, "\(summary.videoOffsetSamples)")
        #expect(summary.silentSamples.allSatisfy { $0 == 0 })
        #expect(try await Oracle.frameHashes(output) == frames)
        #expect(try await Oracle.decodeWarnings(output) == [])
        if ext == "mkv" || ext == "webm" {
            #expect(decoded == frames.count * Self.samplesPerFrame)
        } else {
            // MP4 and MPEG-TS: ffmpeg decodes the last AAC frame whole.
            #expect(decoded >= frames.count * Self.samplesPerFrame && decoded < frames.count * Self.samplesPerFrame + 1024)
        }
    }

    @Test("cancelling an exact-audio stitch after its first input stops it and leaves no file behind")
    func cancellation() async throws {
        let chunks = try await FixtureCache.shared.files("exact-mp4")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        // The stitch thread reports input 1 done, then waits at the gate until the task is cancelled.
        let reached = DispatchSemaphore(value: 0), gate = DispatchSemaphore(value: 0)
        let stitcher = NativeStitcher(options: StitchOptions(audio: .exact), progress: { event in
            if case .remuxing = event {
                reached.signal()
                _ = gate.wait(timeout: .now() + 60)
            }
        })
        let task = Task { try await stitcher.stitch(chunks, to: output) }
        let arrived = try await onOwnThread { reached.wait(timeout: .now() + 60) == .success }
        #expect(arrived)
        task.cancel()
        for _ in chunks { gate.signal() }
        let error = await #expect(throws: StitchError.self) { try await task.value }
        #expect(error.map { if case .cancelled = $0 { true } else { false } } == true, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test("PCM is exact already: with --audio exact it is copied, byte for byte the same file as copy mode")
    func pcmStaysCopied() async throws {
        let chunks = try await FixtureCache.shared.files("mov-h264-pcm")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("copy.mov"), exact = dir.appendingPathComponent("exact.mov")
        _ = try await NativeStitcher().stitch(chunks, to: copy)
        let report = try await NativeStitcher(options: StitchOptions(audio: .exact)).stitch(chunks, to: exact)
        #expect(report.output?.audioMode == .exact)
        #expect(report.output?.exactAudio == [])
        #expect(try Data(contentsOf: copy) == Data(contentsOf: exact))
    }
}
