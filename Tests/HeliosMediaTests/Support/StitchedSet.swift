import Foundation
import HeliosMedia
import HeliosTestSupport

/// A fixture set stitched in process into a fresh temporary directory: what the suites that check outputs against
/// ffmpeg start from. `remove()` deletes the directory.
struct StitchedSet {
    let chunks: [URL]
    let output: URL
    let report: StitchReport
    let directory: URL

    /// Stitches fixture set `name` into `out.CONTAINER` (default: the chunks' own extension).
    init(_ name: String, container: String? = nil, options: StitchOptions = StitchOptions()) async throws {
        chunks = try await FixtureCache.shared.files(name)
        directory = try makeTemporaryDirectory()
        output = directory.appendingPathComponent("out.\(container ?? chunks[0].pathExtension)")
        do { report = try await NativeStitcher(options: options).stitch(chunks, to: output) } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// Checks fixture set `name` (`checkOnly`) into `out.EXT` in a fresh directory, then removes it: the report,
    /// whether every chunk is byte for byte what it was, and what the directory held.
    static func check(_ name: String, ext: String) async throws -> (report: StitchReport, chunksUnchanged: Bool, left: [String]) {
        let chunks = try await FixtureCache.shared.files(name)
        let before = try chunks.map { try Data(contentsOf: $0) }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = try await NativeStitcher(options: StitchOptions(checkOnly: true)).stitch(chunks, to: dir.appendingPathComponent("out.\(ext)"))
        return (report, try chunks.map { try Data(contentsOf: $0) } == before, try FileManager.default.contentsOfDirectory(atPath: dir.path))
    }

    /// The chunks' decoded frames of `stream` ("v" or "a"), one after another: what the output must decode to.
    func chunkFrameHashes(stream: String = "v") async throws -> [String] {
        var hashes: [String] = []
        for chunk in chunks { hashes += try await Oracle.frameHashes(chunk, stream: stream) }
        return hashes
    }
}
