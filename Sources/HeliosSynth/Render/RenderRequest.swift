import Foundation
import HeliosMedia

/// Video codecs the synthetic renderer can encode.
public enum SynthVideoCodec: String, Sendable, Codable, CaseIterable {
    case h264, hevc, vp9, prores, ffv1
}

/// Audio codecs the synthetic renderer can encode (`none` writes no audio stream).
public enum SynthAudioCodec: String, Sendable, Codable, CaseIterable {
    case aac, pcm, opus, none
}

/// One chunk to render: frames [startFrame, startFrame + frameCount) of the synthetic programme.
public struct RenderRequest: Sendable, Codable, Equatable {
    /// Global index of the chunk's first frame.
    public var startFrame: Int
    /// Number of frames in the chunk (at least 1).
    public var frameCount: Int
    /// Integer frame rate; video timestamps use time base 1/fps.
    public var fps: Int
    public var width: Int
    public var height: Int
    public var videoCodec: SynthVideoCodec
    public var audioCodec: SynthAudioCodec
    public var sampleRate: Int
    /// h264/hevc/vp9 only: encode losslessly (x264 qp 0, x265 lossless, vp9 lossless).
    public var lossless: Bool
    /// When true timestamps start at the chunk's global position; by default every chunk starts at 0.
    public var absoluteTimestamps: Bool
    /// Keyframe interval in frames; nil means one second (fps).
    public var gopSize: Int?
    /// The output file; the container comes from its extension (.mp4 .mov .mkv .webm .ts).
    public var output: URL
    /// MP4 only: write fragmented MP4 (`moof`/`tfdt`, no edit lists), as streaming and browser renderers do.
    public var fragmented = false

    public init(startFrame: Int, frameCount: Int, fps: Int = 30, width: Int = 640, height: Int = 360,
                videoCodec: SynthVideoCodec = .h264, audioCodec: SynthAudioCodec = .aac, sampleRate: Int = 48000,
                lossless: Bool = false, absoluteTimestamps: Bool = false, gopSize: Int? = nil, output: URL,
                fragmented: Bool = false) {
        self.startFrame = startFrame
        self.frameCount = frameCount
        self.fps = fps
        self.width = width
        self.height = height
        self.videoCodec = videoCodec
        self.audioCodec = audioCodec
        self.sampleRate = sampleRate
        self.lossless = lossless
        self.absoluteTimestamps = absoluteTimestamps
        self.gopSize = gopSize
        self.output = output
        self.fragmented = fragmented
    }

    /// The libavformat muxer name for the output's extension.
    public var containerFormat: String? {
        switch output.pathExtension.lowercased() {
        case "mp4", "m4v": "mp4"
        case "mov": "mov"
        case "mkv": "matroska"
        case "webm": "webm"
        case "ts": "mpegts"
        default: nil
        }
    }

    /// Checks the request; throws `SynthError.invalidRequest` naming the output and what is wrong.
    public func validate() throws(SynthError) {
        let path = output.path
        func fail(_ reason: String) throws(SynthError) { throw SynthError.invalidRequest(path: path, reason: reason) }
        if containerFormat == nil {
            try fail("unknown container extension '.\(output.pathExtension)' (use .mp4, .mov, .mkv, .webm or .ts)")
        }
        if startFrame < 0 { try fail("start frame \(startFrame) is negative") }
        if frameCount < 1 { try fail("frame count \(frameCount) must be at least 1") }
        if startFrame + frameCount - 1 > BlockCode.maxIndex { try fail("frame index exceeds \(BlockCode.maxIndex)") }
        if fps < 1 || fps > 240 { try fail("fps \(fps) must be in 1...240") }
        if width < 64 || height < 48 || width % 2 != 0 || height % 2 != 0 || width > 7680 || height > 4320 {
            try fail("size \(width)x\(height) must be even and between 64x48 and 7680x4320")
        }
        if audioCodec != .none && (sampleRate < 8000 || sampleRate > 192_000 || sampleRate % Tone.repetitionRate != 0) {
            try fail("sample rate \(sampleRate) must be a multiple of 10 in 8000...192000")
        }
        if audioCodec == .opus && ![8000, 12000, 16000, 24000, 48000].contains(sampleRate) {
            try fail("opus needs a sample rate of 8000, 12000, 16000, 24000 or 48000, not \(sampleRate)")
        }
        if lossless && ![.h264, .hevc, .vp9, .ffv1].contains(videoCodec) {
            try fail("--lossless is not available for \(videoCodec.rawValue)")
        }
        if let gopSize, gopSize < 1 { try fail("gop size \(gopSize) must be at least 1") }
    }
}

/// What a render produced.
public struct RenderSummary: Sendable, Codable, Equatable {
    public var output: URL
    public var videoFrames: Int
    /// Global index of the first audio sample and the number of samples written (0 without audio).
    public var firstSample: Int64
    public var audioSamples: Int
    public var seconds: Double
    /// Frames rendered per second of wall time.
    public var framesPerSecond: Double
}

/// Errors from the synthetic renderer and verifier.
public enum SynthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request or command line is wrong.
    case invalidRequest(path: String, reason: String)
    /// An FFmpeg call failed.
    case ffmpeg(FFmpegError)
    /// A file could not be used: it has no video stream, etc.
    case unusableFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidRequest(let path, let reason): "\(path): \(reason)"
        case .ffmpeg(let error): error.description
        case .unusableFile(let path, let reason): "\(path): \(reason)"
        }
    }
}
