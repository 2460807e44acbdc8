import Foundation

extension JobSpec {
    /// Every problem with this spec, in a stable order; empty when the spec is valid.
    public func problems() -> [String] {
        var problems: [String] = []
        if !JobID.isValid(id) {
            problems.append("job id '\(id)' must be 1-128 characters of [A-Za-z0-9._-] and not '.' or '..'")
        }
        if metadata.totalFrames <= 0 { problems.append("metadata.totalFrames must be positive (is \(metadata.totalFrames))") }
        if !(metadata.fps > 0) { problems.append("metadata.fps must be positive (is \(metadata.fps))") }
        if metadata.width <= 0 || metadata.height <= 0 {
            problems.append("metadata size must be positive (is \(metadata.width)x\(metadata.height))")
        }
        if chunks.isEmpty { problems.append("job has no chunks") }

        var seenIds: Set<String> = []
        var seenOutputs: [String: String] = [:]
        for chunk in chunks {
            let name = "chunk '\(chunk.id)'"
            if chunk.id.isEmpty { problems.append("a chunk has an empty id") }
            else if !seenIds.insert(chunk.id).inserted { problems.append("\(name): duplicate chunk id") }
            if chunk.frameCount <= 0 { problems.append("\(name): frameCount must be positive (is \(chunk.frameCount))") }
            if chunk.startFrame < 0 { problems.append("\(name): startFrame must not be negative (is \(chunk.startFrame))") }
            if chunk.command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                problems.append("\(name): command is empty")
            } else {
                do { _ = try CommandLineSplitter.split(chunk.command) } catch {
                    problems.append("\(name): command cannot be parsed: \(error)")
                }
            }
            if let reason = Self.outputPathProblem(chunk.outputFile) {
                problems.append("\(name): outputFile '\(chunk.outputFile)' \(reason)")
            } else if let other = seenOutputs[chunk.outputFile] {
                problems.append("\(name): outputFile '\(chunk.outputFile)' is also the output of chunk '\(other)'")
            } else {
                seenOutputs[chunk.outputFile] = chunk.id
            }
        }

        // Frame coverage: sorted by start, ranges must tile 0..<totalFrames exactly.
        let ranges = chunks.filter { $0.frameCount > 0 }.sorted { ($0.startFrame, $0.id) < ($1.startFrame, $1.id) }
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
        if metadata.totalFrames > 0 {
            if next < metadata.totalFrames && !ranges.isEmpty {
                problems.append("frames \(next)..<\(metadata.totalFrames) are not covered by any chunk")
            } else if next > metadata.totalFrames {
                problems.append("chunks cover frames up to \(next) but metadata.totalFrames is \(metadata.totalFrames)")
            }
        }
        if chunks.map(\.startFrame) != chunks.map(\.startFrame).sorted() {
            problems.append("chunks must be listed in timeline order (by startFrame)")
        }
        return problems
    }

    /// Throws `OrchestratorError.invalidSpec` listing every problem at once.
    public func validate() throws {
        let problems = problems()
        if !problems.isEmpty { throw OrchestratorError.invalidSpec(jobId: id, problems: problems) }
    }

    /// Why `path` is not an acceptable output path inside the job directory, or nil.
    static func outputPathProblem(_ path: String) -> String? {
        if path.isEmpty { return "is empty" }
        if path.hasPrefix("/") || path.hasPrefix("~") { return "must be relative to the job directory" }
        if path.contains("\0") { return "contains a NUL byte" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains("..") { return "must not contain '..'" }
        if parts.last == "" || parts.last == "." { return "must name a file" }
        return nil
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
