import Foundation

extension ChunkRequest {
    /// URL schemes a worker can read a spec or manifest from.
    public static let readableSchemes: Set<String> = ["https", "http", "s3", "file"]
    /// Store URI schemes a worker can write its output under.
    public static let writableSchemes: Set<String> = ["s3", "file"]

    /// Decodes and validates a request. Never throws anything but a `badRequest` ``WorkerFailure`` naming what is wrong,
    /// so a malformed request can always be answered.
    public static func decode(_ data: Data, now: Date = Date()) throws(WorkerFailure) -> ChunkRequest {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw WorkerFailure(.badRequest, "request is not JSON (\(data.count) bytes)")
        }
        guard let fields = object as? [String: Any] else { throw WorkerFailure(.badRequest, "request is not a JSON object") }
        guard let version = fields["version"] as? Int else { throw WorkerFailure(.badRequest, "request has no integer 'version'") }
        guard version == currentVersion else {
            throw WorkerFailure(.badRequest, "unsupported protocol version \(version); this worker speaks version \(currentVersion)")
        }
        let request: ChunkRequest
        do { request = try JSONDecoder().decode(ChunkRequest.self, from: data) } catch let error as DecodingError {
            throw WorkerFailure(.badRequest, "malformed request: \(Self.describe(error))")
        } catch {
            throw WorkerFailure(.badRequest, "malformed request: \(error)")
        }
        if let problem = request.problem(now: now) { throw WorkerFailure(.badRequest, problem) }
        return request
    }

    /// What makes this request unusable, or nil. Pure.
    public func problem(now: Date = Date()) -> String? {
        if version != Self.currentVersion { return "unsupported protocol version \(version)" }
        if !Self.isIdentifier(jobId) { return "invalid jobId \"\(jobId.prefix(140))\": use 1-128 of [A-Za-z0-9._-]" }
        if !Self.isIdentifier(chunk.id) { return "invalid chunk id \"\(chunk.id.prefix(140))\": use 1-128 of [A-Za-z0-9._-]" }
        if chunk.startFrame < 0 { return "chunk \(chunk.id): startFrame \(chunk.startFrame) is negative" }
        if chunk.frameCount < 1 { return "chunk \(chunk.id): frameCount \(chunk.frameCount) must be at least 1" }
        if chunk.command.trimmingCharacters(in: .whitespaces).isEmpty { return "chunk \(chunk.id): command is empty" }
        if let problem = Self.outputFileProblem(chunk.outputFile) { return "chunk \(chunk.id): outputFile \"\(chunk.outputFile.prefix(200))\" \(problem)" }
        if attempt < 1 { return "attempt \(attempt) must be at least 1" }
        if case .url(let url) = spec, let problem = Self.urlProblem(url, allowed: Self.readableSchemes) { return "spec URL \(problem)" }
        if case .inline(let text) = spec, text.isEmpty { return "inline spec is empty" }
        if let manifest = assetsManifest, let problem = Self.urlProblem(manifest, allowed: Self.readableSchemes) {
            return "assets manifest URL \(problem)"
        }
        switch output {
        case .presignedPut(let url, let uri):
            if let problem = Self.urlProblem(url, allowed: ["https", "http"]) { return "output URL \(problem)" }
            if let problem = Self.urlProblem(uri, allowed: Self.writableSchemes) { return "output URI \(problem)" }
        case .store(let prefix):
            if let problem = Self.urlProblem(prefix, allowed: Self.writableSchemes) { return "output store \(problem)" }
        }
        if let deadlineMs, Double(deadlineMs) <= now.timeIntervalSince1970 * 1000 {
            return "deadline \(deadlineMs) ms has already passed"
        }
        return nil
    }

    /// The request as JSON, or a `badRequest` failure if it is larger than `limit` bytes (6 MB for a synchronous
    /// Lambda invoke). A spec too big to send inline must go through storage.
    public func encoded(limit: Int) throws(WorkerFailure) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw WorkerFailure(.badRequest, "request cannot be encoded: \(error)") }
        guard data.count <= limit else {
            throw WorkerFailure(.badRequest, "request for chunk \(chunk.id) of job \(jobId) is \(data.count) bytes; the platform accepts at most \(limit) (send the spec through storage)")
        }
        return data
    }

    static func isIdentifier(_ value: String) -> Bool {
        (1...128).contains(value.utf8.count) && value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        } && value != "." && value != ".."
    }

    /// Why `path` cannot be an output inside the workspace, or nil.
    static func outputFileProblem(_ path: String) -> String? {
        if path.isEmpty { return "is empty" }
        if path.hasPrefix("/") { return "is absolute; it must stay inside the workspace" }
        if path.utf8.contains(0) || path.contains("\\") { return "contains a NUL or backslash" }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == ".." }) { return "escapes the workspace ('..')" }
        if segments.contains(where: { $0.isEmpty || $0 == "." }) { return "is not normal (empty or '.' segment)" }
        return nil
    }

    /// Why `text` is not a usable URL of one of `allowed` schemes, or nil.
    static func urlProblem(_ text: String, allowed: Set<String>) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return "\"\(text.prefix(200))\" is not a URL"
        }
        guard allowed.contains(scheme) else {
            return "\"\(text.prefix(200))\" has unsupported scheme '\(scheme)' (supported: \(allowed.sorted().joined(separator: ", ")))"
        }
        if scheme != "file", (components.host ?? "").isEmpty { return "\"\(text.prefix(200))\" has no host or bucket" }
        if scheme == "file", components.path.isEmpty { return "\"\(text.prefix(200))\" has no path" }
        return nil
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field '\(parent.isEmpty ? "" : parent + ".")\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "'\(path(context))' is not \(type)"
        case .valueNotFound(let type, let context): return "'\(path(context))' is null, expected \(type)"
        case .dataCorrupted(let context): return "'\(path(context))': \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
