import Foundation
import HeliosOrchestrator
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shows a job's events on stderr: a redrawn progress bar on a terminal, plain lines otherwise.
struct ProgressReporter {
    let isTTY = isatty(STDERR_FILENO) == 1
    let quiet: Bool

    func consume(_ events: AsyncStream<JobEvent>) async {
        var done = 0, total = 0
        for await event in events {
            switch event {
            case .resumed(let skipped, let all):
                done = skipped; total = all
                line("resuming: \(skipped)/\(all) chunks already complete")
            case .chunkStarted: break
            case .chunkRetrying(let chunk, let attempt, let error, let delay):
                line("chunk \(chunk): attempt \(attempt) failed, retrying in \(Self.seconds(delay)): \(Self.oneLine(error))")
            case .chunkCompleted(let chunk, let ms, let attempts):
                if !isTTY && !quiet { line("chunk \(chunk) done in \(ms) ms" + (attempts > 1 ? " (\(attempts) attempts)" : "")) }
            case .progress(let d, let t):
                done = d; total = t
                if isTTY { bar(done, total) }
            case .merging(let n): line("merging \(n) chunks")
            case .completed: if isTTY { bar(total, total); FileHandle.standardError.write(Data("\n".utf8)) }
            case .failed, .paused, .cancelled: if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
            }
        }
    }

    /// "0.21 s".
    static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        return String(format: "%.2f s", Double(s) + Double(atto) / 1e18)
    }

    /// An error on one line: a worker's message is often "command exited with status 3; stderr:" followed by what the
    /// command said, which is the part worth reading. Lines joined, at most 300 characters.
    static func oneLine(_ error: String) -> String {
        let joined = error.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        return joined.count > 300 ? String(joined.prefix(299)) + "…" : joined
    }

    private func line(_ text: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data(((isTTY ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }

    private func bar(_ done: Int, _ total: Int) {
        guard !quiet, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let text = "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] \(done)/\(total) chunks \(100 * done / total)%"
        FileHandle.standardError.write(Data(text.utf8))
    }
}
