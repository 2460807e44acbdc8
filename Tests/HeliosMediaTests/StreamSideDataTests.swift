import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Stream side data a player needs besides the codec parameters (`Fixtures/generate.sh`, `sidedata-*`): the display
/// matrix of portrait phone video, HDR10's mastering display and content light levels. The output carries input 1's,
/// as `ffmpeg -c copy` does; a chunk turned differently from input 1 is refused, naming its rotation.
@Suite("Stream side data: rotation and HDR metadata reach the output", .serialized)
struct StreamSideDataTests {
    /// The side data entries ffprobe reads from the first video stream, as "type: key=value" lines.
    static func sideData(_ url: URL) async throws -> [String] {
        try await Oracle.entries(url, "stream_side_data", select: "v:0")
    }

    @Test("a display matrix survives into MP4 and MOV", arguments: ["mp4", "mov"])
    func rotation(container: String) async throws {
        let stitched = try await StitchedSet("sidedata-rotation", container: container)
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        #expect(try await Oracle.frameHashes(stitched.output) == stitched.chunkFrameHashes())
        let lines = try await Self.sideData(stitched.output)
        #expect(lines.contains { $0.hasSuffix("side_data_type=\"Display Matrix\"") }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix(".rotation=90") }, "\(lines)")
    }

    /// libavformat 59's Matroska and MPEG-TS muxers write no display matrix (ffmpeg's own copy drops it too): the
    /// stitch says so instead of leaving a portrait video to play sideways unannounced.
    @Test("a display matrix Matroska or MPEG-TS cannot hold is left out with a warning naming the rotation", arguments: ["mkv", "ts"])
    func rotationLeftOut(container: String) async throws {
        let stitched = try await StitchedSet("sidedata-rotation", container: container)
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        #expect(stitched.report.output?.videoFrames == 90)
        let warnings = stitched.report.issues.filter { $0.code == .unsupportedByContainer && $0.severity == .warning }
        #expect(warnings.count == 1 && warnings.first?.message.hasPrefix("its display matrix (rotation 90°) is left out") == true, "\(warnings)")
        // The oracle: the output has no display matrix, as ffmpeg's stream copy into the same container has none.
        #expect(try await Self.sideData(stitched.output).allSatisfy { !$0.contains("Display Matrix") })
        let copied = stitched.output.deletingLastPathComponent().appendingPathComponent("ffmpeg.\(container)")
        defer { try? FileManager.default.removeItem(at: copied) }
        _ = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", stitched.chunks[0].path, "-map", "0", "-c", "copy", copied.path])
        #expect(try await Self.sideData(copied).allSatisfy { !$0.contains("Display Matrix") })
    }

    @Test("HDR10 mastering display and light levels survive into Matroska and MP4", arguments: ["mkv", "mp4"])
    func hdr(container: String) async throws {
        let stitched = try await StitchedSet("sidedata-hdr", container: container)
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        let lines = try await Self.sideData(stitched.output)
        #expect(lines.contains { $0.hasSuffix("side_data_type=\"Mastering display metadata\"") }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix(".max_content=1000") }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix(".max_average=400") }, "\(lines)")
    }

    /// Transparent WebM keeps VP9's alpha plane beside each frame (Matroska BlockAdditions, packet side data): a
    /// remux that dropped it would leave an opaque video and no error. The alpha changes from frame to frame.
    @Test("VP9's alpha plane in WebM survives, frame for frame, as libvpx decodes it")
    func alphaPlane() async throws {
        let stitched = try await StitchedSet("alpha-webm-vp9")
        defer { stitched.remove() }
        #expect(stitched.report.isValid)
        func yuva(_ url: URL) async throws -> [String] {
            let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-c:v", "libvpx-vp9", "-i", url.path, "-map", "0:v",
                                                        "-pix_fmt", "yuva420p", "-f", "framemd5", "-"])
            return result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: ",").last.map(String.init) }
        }
        var expected: [String] = []
        for chunk in stitched.chunks { expected += try await yuva(chunk) }
        #expect(expected.count == 32 && Set(expected).count > 1)
        #expect(try await yuva(stitched.output) == expected)
        // Without the side data libvpx would decode opaque frames: the chunks' alpha is not all opaque.
        let alpha = try await Shell.runRaw("ffmpeg", ["-nostdin", "-v", "error", "-c:v", "libvpx-vp9", "-i", stitched.output.path,
                                                      "-vf", "alphaextract", "-f", "rawvideo", "-"]).stdout
        #expect(alpha.count == 32 * 160 * 96 && alpha.contains { $0 != 255 })
    }

    @Test("a chunk without input 1's rotation is refused, naming both")
    func rotationMismatch() async throws {
        let chunks = try await FixtureCache.shared.files("sidedata-rotation")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The second chunk as the camera's landscape recording: the same frames, no display matrix.
        let upright = dir.appendingPathComponent("upright.mp4")
        let copy = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", chunks[1].path, "-map", "0", "-c", "copy",
                                                  "-metadata:s:v:0", "rotate=0", upright.path])
        #expect(copy.status == 0, "\(copy.stderr)")
        let inputs = try [MediaProbe.probe(chunks[0]), MediaProbe.probe(upright)]
        let issues = StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4"))
        #expect(issues.map(\.code) == [.codecMismatch], "\(issues)")
        #expect(issues.first?.message == "display matrix is none but input 1 has rotation 90°", "\(issues)")
    }
}
