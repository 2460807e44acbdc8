import CFFmpeg
import Foundation
import HeliosMedia

/// Decodes the video stream of a file and reads the embedded frame index of any frame, sequentially or by
/// seeking. Frame numbers count from the stream's first timestamp in steps of 1/fps. Confined to one task.
public final class VideoFileReader {
    /// The file being read.
    public let url: URL
    /// The stream's frame rate (avg_frame_rate, else r_frame_rate).
    public let frameRate: Rational
    /// The video codec's short name, e.g. `h264`.
    public let codecName: String
    private let demuxer: Demuxer
    private let streamIndex: Int
    private let decoder: Decoder
    private let packet: Packet
    private let frame: Frame
    private let indexReader = FrameIndexReader()
    private let timeBase: AVRational
    private let origin: Int64

    /// Opens `url` and its first video stream.
    public init(url: URL) throws(SynthError) {
        self.url = url
        do {
            let demuxer = try Demuxer(path: url.path, findStreamInfo: true)
            self.demuxer = demuxer
            guard let v = (0..<demuxer.streamCount).first(where: {
                demuxer.stream($0).pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
            }) else { throw SynthError.unusableFile(path: url.path, reason: "no video stream") }
            streamIndex = v
            let stream = demuxer.stream(v)
            decoder = try Decoder(stream: stream, path: url.path)
            packet = try Packet()
            frame = try Frame()
            timeBase = stream.pointee.time_base
            origin = stream.pointee.start_time == AVNoPTS.value ? 0 : stream.pointee.start_time
            let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
            guard rate.num > 0, rate.den > 0 else {
                throw SynthError.unusableFile(path: url.path, reason: "video stream has no frame rate")
            }
            frameRate = Rational(rate.num, rate.den)
            codecName = String(cString: avcodec_get_name(stream.pointee.codecpar.pointee.codec_id))
        } catch {
            throw SynthError(error, path: url.path)
        }
    }

    /// The frame number a stream timestamp falls on.
    func frameNumber(ofTimestamp pts: Int64) -> Int {
        let perFrame = AVRational(num: frameRate.den, den: frameRate.num)
        return Int(av_rescale_q_rnd(pts - origin, timeBase, perFrame,
                                    AVRounding(rawValue: AV_ROUND_NEAR_INF.rawValue | AV_ROUND_PASS_MINMAX.rawValue)))
    }

    /// Seeks to frame `frameNumber` (backward to the keyframe before it, then decoding forward) and returns the
    /// index embedded in that frame (nil when the code is unreadable). Throws when no decoded frame has that
    /// frame number (it is past the end, or the file's timestamps skip it).
    public func index(atFrame frameNumber: Int) throws(SynthError) -> Int? {
        do {
            let perFrame = AVRational(num: frameRate.den, den: frameRate.num)
            let target = origin + av_rescale_q(Int64(frameNumber), perFrame, timeBase)
            try check(av_seek_frame(demuxer.formatContext, Int32(streamIndex), target, AVSEEK_FLAG_BACKWARD),
                      "av_seek_frame", path: url.path)
            decoder.flush()
            var found: Int?? = nil
            try decodeFrames { number, index in
                if number < frameNumber { return true }
                if number == frameNumber { found = .some(index) }
                return false
            }
            guard let result = found else {
                throw SynthError.unusableFile(path: url.path, reason: "seeking to frame \(frameNumber) found no frame with that timestamp")
            }
            return result
        } catch {
            throw SynthError(error, path: url.path)
        }
    }

    /// Decodes every frame from the start and returns (frame number, embedded index) in presentation order.
    public func readAll() throws(SynthError) -> [(frame: Int, index: Int?)] {
        var result: [(frame: Int, index: Int?)] = []
        do {
            try check(avformat_seek_file(demuxer.formatContext, Int32(streamIndex), Int64.min, origin, origin, 0),
                      "avformat_seek_file", path: url.path)
            decoder.flush()
            try decodeFrames { number, index in
                result.append((number, index))
                return true
            }
        } catch {
            throw SynthError.ffmpeg(error)
        }
        return result
    }

    /// Decodes from the current position, calling `body(frameNumber, index)` per frame until it returns false.
    private func decodeFrames(_ body: (Int, Int?) -> Bool) throws(FFmpegError) {
        var going = true
        func receiveAll() throws(FFmpegError) {
            while going, try decoder.receive(into: frame) {
                let number = frame.timestamp.map(frameNumber(ofTimestamp:)) ?? -1
                going = body(number, try indexReader.index(of: frame))
            }
        }
        while going, try demuxer.read(into: packet) {
            guard packet.streamIndex == streamIndex else { continue }
            try decoder.send(packet)
            try receiveAll()
        }
        if going {
            try decoder.send(nil)
            try receiveAll()
        }
    }
}

extension SynthError {
    /// `error` as a SynthError: itself, an FFmpeg failure, or anything else as an unusable file at `path`.
    init(_ error: any Error, path: String) {
        switch error {
        case let error as SynthError: self = error
        case let error as FFmpegError: self = .ffmpeg(error)
        default: self = .unusableFile(path: path, reason: "\(error)")
        }
    }
}
