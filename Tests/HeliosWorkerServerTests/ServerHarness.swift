import AsyncHTTPClient
import Foundation
import HeliosOrchestrator
import HeliosStorage
import HeliosTestSupport
import HeliosWorkers
import NIOCore
import NIOFoundationCompat

/// A job for `helios-worker serve` tests: its own HELIOS_HOME holding a local store that server and test share, and
/// the spec in it.
struct ServerHarness {
    let home: URL
    let store: LocalArtifactStore
    let spec: JobSpec
    let specURI: String

    /// `underTmp`: the home is under /tmp, which a chroot shares, so `file://` URIs name the same files on both sides.
    init(chunks: [RenderJobChunk], underTmp: Bool = false) async throws {
        if underTmp {
            home = URL(fileURLWithPath: "/tmp/helios-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        } else {
            home = try makeTemporaryDirectory()
        }
        store = try LocalArtifactStore(root: home.appendingPathComponent("artifacts"))
        spec = JobSpec(id: "job1", metadata: JobMetadata(totalFrames: chunks.map { $0.startFrame + $0.frameCount }.max() ?? 0,
                                                         fps: 30, width: 160, height: 96), chunks: chunks)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        specURI = try await store.put(bytes: Array(try encoder.encode(spec)), to: try ArtifactKey("jobs/job1/spec.json")).uri
    }

    /// The environment a server needs to share this store.
    var environment: [String: String] { ["HELIOS_HOME": home.path] }

    static func synthChunk(_ id: String, start: Int, count: Int) -> RenderJobChunk {
        RenderJobChunk(id: id, startFrame: start, frameCount: count, outputFile: "out/\(id).mp4",
                       command: "helios-synth render --start-frame \(start) --frame-count \(count) --size 160x96 -o out/\(id).mp4")
    }

    /// A chunk that sleeps `seconds` before rendering, to be caught mid-flight.
    static func slowChunk(_ id: String, seconds: Int, start: Int = 0, count: Int = 2) -> RenderJobChunk {
        RenderJobChunk(id: id, startFrame: start, frameCount: count, outputFile: "out/\(id).mp4",
                       command: "sh -c 'sleep \(seconds) && exec helios-synth render --start-frame \(start) --frame-count \(count) --size 160x96 -o out/\(id).mp4'")
    }

    func request(_ chunk: RenderJobChunk, attempt: Int = 1) -> ChunkRequest {
        ChunkRequest(jobId: spec.id, chunk: .init(chunk), attempt: attempt, spec: .url(specURI), output: .store(prefix: store.uri(for: try! ArtifactKey("renders"))),
                     deadlineMs: Int64(Date().timeIntervalSince1970 * 1000) + 120_000)
    }

    func stop() { try? FileManager.default.removeItem(at: home) }
}

/// An HTTP answer, whole.
struct HTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: Data

    var response: ChunkResponse? { try? JSONDecoder().decode(ChunkResponse.self, from: body) }
    var lines: [ChunkStreamLine] {
        body.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(ChunkStreamLine.self, from: Data($0)) }
    }
}

/// One HTTP exchange over loopback through AsyncHTTPClient.
func exchange(_ url: String, method: String = "POST", body: Data? = nil, headers: [(String, String)] = [],
              timeout: Duration = .seconds(120)) async throws -> HTTPAnswer {
    var request = HTTPClientRequest(url: url)
    request.method = .init(rawValue: method)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(data: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout / .seconds(1))))
    let data = try await response.body.collect(upTo: 64 << 20)
    var fields: [String: String] = [:]
    for header in response.headers { fields[header.name.lowercased()] = header.value }
    return HTTPAnswer(status: Int(response.status.code), headers: fields, body: Data(buffer: data))
}

func encoded(_ request: ChunkRequest) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return try encoder.encode(request)
}
