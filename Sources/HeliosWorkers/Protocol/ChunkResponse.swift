import Foundation

/// What a remote worker answers: how the chunk command ended, where its verified output is, and bounded tails of
/// what it printed. The encoded response is at most ``maximumBytes``.
public struct ChunkResponse: Codable, Sendable, Hashable {
    /// The encoded response's limit (Lambda allows 6 MB; we keep far below it).
    public static let maximumBytes = 256 * 1024
    /// Each tail's limit before the whole response is fitted into ``maximumBytes``.
    public static let tailBytes = 64 * 1024

    public enum Status: String, Codable, Sendable, Hashable { case succeeded, failed }

    public var version: Int
    public var status: Status
    /// The chunk command's exit code, when it ran.
    public var exitCode: Int32?
    public var output: Output?
    public var durationMs: Int64
    public var stdoutTail: String
    public var stderrTail: String
    public var error: WorkerFailure?

    /// The uploaded output: where it is, its size and its SHA-256 (lower-case hex).
    public struct Output: Codable, Sendable, Hashable {
        public var uri: String
        public var bytes: Int64
        public var sha256: String
        public init(uri: String, bytes: Int64, sha256: String) {
            self.uri = uri
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    public init(version: Int = ChunkRequest.currentVersion, status: Status, exitCode: Int32? = nil, output: Output? = nil,
                durationMs: Int64, stdoutTail: String = "", stderrTail: String = "", error: WorkerFailure? = nil) {
        self.version = version
        self.status = status
        self.exitCode = exitCode
        self.output = output
        self.durationMs = durationMs
        self.stdoutTail = stdoutTail
        self.stderrTail = stderrTail
        self.error = error
    }

    /// A failure response.
    public static func failure(_ error: WorkerFailure, exitCode: Int32? = nil, durationMs: Int64 = 0,
                               stdoutTail: String = "", stderrTail: String = "") -> ChunkResponse {
        ChunkResponse(status: .failed, exitCode: exitCode, durationMs: durationMs, stdoutTail: stdoutTail,
                      stderrTail: stderrTail, error: error)
    }

    /// The response as JSON, with tails shortened (keeping their ends, on character boundaries) until the whole
    /// encoding fits in ``maximumBytes``.
    public func encodedWithinLimit() -> Data {
        var response = self
        response.stdoutTail = Self.tail(of: stdoutTail, bytes: Self.tailBytes)
        response.stderrTail = Self.tail(of: stderrTail, bytes: Self.tailBytes)
        if var error = response.error {
            error.message = Self.head(of: error.message, bytes: Self.tailBytes)
            response.error = error
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = (try? encoder.encode(response)) ?? Data()
        var budget = Self.tailBytes
        while data.count > Self.maximumBytes, budget > 0 {
            budget /= 2
            response.stdoutTail = Self.tail(of: response.stdoutTail, bytes: budget)
            response.stderrTail = Self.tail(of: response.stderrTail, bytes: budget)
            if var error = response.error {
                error.message = Self.head(of: error.message, bytes: budget)
                response.error = error
            }
            data = (try? encoder.encode(response)) ?? Data()
        }
        return data
    }

    /// The last `bytes` UTF-8 bytes of `text`, cut on a character boundary.
    static func tail(of text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var result = Substring(text)
        while result.utf8.count > bytes { result = result.dropFirst(max(1, (result.utf8.count - bytes) / 4)) }
        return String(result)
    }

    /// The first `bytes` UTF-8 bytes of `text`, cut on a character boundary.
    static func head(of text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var result = Substring(text)
        while result.utf8.count > bytes { result = result.dropLast(max(1, (result.utf8.count - bytes) / 4)) }
        return String(result)
    }
}

/// Why a chunk failed, typed so the orchestrator knows whether to try again.
public struct WorkerFailure: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        /// Transient: infrastructure, throttling, storage outage. Try again.
        case retryable
        /// The chunk itself fails (its command exits non-zero, its output is not media). Trying again will fail again.
        case deterministic
        /// The platform's deadline came first. Retryable under the next attempt.
        case timeout
        /// The request is malformed; the caller must fix it.
        case badRequest
    }

    public var type: Kind
    public var message: String

    public init(_ type: Kind, _ message: String) {
        self.type = type
        self.message = message
    }

    public var isRetryable: Bool { type == .retryable || type == .timeout }
    public var description: String { "\(type.rawValue): \(message)" }
}
