import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// A soundtrack shorter than the video, rendered with each chunk (`ffmpeg -i video -i shorter.wav`): the chunk where
/// it ends has sound that stops before its picture does, and the chunks after it none (MP4, MOV: no sound track;
/// Matroska, WebM, MPEG-TS, fragmented MP4: an empty one). `Fixtures/generate.sh` `shorttrack-*`: chunks of 30, 30,
/// 29 and 1 frames, the sound ending at 1.5 s, halfway through chunk 2; `shorttrack-last-mp4`: 30, 30 and 20 frames,
/// the sound ending at 2.2 s, inside the last chunk.
@Suite("A soundtrack shorter than the video", .serialized)
struct ShortSoundtrackTests {
    static let sets = ["shorttrack-mp4", "shorttrack-mov", "shorttrack-mkv", "shorttrack-webm", "shorttrack-ts", "shorttrack-fmp4", "shorttrack-last-mp4"]

    @Test("silence follows the sound to the end of the picture: frames exact, the tone until it ends, silence after, warnings naming the chunks",
          arguments: sets, [AudioMode.copy, .exact])
    func stitch(set: String, audio mode: AudioMode) async throws {
        let stitched = try await StitchedSet(set, options: StitchOptions(audio: mode))
        defer { stitched.remove() }
        let report = stitched.report
        #expect(report.isValid, "\(report.issues)")
        let last = set.hasPrefix("shorttrack-last-")
        let (frames, soundEnds, shortChunk) = last ? (80, 2.2, 2) : (90, 1.5, 1)
        let drift = report.issues.filter { $0.code == .avDrift }
        #expect(drift.map(\.inputIndex) == [shortChunk] && drift.allSatisfy { $0.severity == .warning }, "\(report.issues)")
        #expect(drift.first?.inputPath == stitched.chunks[shortChunk].path, "the chunk, not the temp file standing in for it")
        #expect(drift.first?.message.contains(last ? "and it is the last chunk" : "and the chunk after it has none") == true, "\(drift)")
        let silent = report.issues.filter { $0.code == .streamLayoutMismatch }
        #expect(silent.map(\.inputIndex) == (last ? [] : [2, 3]) && silent.allSatisfy { $0.severity == .warning }, "\(report.issues)")
        #expect(report.inputs.map(\.path) == stitched.chunks.map(\.path))
        #expect(report.output?.videoFrames == Int64(frames))
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())
        #expect(try await Oracle.decodeWarnings(stitched.output) == [])

        let audio = try await Oracle.decodedAudio(stitched.output)
        // The picture's length in samples, within a frame and a half (the last frame's padding, and the priming of
        // containers that cannot mark it).
        #expect(abs(audio.count - frames * 1600) <= 1536, "\(audio.count) samples")
        func peak(_ from: Double, _ to: Double) -> Float {
            let range = Int(from * 48000)..<min(Int(to * 48000), audio.count)
            return range.isEmpty ? 0 : audio[range].map(abs).max() ?? 0
        }
        // The tone (peak 0.125) until the soundtrack ends, silence from 50 ms after it to the end.
        #expect(peak(0.05, soundEnds - 0.05) > 0.1)
        #expect(peak(soundEnds + 0.05, Double(frames) / 30) < 0.001)
        #expect(try FileManager.default.contentsOfDirectory(atPath: stitched.directory.path) == [stitched.output.lastPathComponent])
    }

    @Test("how much silence a chunk is owed: the sound's end to the picture's, for the chunk where it ends and no other")
    func owed() async throws {
        let chunks = try await FixtureCache.shared.files("shorttrack-mp4")
        var reference: ProbeReference?
        let inputs = try chunks.map { try MediaProbe.probeCounting($0, reference: &reference, cancellation: nil, mode: .scan).input }
        #expect(SilentTrack.shortTails(inputs[0]).isEmpty)
        // Chunk 2 covers 1.0 to 2.0 s; its sound ends at 1.5 s: 24,000 samples owed, starting where its sound ends.
        let tails = SilentTrack.shortTails(inputs[1])
        #expect(tails.count == 1 && tails[0].stream == 1, "\(tails)")
        #expect(abs((tails.first?.samples ?? 0) - 24_000) <= 64, "\(tails)")
        #expect(tails.allSatisfy { $0.start + $0.samples == 48_000 }, "owed up to the picture's end, 1 s in: \(tails)")
        #expect(SilentTrack.shortTails(inputs[2]).isEmpty && SilentTrack.shortTails(inputs[3]).isEmpty, "no sound, nothing owed")
    }

    @Test("sound that stops before a chunk with sound is still refused: a gap inside the soundtrack, not its end")
    func gapBeforeSound() async throws {
        let chunks = try await FixtureCache.shared.files("shorttrack-mp4")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        do {
            _ = try await NativeStitcher().stitch([chunks[1], chunks[0]], to: output)
            Issue.record("stitched")
        } catch StitchError.invalidInputs(let report) {
            let errors = report.issues.filter { $0.severity == .error }
            #expect(errors.contains { $0.code == .avDrift && $0.inputIndex == 0 && $0.inputPath == chunks[1].path && $0.message.contains("shorter than video") }, "\(errors)")
            #expect(errors.contains { $0.code == .discontinuity && $0.inputIndex == 1 }, "\(errors)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("an empty sound track whose header is damaged is refused, not taken for silence")
    func damagedEmptyTrack() async throws {
        let chunks = try await FixtureCache.shared.files("shorttrack-webm")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Chunk 3's Opus header with no channels (byte 9 of OpusHead): the demuxer reads none of the track's packets.
        var bytes = try Data(contentsOf: chunks[2])
        let head = try #require(bytes.range(of: Data("OpusHead".utf8)))
        bytes[head.lowerBound + 9] = 0
        let damaged = dir.appendingPathComponent("damaged.webm")
        try bytes.write(to: damaged)
        do {
            _ = try await NativeStitcher(options: StitchOptions(checkOnly: true)).stitch([chunks[0], chunks[1], damaged, chunks[3]], to: dir.appendingPathComponent("out.webm"))
            Issue.record("stitched")
        } catch StitchError.invalidInputs(let report) {
            #expect(report.issues.contains { $0.severity == .error && $0.inputPath == damaged.path }, "\(report.issues)")
        } catch StitchError.damagedInput(let index, _, _) {
            #expect(index == 2)
        }
    }

    @Test("the chunks are not modified, and a check writes nothing beside the output")
    func inputsUntouched() async throws {
        let (report, chunksUnchanged, left) = try await StitchedSet.check("shorttrack-ts", ext: "ts")
        #expect(report.isValid)
        #expect(report.issues.map(\.code) == [.avDrift, .streamLayoutMismatch, .streamLayoutMismatch], "\(report.issues)")
        #expect(chunksUnchanged)
        #expect(left.isEmpty)
    }

    /// The mirror case: a soundtrack that starts inside a chunk, written with its timestamps offset (`ffmpeg
    /// -itsoffset 0.5`: the chunk's audio starts half a second after its picture), after a chunk without sound, or in
    /// the first chunk. Chunks of 1 s at 30 fps, 44.1 kHz AAC; the tone starts at 0.5 s into the late chunk.
    static func lateChunks(_ container: String, in dir: URL) async throws -> (silent: URL, late: URL, full: URL) {
        let video = ["-f", "lavfi", "-i", "testsrc2=s=160x96:r=30:d=1"], h264 = ["-c:v", "libx264", "-bf", "0", "-g", "30", "-pix_fmt", "yuv420p"]
        let silent = dir.appendingPathComponent("c0.\(container)"), late = dir.appendingPathComponent("c1.\(container)")
        let full = dir.appendingPathComponent("c2.\(container)")
        _ = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error"] + video + h264 + [silent.path])
        _ = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error"] + video + ["-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=f=440:d=0.5"]
                                    + h264 + ["-c:a", "aac", "-t", "1", late.path])
        _ = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error"] + video + ["-f", "lavfi", "-i", "sine=f=440:d=1"] + h264
                                    + ["-c:a", "aac", "-t", "1", full.path])
        return (silent, late, full)
    }

    @Test("sound that starts late by its timestamps gets silence before it: the tone where it starts, silence before, a warning naming the chunk",
          arguments: ["mp4", "mkv", "ts"], [AudioMode.copy, .exact])
    func lateStart(container: String, audio mode: AudioMode) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.lateChunks(container, in: dir)
        for (inputs, onset) in [([chunks.silent, chunks.late, chunks.full], 1.5), ([chunks.late, chunks.full], 0.5)] {
            let output = dir.appendingPathComponent("out-\(inputs.count).\(container)")
            let report = try await NativeStitcher(options: StitchOptions(audio: mode)).stitch(inputs, to: output)
            let late = inputs.count - 2
            let drift = report.issues.filter { $0.code == .avDrift }
            #expect(drift.map(\.inputIndex) == [late] && drift.first?.inputPath == chunks.late.path, "\(report.issues)")
            #expect(drift.first?.message.contains("its sound starts 0.47") == true && drift.allSatisfy { $0.severity == .warning }, "\(drift)")
            #expect(report.output?.videoFrames == Int64(30 * inputs.count))
            let audio = try await Oracle.decodedAudio(output)
            #expect(abs(audio.count - 44_100 * inputs.count) <= 2048, "\(audio.count) samples")
            func peak(_ from: Double, _ to: Double) -> Float {
                audio[Int(from * 44_100)..<min(Int(to * 44_100), audio.count)].map(abs).max() ?? -1
            }
            #expect(peak(0, onset - 0.05) < 0.001, "silence before the sound")
            #expect(peak(onset + 0.05, Double(inputs.count) - 0.05) > 0.1, "the tone after it")
            // Where the tone starts: copy mode lays whole packets end to end (within one, 23 ms); exact is exact.
            let first = try #require(audio.firstIndex { abs($0) > 0.05 })
            let tolerance = mode == .exact ? 0.003 : 0.0235
            #expect(abs(Double(first) / 44_100 - onset) <= tolerance, "the tone starts at \(Double(first) / 44_100) s")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == (["c0", "c1", "c2"].map { "\($0).\(container)" }
                + (inputs.count == 2 ? ["out-3.\(container)"] : []) + ["out-\(inputs.count).\(container)"]).sorted())
            // Input by input (the late chunk planned again once its stand-in replaces it), the same bytes.
            let appended = dir.appendingPathComponent("appended.\(container)")
            defer { try? FileManager.default.removeItem(at: appended) }
            let (outcome, _, _) = IncrementalStitchTests.incremental(inputs, into: appended, options: StitchOptions(audio: mode))
            guard case .stitched(let bytes, _) = outcome else { Issue.record("\(outcome)"); continue }
            #expect(bytes == (try Data(contentsOf: output)), "input by input differs from the batch")
        }
    }

    @Test("sound that starts late after a chunk with sound, or in Opus, is refused, said to be a late start")
    func lateStartRefused() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunks = try await Self.lateChunks("mp4", in: dir)
        // WebM's Opus: its pre-skip, read in the middle of a stand-in, would put the sound tens of milliseconds late.
        let webm = ["c0", "c1"].map { dir.appendingPathComponent("\($0).webm") }
        let vp9 = ["-f", "lavfi", "-i", "testsrc2=s=160x96:r=30:d=1", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
        _ = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error"] + vp9 + [webm[0].path])
        _ = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:r=30:d=1", "-itsoffset", "0.5",
                                           "-f", "lavfi", "-i", "sine=f=440:d=0.5", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                                           "-c:a", "libopus", "-t", "1", webm[1].path])
        for (inputs, late) in [([chunks.full, chunks.late], "c1.mp4"), (webm, "c1.webm")] {
            do {
                _ = try await NativeStitcher().stitch(inputs, to: dir.appendingPathComponent("out.\(inputs[0].pathExtension)"))
                Issue.record("stitched \(late) with a half-second hole")
            } catch let error as StitchError {
                #expect("\(error)".contains(late) && "\(error)".contains("its sound starts 4") && "\(error)".contains("ms after its picture (offset timestamps"),
                        "\(error)")
            }
        }
    }
}
