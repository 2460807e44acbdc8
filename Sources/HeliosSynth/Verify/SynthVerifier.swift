import CFFmpeg
import Foundation
import HeliosMedia

/// Decodes a rendered or stitched file and checks it against the synthetic programme.
public enum SynthVerifier {
    /// Samples per lag-measurement window, and the gap left on each side of a boundary (codec transients).
    static let window = 2048
    static let boundaryGap = 1024

    /// Decodes every video frame and all audio of `url` and checks that the embedded indices are exactly
    /// startFrame..<startFrame+expectFrames in order, and that the audio tone is continuous: near the start, the
    /// end and around each boundary (global frame indices that begin a chunk) its lag is within `audioTolerance`
    /// samples (nil: 0 for PCM, 1024 for lossy codecs), as is the end drift between audio and video durations.
    /// `fps` overrides the stream's frame rate when the container does not carry it exactly.
    public static func verify(url: URL, expectFrames: Int, startFrame: Int = 0, boundaries: [Int] = [],
                              audioTolerance: Int? = nil, fps: Int? = nil) throws(SynthError) -> VerifyReport {
        let path = url.path
        guard expectFrames >= 1, startFrame >= 0 else {
            throw SynthError.invalidRequest(path: path, reason: "expected frames must be >= 1 and start frame >= 0")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw SynthError.unusableFile(path: path, reason: "no such file")
        }
        let decoded: DecodedFile
        do {
            decoded = try DecodedFile(path: path)
        } catch {
            throw SynthError.ffmpeg(error)
        }
        guard let video = decoded.videoCodec else { throw SynthError.unusableFile(path: path, reason: "no video stream") }
        let frameRate = fps ?? decoded.fps
        guard frameRate > 0 else {
            throw SynthError.unusableFile(path: path, reason: "cannot tell the frame rate; pass fps")
        }
        let analysis = FrameSequence.analyze(decoded.indices, startFrame: startFrame, expected: expectFrames)
        let readable = decoded.indices.compactMap { $0 }
        var report = VerifyReport(
            file: path, passed: false, startFrame: startFrame, expectedFrames: expectFrames,
            decodedFrames: decoded.indices.count, videoCodec: video,
            duplicatedFrames: analysis.duplicated, droppedFrames: analysis.dropped,
            reorderedFrames: analysis.reordered, unreadableFrames: analysis.unreadable,
            unexpectedFrames: analysis.unexpected, decodeErrors: decoded.decodeErrors,
            firstProblem: analysis.firstProblem, firstIndex: readable.first, lastIndex: readable.last,
            audio: nil, failures: [])
        if let p = analysis.firstProblem {
            report.failures.append("frame \(p.position): \(p.kind.rawValue) (expected \(p.expectedIndex.map(String.init) ?? "none"), found \(p.foundIndex.map(String.init) ?? "none"))")
        }
        if decoded.decodeErrors > 0 { report.failures.append("\(decoded.decodeErrors) packets failed to decode") }
        if let codec = decoded.audioCodec {
            let tolerance = audioTolerance ?? (codec.hasPrefix("pcm") ? 0 : 1024)
            let audio = analyzeAudio(decoded.samples, codec: codec, sampleRate: decoded.sampleRate,
                                     startFrame: startFrame, frames: decoded.indices.count, fps: frameRate,
                                     boundaries: boundaries, tolerance: tolerance)
            report.audio = audio
            report.failures += audioFailures(audio)
        } else if !boundaries.isEmpty {
            report.failures.append("boundaries given but the file has no audio stream")
        }
        report.passed = report.failures.isEmpty
        return report
    }

    static func analyzeAudio(_ samples: [Float], codec: String, sampleRate sr: Int, startFrame: Int, frames: Int,
                             fps: Int, boundaries: [Int], tolerance: Int) -> AudioReport {
        let n0 = Tone.firstSample(ofFrame: startFrame, fps: fps, sampleRate: sr)
        let expected = Int(Tone.firstSample(ofFrame: startFrame + frames, fps: fps, sampleRate: sr) - n0)
        func lag(_ start: Int) -> Int? {
            guard start >= 0, start + window <= samples.count else { return nil }
            return Tone.estimateLag(window: Array(samples[start..<(start + window)]),
                                    expectedFirst: n0 + Int64(start), sampleRate: sr)
        }
        let edge = min(boundaryGap, max(0, (samples.count - window) / 2))
        let reports = boundaries.map { frame -> BoundaryReport in
            let position = Int(Tone.firstSample(ofFrame: frame, fps: fps, sampleRate: sr) - n0)
            let before = lag(position - boundaryGap - window), after = lag(position + boundaryGap)
            let jump = before.flatMap { b in after.map { $0 - b } }
            return BoundaryReport(frame: frame, samplePosition: position, lagBefore: before, lagAfter: after, discontinuity: jump)
        }
        let drift = samples.count - expected
        return AudioReport(codec: codec, sampleRate: sr, decodedSamples: samples.count, expectedSamples: expected,
                           driftSamples: drift, driftMilliseconds: Double(drift) * 1000 / Double(sr),
                           startLag: lag(edge), endLag: lag(samples.count - window - edge),
                           boundaries: reports, tolerance: tolerance)
    }

    static func audioFailures(_ a: AudioReport) -> [String] {
        var failures: [String] = []
        if abs(a.driftSamples) > a.tolerance {
            failures.append("audio/video drift \(a.driftSamples) samples (\(a.driftMilliseconds) ms) exceeds \(a.tolerance)")
        }
        if let s = a.startLag, abs(s) > a.tolerance { failures.append("audio starts \(s) samples off") }
        if a.startLag == nil { failures.append("audio start lag not measurable (silent or too short)") }
        if let e = a.endLag, abs(e) > a.tolerance { failures.append("audio ends \(e) samples off") }
        for b in a.boundaries {
            guard let d = b.discontinuity else {
                failures.append("boundary at frame \(b.frame): audio lag not measurable around sample \(b.samplePosition)")
                continue
            }
            if abs(d) > a.tolerance { failures.append("boundary at frame \(b.frame): audio discontinuity \(d) samples") }
        }
        return failures
    }
}

/// One pass over a file: the embedded index of each video frame and channel 0 of the audio.
final class DecodedFile {
    var indices: [Int?] = []
    var samples: [Float] = []
    var decodeErrors = 0
    var videoCodec: String?
    var audioCodec: String?
    var sampleRate = 0
    var fps = 0

    init(path: String) throws(FFmpegError) {
        let demuxer = try Demuxer(path: path, findStreamInfo: true)
        var video: (index: Int, decoder: Decoder)?
        var audio: (index: Int, decoder: Decoder)?
        for i in 0..<demuxer.streamCount {
            let stream = demuxer.stream(i)
            let par = stream.pointee.codecpar.pointee
            if par.codec_type == AVMEDIA_TYPE_VIDEO && video == nil {
                video = (i, try Decoder(stream: stream, path: path))
                videoCodec = String(cString: avcodec_get_name(par.codec_id))
                let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
                if rate.den > 0 && rate.num % rate.den == 0 { fps = Int(rate.num / rate.den) }
            } else if par.codec_type == AVMEDIA_TYPE_AUDIO && audio == nil {
                audio = (i, try Decoder(stream: stream, path: path))
                audioCodec = String(cString: avcodec_get_name(par.codec_id))
                sampleRate = Int(par.sample_rate)
            }
        }
        let packet = try Packet()
        let frame = try Frame()
        let reader = FrameIndexReader()
        func drain(_ decoder: Decoder, isVideo: Bool) throws(FFmpegError) {
            while true {
                let got: Bool
                do { got = try decoder.receive(into: frame) } catch { decodeErrors += 1; return }
                guard got else { return }
                if isVideo { indices.append(try reader.index(of: frame)) } else { samples += frame.channelZeroSamples() }
            }
        }
        while try demuxer.read(into: packet) {
            let target = packet.streamIndex == video?.index ? video : packet.streamIndex == audio?.index ? audio : nil
            guard let target else { continue }
            do { try target.decoder.send(packet) } catch { decodeErrors += 1 }
            try drain(target.decoder, isVideo: target.index == video?.index)
        }
        for target in [video, audio].compactMap({ $0 }) {
            try target.decoder.send(nil)
            try drain(target.decoder, isVideo: target.index == video?.index)
        }
    }
}
