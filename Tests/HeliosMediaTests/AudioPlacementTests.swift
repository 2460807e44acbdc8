import Foundation
@testable import HeliosMedia
import Testing

/// Where every chunk's audio lands in the decoded output, located sample by sample against an independent
/// reference: ffmpeg's own rendering of the whole, aperiodic chirp the chunks were cut from.
@Suite("Audio placement", .serialized)
struct AudioPlacementTests {
    /// Frames per chunk of the `webm-opus-uneven` set (30 fps, 48 kHz: 1,600 samples per frame).
    static let chunkFrames = [31, 29, 1, 44, 15]
    static let samplesPerFrame = 1600

    /// The lag (in samples, within ±`search`) at which `output[start..<start+length]` best matches the
    /// reference: 0 when the output carries that stretch of the reference exactly where it belongs.
    static func lag(of output: [Float], against reference: [Float], start: Int, length: Int, search: Int = 700) -> Int? {
        guard start - search >= 0, start + length + search <= reference.count, start + length <= output.count else { return nil }
        var best: (score: Double, lag: Int)?
        output.withUnsafeBufferPointer { out in
            reference.withUnsafeBufferPointer { ref in
                var outEnergy = 0.0
                for i in start..<(start + length) { outEnergy += Double(out[i]) * Double(out[i]) }
                for lag in -search...search {
                    var dot = 0.0, refEnergy = 0.0
                    for i in start..<(start + length) {
                        let r = Double(ref[i + lag])
                        dot += Double(out[i]) * r
                        refEnergy += r * r
                    }
                    let score = dot / (outEnergy * refEnergy).squareRoot()
                    if best == nil || score > best!.score { best = (score, lag) }
                }
            }
        }
        return best?.lag
    }

    /// Per chunk long enough to measure: the lag of a window well inside it, clear of the decoder's transient
    /// after a boundary and of the samples before the next boundary.
    static func chunkLags(_ output: [Float], reference: [Float]) -> [Int?] {
        var start = 0
        var lags: [Int?] = []
        for frames in chunkFrames {
            let samples = frames * samplesPerFrame
            let windowStart = start + (start == 0 ? 0 : 4096)
            lags.append(windowStart + 4096 + 1024 <= start + samples
                ? lag(of: output, against: reference, start: max(windowStart, 700), length: 4096) : nil)
            start += samples
        }
        return lags
    }

    @Test("Opus chunks in WebM come out sample-exact: every chunk's audio at its exact sample position")
    func opusSampleExact() async throws {
        let chunks = try await FixtureCache.shared.files("webm-opus-uneven")
        let reference = try Oracle.floats(Data(contentsOf: try await FixtureCache.shared.set("chirp-reference")
            .appendingPathComponent("reference.f32")))
        let total = Self.chunkFrames.reduce(0, +) * Self.samplesPerFrame
        #expect(reference.count == total)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.webm")
        let report = try await NativeStitcher().stitch(chunks, to: output)

        let decoded = try await Oracle.decodedAudio(output)
        #expect(decoded.count == total, "decoded \(decoded.count) samples, the chunks carry \(total)")
        #expect(report.output?.decodedAudioDriftSamples == 0)
        for boundary in report.boundaries where boundary.kind == .audio {
            #expect(boundary.audioDiscontinuitySamples == 0, "boundary before input \(boundary.index + 1)")
        }
        let lags = Self.chunkLags(decoded, reference: reference)
        #expect(lags.compactMap { $0 }.count == 4)
        #expect(lags.allSatisfy { $0 == nil || $0 == 0 }, "chunk lags against the reference: \(lags)")
        #expect(try await Oracle.decodeWarnings(output) == [])
        #expect(try await Oracle.frameHashes(output).count == Self.chunkFrames.reduce(0, +))
    }

    @Test("the placement oracle sees the pre-skip ffmpeg's concat demuxer adds at every Opus boundary")
    func oracleCatchesConcatDrift() async throws {
        let chunks = try await FixtureCache.shared.files("webm-opus-uneven")
        let reference = try Oracle.floats(Data(contentsOf: try await FixtureCache.shared.set("chirp-reference")
            .appendingPathComponent("reference.f32")))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("list.txt")
        try chunks.map { "file '\($0.path)'\n" }.joined().write(to: list, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("ffmpeg.webm")
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "concat", "-safe", "0", "-i", list.path,
                                                    "-c", "copy", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let decoded = try await Oracle.decodedAudio(output)
        // 312 samples of pre-skip decoded at each of the four boundaries.
        #expect(decoded.count == reference.count + 4 * 312)
        let lags = Self.chunkLags(decoded, reference: reference)
        #expect(lags.first == 0)
        #expect(lags.dropFirst().contains { $0 != nil && $0 != 0 }, "lags: \(lags)")
    }
}
