import CFFmpeg
import CHeliosShims

/// An opened audio decoder that skips nothing: priming, pre-skip and padding are decoded like content
/// (`AV_CODEC_FLAG2_SKIP_MANUAL`), so the caller decides which samples are content (`ExactAudio.cut`).
/// Output is planar float, converted from whatever sample format the decoder produces. Owns its `AVCodecContext`.
final class AudioDecoder {
    private let context: UnsafeMutablePointer<AVCodecContext>
    private let frame: AudioFrame
    let path: String

    init(parameters: UnsafePointer<AVCodecParameters>, timeBase: Rational, path: String) throws(FFmpegError) {
        self.path = path
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw FFmpegError(code: helios_averror_decoder_not_found(), function: "avcodec_find_decoder", path: path)
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(code: -ENOMEM, function: "avcodec_alloc_context3", path: path)
        }
        context = ctx
        frame = try AudioFrame()
        try check(avcodec_parameters_to_context(ctx, parameters), "avcodec_parameters_to_context", path: path)
        ctx.pointee.pkt_timebase = timeBase.av
        ctx.pointee.flags2 |= AV_CODEC_FLAG2_SKIP_MANUAL
        try check(avcodec_open2(ctx, codec, nil), "avcodec_open2", path: path)
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
    }

    var channels: Int { Int(context.pointee.ch_layout.nb_channels) }

    /// Decodes `packet` (nil drains) and appends every sample it yields to `planes`, one array per channel.
    /// Returns the number of samples appended.
    @discardableResult
    func decode(_ packet: Packet?, into planes: inout [[Float]]) throws(FFmpegError) -> Int64 {
        let sent = avcodec_send_packet(context, packet?.pointer)
        if sent != AV.eof { try check(sent, "avcodec_send_packet", path: path) }
        var produced: Int64 = 0
        while true {
            let code = avcodec_receive_frame(context, frame.pointer)
            if code == AV.eagain || code == AV.eof { break }
            try check(code, "avcodec_receive_frame", path: path)
            produced += try Self.append(frame.pointer, to: &planes, path: path)
            av_frame_unref(frame.pointer)
        }
        return produced
    }

    /// Appends a decoded frame's samples as planar floats.
    private static func append(_ frame: UnsafeMutablePointer<AVFrame>, to planes: inout [[Float]], path: String) throws(FFmpegError) -> Int64 {
        let count = Int(frame.pointee.nb_samples)
        let channels = Int(frame.pointee.ch_layout.nb_channels)
        if planes.count != channels { planes = Array(repeating: [], count: channels) }
        let format = AVSampleFormat(rawValue: frame.pointee.format)
        let planar = av_sample_fmt_is_planar(format) != 0
        guard let data = frame.pointee.extended_data else { return 0 }
        func read<T>(_ type: T.Type, _ convert: (T) -> Float) {
            for c in 0..<channels {
                let base = UnsafeRawPointer(data[planar ? c : 0]!).assumingMemoryBound(to: T.self)
                let stride = planar ? 1 : channels, offset = planar ? 0 : c
                // No reserveCapacity here: reserving the exact size on every frame would defeat the array's
                // geometric growth and copy the whole chunk once per frame.
                for n in 0..<count { planes[c].append(convert(base[n * stride + offset])) }
            }
        }
        switch format {
        case AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT: read(Float.self) { $0 }
        case AV_SAMPLE_FMT_DBLP, AV_SAMPLE_FMT_DBL: read(Double.self) { Float($0) }
        case AV_SAMPLE_FMT_S16P, AV_SAMPLE_FMT_S16: read(Int16.self) { Float($0) / 32768 }
        case AV_SAMPLE_FMT_S32P, AV_SAMPLE_FMT_S32: read(Int32.self) { Float(Double($0) / 2147483648) }
        default:
            throw FFmpegError(code: helios_averror_patchwelcome(), function: "decoded sample format \(format.rawValue)", path: path)
        }
        return Int64(count)
    }
}
