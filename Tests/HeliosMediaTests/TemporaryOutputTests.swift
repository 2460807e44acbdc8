import Foundation
@testable import HeliosMedia
import Testing

/// The output's temp file: unnamed where the filesystem allows, named (with its writer's pid) elsewhere.
@Suite("Temporary output file")
struct TemporaryOutputTests {
    func names(_ dir: URL) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }

    @Test("commit gives the written bytes the output's name; nothing else remains", arguments: [true, false])
    func commit(unnamed: Bool) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4").path
        let temp = TemporaryOutput(outputPath: output, allowUnnamed: unnamed)
        // Unnamed wherever the filesystem has O_TMPFILE (ext4, xfs, btrfs, tmpfs: any Debian /tmp).
        #expect(unnamed || !temp.isUnnamed)
        try Data("stitched".utf8).write(to: URL(fileURLWithPath: temp.muxerPath))
        // While written, the unnamed file is invisible; the fallback is a hidden file beside the output.
        #expect(try names(dir) == (temp.isUnnamed ? [] : [URL(fileURLWithPath: temp.muxerPath).lastPathComponent]))
        try temp.commit(cancellation: nil)
        #expect(try names(dir) == ["out.mp4"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data("stitched".utf8))
    }

    @Test("cancelled before the rename, or discarded, it leaves nothing and the old output stays", arguments: [true, false])
    func cancelBeforeRename(unnamed: Bool) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mkv").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: output))
        let temp = TemporaryOutput(outputPath: output, allowUnnamed: unnamed)
        try Data("new".utf8).write(to: URL(fileURLWithPath: temp.muxerPath))
        let flag = CancellationFlag()
        flag.cancel()
        #expect(throws: StitchError.self) { try temp.commit(cancellation: flag) }
        temp.discard()
        #expect(try names(dir) == ["out.mkv"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data("old".utf8))
    }

    @Test("temp names carry the writer's pid and host; only those of the same output parse")
    func names() {
        let output = URL(fileURLWithPath: "/x/final.cut.mp4")
        let name = TemporaryOutput.tempName(for: output, host: "render-7.local")
        #expect(name.hasPrefix(".final.cut.helios-\(getpid())-"))
        #expect(name.hasSuffix("@render-7.local.tmp.mp4"))
        #expect(TemporaryOutput.writer(ofTempName: name, for: output)?.pid == getpid())
        #expect(TemporaryOutput.writer(ofTempName: name, for: output)?.host == "render-7.local")
        #expect(TemporaryOutput.writer(ofTempName: ".final.cut.helios-12-34@h.tmp.mp4", for: output)?.pid == 12)
        #expect(TemporaryOutput.writer(ofTempName: ".final.cut.helios-12-34@h.tmp.mkv", for: output) == nil)
        #expect(TemporaryOutput.writer(ofTempName: ".other.helios-12-34@h.tmp.mp4", for: output) == nil)
        #expect(TemporaryOutput.writer(ofTempName: ".final.cut.helios-x-34@h.tmp.mp4", for: output) == nil)
        #expect(TemporaryOutput.writer(ofTempName: ".final.cut.helios-12-34.tmp.mp4", for: output) == nil)
    }
}
