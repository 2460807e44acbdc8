import ArgumentParser
import Foundation
import HeliosStorage
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The documented exit codes of `helios artifacts` and `helios bundle` (the `helios job` conventions where they
/// overlap: 2 invalid input, 3 not found, 64 usage).
enum StorageExit {
    static let failed: Int32 = 1
    static let invalidInput: Int32 = 2
    static let notFound: Int32 = 3
    static let alreadyExists: Int32 = 4
    static let storageError: Int32 = 7
    static let refused: Int32 = 9
    static let interrupted: Int32 = 130

    static func code(for error: StorageError) -> Int32 {
        switch error.code {
        case .invalidKey, .invalidURI, .invalidRequest, .configuration: invalidInput
        case .notFound: notFound
        case .alreadyExists: alreadyExists
        case .io: storageError
        case .auth, .outsideScope: refused
        case .cancelled: interrupted
        case .integrity, .throttled, .server, .transport: failed
        }
    }

    /// Prints `error` to stderr and returns the exit to use.
    static func report(_ error: any Error) -> ExitCode {
        if let exit = error as? ExitCode { return exit }
        if let validation = error as? ValidationError { printError("error: \(validation.message)"); return ExitCode(invalidInput) }
        if let error = error as? StorageError {
            printError("error: \(error)")
            return ExitCode(code(for: error))
        }
        printError("error: \(error)")
        return ExitCode(failed)
    }
}

enum StorageCLI {
    /// The stores this binary can reach: local, and S3 through `StorageFactory.standard()`.
    static func factory() -> StorageFactory {
        StorageFactory.standard()
    }

    /// Runs `body` as a task that SIGINT/SIGTERM cancel, mapping errors to the documented exit codes.
    static func run(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let relay = InterruptRelay()
        let handler = InterruptHandler { relay.interrupt() }
        defer { withExtendedLifetime(handler) {} }
        let task = Task { try await body() }
        relay.attach { task.cancel() }
        do { try await task.value } catch { throw StorageExit.report(error) }
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = InternetDate.encodingStrategy
        return encoder
    }

    /// Writes `value` as one line of JSON on stdout.
    static func printJSON(_ value: some Encodable) throws {
        FileHandle.standardOutput.write(try encoder().encode(value) + Data("\n".utf8))
    }

    static func printLine(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// A local input file that must exist and be a regular file (exit 2 otherwise).
    static func inputFile(_ path: String) throws -> URL {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ValidationError("input file \(path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o170000 == 0o100000 else { throw ValidationError("input file \(path) is not a regular file") }
        return URL(fileURLWithPath: path)
    }

    /// The key a command needs (a location naming the whole store is refused).
    static func requireKey(_ key: ArtifactKey?, _ text: String) throws -> ArtifactKey {
        guard let key else { throw ValidationError("\(text) names a whole store, not an object key") }
        return key
    }
}

/// A byte progress bar on stderr when it is a terminal; silent otherwise.
final class ByteProgressBar: Sendable {
    private let enabled: Bool
    private let label: String
    private let last = Mutex<Int>(-1)

    init(label: String, quiet: Bool = false) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1
        self.label = label
    }

    func update(_ bytes: Int64, _ total: Int64) {
        guard enabled else { return }
        let percent = total > 0 ? Int(100 * bytes / total) : 100
        let changed = last.withLock { value in
            defer { value = percent }
            return value != percent
        }
        guard changed else { return }
        let width = 30
        let filled = width * percent / 100
        let text = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            + "] \(Self.size(bytes))/\(Self.size(total)) \(percent)%"
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Clears the bar's line.
    func finish() {
        guard enabled, last.withLock({ $0 >= 0 }) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func size(_ bytes: Int64) -> String {
        if bytes < 1 << 10 { return "\(bytes) B" }
        if bytes < 1 << 20 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        if bytes < 1 << 30 { return String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        return String(format: "%.2f GiB", Double(bytes) / 1_073_741_824)
    }
}

/// A line counting the objects a listing has walked, on stderr when it is a terminal (and, for commands that print
/// each object, only when stdout is not the same terminal); silent otherwise.
final class ListingProgressLine: Sendable {
    private let enabled: Bool
    private let label: String
    private let drawn = Mutex(false)

    init(label: String, printsToStdout: Bool = false) {
        enabled = isatty(STDERR_FILENO) == 1 && !(printsToStdout && isatty(STDOUT_FILENO) == 1)
        self.label = label
    }

    func update(_ objects: Int, _ bytes: Int64) {
        guard enabled else { return }
        drawn.withLock { $0 = true }
        FileHandle.standardError.write(Data("\r\(label) \(objects) objects, \(ByteProgressBar.size(bytes))\u{1B}[K".utf8))
    }

    /// Clears the line.
    func finish() {
        guard enabled, drawn.withLock({ $0 }) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    /// Runs `body` with every listing in it reported on this line.
    func around<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        defer { finish() }
        return try await ListingProgress.$observer.withValue(.init { [self] in update($0, $1) }, operation: body)
    }
}
