import Foundation
import HeliosMedia

extension StitchReport {
    /// A few lines for humans: inputs, findings, what was written, and where each boundary put the audio. A
    /// `progressive` merge wrote while the chunks rendered: its time is the job's, not a rate of the stitch.
    func summary(progressive: Bool = false) -> String {
        let seconds = inputs.reduce(0) { $0 + $1.durationSeconds }
        let bytes = inputs.reduce(Int64(0)) { $0 + $1.bytes }
        var lines = ["stitch: \(inputs.count) inputs, \(String(format: "%.3f", seconds)) s, \(Self.megabytes(bytes)), no re-encoding"]
        lines.append(issues.isEmpty ? "  findings: none" : "  findings:")
        lines += issues.map { "    \($0)" }
        if let output {
            lines.append("  wrote \(output.path) (\(output.format), \(Self.megabytes(output.bytes)))"
                         + (progressive ? String(format: " as its chunks completed, over %.3f s", output.elapsedSeconds)
                                        : String(format: " in %.3f s, ", output.elapsedSeconds) + "\(output.rateText) MB/s"))
            for stream in output.streams {
                var line = "  stream \(stream.index) \(stream.kind.rawValue) \(stream.codec): \(stream.packets) packets, "
                    + String(format: "%.3f s", stream.durationSeconds)
                if stream.kind == .video, let frames = output.videoFrames { line += ", \(frames) frames" }
                if let samples = stream.decodedSamples { line += ", \(samples) samples decoded" }
                lines.append(line)
            }
            if let drift = output.decodedAudioDriftSamples, let ms = output.decodedAudioDriftMilliseconds {
                lines.append("  decoded audio minus video: \(drift) samples (\(String(format: "%.2f", ms)) ms)"
                             + (output.avDriftMilliseconds.map { String(format: "; timestamps: %.2f ms", $0) } ?? ""))
            }
        }
        let audio = boundaries.filter { $0.kind == .audio }
        if !audio.isEmpty {
            let placements = audio.map { "\($0.audioDiscontinuitySamples.map(String.init) ?? "-")" }.joined(separator: " ")
            lines.append("  audio at \(audio.count) boundaries, samples from where the video puts it: \(placements)"
                         + "; packets dropped: \(audio.reduce(0) { $0 + $1.droppedPackets })")
        }
        return lines.joined(separator: "\n")
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
