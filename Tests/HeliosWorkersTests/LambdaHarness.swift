import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
@testable import HeliosWorkers

/// A job with its own HELIOS_HOME (the local store both sides share), a spec in the store, and AWS's Lambda
/// emulator running a worker: the built `helios-worker lambda`, or a Lambda package's `/bootstrap` in a chroot.
struct LambdaHarness {
    /// What the emulator runs as the function.
    struct Runtime {
        var command: String
        var arguments: [String]
        /// PATH for the runtime; chunk commands are found on it.
        var path: String
        /// A chroot for the runtime (``LambdaEmulator``'s `root`).
        var root: URL?

        /// The worker from this build, finding the other built tools (helios-synth) on PATH.
        static var built: Runtime {
            Runtime(command: builtProductsDirectory().appendingPathComponent("helios-worker").path, arguments: ["lambda"],
                    path: builtProductsDirectory().path + ":/usr/bin:/bin", root: nil)
        }

        /// An unpacked Lambda package at `root`, run as Lambda runs it (`/bootstrap`), in a chroot of `root`.
        /// PATH names only host directories, which do not exist in the chroot: the package must bring its own tools.
        static func package(root: URL) -> Runtime {
            Runtime(command: "/bootstrap", arguments: [], path: "/usr/local/bin:/usr/bin:/bin", root: root)
        }
    }

    let home: URL
    let store: LocalArtifactStore
    let emulator: LambdaEmulator
    let invoker: AwsLambdaInvoker
    let specURI: String
    let spec: JobSpec

    init(chunks: [RenderJobChunk], environment: [String: String] = [:], timeout: Int = 60, runtime: Runtime = .built) async throws {
        if runtime.root != nil {
            // Under /tmp, which the chroot shares, so the store's file:// URIs name the same files on both sides.
            home = URL(fileURLWithPath: "/tmp/helios-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        } else {
            home = try makeTemporaryDirectory()
        }
        var env = environment
        env["HELIOS_HOME"] = home.path
        env["PATH"] = runtime.path
        store = try LocalArtifactStore(root: home.appendingPathComponent("artifacts"))
        spec = JobSpec(id: "job1", metadata: JobMetadata(totalFrames: chunks.map { $0.startFrame + $0.frameCount }.max() ?? 0,
                                                         fps: 30, width: 160, height: 96), chunks: chunks)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stored = try await store.put(bytes: Array(try encoder.encode(spec)), to: try ArtifactKey("jobs/job1/spec.json"))
        specURI = stored.uri
        emulator = try await LambdaEmulator(command: runtime.command, arguments: runtime.arguments, environment: env,
                                            timeout: timeout, root: runtime.root)
        invoker = AwsLambdaInvoker(functionName: "function", endpoint: URL(string: "http://127.0.0.1:\(emulator.port)")!,
                                   region: "us-east-1",
                                   credentials: StaticCredentialProvider(S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")))
    }

    static func synthChunk(_ id: String, start: Int, count: Int) -> RenderJobChunk {
        RenderJobChunk(id: id, startFrame: start, frameCount: count, outputFile: "out/\(id).mp4",
                       command: "helios-synth render --start-frame \(start) --frame-count \(count) --size 160x96 -o out/\(id).mp4")
    }

    func request(_ chunk: RenderJobChunk, attempt: Int = 1) -> ChunkRequest {
        ChunkRequest(jobId: spec.id, chunk: .init(chunk), attempt: attempt, spec: .url(specURI), output: .store(prefix: store.uri(for: try! ArtifactKey("renders"))),
                     deadlineMs: Int64(Date().timeIntervalSince1970 * 1000) + 120_000)
    }

    func stop() {
        emulator.stop()
        try? FileManager.default.removeItem(at: home)
    }
}
