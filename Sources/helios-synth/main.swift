import ArgumentParser
import Foundation
import HeliosSynth

@main
struct HeliosSynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helios-synth",
        abstract: "Render deterministic synthetic video chunks and verify rendered or stitched files.",
        subcommands: [Render.self, Verify.self])
}

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Render frames [S, S+N) of the synthetic programme into one file.")

    @Option(help: "Global index of the first frame.") var startFrame: Int
    @Option(help: "Number of frames.") var frameCount: Int
    @Option(help: "Integer frame rate.") var fps: Int = 30
    @Option(help: "Picture size WIDTHxHEIGHT.") var size: String = "640x360"
    @Option(help: "h264, hevc, vp9, prores or ffv1.") var videoCodec: String = "h264"
    @Option(help: "aac, pcm, opus or none.") var audioCodec: String = "aac"
    @Option(help: "Audio sample rate.") var sampleRate: Int = 48000
    @Option(help: "Keyframe interval in frames (default: fps).") var gop: Int?
    @Flag(help: "Lossless video (h264 qp 0, hevc/vp9 lossless; ffv1 always is).") var lossless = false
    @Flag(help: "Timestamps start at the chunk's global position instead of 0.") var absoluteTimestamps = false
    @Flag(help: "Fragmented MP4 (moof/tfdt, no edit lists), as streaming renderers write it.") var fragmented = false
    @Flag(help: "Print the summary as JSON.") var json = false
    @Option(name: .shortAndLong, help: "Output file; the extension picks the container (.mp4 .mov .mkv .webm .ts).")
    var output: String

    func run() throws {
        SynthRenderer.quietLibraryLogs()
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2 else { throw ValidationError("--size must look like 640x360, not '\(size)'") }
        guard let video = SynthVideoCodec(rawValue: videoCodec) else {
            throw ValidationError("unknown --video-codec '\(videoCodec)' (h264, hevc, vp9, prores, ffv1)")
        }
        guard let audio = SynthAudioCodec(rawValue: audioCodec) else {
            throw ValidationError("unknown --audio-codec '\(audioCodec)' (aac, pcm, opus, none)")
        }
        let request = RenderRequest(
            startFrame: startFrame, frameCount: frameCount, fps: fps, width: parts[0], height: parts[1],
            videoCodec: video, audioCodec: audio, sampleRate: sampleRate, lossless: lossless,
            absoluteTimestamps: absoluteTimestamps, gopSize: gop, output: URL(fileURLWithPath: output), fragmented: fragmented)
        do {
            // A worker that sets HELIOS_PROGRESS_FILE hears how many frames are done (README: "Progress").
            let reporter = ProgressFile(path: ProcessInfo.processInfo.environment["HELIOS_PROGRESS_FILE"])
            let summary = try SynthRenderer.render(request) { reporter.report($0) }
            reporter.report(summary.videoFrames, force: true)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                print("\(output): \(summary.videoFrames) frames from \(startFrame), \(summary.audioSamples) audio samples from \(summary.firstSample), \(String(format: "%.1f", summary.framesPerSecond)) fps")
            }
        } catch {
            FileHandle.standardError.write(Data("helios-synth: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a file's frame indices and audio continuity; exit 0 only if all pass.")

    @Argument(help: "The file to check.") var file: String
    @Option(help: "Number of frames expected.") var expectFrames: Int
    @Option(help: "Global index of the first expected frame.") var startFrame: Int = 0
    @Option(help: "Comma-separated global frame indices where chunks begin, e.g. 30,60.") var boundaries: String?
    @Option(help: "Allowed audio lag/drift in samples (default 0 for PCM, 1024 for lossy codecs).") var audioTolerance: Int?
    @Option(help: "Frame rate, when the container does not carry it exactly.") var fps: Int?
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        SynthRenderer.quietLibraryLogs()
        var marks: [Int] = []
        if let boundaries, !boundaries.isEmpty {
            for part in boundaries.split(separator: ",") {
                guard let value = Int(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--boundaries must be comma-separated frame numbers, not '\(boundaries)'")
                }
                marks.append(value)
            }
        }
        let report: VerifyReport
        do {
            report = try SynthVerifier.verify(url: URL(fileURLWithPath: file), expectFrames: expectFrames,
                                              startFrame: startFrame, boundaries: marks,
                                              audioTolerance: audioTolerance, fps: fps)
        } catch {
            FileHandle.standardError.write(Data("helios-synth: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if !report.passed { throw ExitCode(1) }
    }
}

/// Writes the number of frames done to HELIOS_PROGRESS_FILE, whole (a temporary file renamed over it, so a reader
/// never sees half a number), at most every 100 ms and once at the end.
final class ProgressFile {
    private let path: String?
    private var last = ContinuousClock.now - .seconds(1)

    init(path: String?) { self.path = path.flatMap { $0.isEmpty ? nil : $0 } }

    func report(_ frames: Int, force: Bool = false) {
        guard let path, force || ContinuousClock.now - last >= .milliseconds(100) else { return }
        last = .now
        let temp = path + ".partial"
        guard FileManager.default.createFile(atPath: temp, contents: Data("\(frames)\n".utf8)) else { return }
        if rename(temp, path) != 0 { unlink(temp) }
    }
}
