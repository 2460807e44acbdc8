#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a stitch did not produce its output. Each case names the file concerned.
public enum StitchError: Error, Sendable, CustomStringConvertible {
    /// Validation found errors; the report lists them. Nothing was written.
    case invalidInputs(StitchReport)
    /// An input could not be read: missing, unreadable, empty, not a regular file, not media, or corrupt.
    case unreadableInput(path: String, reason: String)
    /// An input opens but is damaged: frames the container declares could not be read, packets are flagged
    /// corrupt, or the demuxer reported corrupt or truncated data it skipped. `index` is the input's position.
    case damagedInput(index: Int?, path: String, reason: String)
    /// The output could not be written.
    case outputFailed(path: String, reason: String)
    /// The output exists and `force` was not given.
    case outputExists(path: String)
    /// The output is one of the inputs (the same path, a symlink or a hard link to it).
    case outputIsInput(path: String)
    /// The output exists and is not a regular file (a device, FIFO, socket or directory): never replaced.
    case outputNotRegularFile(path: String, kind: String)
    /// The same file is given as input `index` and as input `firstIndex` (0-based), without `allowRepeat`.
    case repeatedInput(index: Int, firstIndex: Int, path: String)
    /// The call itself was wrong (no inputs, unknown format).
    case usage(String)
    /// The task was cancelled; the partial output was removed.
    case cancelled

    public var description: String {
        switch self {
        case .invalidInputs(let report):
            let errors = report.issues.filter { $0.severity == .error }
            return "inputs cannot be stitched (\(errors.count) error\(errors.count == 1 ? "" : "s")):\n"
                + errors.map { "  " + $0.description }.joined(separator: "\n")
        case .unreadableInput(let path, let reason): return "\(path): \(reason)"
        case .damagedInput(let index?, let path, let reason): return "input \(index + 1) (\(path)): \(reason)"
        case .damagedInput(nil, let path, let reason): return "\(path): \(reason)"
        case .outputFailed(let path, let reason): return "cannot write \(path): \(reason)"
        case .outputExists(let path): return "\(path) exists; pass --force to replace it"
        case .outputIsInput(let path): return "output \(path) is also an input; inputs are never modified"
        case .outputNotRegularFile(let path, let kind): return "output \(path) is \(kind), not a regular file; it is never replaced"
        case .repeatedInput(let index, let first, let path):
            return "input \(index + 1) (\(path)) is the same file as input \(first + 1); pass --allow-repeat to use it twice"
        case .usage(let message): return message
        case .cancelled: return "stitch cancelled; no output written"
        }
    }

    /// A stable name for scripts (the JSON error's `code`).
    public var code: String {
        switch self {
        case .invalidInputs: "invalid-inputs"
        case .unreadableInput: "unreadable-input"
        case .damagedInput: "damaged-input"
        case .outputFailed: "output-failed"
        case .outputExists: "output-exists"
        case .outputIsInput: "output-is-input"
        case .outputNotRegularFile: "output-not-regular-file"
        case .repeatedInput: "repeated-input"
        case .usage: "usage"
        case .cancelled: "cancelled"
        }
    }

    /// The file concerned, when there is one.
    public var path: String? {
        switch self {
        case .unreadableInput(let path, _), .damagedInput(_, let path, _), .outputFailed(let path, _), .outputExists(let path),
             .outputIsInput(let path), .outputNotRegularFile(let path, _), .repeatedInput(_, _, let path): path
        case .invalidInputs, .usage, .cancelled: nil
        }
    }

    /// Whether running the same stitch again may succeed (I/O trouble), as opposed to bad inputs.
    public var isRetryable: Bool {
        switch self {
        case .outputFailed, .cancelled: true
        default: false
        }
    }

    /// The documented exit code of `helios-stitch` for this error.
    public var exitCode: Int32 {
        switch self {
        case .invalidInputs: 1
        case .usage, .outputExists, .outputIsInput, .outputNotRegularFile, .repeatedInput: 2
        case .unreadableInput, .damagedInput, .outputFailed: 3
        case .cancelled: 130
        }
    }
}
