#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

extension SilentTrack {
    /// The stand-ins of one stitch: temp files holding a chunk's packets beside a silent track, by the path the
    /// stitch reads them from, with the chunk each stands in for and a warning for each. Confined to the stitch.
    final class StandIns {
        private var files: [String: (chunk: String, bytes: Int64, file: TemporaryOutput)] = [:]
        /// One warning per silent track made, naming the chunk.
        private(set) var issues: [StitchIssue] = []

        /// Writes a stand-in for `input` (which lacks the audio of `like`, input `likeIndex`, whose streams have
        /// `parameters`) in `directory` and returns the path to read it from; nil where none can be made (no encoder
        /// for the codec, an unreadable chunk): the validator then refuses the input's layout.
        func write(for input: ProbedInput, index: Int, like first: ProbedInput, likeIndex: Int, parameters: StreamParameters,
                   directory: URL, cancellation: CancellationFlag?, logger: Logger) throws(StitchError) -> String? {
            guard let muxerName = SilentTrack.muxerName(forFileNamed: input.path) else { return nil }
            let chunk = files[input.path]?.chunk ?? input.path
            let file = TemporaryOutput(outputPath: directory.appendingPathComponent(URL(fileURLWithPath: chunk).lastPathComponent).path)
            do {
                try SilentTrack.write(input, first: first, parameters: parameters, to: file.muxerPath, muxerName: muxerName,
                                      cancellation: cancellation)
            } catch {
                file.discard()
                if case .cancelled? = error as? StitchError { throw .cancelled }
                logger.debug("no silent track for \(chunk): \(error)")
                return nil
            }
            files[file.muxerPath] = (chunk, files[input.path]?.bytes ?? input.fileSize, file)
            let seconds = input.masterStreamIndex.flatMap { SilentTrack.videoSeconds(input.streams[$0]) } ?? 0
            for (s, stream) in first.streams.enumerated() where stream.signature.kind == .audio {
                let signature = stream.signature
                let layout = signature.channels == 1 ? "mono" : signature.channels == 2 ? "stereo" : "\(signature.channels) channels"
                issues.append(StitchIssue(
                    severity: .warning, code: .streamLayoutMismatch, inputIndex: index, inputPath: chunk, stream: s,
                    message: "has no sound track, as a renderer may write a silent chunk: \(cFormat("%.3f", seconds)) s of silence "
                        + "stands in for it, encoded like input \(likeIndex + 1)'s (\(signature.codec), \(signature.sampleRate) Hz, \(layout))"))
            }
            return file.muxerPath
        }

        /// Forgets the stand-in read from `path` (its probe failed), removing it and its warnings.
        func drop(_ path: String) {
            guard let standIn = files.removeValue(forKey: path) else { return }
            standIn.file.discard()
            issues.removeAll { $0.inputPath == standIn.chunk }
        }

        /// `report` naming each chunk a stand-in took the place of (and its size), not the stand-in.
        func presenting(_ report: StitchReport) -> StitchReport {
            guard !files.isEmpty else { return report }
            var report = report
            for k in report.inputs.indices {
                if let standIn = files[report.inputs[k].path] { (report.inputs[k].path, report.inputs[k].bytes) = (standIn.chunk, standIn.bytes) }
            }
            for k in report.issues.indices {
                if let path = report.issues[k].inputPath, let chunk = files[path]?.chunk { report.issues[k].inputPath = chunk }
            }
            return report
        }

        /// Removes every stand-in (idempotent).
        func discard() {
            for standIn in files.values { standIn.file.discard() }
            files = [:]
        }
    }
}
