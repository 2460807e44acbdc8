import Foundation
import HeliosMedia
import HeliosOrchestrator
@testable import HeliosRuntime
import HeliosTestSupport
import Testing

@Suite("A chunk's video must be the spec's size and frame rate")
struct ChunkFormatCheckTests {
    static func chunk(_ frames: Int) -> RenderJobChunk {
        RenderJobChunk(id: "chunk-3", startFrame: 90, frameCount: frames, outputFile: "c3", command: "render")
    }

    @Test("chunks ffmpeg writes at the spec's rate and size pass in every container, B-frames on and off, down to 1 frame; another rate or size is refused, naming both, and not retried",
          arguments: ["mp4", "mov", "mkv", "webm", "ts"])
    func realChunks(container: String) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let validator = MediaProbeValidator()
        let job = JobMetadata(totalFrames: 300, fps: 30, width: 64, height: 48)
        for bframes in container == "webm" ? [0] : [0, 2] {
            for frames in [1, 2, 7] {
                let file = dir.appendingPathComponent("c-\(bframes)-\(frames).\(container)")
                let codec = container == "webm" ? ["-c:v", "libvpx-vp9", "-deadline", "realtime"] : ["-c:v", "libx264", "-bf", "\(bframes)"]
                let made = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30",
                                                          "-frames:v", "\(frames)"] + codec + ["-pix_fmt", "yuv420p", file.path])
                try #require(made.status == 0, "\(made.stderr)")
                let name = "\(container), \(frames) frame(s), \(bframes) B-frames"
                try await validator.validate(file, for: Self.chunk(frames), of: job)
                // A spec of 25 fps: every chunk is refused, one frame of Matroska's milliseconds included.
                var slower = job
                slower.fps = 25
                do {
                    try await validator.validate(file, for: Self.chunk(frames), of: slower)
                    Issue.record("\(name): accepted for a 25 fps job")
                } catch let mismatch as ChunkFormatMismatch {
                    #expect(!mismatch.isRetryable)
                    // The container's 30 fps where the frames last as long as it says (Matroska's included).
                    #expect(mismatch.problem == .frameRate(30, frames: frames, seconds: mismatch.seconds), "\(name): \(mismatch)")
                    #expect(abs(mismatch.seconds - Double(frames) / 30) < 0.002, "\(name): \(mismatch)")
                    #expect(mismatch.description.hasSuffix("but the job is 25 fps: chunk chunk-3's command must render at the spec's rate (HELIOS_FPS gives it), or the spec must say the rate the renderer makes"),
                            "\(mismatch)")
                }
                var larger = job
                (larger.width, larger.height) = (128, 72)
                do {
                    try await validator.validate(file, for: Self.chunk(frames), of: larger)
                    Issue.record("\(name): accepted for a 128x72 job")
                } catch let mismatch as ChunkFormatMismatch {
                    #expect(mismatch.problem == .size(width: 64, height: 48), "\(name)")
                    #expect(mismatch.description.hasPrefix("holds 64x48 video, but the job is 128x72: chunk chunk-3's command"), "\(mismatch)")
                }
            }
        }
    }

    @Test("30000/1001 chunks pass a 29.97 fps job and are refused by a 30 fps one; a portrait phone video passes either way round; sound alone is not checked")
    func ratesRotationAndSound() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let validator = MediaProbeValidator()
        let ntsc = dir.appendingPathComponent("ntsc.mp4")
        let made = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30000/1001",
                                                  "-frames:v", "300", "-c:v", "libx264", "-preset", "ultrafast", ntsc.path])
        try #require(made.status == 0, "\(made.stderr)")
        try await validator.validate(ntsc, for: Self.chunk(300), of: JobMetadata(totalFrames: 300, fps: 29.97, width: 64, height: 48))
        await #expect(throws: ChunkFormatMismatch.self) {
            try await validator.validate(ntsc, for: Self.chunk(300), of: JobMetadata(totalFrames: 300, fps: 30, width: 64, height: 48))
        }

        // Stored 160x96, turned a quarter by its display matrix: a 96x160 (portrait) spec and a 160x96 one pass.
        let rotated = try #require(try await FixtureCache.shared.files("sidedata-rotation").first)
        for (width, height) in [(96, 160), (160, 96)] {
            try await validator.validate(rotated, for: Self.chunk(30), of: JobMetadata(totalFrames: 90, fps: 30, width: width, height: height))
        }
        await #expect(throws: ChunkFormatMismatch.self) {
            try await validator.validate(rotated, for: Self.chunk(30), of: JobMetadata(totalFrames: 90, fps: 30, width: 96, height: 96))
        }
        let sound = try #require(try await FixtureCache.shared.files("m4a-audio-only").first)
        try await validator.validate(sound, for: Self.chunk(7), of: JobMetadata(totalFrames: 7, fps: 12, width: 8, height: 8))
    }
}

extension ChunkFormatMismatch {
    /// The seconds a rate mismatch's frames last (0 for a size mismatch).
    var seconds: Double {
        if case .frameRate(_, _, let seconds) = problem { return seconds }
        return 0
    }
}
