import Foundation

extension JobSpec {
    /// Every problem with this spec, in a stable order; empty when the spec is valid.
    ///
    /// Total on any input: every frame number is range-checked against `JobSpec.maximumFrames` before any
    /// arithmetic, so no value (up to `Int.max`) can overflow.
    public func problems() -> [String] {
        var problems: [String] = []
        let limits = JobSpec.self
        if !JobID.isValid(id) {
            problems.append("job id '\(id)' must be 1-128 characters of [A-Za-z0-9._-] and not '.' or '..'")
        }
        if metadata.totalFrames <= 0 { problems.append("metadata.totalFrames must be positive (is \(metadata.totalFrames))") }
        else if metadata.totalFrames > limits.maximumFrames {
            problems.append("metadata.totalFrames \(metadata.totalFrames) exceeds the limit of \(limits.maximumFrames) frames")
        }
        if !(metadata.fps > 0) || !metadata.fps.isFinite || metadata.fps > limits.maximumFPS {
            problems.append("metadata.fps must be positive and at most \(Int(limits.maximumFPS)) (is \(metadata.fps))")
        }
        if metadata.width <= 0 || metadata.height <= 0 || metadata.width > limits.maximumDimension || metadata.height > limits.maximumDimension {
            problems.append("metadata size must be positive and at most \(limits.maximumDimension) on each side (is \(metadata.width)x\(metadata.height))")
        }
        if chunks.isEmpty { problems.append("job has no chunks") }
        if chunks.count > limits.maximumChunks {
            problems.append("job has \(chunks.count) chunks; the limit is \(limits.maximumChunks)")
        }

        var seenIds: Set<String> = []
        var seenOutputs: [String: (id: String, path: String)] = [:]
        for chunk in chunks {
            let name = "chunk '\(chunk.id)'"
            if chunk.id.isEmpty { problems.append("a chunk has an empty id") }
            else if !seenIds.insert(chunk.id).inserted { problems.append("\(name): duplicate chunk id") }
            if chunk.frameCount <= 0 { problems.append("\(name): frameCount must be positive (is \(chunk.frameCount))") }
            else if chunk.frameCount > limits.maximumFrames {
                problems.append("\(name): frameCount \(chunk.frameCount) exceeds the limit of \(limits.maximumFrames) frames")
            }
            if chunk.startFrame < 0 { problems.append("\(name): startFrame must not be negative (is \(chunk.startFrame))") }
            else if chunk.startFrame > limits.maximumFrames {
                problems.append("\(name): startFrame \(chunk.startFrame) exceeds the limit of \(limits.maximumFrames) frames")
            }
            if chunk.command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                problems.append("\(name): command is empty")
            } else {
                do { _ = try CommandLineSplitter.split(chunk.command) } catch {
                    problems.append("\(name): command cannot be parsed: \(error)")
                }
            }
            switch OutputPath.normalize(chunk.outputFile) {
            case .failure(let problem):
                problems.append("\(name): outputFile '\(chunk.outputFile)' \(problem)")
            case .success(let normal):
                // Compared in normal form: `chunks/a.mp4`, `chunks//a.mp4` and `./chunks/a.mp4` are one file.
                if let other = seenOutputs[normal] {
                    problems.append("\(name): outputFile '\(chunk.outputFile)' is the same file as the output of chunk '\(other.id)' ('\(other.path)')")
                } else {
                    seenOutputs[normal] = (chunk.id, chunk.outputFile)
                }
            }
        }
        // An output that is a directory on the path of another output cannot be both.
        for chunk in chunks {
            guard case .success(let normal) = OutputPath.normalize(chunk.outputFile) else { continue }
            for ancestor in OutputPath.ancestors(of: normal) {
                if let other = seenOutputs[ancestor] {
                    problems.append("chunk '\(chunk.id)': outputFile '\(chunk.outputFile)' is inside the output file of chunk '\(other.id)' ('\(other.path)')")
                }
            }
        }

        // Frame coverage: sorted by start, ranges must tile 0..<totalFrames exactly. Only chunks whose numbers are
        // within the limits take part (the others are already reported), so `start + count` cannot overflow.
        let inRange = { (chunk: RenderJobChunk) in
            chunk.frameCount > 0 && chunk.frameCount <= limits.maximumFrames && chunk.startFrame >= 0 && chunk.startFrame <= limits.maximumFrames
        }
        let ranges = chunks.filter(inRange).sorted { ($0.startFrame, $0.id) < ($1.startFrame, $1.id) }
        var next = 0
        for chunk in ranges {
            let end = chunk.startFrame + chunk.frameCount
            if chunk.startFrame > next {
                problems.append("frames \(next)..<\(chunk.startFrame) are not covered by any chunk (gap before chunk '\(chunk.id)')")
            } else if chunk.startFrame < next {
                problems.append("chunk '\(chunk.id)': frames \(chunk.startFrame)..<\(min(end, next)) overlap the previous chunk")
            }
            next = max(next, end)
        }
        if metadata.totalFrames > 0 && metadata.totalFrames <= limits.maximumFrames && ranges.count == chunks.count {
            if next < metadata.totalFrames && !ranges.isEmpty {
                problems.append("frames \(next)..<\(metadata.totalFrames) are not covered by any chunk")
            } else if next > metadata.totalFrames {
                problems.append("chunks cover frames up to \(next) but metadata.totalFrames is \(metadata.totalFrames)")
            }
        }
        if zip(chunks, chunks.dropFirst()).contains(where: { $0.startFrame > $1.startFrame }) {
            problems.append("chunks must be listed in timeline order (by startFrame)")
        }
        return problems
    }

    /// Throws `OrchestratorError.invalidSpec` listing every problem at once.
    public func validate() throws {
        let problems = problems()
        if !problems.isEmpty { throw OrchestratorError.invalidSpec(jobId: id, problems: problems) }
    }
}

/// Rules for job identifiers, shared by specs and repositories.
public enum JobID {
    /// True when `id` is 1...128 characters of `[A-Za-z0-9._-]` and not `.` or `..`.
    public static func isValid(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), id != ".", id != ".." else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
    }
}
