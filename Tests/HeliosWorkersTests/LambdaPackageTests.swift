import Foundation
import HeliosStorage
import HeliosTestSupport
import Testing
@testable import HeliosWorkers

/// The Lambda package (`scripts/lambda-package.sh`, what `make lambda-package` runs) where it has to work: unpacked
/// into an empty directory and run under AWS's emulator in a chroot of it, with only /dev, /proc and /tmp of the
/// host. There is no /usr, no FFmpeg, no Swift and no C library but the package's own. A zip that only works where
/// it was built would fail here. Needs root (unshare, mount, chroot); without it the test fails, it is never skipped.
@Suite(.serialized) struct LambdaPackageTests {
    static let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("the zip, unpacked into an empty directory, renders a chunk under the emulator in a chroot without /usr, FFmpeg or Swift")
    func packageRendersInAnEmptyRoot() async throws {
        let work = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }

        // The package from this build's debug products, stored (not compressed) to stay fast.
        let zip = work.appendingPathComponent("helios-lambda.zip")
        let built = try await Shell.run(Self.packageDirectory.appendingPathComponent("scripts/lambda-package.sh").path,
                                        ["-c", "debug", "-b", builtProductsDirectory().path, "-l", "0", "-o", zip.path])
        try #require(built.status == 0, "lambda-package.sh failed: \(built.stderr)")
        let root = work.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: false)
        let unzipped = try await Shell.run("unzip", ["-q", zip.path, "-d", root.path])
        try #require(unzipped.status == 0, "unzip failed: \(unzipped.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: root.path)) == ["bootstrap", "bin", "lib", "libexec"])
        for library in ["ld-linux-x86-64.so.2", "libc.so.6", "libswiftCore.so", "libFoundation.so", "libavformat.so.59", "libavcodec.so.59"] {
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("lib/\(library)").path), "lib/\(library)")
        }

        // The chroot works here (loudly not, if this machine cannot), and only the package's launcher can start its
        // programs: run directly, a program finds no loader at /lib64, so nothing of the host can be used by accident.
        let unshare = LambdaEmulator.chrooted(root)
        let help = try await Shell.run(unshare[0], Array(unshare.dropFirst()) + ["/bin/helios-synth", "--help"])
        try #require(help.status == 0, "cannot run the package in a chroot (unshare/mount/chroot need root): \(help.stderr)")
        #expect(help.stdout.contains("helios-synth"))
        let direct = try await Shell.run(unshare[0], Array(unshare.dropFirst()) + ["/libexec/helios-synth", "--help"])
        #expect(direct.status != 0, "a packaged program started without the packaged loader must not find one: \(direct.stdout)")

        // A real chunk through RIE -> /bootstrap -> helios-worker lambda -> helios-synth (found on PATH in /bin).
        let chunk = LambdaHarness.synthChunk("c1", start: 5, count: 4)
        let harness = try await LambdaHarness(chunks: [LambdaHarness.synthChunk("c0", start: 0, count: 5), chunk],
                                              environment: ["HELIOS_WORKER_ALLOWED_COMMANDS": "helios-synth"],
                                              runtime: .package(root: root))
        defer { harness.stop() }
        let response = try await harness.invoker.invoke(harness.request(chunk), timeout: .seconds(120))
        try #require(response.status == .succeeded, "\(response.error?.description ?? "") \(harness.emulator.output)")
        let output = try #require(response.output)
        let key = try ArtifactKey("renders/job1/chunks/c1/attempt-1/c1.mp4")
        #expect(output.uri == harness.store.uri(for: key))
        let local = work.appendingPathComponent("c1.mp4")
        _ = try await harness.store.download(key, to: local)
        let data = try Data(contentsOf: local)
        let sum = try await Shell.run("sha256sum", [local.path])
        #expect(sum.stdout.split(separator: " ").first.map(String.init) == output.sha256)
        // ffprobe (the host's, an independent reader) counts the chunk's 4 frames.
        let probe = try await Shell.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                   "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", local.path])
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4", "\(probe.stdout) \(probe.stderr)")
        // The same chunk rendered on the host by the built helios-synth is byte-identical: the package renders what
        // the build renders.
        let reference = work.appendingPathComponent("reference.mp4")
        let rendered = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                           ["render", "--start-frame", "5", "--frame-count", "4", "--size", "160x96", "-o", reference.path])
        try #require(rendered.status == 0, "\(rendered.stderr)")
        #expect(try Data(contentsOf: reference) == data)
    }
}
