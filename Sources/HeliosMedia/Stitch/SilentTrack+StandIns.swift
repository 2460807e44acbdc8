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
        private var files: [String: (chunk: String, file: TemporaryOutput)] = [:]
        /// One warning per silent track made, naming the chunk.
        private(set) var issues: [StitchIssue] = []

        /// The probe of a stand-in for `input` (input `index`, which lacks `first`'s audio), written in `directory`;
        /// `input` as it is where none can be made (no encoder for the codec, an unreadable chunk): the validator
        /// then refuses its layout.
        func make(for input: ProbedInput, index: Int, first: ProbedInput, reference: inout ProbeReference?, directory: URL,
                  options: StitchOptions, cancellation: CancellationFlag?, logger: Logger) throws(StitchError) -> ProbedInput {
            guard let parameters = reference?.streams, let muxerName = SilentTrack.muxerName(forFileNamed: input.path) else { return input }
            let file = TemporaryOutput(outputPath: directory.appendingPathComponent(URL(fileURLWithPath: input.path).lastPathComponent).path)
            do {
                try SilentTrack.write(input, first: first, parameters: parameters, to: file.muxerPath, muxerName: muxerName,
                                      cancellation: cancellation)
                let filled = try MediaProbe.probeCounting(URL(fileURLWithPath: file.muxerPath), reference: &reference, cancellation: cancellation,
                                                          mode: options.probe, everyMatroska: options.walksEveryMatroska).input
                files[file.muxerPath] = (input.path, file)
                let seconds = input.masterStreamIndex.flatMap { SilentTrack.videoSeconds(input.streams[$0]) } ?? 0
                for (s, stream) in first.streams.enumerated() where stream.signature.kind == .audio {
                    let signature = stream.signature
                    let layout = signature.channels == 1 ? "mono" : signature.channels == 2 ? "stereo" : "\(signature.channels) channels"
                    issues.append(StitchIssue(
                        severity: .warning, code: .streamLayoutMismatch, inputIndex: index, inputPath: input.path, stream: s,
                        message: "has no sound track, as a renderer may write a silent chunk: \(cFormat("%.3f", seconds)) s of silence "
                            + "stands in for it, encoded like input 1's (\(signature.codec), \(signature.sampleRate) Hz, \(layout))"))
                }
                return filled
            } catch {
                if case .cancelled? = error as? StitchError { throw .cancelled }
                file.discard()
                logger.debug("no silent track for \(input.path): \(error)")
                return input
            }
        }

        /// `report` naming each chunk a stand-in took the place of, not the stand-in.
        func presenting(_ report: StitchReport) -> StitchReport {
            guard !files.isEmpty else { return report }
            var report = report
            for k in report.inputs.indices {
                if let chunk = files[report.inputs[k].path]?.chunk { report.inputs[k].path = chunk }
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
