import Foundation

/// Builds a job spec by cutting the timeline into chunks and filling a command template for each.
///
/// Template placeholders: `{start}` (first frame), `{count}` (frames), `{end}` (last frame, inclusive),
/// `{output}` (the chunk's output file), `{chunk}` (chunk index, from 0). The output-name pattern
/// accepts `{chunk}` (zero-padded to the width of the last index), `{start}` and `{end}`.
public struct JobPlanner: Sendable {
    /// How to cut the timeline.
    public enum Split: Sendable, Hashable {
        /// Chunks of this many frames (the last may be shorter).
        case framesPerChunk(Int)
        /// This many chunks of near-equal size (sizes differ by at most one frame).
        case chunkCount(Int)
        /// Chunks of exactly these sizes, in timeline order; they must add up to the total frames.
        /// For renderers whose natural cut points are uneven (scene changes, fixed shots).
        case chunkSizes([Int])
    }

    public var id: String
    public var totalFrames: Int
    public var fps: Double
    public var width: Int
    public var height: Int
    public var split: Split
    public var commandTemplate: String
    public var outputPattern: String
    public var mergeCommand: String?
    public var assetsUrl: String?

    public init(id: String, totalFrames: Int, fps: Double, width: Int, height: Int, split: Split,
                commandTemplate: String, outputPattern: String = "chunks/chunk-{chunk}.mp4", mergeCommand: String? = nil, assetsUrl: String? = nil) {
        self.id = id
        self.totalFrames = totalFrames
        self.fps = fps
        self.width = width
        self.height = height
        self.split = split
        self.commandTemplate = commandTemplate
        self.outputPattern = outputPattern
        self.mergeCommand = mergeCommand
        self.assetsUrl = assetsUrl
    }

    /// The spec; throws `OrchestratorError.invalidSpec` listing every problem.
    public func plan() throws -> JobSpec {
        var problems: [String] = []
        let maxFrames = JobSpec.maximumFrames, maxChunks = JobSpec.maximumChunks
        let framesOK = totalFrames > 0 && totalFrames <= maxFrames
        if totalFrames <= 0 { problems.append("total frames must be positive (is \(totalFrames))") }
        else if totalFrames > maxFrames { problems.append("total frames \(totalFrames) exceed the limit of \(maxFrames)") }
        switch split {
        case .framesPerChunk(let n) where n <= 0: problems.append("chunk size must be positive (is \(n))")
        case .framesPerChunk(let n):
            // Division only: no product or sum that could overflow.
            let count = framesOK ? totalFrames / n + (totalFrames % n == 0 ? 0 : 1) : 0
            if count > maxChunks { problems.append("chunk size \(n) cuts \(totalFrames) frames into \(count) chunks; the limit is \(maxChunks)") }
        case .chunkCount(let n) where n <= 0: problems.append("chunk count must be positive (is \(n))")
        case .chunkCount(let n) where n > maxChunks: problems.append("chunk count \(n) exceeds the limit of \(maxChunks)")
        case .chunkCount(let n) where framesOK && n > totalFrames:
            problems.append("chunk count \(n) exceeds total frames \(totalFrames)")
        case .chunkCount: break
        case .chunkSizes(let sizes) where sizes.isEmpty: problems.append("chunk sizes are empty")
        case .chunkSizes(let sizes) where sizes.count > maxChunks: problems.append("\(sizes.count) chunk sizes exceed the limit of \(maxChunks) chunks")
        case .chunkSizes(let sizes):
            if let bad = sizes.firstIndex(where: { $0 <= 0 || $0 > maxFrames }) {
                problems.append("chunk size at position \(bad) must be positive and at most \(maxFrames) (is \(sizes[bad]))")
            } else if framesOK {
                // At most maxChunks sizes of at most maxFrames each: the sum fits easily.
                let sum = sizes.reduce(0, +)
                if sum != totalFrames { problems.append("chunk sizes add up to \(sum), not the total frames \(totalFrames)") }
            }
        }
        if !outputPattern.contains("{chunk}") && !outputPattern.contains("{start}") {
            problems.append("output pattern '\(outputPattern)' must contain {chunk} or {start} so chunk outputs differ")
        }
        if commandTemplate.trimmingCharacters(in: .whitespaces).isEmpty { problems.append("command template is empty") }
        guard problems.isEmpty else { throw OrchestratorError.invalidSpec(jobId: id, problems: problems) }

        let ranges = Self.ranges(totalFrames: totalFrames, split: split)
        let digits = String(ranges.count - 1).count
        var chunks: [RenderJobChunk] = []
        chunks.reserveCapacity(ranges.count)
        for (index, range) in ranges.enumerated() {
            let padded = String(repeating: "0", count: max(0, digits - String(index).count)) + String(index)
            let output = fill(outputPattern, ["chunk": padded, "start": "\(range.lowerBound)", "end": "\(range.upperBound - 1)"])
            let command = fill(commandTemplate, [
                "start": "\(range.lowerBound)", "count": "\(range.count)", "end": "\(range.upperBound - 1)",
                "output": CommandLineSplitter.quote(output), "chunk": "\(index)",
            ])
            chunks.append(RenderJobChunk(id: "chunk-\(padded)", startFrame: range.lowerBound, frameCount: range.count,
                                         outputFile: output, command: command))
        }
        let spec = JobSpec(id: id, assetsUrl: assetsUrl, metadata: JobMetadata(totalFrames: totalFrames, fps: fps, width: width, height: height),
                           chunks: chunks, mergeCommand: mergeCommand)
        try spec.validate()
        return spec
    }

    /// Contiguous frame ranges covering `0..<totalFrames`.
    static func ranges(totalFrames: Int, split: Split) -> [Range<Int>] {
        switch split {
        case .framesPerChunk(let size):
            return stride(from: 0, to: totalFrames, by: size).map { $0..<($0 + min(size, totalFrames - $0)) }
        case .chunkCount(let count):
            let base = totalFrames / count, extra = totalFrames % count
            var start = 0
            return (0..<count).map { i in
                let length = base + (i < extra ? 1 : 0)
                defer { start += length }
                return start..<(start + length)
            }
        case .chunkSizes(let sizes):
            var start = 0
            return sizes.map { length in
                defer { start += length }
                return start..<(start + length)
            }
        }
    }

    private func fill(_ template: String, _ values: [String: String]) -> String {
        var out = template
        for (key, value) in values { out = out.replacingOccurrences(of: "{\(key)}", with: value) }
        return out
    }
}
