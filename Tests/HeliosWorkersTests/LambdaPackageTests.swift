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

        // The package from this build's debug products, stored (not zipped) and with every library but the loader
        // compressed into libz/ (-u 0, zstd level 1 to stay fast): the launcher must unpack and load all of them.
        let zip = work.appendingPathComponent("helios-lambda.zip")
        let built = try await Shell.run(Self.packageDirectory.appendingPathComponent("scripts/lambda-package.sh").path,
                                        ["-c", "debug", "-b", builtProductsDirectory().path, "-l", "0", "-u", "0", "-z", "1",
                                         "-o", zip.path])
        try #require(built.status == 0, "lambda-package.sh failed: \(built.stderr)")
        let root = work.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: false)
        let unzipped = try await Shell.run("unzip", ["-q", zip.path, "-d", root.path])
        try #require(unzipped.status == 0, "unzip failed: \(unzipped.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: root.path))
                == ["bootstrap", "bootstrap-serve", "bin", "lib", "libexec", "libz"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("lib").path) == ["ld-linux-x86-64.so.2"])
        for library in ["libc.so.6", "libswiftCore.so", "libFoundation.so", "libavformat.so.59", "libavcodec.so.59"] {
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("libz/\(library).zst").path), "libz/\(library).zst")
        }
        let id = try String(contentsOf: root.appendingPathComponent("libz/ID"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 32)

        // The libraries are unpacked under HELIOS_LIBRARY_CACHE (under /tmp, which the chroot shares).
        let cacheBase = URL(fileURLWithPath: "/tmp/helios-libcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cacheBase, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: cacheBase) }
        let cache = cacheBase.appendingPathComponent("helios-libs-\(id)")
        let withCache = ["/usr/bin/env", "HELIOS_LIBRARY_CACHE=\(cacheBase.path)"]

        // The chroot works here (loudly not, if this machine cannot), and only the package's launcher can start its
        // programs: run directly, a program finds no loader at /lib64, so nothing of the host can be used by accident.
        let unshare = withCache + LambdaEmulator.chrooted(root)
        let help = try await Shell.run(unshare[0], Array(unshare.dropFirst()) + ["/bin/helios-synth", "--help"])
        try #require(help.status == 0, "cannot run the package in a chroot (unshare/mount/chroot need root): \(help.stderr)")
        #expect(help.stdout.contains("helios-synth"))
        // Every compressed library was unpacked once, whole, and nothing else was left in the cache.
        #expect(try FileManager.default.contentsOfDirectory(atPath: cacheBase.path) == ["helios-libs-\(id)"])
        let unpacked = try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted()
        let packed = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("libz").path)
            .filter { $0.hasSuffix(".zst") }.map { String($0.dropLast(4)) }.sorted()
        #expect(unpacked == packed)
        // zstd's own decoder (an independent reader) agrees byte for byte with what the launcher unpacked.
        for library in ["libc.so.6", "libavformat.so.59"] {
            let decoded = work.appendingPathComponent("\(library).decoded")
            let decoding = try await Shell.run("zstd", ["-d", "-q", root.appendingPathComponent("libz/\(library).zst").path, "-o", decoded.path])
            try #require(decoding.status == 0, "\(decoding.stderr)")
            #expect(try Data(contentsOf: cache.appendingPathComponent(library)) == Data(contentsOf: decoded), "\(library)")
        }
        let firstUnpack = try FileManager.default.attributesOfItem(atPath: cache.appendingPathComponent("libc.so.6").path)[.modificationDate] as? Date
        let direct = try await Shell.run(unshare[0], Array(unshare.dropFirst()) + ["/libexec/helios-synth", "--help"])
        #expect(direct.status != 0, "a packaged program started without the packaged loader must not find one: \(direct.stdout)")

        // A real chunk through RIE -> /bootstrap -> helios-worker lambda -> helios-synth (found on PATH in /bin).
        let chunk = LambdaHarness.synthChunk("c1", start: 5, count: 4)
        let harness = try await LambdaHarness(chunks: [LambdaHarness.synthChunk("c0", start: 0, count: 5), chunk],
                                              environment: ["HELIOS_WORKER_ALLOWED_COMMANDS": "helios-synth",
                                                            "HELIOS_LIBRARY_CACHE": cacheBase.path],
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
        let referenceChunk = work.appendingPathComponent("reference.mp4")
        let rendered = try await Shell.run(builtProductsDirectory().appendingPathComponent("helios-synth").path,
                                           ["render", "--start-frame", "5", "--frame-count", "4", "--size", "160x96", "-o", referenceChunk.path])
        try #require(rendered.status == 0, "\(rendered.stderr)")
        #expect(try Data(contentsOf: referenceChunk) == data)
        // The worker and the chunk command it ran used the libraries unpacked by the first start: nothing was redone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: cacheBase.path) == ["helios-libs-\(id)"])
        #expect(try FileManager.default.attributesOfItem(atPath: cache.appendingPathComponent("libc.so.6").path)[.modificationDate] as? Date
                == firstUnpack)

        // A cache directory someone else could write to is refused, never loaded from.
        let planted = work.appendingPathComponent("planted")
        try FileManager.default.createDirectory(at: planted.appendingPathComponent("helios-libs-\(id)"), withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: planted.appendingPathComponent("helios-libs-\(id)").path)
        let refused = try await Shell.run("/usr/bin/env", ["HELIOS_LIBRARY_CACHE=\(planted.path)", root.appendingPathComponent("bin/helios-synth").path, "--help"])
        #expect(refused.status == 127)
        #expect(refused.stderr.contains("refusing a library cache"), "\(refused.stderr)")
    }

    @Test("with the default budget only the largest libraries are compressed, and the package fits it")
    func defaultBudgetCompressesOnlyWhatIsNeeded() async throws {
        let work = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let zip = work.appendingPathComponent("helios-lambda.zip")
        let built = try await Shell.run(Self.packageDirectory.appendingPathComponent("scripts/lambda-package.sh").path,
                                        ["-c", "debug", "-b", builtProductsDirectory().path, "-l", "0", "-z", "1", "-o", zip.path])
        try #require(built.status == 0, "lambda-package.sh failed: \(built.stderr)")
        let root = work.appendingPathComponent("root")
        let unzipped = try await Shell.run("unzip", ["-q", zip.path, "-d", root.path])
        try #require(unzipped.status == 0, "unzip failed: \(unzipped.stderr)")
        let size = try await Shell.run("du", ["-sb", root.path])
        let bytes = try #require(Int(size.stdout.split(separator: "\t").first ?? ""))
        #expect(bytes <= 200 * 1_048_576, "unpacked \(bytes) bytes")
        // What stays uncompressed is never larger than what was compressed (largest first), and the loader stays.
        let lib = root.appendingPathComponent("lib"), libz = root.appendingPathComponent("libz")
        let plain = try FileManager.default.contentsOfDirectory(atPath: lib.path)
        #expect(plain.contains("ld-linux-x86-64.so.2"))
        // The debug products are larger than the budget, so some libraries were compressed: the largest ones.
        let packed = try FileManager.default.contentsOfDirectory(atPath: libz.path).filter { $0.hasSuffix(".zst") }
        try #require(!packed.isEmpty)
        let sizeOf = { (url: URL) throws -> Int in (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
        let largestPlain = try plain.filter { $0 != "ld-linux-x86-64.so.2" }.map { try sizeOf(lib.appendingPathComponent($0)) }.max() ?? 0
        for name in packed {
            let decoded = work.appendingPathComponent(String(name.dropLast(4)))
            let decoding = try await Shell.run("zstd", ["-d", "-q", libz.appendingPathComponent(name).path, "-o", decoded.path])
            try #require(decoding.status == 0, "\(decoding.stderr)")
            #expect(try sizeOf(decoded) >= largestPlain, "\(name) was compressed before a larger library")
        }
    }
}
