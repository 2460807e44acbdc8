import Foundation

/// Chunk sets made by Fixtures/generate.sh, once per test run and set, cached under Fixtures/.generated/NAMESPACE.
/// Each test target keeps its own namespace (`FixtureCache.shared`), so targets running in parallel never share
/// a directory being generated.
public actor FixtureCache {
    public let root: URL
    private var pending: [String: Task<URL, Error>] = [:]

    public init(namespace: String) {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        root = package.appendingPathComponent("Fixtures/.generated/\(namespace)")
    }

    public var script: URL { root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("generate.sh") }

    /// The directory holding the set's files, generating it on first use.
    public func set(_ name: String) async throws -> URL {
        if let task = pending[name] { return try await task.value }
        let directory = root.appendingPathComponent(name)
        let script = self.script
        let task = Task { () throws -> URL in
            let marker = directory.appendingPathComponent(".done")
            if FileManager.default.fileExists(atPath: marker.path) { return directory }
            try? FileManager.default.removeItem(at: directory)
            let result = try await Shell.run(script.path, [name, directory.path])
            guard result.status == 0 else { throw ShellError(message: "generate.sh \(name) failed: \(result.stderr)") }
            _ = FileManager.default.createFile(atPath: marker.path, contents: Data())
            return directory
        }
        pending[name] = task
        return try await task.value
    }

    /// The set's media files, sorted by name.
    public func files(_ name: String) async throws -> [URL] {
        let directory = try await set(name)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}

public struct ShellError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Runs a program and collects its output (the ffmpeg/ffprobe oracles, the CLIs under test).
public enum Shell {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// A finished run with standard output as bytes (it may be raw video).
    public struct RawResult: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
    }

    public static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil) async throws -> Result {
        let raw = try await runRaw(executable, arguments, in: directory)
        return Result(status: raw.status, stdout: String(decoding: raw.stdout, as: UTF8.self), stderr: raw.stderr)
    }

    /// Runs `executable` (an absolute path, or a name looked up on PATH) and waits for it on a thread of its own.
    /// Standard output is collected whole; stderr goes through a file, so neither pipe can fill and stall the child.
    public static func runRaw(_ executable: String, _ arguments: [String], in directory: URL? = nil) async throws -> RawResult {
        try await onOwnThread {
            let process = Process()
            let absolute = executable.hasPrefix("/")
            process.executableURL = URL(fileURLWithPath: absolute ? executable : "/usr/bin/env")
            process.arguments = absolute ? arguments : [executable] + arguments
            if let directory { process.currentDirectoryURL = directory }
            let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("helios-shell-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: errFile) }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = try FileHandle(forWritingTo: errFile)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let errors = (try? Data(contentsOf: errFile)) ?? Data()
            return RawResult(status: process.terminationStatus, stdout: data, stderr: String(decoding: errors, as: UTF8.self))
        }
    }
}

/// Runs blocking work (waiting for a child process, decoding a whole file) on a new thread of its own, so it never
/// holds one of the few threads Swift concurrency (and libdispatch's global queues) share with other tests.
/// Record expectations after it returns, in the test's own task.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Independent measurements of a media file with the ffmpeg/ffprobe CLIs.
public enum Oracle {
    /// MD5 of every decoded frame of the first stream of `kind` ("v" or "a"), in order.
    public static func frameHashes(_ url: URL, stream: String = "v") async throws -> [String] {
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", url.path, "-map", "0:\(stream):0", "-f", "framemd5", "-"])
        guard result.status == 0 else { throw ShellError(message: "framemd5 \(url.path): \(result.stderr)") }
        return result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .compactMap { $0.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// Warnings and errors a full decode prints (decoders that announce their version are ignored).
    public static func decodeWarnings(_ url: URL) async throws -> [String] {
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "warning", "-i", url.path, "-f", "null", "-"])
        return result.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("libdav1d 1.") && !$0.isEmpty }
    }

    /// Decoded audio samples (per channel) of the first audio stream, played back to back.
    public static func decodedAudioSamples(_ url: URL) async throws -> Int {
        let result = try await Shell.run("/bin/sh", ["-c", "ffmpeg -nostdin -v error -i '\(url.path)' -map 0:a:0 -ac 1 -f s16le - | wc -c"])
        return (Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 2
    }

    /// Channel 0 of the first audio stream, decoded by ffmpeg and played back to back, as 32-bit floats.
    public static func decodedAudio(_ url: URL) async throws -> [Float] {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("audio.f32")
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "error", "-i", url.path, "-map", "0:a:0",
                                                    "-af", "pan=mono|c0=c0", "-f", "f32le", raw.path])
        guard result.status == 0 else { throw ShellError(message: "decoding audio of \(url.path): \(result.stderr)") }
        return try Self.floats(Data(contentsOf: raw))
    }

    /// Little-endian 32-bit floats.
    public static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// ffprobe's `-show_entries entries` for `url` (of the streams `select` picks, e.g. "v:0"), one line each in
    /// the output format `format` ("flat": `streams.stream.1.tags.language="fra"`; "csv=p=0": the values).
    public static func entries(_ url: URL, _ entries: String, select: String? = nil, format: String = "flat") async throws -> [String] {
        let selection = select.map { ["-select_streams", $0] } ?? []
        let result = try await Shell.run("ffprobe", ["-v", "error"] + selection + ["-show_entries", entries, "-of", format, url.path])
        guard result.status == 0 else { throw ShellError(message: "ffprobe \(entries) \(url.path): \(result.stderr)") }
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// The codec extradata of the first stream of `kind` ("v" or "a"), from ffprobe's hex dump.
    public static func extradata(_ url: URL, stream: String = "a") async throws -> [UInt8] {
        let result = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "\(stream):0", "-show_entries", "stream=extradata",
                                                     "-show_data", "-of", "default=noprint_wrappers=1:nokey=1", url.path])
        guard result.status == 0 else { throw ShellError(message: "ffprobe extradata \(url.path): \(result.stderr)") }
        // Lines such as "00000000: 1200 1200 0000 ...  ................": the hex groups between the offset and the text.
        return result.stdout.split(separator: "\n").flatMap { line -> [UInt8] in
            guard let colon = line.firstIndex(of: ":") else { return [] }
            let hex = line[line.index(after: colon)...].prefix(41).split(separator: " ").joined()
            return stride(from: 0, to: hex.count - 1, by: 2).compactMap {
                UInt8(hex.dropFirst($0).prefix(2), radix: 16)
            }
        }
    }

    /// ffprobe's stream entries (codec_name, nb_read_frames, duration, ...) for every stream.
    public static func streams(_ url: URL) async throws -> [[String: String]] {
        let result = try await Shell.run("ffprobe", ["-v", "error", "-count_frames", "-show_entries",
                                                     "stream=index,codec_type,codec_name,nb_read_frames,start_time,duration,sample_rate,width,height",
                                                     "-of", "json", url.path])
        struct Probe: Decodable { var streams: [[String: JSONValue]] }
        let probe = try JSONDecoder().decode(Probe.self, from: Data(result.stdout.utf8))
        return probe.streams.map { $0.mapValues(\.text) }
    }
}

public enum JSONValue: Decodable {
    case text(String)
    case number(Double)
    /// An array or object (ffprobe's `side_data_list`, `disposition`), not read.
    case other

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) { self = .number(n) } else if let s = try? c.decode(String.self) { self = .text(s) } else { self = .other }
    }

    public var text: String {
        switch self {
        case .text(let s): s
        case .number(let n): n == n.rounded() ? String(Int(n)) : String(n)
        case .other: ""
        }
    }
}

/// A fresh temporary directory, removed by the caller.
public func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("helios-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
