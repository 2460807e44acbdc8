import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// A renderer may write a chunk that has no sound without an audio stream, between chunks with one
/// (`Fixtures/generate.sh` `silent-*`: chunks of 30, 20, 30 and 1 frames, the second without a sound track).
@Suite("Silent chunks written without a sound track", .serialized)
struct SilentChunkTests {
    static let sets = ["silent-mp4", "silent-mkv", "silent-webm", "silent-cmaf", "silent-first-mp4", "silent-first-mkv"]

    @Test("silence encoded like the others' sound stands in: frames exact, the tone around it, silence over it, a warning naming the chunk",
          arguments: sets, [AudioMode.copy, .exact])
    func stitch(set: String, audio mode: AudioMode) async throws {
        let stitched = try await StitchedSet(set, options: StitchOptions(audio: mode))
        defer { stitched.remove() }
        let report = stitched.report
        #expect(report.isValid)
        // silent-first-*: chunks 1 and 2 are silent, and get a sound track made like chunk 3's.
        let first = set.hasPrefix("silent-first-")
        let silent = first ? [0, 1] : [1]
        let warnings = report.issues.filter { $0.code == .streamLayoutMismatch }
        #expect(warnings.map(\.inputIndex) == silent)
        #expect(warnings.allSatisfy { $0.severity == .warning })
        #expect(warnings.map(\.inputPath) == silent.map { stitched.chunks[$0].path }, "the chunks, not the temp files standing in for them")
        #expect(warnings.last?.message.contains("0.667 s of silence stands in for it, encoded like input \(first ? 3 : 1)'s") == true, "\(warnings)")
        #expect(report.inputs.map(\.path) == stitched.chunks.map(\.path))
        #expect(try report.inputs.map(\.bytes) == stitched.chunks.map { Int64(try FileManager.default.attributesOfItem(atPath: $0.path)[.size] as! Int) })
        #expect(report.output?.videoFrames == 81)
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())
        #expect(try await Oracle.decodeWarnings(stitched.output) == [])

        let audio = try await Oracle.decodedAudio(stitched.output)
        // 81 frames at 30 fps are 129,600 samples: within a frame and a half (the last frame's padding, and the
        // priming of containers that cannot mark it).
        #expect(abs(audio.count - 81 * 1600) <= 1536, "\(audio.count) samples")
        func peak(_ from: Double, _ to: Double) -> Float {
            let range = Int(from * 48000)..<min(Int(to * 48000), audio.count)
            return range.isEmpty ? 0 : audio[range].map(abs).max() ?? 0
        }
        // The tone (peak 0.125) in chunks 1 and 3, silence in chunk 2 (1.000 to 1.667 s), 50 ms from the boundaries
        // (silent-first-*: silence from the start to 1.667 s).
        if first { #expect(peak(0, 1.62) < 0.001) } else { #expect(peak(0.05, 0.95) > 0.1) }
        #expect(peak(1.05, 1.62) < 0.001)
        #expect(peak(1.72, 2.6) > 0.1)
        // The stand-in was a temp file: nothing is left beside the output.
        #expect(try FileManager.default.contentsOfDirectory(atPath: stitched.directory.path) == [stitched.output.lastPathComponent])
    }

    @Test("the chunk itself is not modified, and a check writes nothing beside the output")
    func inputsUntouched() async throws {
        let (report, chunksUnchanged, left) = try await StitchedSet.check("silent-mp4", ext: "mp4")
        #expect(report.isValid)
        #expect(chunksUnchanged)
        #expect(left.isEmpty)
    }
}
