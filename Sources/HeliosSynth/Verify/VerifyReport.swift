/// What kind of sequence error a frame shows.
public enum FrameProblemKind: String, Sendable, Codable {
    /// The expected index never appears: frames are missing.
    case dropped
    /// The index was already seen.
    case duplicated
    /// The expected index appears, but later: frames are out of order.
    case reordered
    /// The block code could not be read.
    case unreadable
    /// An index outside the expected range, or frames beyond the expected count.
    case unexpected
}

/// The first frame whose embedded index is not the expected one.
public struct FrameProblem: Sendable, Codable, Equatable {
    /// Position of the frame in presentation order, counting from 0.
    public var position: Int
    public var kind: FrameProblemKind
    /// The index that should be there (startFrame + position); nil past the expected count.
    public var expectedIndex: Int?
    /// The index read from the frame; nil when unreadable or missing (file too short).
    public var foundIndex: Int?
}

/// Audio continuity measured around one chunk boundary.
public struct BoundaryReport: Sendable, Codable, Equatable {
    /// The global frame index that starts the next chunk.
    public var frame: Int
    /// The boundary's position in the decoded audio, in samples from the start of the file.
    public var samplePosition: Int
    /// Lag (samples; content position minus expected position) in a window just before and just after.
    public var lagBefore: Int?
    public var lagAfter: Int?
    /// lagAfter - lagBefore; 0 for a seamless join. Nil when a window could not be measured.
    public var discontinuity: Int?
}

/// The audio checks.
public struct AudioReport: Sendable, Codable, Equatable {
    public var codec: String
    public var sampleRate: Int
    /// Samples decoded (channel 0), after the decoder applied priming/padding trims.
    public var decodedSamples: Int
    /// Samples the decoded video duration calls for: floor((S+frames)*sr/fps) - floor(S*sr/fps).
    public var expectedSamples: Int
    /// decodedSamples - expectedSamples, in samples and milliseconds.
    public var driftSamples: Int
    public var driftMilliseconds: Double
    /// Lag of the tone near the start and near the end of the file (samples).
    public var startLag: Int?
    public var endLag: Int?
    public var boundaries: [BoundaryReport]
    /// The tolerance the checks used, in samples.
    public var tolerance: Int
}

/// The result of `SynthVerifier.verify`.
public struct VerifyReport: Sendable, Codable, Equatable {
    public var file: String
    /// True only when every frame and audio check passed.
    public var passed: Bool
    public var startFrame: Int
    public var expectedFrames: Int
    public var decodedFrames: Int
    public var videoCodec: String
    /// Frames whose index appeared before.
    public var duplicatedFrames: Int
    /// Indices in [startFrame, startFrame + expectedFrames) never seen.
    public var droppedFrames: Int
    /// Frames showing an index lower than one already shown (and not a duplicate).
    public var reorderedFrames: Int
    public var unreadableFrames: Int
    /// Frames with an index outside the expected range.
    public var unexpectedFrames: Int
    /// Packets the decoder rejected.
    public var decodeErrors: Int
    public var firstProblem: FrameProblem?
    public var firstIndex: Int?
    public var lastIndex: Int?
    /// Nil when the file has no audio stream.
    public var audio: AudioReport?
    /// Human-readable reasons for failure; empty when passed.
    public var failures: [String]

    /// A short multi-line summary.
    public var text: String {
        var lines = ["\(file): \(passed ? "PASS" : "FAIL")",
                     "video \(videoCodec): \(decodedFrames) frames decoded, expected \(expectedFrames) from index \(startFrame)"
                         + " (indices \(firstIndex.map(String.init) ?? "-")...\(lastIndex.map(String.init) ?? "-"))",
                     "  duplicated \(duplicatedFrames), dropped \(droppedFrames), reordered \(reorderedFrames), "
                         + "unreadable \(unreadableFrames), unexpected \(unexpectedFrames), decode errors \(decodeErrors)"]
        if let p = firstProblem {
            lines.append("  first problem at frame \(p.position): \(p.kind.rawValue), expected \(p.expectedIndex.map(String.init) ?? "-"), found \(p.foundIndex.map(String.init) ?? "-")")
        }
        if let a = audio {
            lines.append("audio \(a.codec) \(a.sampleRate) Hz: \(a.decodedSamples) samples, expected \(a.expectedSamples), drift \(a.driftSamples) samples (\(a.driftMilliseconds) ms), start lag \(a.startLag.map(String.init) ?? "-"), end lag \(a.endLag.map(String.init) ?? "-"), tolerance \(a.tolerance)")
            for b in a.boundaries {
                lines.append("  boundary at frame \(b.frame) (sample \(b.samplePosition)): lag \(b.lagBefore.map(String.init) ?? "-") -> \(b.lagAfter.map(String.init) ?? "-"), discontinuity \(b.discontinuity.map(String.init) ?? "unmeasured")")
            }
        } else {
            lines.append("audio: none")
        }
        lines += failures.map { "  failure: \($0)" }
        return lines.joined(separator: "\n")
    }
}

/// Pure analysis of a decoded index sequence.
public enum FrameSequence {
    public struct Analysis: Sendable, Equatable {
        public var duplicated = 0, dropped = 0, reordered = 0, unreadable = 0, unexpected = 0
        public var firstProblem: FrameProblem?
    }

    /// Compares `found` (indices in presentation order, nil = unreadable) with startFrame..<startFrame+expected.
    public static func analyze(_ found: [Int?], startFrame: Int, expected: Int) -> Analysis {
        var a = Analysis()
        let range = startFrame..<(startFrame + expected)
        var seen = Set<Int>()
        var highest = Int.min
        for value in found {
            guard let idx = value else { a.unreadable += 1; continue }
            if !range.contains(idx) { a.unexpected += 1; continue }
            if seen.contains(idx) { a.duplicated += 1; continue }
            if idx < highest { a.reordered += 1 }
            seen.insert(idx)
            highest = max(highest, idx)
        }
        a.dropped = expected - seen.count
        for position in 0..<max(found.count, expected) {
            let want = position < expected ? startFrame + position : nil
            let got = position < found.count ? found[position] : nil
            if position < found.count, got == want { continue }
            let kind: FrameProblemKind
            if position >= found.count {
                kind = .dropped
            } else if let g = got {
                if !range.contains(g) || want == nil { kind = .unexpected }
                else if found[..<position].contains(g) { kind = .duplicated }
                else if let w = want, found[(position + 1)...].contains(w) { kind = .reordered }
                else { kind = .dropped }
            } else {
                kind = .unreadable
            }
            a.firstProblem = FrameProblem(position: position, kind: kind, expectedIndex: want, foundIndex: got)
            break
        }
        return a
    }
}
