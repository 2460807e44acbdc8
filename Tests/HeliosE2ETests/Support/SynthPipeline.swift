import Foundation
import HeliosMedia
import HeliosOrchestrator
import HeliosRuntime
@testable import HeliosSynth
import Testing

/// One configuration of the pipeline: how the synthetic programme is cut, encoded and contained.
struct PipelineCase: Sendable, CustomTestStringConvertible {
    var label: String
    var totalFrames: Int
    var split: JobPlanner.Split
    var video: SynthVideoCodec
    var audio: SynthAudioCodec
    /// Output extension; picks the container for the chunks and the stitched file.
    var container: String
    var width = 128
    var height = 72
    var fps = 30
    /// `helios-synth render`'s default audio sample rate, which every case uses.
    let sampleRate = 48000
    var lossless = false
    /// Keyframe interval; nil renders one keyframe per second.
    var gop: Int?
    /// Fragmented MP4 chunks (no edit lists).
    var fragmented = false

    var testDescription: String { label }

    /// `helios-synth render` arguments after the frame range, shared by chunk renders and single-pass references.
    var renderOptions: [String] {
        var options = ["--fps", "\(fps)", "--size", "\(width)x\(height)", "--video-codec", video.rawValue, "--audio-codec", audio.rawValue]
        if lossless { options.append("--lossless") }
        if let gop { options += ["--gop", "\(gop)"] }
        if fragmented { options.append("--fragmented") }
        return options
    }

    /// Sizes 1, 2, 3, 1, 2, 3, ... for `count` chunks: uneven, with many 1-frame chunks.
    static func cyclingSizes(_ count: Int) -> [Int] { (0..<count).map { $0 % 3 + 1 } }
}

/// What one pipeline run produced; several assertions may share it.
struct PipelineRun {
    let pipelineCase: PipelineCase
    let directory: URL
    let spec: JobSpec
    /// Chunk outputs in timeline order.
    let chunks: [URL]
    let output: URL
    let report: StitchReport

    /// Global frame indices where a chunk after the first begins.
    var boundaries: [Int] { spec.chunks.dropFirst().map(\.startFrame) }

    /// The boundaries whose audio lag SynthVerifier can measure: a full window (plus the gap it leaves for codec
    /// transients) fits on both sides of the boundary inside the file. Others would fail as "not measurable".
    var measurableBoundaries: [Int] {
        let c = pipelineCase
        let reach = Int64(SynthVerifier.boundaryGap + SynthVerifier.window)
        let end = Tone.firstSample(ofFrame: c.totalFrames, fps: c.fps, sampleRate: c.sampleRate)
        return boundaries.filter { frame in
            let position = Tone.firstSample(ofFrame: frame, fps: c.fps, sampleRate: c.sampleRate)
            return position >= reach && end - position >= reach
        }
    }

    /// The audio discontinuity the stitcher reports at each boundary (samples), in boundary order.
    var stitchedAudioDiscontinuities: [Int64] {
        report.boundaries.filter { $0.kind == .audio }.compactMap(\.audioDiscontinuitySamples)
    }
}

/// One frame as `VideoFileReader.readAll` sees it: its number on the timestamp grid and its embedded index.
struct FrameReading: Sendable {
    var frame: Int
    var index: Int?
}

/// Chunk completions reported by the executor.
actor CompletionLog {
    private(set) var outcomes: [ChunkOutcome] = []
    func add(_ outcome: ChunkOutcome) { outcomes.append(outcome) }
}

/// The whole pipeline in process: `JobPlanner` plans the chunks, `JobExecutor` runs one real `helios-synth render`
/// child process per chunk through `LocalWorkerAdapter`, and `NativeStitcher` stitches the outputs.
enum SynthPipeline {
    static var synth: String { Tool.product("helios-synth") }

    /// The chunk command template `helios job plan --command` would take.
    static func commandTemplate(_ c: PipelineCase) -> String {
        ([synth, "render", "--start-frame", "{start}", "--frame-count", "{count}"] + c.renderOptions + ["-o", "{output}"])
            .map { $0.hasPrefix("{") ? $0 : CommandLineSplitter.quote($0) }
            .joined(separator: " ")
    }

    /// Plans, renders (no retries: a flaky chunk must fail the test) and stitches into `directory/final.EXT`.
    static func run(_ c: PipelineCase, in directory: URL, id: String = "e2e", concurrency: Int = 2,
                    audio: AudioMode = .copy) async throws -> PipelineRun {
        let spec = try JobPlanner(id: id, totalFrames: c.totalFrames, fps: Double(c.fps), width: c.width, height: c.height,
                                  split: c.split, commandTemplate: commandTemplate(c),
                                  outputPattern: "chunks/chunk-{chunk}.\(c.container)").plan()
        let executor = JobExecutor(worker: LocalWorkerAdapter(), validator: MediaProbeValidator(),
                                   retryPolicy: .none, concurrency: concurrency)
        let log = CompletionLog()
        try await executor.runChunks(of: spec, in: directory, skipping: [], onEvent: { _ in },
                                     onChunkCompleted: { await log.add($0) })
        let completed = await log.outcomes.map(\.chunkId)
        #expect(Set(completed) == Set(spec.chunks.map(\.id)) && completed.count == spec.chunks.count,
                "every chunk completes exactly once")
        let chunks = spec.chunks.map { directory.appendingPathComponent($0.outputFile) }
        let output = directory.appendingPathComponent("final.\(c.container)")
        let report = try await NativeStitcher(options: StitchOptions(audio: audio)).stitch(chunks, to: output)
        return PipelineRun(pipelineCase: c, directory: directory, spec: spec, chunks: chunks, output: output, report: report)
    }

    /// Renders the case's whole range in one `helios-synth render` process: the reference a stitch must equal.
    static func renderSinglePass(_ c: PipelineCase, to output: URL) async throws {
        _ = try await Tool.checked(synth, ["render", "--start-frame", "0", "--frame-count", "\(c.totalFrames)"]
                                       + c.renderOptions + ["-o", output.path])
    }
}

extension PipelineRun {
    /// Decodes every frame of the output with SynthVerifier and checks the frame sequence: exactly the planned
    /// number of frames, each carrying the index of its position. Returns the report for the audio checks.
    @discardableResult
    func verifyFrames(sourceLocation: SourceLocation = #_sourceLocation) async throws -> VerifyReport {
        let c = pipelineCase
        let (output, boundaries) = (output, c.audio == .none ? [] : measurableBoundaries)
        let (report, frames) = try await onOwnThread {
            let report = try SynthVerifier.verify(url: output, expectFrames: c.totalFrames, boundaries: boundaries, fps: c.fps)
            // Our decoder wrapper, by timestamps: frame number n (pts on the 1/fps grid) must show index n.
            let frames = try VideoFileReader(url: output).readAll().map { FrameReading(frame: $0.frame, index: $0.index) }
            return (report, frames)
        }
        #expect(report.decodedFrames == c.totalFrames, "\(report.text)", sourceLocation: sourceLocation)
        #expect(report.firstProblem == nil, "\(report.text)", sourceLocation: sourceLocation)
        #expect(report.duplicatedFrames + report.droppedFrames + report.reorderedFrames + report.unreadableFrames
                + report.unexpectedFrames + report.decodeErrors == 0, "\(report.text)", sourceLocation: sourceLocation)
        #expect(report.firstIndex == 0 && report.lastIndex == c.totalFrames - 1, "\(report.text)", sourceLocation: sourceLocation)
        #expect(self.report.output?.videoFrames == Int64(c.totalFrames), "stitch report frame count", sourceLocation: sourceLocation)
        #expect(frames.count == c.totalFrames, sourceLocation: sourceLocation)
        let misplaced = frames.enumerated().filter { $0.element.frame != $0.offset || $0.element.index != $0.offset }
            .map { "position \($0.offset): frame \($0.element.frame), index \($0.element.index.map(String.init) ?? "unreadable")" }
        #expect(misplaced.isEmpty, "frames whose timestamp or embedded index is not their position: \(misplaced.prefix(5))",
                sourceLocation: sourceLocation)
        return report
    }
}

extension PipelineRun {
    /// Frames whose timestamp (ffprobe) is not the first frame's plus k/fps, to within half a tick of the stream's
    /// time base (the best a container with that time base can do), as (frame, error in milliseconds).
    func framesOffTimestampGrid() async throws -> [(frame: Int, milliseconds: Double)] {
        let (timeBase, pts) = try await FFmpegOracle.videoFrameTimestamps(output)
        #expect(pts.count == pipelineCase.totalFrames, "ffprobe decodes every frame")
        guard let first = pts.first else { return [] }
        let tick = Double(timeBase.num) / Double(timeBase.den)
        let fps = Double(pipelineCase.fps)
        return pts.enumerated().compactMap { k, value in
            let error = Double(value - first) * tick - Double(k) / fps
            return abs(error) <= tick / 2 + 1e-9 ? nil : (k, error * 1000)
        }
    }
}
