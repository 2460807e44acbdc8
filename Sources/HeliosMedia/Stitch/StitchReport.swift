#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How serious a finding is. Errors stop the stitch.
public enum IssueSeverity: String, Codable, Sendable, Hashable {
    case warning, error
}

/// What kind of finding it is; the raw value is stable for scripts.
public enum IssueCode: String, Codable, Sendable, Hashable {
    case noInputs = "no-inputs"
    case noStreams = "no-streams"
    case streamLayoutMismatch = "stream-layout-mismatch"
    case codecMismatch = "codec-mismatch"
    case timeBaseMismatch = "time-base-mismatch"
    case firstPacketNotKeyframe = "first-packet-not-keyframe"
    case missingTimestamps = "missing-timestamps"
    case nonIncreasingDts = "non-increasing-dts"
    case ptsBeforeDts = "pts-before-dts"
    case corruptPackets = "corrupt-packets"
    case emptyStream = "empty-stream"
    case discontinuity = "discontinuity"
    case frameDurationMismatch = "frame-duration-mismatch"
    case irregularFrameDuration = "irregular-frame-duration"
    case avDrift = "av-drift"
    case unsupportedByContainer = "unsupported-by-container"
    /// Audio a remux cannot lay end to end (Vorbis, ALAC in Matroska), whatever the output.
    case unsupportedCodec = "unsupported-codec"
    case outputDtsNotIncreasing = "output-dts-not-increasing"
    /// Video frames before the start an input's edit list gives (decoded, never shown), which no output can hide
    /// between other inputs' frames.
    case hiddenFrames = "hidden-frames"

    /// Continuity findings may be downgraded to warnings with `--lenient`; the rest never are.
    public var isContinuity: Bool {
        switch self {
        case .discontinuity, .irregularFrameDuration, .avDrift: true
        default: false
        }
    }
}

/// One finding of validation.
public struct StitchIssue: Codable, Sendable, Hashable, CustomStringConvertible {
    public var severity: IssueSeverity
    public var code: IssueCode
    /// Index of the input concerned, when one is.
    public var inputIndex: Int?
    /// Path of that input.
    public var inputPath: String?
    /// Stream index concerned, when one is.
    public var stream: Int?
    public var message: String

    public init(severity: IssueSeverity, code: IssueCode, inputIndex: Int? = nil, inputPath: String? = nil, stream: Int? = nil, message: String) {
        self.severity = severity
        self.code = code
        self.inputIndex = inputIndex
        self.inputPath = inputPath
        self.stream = stream
        self.message = message
    }

    public var description: String {
        var where_ = ""
        if let inputIndex {
            where_ = "input \(inputIndex + 1)"
            if let inputPath { where_ += " (\(inputPath))" }
        }
        if let stream { where_ += where_.isEmpty ? "stream \(stream)" : ", stream \(stream)" }
        return "\(severity.rawValue): \(where_.isEmpty ? "" : where_ + ": ")\(message) [\(code.rawValue)]"
    }
}

/// What happened at one boundary between two inputs, for one stream (counts in 4 bytes, the widest fields first: 40
/// bytes, two for each input of a stitch).
public struct BoundaryReport: Codable, Sendable, Hashable {
    /// Gap (positive) or overlap (negative) in the inputs' own timelines, in stream ticks and milliseconds.
    public var gapTicks: Int64
    public var gapMilliseconds: Double
    /// Audio: where the next input's first sample was placed minus where the video says it belongs, in samples.
    @OptionalTicks public var audioDiscontinuitySamples: Int64?
    /// The boundary between input `index - 1` and input `index` (1-based input numbering in messages).
    @Count32 public var index: Int
    @Count32 public var stream: Int
    /// Audio packets dropped at this boundary (priming of the next input, padding of the previous).
    @Count32 public var droppedPackets: Int
    public var kind: MediaKind

    public init(index: Int, stream: Int, kind: MediaKind, gapTicks: Int64, gapMilliseconds: Double,
                audioDiscontinuitySamples: Int64?, droppedPackets: Int) {
        (self.index, self.stream, self.kind, self.gapTicks, self.gapMilliseconds) = (index, stream, kind, gapTicks, gapMilliseconds)
        (self.audioDiscontinuitySamples, self.droppedPackets) = (audioDiscontinuitySamples, droppedPackets)
    }

    private enum CodingKeys: String, CodingKey {
        case index, stream, kind, gapTicks, gapMilliseconds, audioDiscontinuitySamples, droppedPackets
    }
}

/// Per stream summary of one input.
public struct InputStreamSummary: Codable, Sendable, Hashable {
    public var index: Int
    public var kind: MediaKind
    public var codec: String
    public var timeBase: Rational
    public var startTicks: Int64
    public var endTicks: Int64
    public var durationSeconds: Double
    public var packets: Int
    /// Video frames, or audio samples.
    public var frames: Int64
}

/// Summary of one input.
public struct InputSummary: Codable, Sendable, Hashable {
    public var path: String
    public var format: String
    public var bytes: Int64
    public var durationSeconds: Double
    public var streams: [InputStreamSummary]
}

/// Per stream summary of the output.
public struct OutputStreamSummary: Codable, Sendable, Hashable {
    public var index: Int
    public var kind: MediaKind
    public var codec: String
    public var timeBase: Rational
    public var packets: Int
    public var durationTicks: Int64
    public var durationSeconds: Double
    /// Audio only: samples a decoder produces playing every packet back to back.
    public var decodedSamples: Int64?
}

/// The output written.
public struct OutputSummary: Codable, Sendable, Hashable {
    public var path: String
    public var format: String
    public var bytes: Int64
    public var streams: [OutputStreamSummary]
    public var videoFrames: Int64?
    /// Audio end minus video end on the output's timestamps, in milliseconds.
    public var avDriftMilliseconds: Double?
    /// Decoded audio samples played back to back minus the video duration, in samples and milliseconds.
    public var decodedAudioDriftSamples: Int64?
    public var decodedAudioDriftMilliseconds: Double?
    public var elapsedSeconds: Double
    public var megabytesPerSecond: Double
    /// `megabytesPerSecond` for people: whole MB/s from 10 up, one decimal from 1, two below (a small output's
    /// 0.17 MB/s is not "0").
    public var rateText: String {
        cFormat(megabytesPerSecond >= 10 ? "%.0f" : megabytesPerSecond >= 1 ? "%.1f" : "%.2f", megabytesPerSecond)
    }
    /// How compressed audio was placed (`copy` or `exact`); nil in reports written before the option existed.
    public var audioMode: AudioMode? = nil
    /// Per re-encoded audio stream with `--audio exact`: what was cut and what it cost.
    public var exactAudio: [ExactAudioSummary]? = nil
    /// Whether the file was fsynced before it took its name (false with `--no-sync`).
    public var synced: Bool? = nil
    /// With `--faststart` into MP4/MOV, Matroska or WebM: how the index came to the front (nil otherwise).
    public var faststart: FaststartMethod? = nil
    /// Payload bytes that went from an input to the output inside the kernel (`copy_file_range`), never read into
    /// memory: H.264, HEVC and AAC from MP4/MOV inputs into MP4/MOV (nil when none did).
    public var bytesCopiedInKernel: Int64? = nil
}

/// How `--faststart` put an MP4/MOV index in front of the media data.
public enum FaststartMethod: String, Codable, Sendable, Hashable {
    /// In one pass: space reserved at the front from the probed packet counts, the index written into it.
    case reserved
    /// The file read back and shifted behind the index: MP4/MOV whose reserved space was too small (written again),
    /// and Matroska and WebM, whose Cues the muxer moves to the front this way.
    case rewritten
}

/// Everything a stitch found and did. Stable JSON for scripts.
public struct StitchReport: Codable, Sendable, Hashable {
    public var inputs: [InputSummary]
    public var boundaries: [BoundaryReport]
    public var issues: [StitchIssue]
    /// Nil when nothing was written (`checkOnly`, or validation failed).
    public var output: OutputSummary?

    /// True when no issue is an error.
    public var isValid: Bool { !issues.contains { $0.severity == .error } }
}

/// One audio stream re-encoded by `--audio exact`.
public struct ExactAudioSummary: Codable, Sendable, Hashable {
    /// The output stream's index.
    public var stream: Int
    /// The encoder that wrote it (`aac`, `libopus`, `libvorbis`).
    public var encoder: String
    /// The bit rate asked of the encoder, in bits per second (libvorbis is given the quality of about that rate).
    public var bitRate: Int64
    /// Samples encoded: the video's duration times the sample rate.
    public var samples: Int64
    /// Per input: where its video starts relative to its audio content, in samples (0 when they start together).
    public var videoOffsetSamples: [Int64]
    /// Per input: samples of its share that had no audio content and were written as silence.
    public var silentSamples: [Int64]
    /// Seconds spent decoding and encoding, and seconds of audio encoded per second of that.
    public var codingSeconds: Double
    public var audioSecondsPerSecond: Double
}
