#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import HeliosMedia

/// The short human summary printed when stdout is not JSON.
enum ReportFormatter {
    static func summary(_ report: StitchReport, checkOnly: Bool) -> String {
        var lines: [String] = []
        let seconds = report.inputs.reduce(0) { $0 + $1.durationSeconds }
        let bytes = report.inputs.reduce(Int64(0)) { $0 + $1.bytes }
        lines.append("\(report.inputs.count) inputs, \(cFormat("%.3f", seconds)) s, \(megabytes(bytes))")
        for issue in report.issues { lines.append("  \(issue)") }
        let audio = report.boundaries.compactMap(\.audioDiscontinuitySamples)
        if let worst = audio.map(abs).max() {
            lines.append("audio: \(report.boundaries.filter { $0.kind == .audio }.count) boundaries, largest discontinuity \(worst) samples")
        }
        if let output = report.output {
            var line = "wrote \(output.path): \(megabytes(output.bytes))"
            if let frames = output.videoFrames { line += ", \(frames) video frames" }
            if let drift = output.avDriftMilliseconds { line += cFormat(", A/V end drift %.2f ms", drift) }
            if let drift = output.decodedAudioDriftMilliseconds { line += cFormat(", decoded audio drift %.2f ms", drift) }
            line += cFormat(", %.3f s", output.elapsedSeconds) + " (\(output.rateText) MB/s)"
            lines.append(line)
            for exact in output.exactAudio ?? [] {
                let silent = exact.silentSamples.reduce(0, +)
                lines.append("audio exact: stream \(exact.stream) re-encoded with \(exact.encoder) at \(exact.bitRate / 1000) kb/s, "
                             + "\(exact.samples) samples" + (silent > 0 ? " (\(silent) of them silence where a chunk had no audio)" : "")
                             + cFormat(", %.0f s of audio per second", exact.audioSecondsPerSecond))
            }
        } else if checkOnly {
            lines.append(report.isValid ? "check: inputs can be stitched" : "check: inputs cannot be stitched")
        }
        return lines.joined(separator: "\n")
    }

    static func megabytes(_ bytes: Int64) -> String { cFormat("%.1f MB", Double(bytes) / 1_000_000) }
}

/// A one-line progress bar on stderr, redrawn in place.
final class ProgressBar: Sendable {
    func update(_ progress: StitchProgress) {
        let (label, fraction): (String, Double) = switch progress {
        case .probing(let index, let count): ("probing", Double(index + 1) / Double(max(count, 1)))
        case .remuxing(let done, let total): ("stitching", Double(done) / Double(max(total, 1)))
        case .finishing: ("finishing", 1)
        }
        let width = 30
        let filled = Int((fraction * Double(width)).rounded())
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        writeToStandardError("\r\(label.prefix(10) + String(repeating: " ", count: max(0, 10 - label.count))) [\(bar)] \(Int(fraction * 100))%")
    }

    func clear() {
        writeToStandardError("\r\u{1B}[K")
    }
}

/// Cancels the stitch task on SIGINT, SIGTERM or SIGHUP (a closed terminal) so the temp file is removed before exit.
final class SignalCancellation {
    private let sources: [DispatchSourceSignal]

    init(task: Task<StitchReport, Error>) {
        sources = [SIGINT, SIGTERM, SIGHUP].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { task.cancel() }
            source.resume()
            return source
        }
    }

    func stop() { sources.forEach { $0.cancel() } }
}
