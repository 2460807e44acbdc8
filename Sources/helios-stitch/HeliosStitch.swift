import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CHeliosShims
import HeliosMedia
import Logging

/// `helios-stitch`: concatenate rendered chunks without re-encoding, after checking they fit together.
@main
struct HeliosStitch: AsyncParsableCommand {
    /// Parses like ArgumentParser does, but exits 2 (our documented usage code) on a usage error instead of 64.
    static func main() async {
        helios_skip_teardown_at_exit()
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand { try await command.run() } else { try command.run() }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                writeToStandardError(fullMessage(for: error) + "\n")
                Self.exitProcess(2)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "helios-stitch",
        abstract: "Stitch video chunks into one file without re-encoding, after validating they fit together.",
        discussion: """
        Exit codes: 0 stitched (or, with --check, valid); 1 inputs incompatible or discontinuous; \
        2 usage error (bad arguments, output exists without --force, output is an input or not a regular file, \
        an input given twice without --allow-repeat); \
        3 input/output error (missing, unreadable, damaged or non-media input; unwritable output); \
        130 interrupted (SIGINT, SIGTERM, SIGHUP). With --json every error is printed as JSON on stdout.
        """,
        version: HeliosVersion.line(for: "helios-stitch")
    )

    @Argument(help: "Chunk files, in order.")
    var inputs: [String] = []

    @Option(name: .shortAndLong, help: "Output file; the container comes from its extension unless --format is given.")
    var output: String?

    @Option(help: "A file listing one input path per line (blank lines and lines starting with # are skipped).")
    var list: String?

    @Option(help: "Output container: mp4, mov, matroska, webm, mpegts.")
    var format: String?

    @Flag(help: "Validate and print the report; write nothing.")
    var check = false

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @Flag(help: "Put the index at the front for progressive playback: MP4/MOV/M4A in one pass, Matroska/WebM Cues by a rewrite; MPEG-TS has none.")
    var faststart = false

    @Flag(help: "Skip the fsync before the output takes its name (scratch outputs): faster, but a power cut may lose the file.")
    var noSync = false

    @Option(help: .hidden)
    var probe: ProbeMode = .index

    /// The smallest MP4/MOV input whose payloads go to the output inside the kernel, in bytes, or `off` (benchmarks
    /// and the fuzz suite; see `StitchOptions.kernelCopyMinimumInputBytes`).
    @Option(help: .hidden)
    var kernelCopyMinimum: String?

    /// The smallest inputs probed two at a time, in bytes, or `off` (the fuzz suite; see
    /// `StitchOptions.concurrentProbeMinimumInputBytes`).
    @Option(help: .hidden)
    var concurrentProbeMinimum: String?

    /// Walks every Matroska input's block headers however small (the fuzz suite; see `StitchOptions.walksEveryMatroska`).
    @Flag(help: .hidden)
    var walkEveryMatroska = false

    @Flag(help: "Replace an existing output file.")
    var force = false

    @Option(help: "Audio placement: copy (default; packets copied, within half a frame of the video at every boundary) or exact (decode, cut every chunk to its video span sample-exactly, encode once; video still copied).")
    var audio: AudioMode = .copy

    @Flag(help: "Accept the same file more than once among the inputs.")
    var allowRepeat = false

    @Flag(help: "Report timestamp-continuity findings as warnings instead of refusing. Codec and layout mismatches still fail.")
    var lenient = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and the JSON report with --json).")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Log what the stitcher does on stderr.")
    var verbose = false

    mutating func run() async throws {
        var paths = inputs
        var raw = RawPaths.invalidArguments()
        if let list {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: list))
                paths += RawPaths.listed(in: data, base: URL(fileURLWithPath: list).deletingLastPathComponent().path, raw: &raw)
            } catch {
                fail("cannot read list \(list): \(RawPaths.describe(error))", code: 3, errorCode: "unreadable-input", path: list)
            }
        }
        if let output, raw[output] != nil {
            fail("output name \(output) is not valid UTF-8; it would be written under another name", code: 2, usage: true)
        }
        // Inputs whose names are not UTF-8 are opened by their bytes and read through /proc/self/fd.
        for (index, path) in paths.enumerated() {
            guard let bytes = raw[path] else { continue }
            switch RawPaths.open(bytes) {
            case .success(let alias):
                RawPaths.aliases.withLock { $0[alias] = path }
                paths[index] = alias
            case .failure(let error):
                let reason = error.code == .ENOENT ? "no such file" : error.code == .EACCES ? "permission denied" : String(cString: strerror(error.code.rawValue))
                fail("\(path): \(reason)", code: 3, errorCode: "unreadable-input", path: path)
            }
        }
        if paths.isEmpty { fail("no inputs given", code: 2, usage: true) }
        guard check || output != nil else { fail("missing -o OUTPUT (or use --check)", code: 2, usage: true) }
        let outputURL = URL(fileURLWithPath: output ?? "check.\(format ?? URL(fileURLWithPath: paths[0]).pathExtension)")

        let verbose = self.verbose
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            // FFmpeg's own lines (label helios.ffmpeg) are debug messages: shown with --verbose only.
            handler.logLevel = verbose ? .debug : .error
            return handler
        }
        var logger = Logger(label: "helios.stitch")
        logger.logLevel = verbose ? .debug : .error
        let bar: ProgressBar? = (!quiet && isatty(STDERR_FILENO) == 1) ? ProgressBar() : nil
        var onProgress: (@Sendable (StitchProgress) -> Void)?
        if let bar { onProgress = { bar.update($0) } }
        var options = StitchOptions(format: format, faststart: faststart, force: force, lenient: lenient, checkOnly: check,
                                    audio: audio, allowRepeat: allowRepeat, sync: !noSync, probe: probe)
        if let kernelCopyMinimum {
            guard kernelCopyMinimum == "off" || Int64(kernelCopyMinimum).map({ $0 >= 0 }) == true else {
                throw ValidationError("--kernel-copy-minimum takes a byte count or 'off', not '\(kernelCopyMinimum)'")
            }
            options.kernelCopyMinimumInputBytes = Int64(kernelCopyMinimum)
        }
        if let concurrentProbeMinimum {
            guard concurrentProbeMinimum == "off" || Int64(concurrentProbeMinimum).map({ $0 >= 0 }) == true else {
                throw ValidationError("--concurrent-probe-minimum takes a byte count or 'off', not '\(concurrentProbeMinimum)'")
            }
            options.concurrentProbeMinimumInputBytes = Int64(concurrentProbeMinimum)
        }
        options.walksEveryMatroska = walkEveryMatroska
        let stitcher = NativeStitcher(
            options: options,
            logger: logger,
            progress: onProgress
        )
        let task = Task { [paths] in try await stitcher.stitch(paths: paths, to: outputURL) }
        let signals = SignalCancellation(task: task)
        defer { signals.stop() }
        do {
            let report = try await task.value
            bar?.clear()
            emit(report)
            if faststart, !quiet, let output = report.output, output.faststart == nil {
                writeToStandardError("helios-stitch: warning: --faststart left \(output.format) as it is: it has no index to move to the front\n")
            }
        } catch let error as StitchError {
            bar?.clear()
            var hint: String?
            if case .invalidInputs(let report) = error {
                let errors = report.issues.filter { $0.severity == .error }
                if !lenient, !errors.isEmpty, errors.allSatisfy({ $0.code.isContinuity }) {
                    hint = "every error is about timing; --lenient stitches anyway, keeping each chunk's timestamps "
                        + "(sources with a variable frame rate need it)"
                }
                if json {
                    emit(report)
                    fail(error.description, code: error.exitCode, asJSON: false, hint: hint)
                }
            }
            fail(error.description, code: error.exitCode, errorCode: error.code, path: error.path, retryable: error.isRetryable, hint: hint)
        }
    }

    private func emit(_ report: StitchReport) {
        if json {
            // Printed a piece at a time: the text of a 10,000-input report is 12 MB, and held whole with its copies
            // it took the stitch's peak from 61 to 81 MiB.
            try? report.writeJSON(formatting: [.prettyPrinted, .withoutEscapingSlashes]) { piece in
                print(RawPaths.shown(String(decoding: piece, as: UTF8.self)), terminator: "")
            }
            print()
        } else if !quiet {
            print(RawPaths.shown(ReportFormatter.summary(report, checkOnly: check)))
        }
    }

    /// Prints the error (and a hint, if any) on stderr (and, with --json, as `{"error": {...}}` on stdout) and exits
    /// with `code`.
    private func fail(_ message: String, code: Int32, usage: Bool = false, errorCode: String? = nil, path: String? = nil,
                      retryable: Bool = false, asJSON: Bool = true, hint: String? = nil) -> Never {
        let message = RawPaths.shown(message), path = path.map(RawPaths.shown)
        writeToStandardError("helios-stitch: error: \(message)\n")
        if let hint { writeToStandardError("helios-stitch: hint: \(hint)\n") }
        if usage { writeToStandardError("Usage: helios-stitch [options] INPUT... -o OUTPUT (see --help)\n") }
        if json && asJSON {
            let error = CLIError(code: errorCode ?? (usage ? "usage" : "error"), message: message, exitCode: code, path: path, retryable: retryable)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(["error": error]), let text = String(data: data, encoding: .utf8) { print(text) }
        }
        Self.exitProcess(code)
    }

    /// Ends the process with `code` (ArgumentParser's `exit(withError:)` covers errors it knows).
    static func exitProcess(_ code: Int32) -> Never { Glibc.exit(code) }
}

extension AudioMode: ExpressibleByArgument {}
extension ProbeMode: ExpressibleByArgument {}

/// The JSON shape of an error with `--json`.
struct CLIError: Encodable {
    var code: String
    var message: String
    var exitCode: Int32
    var path: String?
    var retryable: Bool
}
