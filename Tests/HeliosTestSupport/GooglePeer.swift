import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Peers/google_peer.py on 127.0.0.1: Google's metadata server and token endpoint minting RS256 ID tokens with a
/// test key, or Cloud Run's front end checking every token with google-auth (PyPI) before relaying it.
public final class GooglePeer: @unchecked Sendable {
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    /// `host:port`, as `GCE_METADATA_HOST` takes it.
    public var host: String { "127.0.0.1:\(port)" }
    /// The PEM map of the signing keys (metadata mode), as Google's oauth2/v1/certs.
    public var pemCertsURL: String { url + "/oauth2/v1/certs" }
    /// The same keys as a JWKS, as Google's oauth2/v3/certs.
    public var jwksURL: String { url + "/oauth2/v3/certs" }
    let process: Process

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/google_peer.py").path
    }

    /// The metadata server and token endpoint; tokens live `lifetime` seconds. With `keyFile`, a service-account key
    /// file naming this server's token endpoint is written there.
    public static func metadata(lifetime: Int = 3600, keyFile: URL? = nil) async throws -> GooglePeer {
        try await GooglePeer(["metadata", "--lifetime", String(lifetime)] + (keyFile.map { ["--key-file", $0.path] } ?? []))
    }

    /// A front end for `upstream` that lets through only requests with a valid token for `audience` (checked by
    /// google-auth against `certsURL`).
    public static func front(upstream: String, audience: String, certsURL: String) async throws -> GooglePeer {
        try await GooglePeer(["front", "--upstream", upstream, "--audience", audience, "--certs-url", certsURL])
    }

    init(_ arguments: [String]) async throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script] + arguments
        let out = Pipe()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("helios-google-peer-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let handle = out.fileHandleForReading
        let line = try await onOwnThread { () throws -> String in
            var bytes = Data()
            while true {
                let next = handle.readData(ofLength: 1)
                if next.isEmpty || next == Data([0x0A]) { break }
                bytes.append(next)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let port = object["port"] as? Int else {
            process.terminate()
            throw ShellError(message: "google_peer.py \(arguments.first ?? "") did not start: \(line) \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
        self.port = port
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }

    /// What the peer served and checked, in order (`event`: identity, assertion, token, fault).
    public func log() async throws -> [[String: Any]] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: url + "/log")!)
        return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }

    /// POST /control with `change` (metadata: `lifetime`; front: `fail`, `status`).
    public func control(_ change: [String: Int]) async throws {
        var request = URLRequest(url: URL(string: url + "/control")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: change)
        _ = try await URLSession.shared.data(for: request)
    }

    /// google-auth's own `fetch_id_token(Request(), audience)` against the metadata server at `metadataHost`.
    public static func fetchIDToken(metadataHost: String, audience: String) async throws -> String {
        try await onOwnThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, "fetch-id-token", "--audience", audience]
            var environment = ProcessInfo.processInfo.environment
            environment["GCE_METADATA_HOST"] = metadataHost
            environment["GCE_METADATA_IP"] = metadataHost
            environment["GOOGLE_APPLICATION_CREDENTIALS"] = nil
            process.environment = environment
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ShellError(message: "fetch_id_token exited \(process.terminationStatus)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
