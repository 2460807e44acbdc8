import Foundation
@_exported import HeliosTestSupport
import Testing

/// What a finished child process printed and how it exited.
struct ToolResult: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
}

struct ToolError: Error, CustomStringConvertible {
    var description: String
}

/// Runs programs: the executables under test (built next to the test bundle) and the ffmpeg/ffprobe oracles.
enum Tool {
    /// The build products directory: the first ancestor of the test bundle that holds the `helios` executable.
    static let binDirectory: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("helios").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    /// Absolute path of a product of this package (`helios`, `helios-synth`).
    static func product(_ name: String) -> String { binDirectory.appendingPathComponent(name).path }

    /// Runs `executable` (an absolute path, or a name looked up on PATH) and returns its output.
    static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil) async throws -> ToolResult {
        let raw = try await Shell.runRaw(executable, arguments, in: directory)
        return ToolResult(status: raw.status, stdout: raw.stdout, stderr: raw.stderr)
    }

    /// Like `run`, but throws unless the program exits 0.
    static func checked(_ executable: String, _ arguments: [String], in directory: URL? = nil) async throws -> ToolResult {
        let result = try await run(executable, arguments, in: directory)
        guard result.status == 0 else {
            throw ToolError(description: "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result
    }
}

/// A fresh directory under the system temporary directory; `remove()` deletes it.
struct WorkDirectory {
    let url: URL

    init(_ name: String) throws {
        let safe = name.filter { $0.isLetter || $0.isNumber || $0 == "-" }
        url = FileManager.default.temporaryDirectory.appendingPathComponent("helios-e2e-\(safe)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

extension Tool {
    /// `helios job plan` of a `frames`-frame composition at `fps` and `width` x `height`, cut into chunks of `chunk`
    /// frames that `command` renders to `pattern`; the spec is written to `spec` in `directory`.
    static func planJob(_ id: String, frames: Int, fps: Int, width: Int, height: Int, chunk: Int, command: String, pattern: String,
                        spec: String = "spec.json", in directory: URL) async throws {
        _ = try await checked(product("helios"), ["job", "plan", "--id", id, "--frames", "\(frames)", "--fps", "\(fps)", "--width", "\(width)",
                                                  "--height", "\(height)", "--chunk-size", "\(chunk)", "--command", command,
                                                  "--output-pattern", pattern, "-o", spec], in: directory)
    }
}
