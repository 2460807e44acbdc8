import CHeliosShims
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Logging

extension SilentTrack {
    /// The stand-ins of one stitch: temp files holding a chunk's packets beside a silent track, by the path the
    /// stitch reads them from, with the chunk each stands in for and a warning for each. Confined to the stitch.
    final class StandIns {
        private var files: [String: (chunk: String, bytes: Int64, file: TemporaryOutput)] = [:]
        /// One warning per silent track made, naming the chunk.
        private(set) var issues: [StitchIssue] = []
        /// The stand-ins whose sound is silence alone (a chunk without sound of its own).
        private var silent: Set<String> = []

        /// Whether the stand-in read from `path` holds silence alone: the chunk it stands in for has no sound.
        func isSilent(_ path: String) -> Bool { silent.contains(path) }

        /// Writes a stand-in for `input` (which lacks the audio of `like`, input `likeIndex`, whose streams have
        /// `parameters`) in `directory` and returns the path to read it from; nil where none can be made (no encoder
        /// for the codec, an unreadable chunk): the validator then refuses the input's layout.
        func write(for input: ProbedInput, index: Int, like first: ProbedInput, likeIndex: Int, parameters: StreamParameters,
                   directory: URL, cancellation: CancellationFlag?, logger: Logger) throws(StitchError) -> String? {
            let seconds = input.masterStreamIndex.flatMap { SilentTrack.videoSeconds(input.streams[$0]) } ?? 0
            let track = input.streams.contains { $0.signature.kind == .audio } ? "an empty" : "no"
            let warnings = first.streams.enumerated().filter { $0.element.signature.kind == .audio }.map { s, stream in
                (s, "has \(track) sound track, as a renderer may write a silent chunk: \(cFormat("%.3f", seconds)) s of silence "
                    + "stands in for it, encoded like input \(likeIndex + 1)'s (\(Self.describe(stream.signature)))", IssueCode.streamLayoutMismatch)
            }
            let made = try make(for: input, index: index, directory: directory, warnings: warnings, cancellation: cancellation, logger: logger) { path, muxerName in
                try SilentTrack.write(input, first: first, parameters: parameters, to: path, muxerName: muxerName, cancellation: cancellation)
            }
            if let made { silent.insert(made) }
            return made
        }

        /// Writes a stand-in for `input` whose sound starts after its picture (`heads`; the chunk before it has none,
        /// or it is the first) with silence before its sound, in `directory`, and returns the path to read it from;
        /// nil where none can be made: the validator then reports the gap and the drift.
        func write(for input: ProbedInput, index: Int, heads: [LateHead], directory: URL, cancellation: CancellationFlag?,
                   logger: Logger) throws(StitchError) -> String? {
            let warnings = heads.map { head in
                let stream = input.streams[head.stream].signature
                let seconds = cFormat("%.3f", Double(head.samples) / Double(max(stream.sampleRate, 1)))
                let before = index == 0 ? "and it is the first chunk" : "and the chunk before it has none"
                return (head.stream, "its sound starts \(seconds) s after its picture, \(before), as where a soundtrack that starts late "
                    + "begins (offset timestamps, as -itsoffset writes): \(seconds) s of silence comes before it, encoded like its sound "
                    + "(\(Self.describe(stream)))", IssueCode.avDrift)
            }
            return try make(for: input, index: index, directory: directory, warnings: warnings, cancellation: cancellation, logger: logger) { path, muxerName in
                try SilentTrack.write(input, heads: heads, to: path, muxerName: muxerName, cancellation: cancellation)
            }
        }

        /// Writes a stand-in for `input` whose sound ends before its picture (`tails`; the chunk after it has none, or
        /// it `isLast`) with silence after its sound, in `directory`, and returns the path to read it from; nil where none can be
        /// made (no encoder for the codec): the validator then reports the drift.
        func write(for input: ProbedInput, index: Int, tails: [ShortTail], isLast: Bool, directory: URL, cancellation: CancellationFlag?,
                   logger: Logger) throws(StitchError) -> String? {
            let warnings = tails.map { tail in
                let stream = input.streams[tail.stream].signature
                let seconds = cFormat("%.3f", Double(tail.samples) / Double(max(stream.sampleRate, 1)))
                let after = isLast ? "and it is the last chunk" : "and the chunk after it has none"
                return (tail.stream, "its sound ends \(seconds) s before its picture, \(after), as where a soundtrack shorter than the video "
                    + "ends: \(seconds) s of silence follows it, encoded like its sound (\(Self.describe(stream)))", IssueCode.avDrift)
            }
            return try make(for: input, index: index, directory: directory, warnings: warnings, cancellation: cancellation, logger: logger) { path, muxerName in
                try SilentTrack.write(input, tails: tails, to: path, muxerName: muxerName, cancellation: cancellation)
            }
        }

        /// Codec, rate and layout, for a warning.
        private static func describe(_ signature: CodecSignature) -> String {
            let layout = signature.channels == 1 ? "mono" : signature.channels == 2 ? "stereo" : "\(signature.channels) channels"
            return "\(signature.codec), \(signature.sampleRate) Hz, \(layout)"
        }

        /// Writes a stand-in for `input` with `body` (given the temp file's path and the muxer for the chunk's
        /// container) beside `directory`'s files and records it with `warnings` (stream, message, code); nil where
        /// `body` fails for any reason but cancellation and the file system refusing the stand-in's bytes (a full
        /// disk, a file size limit): the output beside it would be refused too, so that is the stitch's error
        /// (`outputFailed`), not the layout or drift the chunk would be refused for without its stand-in.
        private func make(for input: ProbedInput, index: Int, directory: URL, warnings: [(Int, String, IssueCode)],
                          cancellation: CancellationFlag?, logger: Logger, _ body: (String, String) throws -> Void) throws(StitchError) -> String? {
            guard let muxerName = SilentTrack.muxerName(forFileNamed: input.path) else { return nil }
            let chunk = files[input.path]?.chunk ?? input.path
            let file = TemporaryOutput(outputPath: directory.appendingPathComponent(URL(fileURLWithPath: chunk).lastPathComponent).path)
            do {
                try body(file.muxerPath, muxerName)
            } catch {
                file.discard()
                if case .cancelled? = error as? StitchError { throw .cancelled }
                if let refused = error as? FFmpegError, refused.path == file.muxerPath, Self.refusesWrites(refused.code) {
                    throw .outputFailed(path: directory.path, reason: "the stand-in for \(chunk) (its packets beside silence) could not be "
                        + "written there: \(refused.function): \(refused.message)")
                }
                logger.debug("no stand-in for \(chunk): \(error)")
                return nil
            }
            files[file.muxerPath] = (chunk, files[input.path]?.bytes ?? input.fileSize, file)
            for (stream, message, code) in warnings {
                issues.append(StitchIssue(severity: .warning, code: code, inputIndex: index, inputPath: chunk, stream: stream, message: message))
            }
            return file.muxerPath
        }

        /// Whether `code` is the file system refusing bytes: no space, over a size limit or quota, read-only, an I/O error.
        static func refusesWrites(_ code: Int32) -> Bool {
            [ENOSPC, EFBIG, EDQUOT, EROFS, EIO].contains { helios_averror($0) == code }
        }

        /// Forgets the stand-in read from `path` (its probe failed), removing it and its warnings.
        func drop(_ path: String) {
            silent.remove(path)
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
            silent = []
        }
    }
}
