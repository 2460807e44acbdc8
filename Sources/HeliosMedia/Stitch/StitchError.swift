import Foundation

/// Why a stitch did not produce its output. Each case names the file concerned.
public enum StitchError: Error, Sendable, CustomStringConvertible {
    /// Validation found errors; the report lists them. Nothing was written.
    case invalidInputs(StitchReport)
    /// An input could not be read: missing, unreadable, empty, not media, or corrupt.
    case unreadableInput(path: String, reason: String)
    /// An input opens but is damaged: frames the container declares could not be read, packets are flagged
    /// corrupt, or the demuxer reported corrupt or truncated data it skipped. `index` is the input's position.
    case damagedInput(index: Int?, path: String, reason: String)
    /// The output could not be written.
    case outputFailed(path: String, reason: String)
    /// The output exists and `force` was not given.
    case outputExists(path: String)
    /// The output is one of the inputs.
    case outputIsInput(path: String)
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
        case .usage(let message): return message
        case .cancelled: return "stitch cancelled; no output written"
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
        case .usage, .outputExists, .outputIsInput: 2
        case .unreadableInput, .damagedInput, .outputFailed: 3
        case .cancelled: 130
        }
    }
}
