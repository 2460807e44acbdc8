import CFFmpeg
import CHeliosShims

/// Owns one `AVFrame`; freed on deinit. Confined to the task that created it.
final class AudioFrame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(FFmpegError) {
        guard let frame = av_frame_alloc() else { throw FFmpegError(code: -ENOMEM, function: "av_frame_alloc") }
        pointer = frame
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }
}

/// Owns one `AVCodecParameters`; freed on deinit.
final class CodecParametersBox {
    let pointer: UnsafeMutablePointer<AVCodecParameters>

    init() throws(FFmpegError) {
        guard let p = avcodec_parameters_alloc() else { throw FFmpegError(code: -ENOMEM, function: "avcodec_parameters_alloc") }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecParameters>? = pointer
        avcodec_parameters_free(&p)
    }
}

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
                planes[c].reserveCapacity(planes[c].count + count)
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

/// An opened audio encoder fed planar floats; converts to the sample format it takes (float or 16-bit, planar or
/// interleaved). Owns its `AVCodecContext`.
final class AudioEncoder {
    private let context: UnsafeMutablePointer<AVCodecContext>
    private let frame: AudioFrame
    let path: String
    /// Samples handed to the encoder so far (the next frame's pts, in 1/sampleRate).
    private(set) var samplesSent: Int64 = 0

    /// Opens the encoder for `codecID` at the given rate, layout and bit rate. `globalHeader`: the container
    /// wants the codec configuration in the stream header (MP4, Matroska).
    init(codecID: AVCodecID, sampleRate: Int32, layout: AVChannelLayout, bitRate: Int64, globalHeader: Bool,
         path: String) throws(FFmpegError) {
        self.path = path
        // libopus rather than FFmpeg's experimental native Opus encoder.
        let codec = codecID == AV_CODEC_ID_OPUS ? (avcodec_find_encoder_by_name("libopus") ?? avcodec_find_encoder(codecID))
                                                : avcodec_find_encoder(codecID)
        guard let codec else {
            throw FFmpegError(code: helios_averror_encoder_not_found(), function: "avcodec_find_encoder", path: path)
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(code: -ENOMEM, function: "avcodec_alloc_context3", path: path)
        }
        context = ctx
        frame = try AudioFrame()
        ctx.pointee.sample_rate = sampleRate
        var source = layout
        if source.order == AV_CHANNEL_ORDER_UNSPEC {
            // A count without positions (some containers): the default layout for that many channels.
            av_channel_layout_default(&ctx.pointee.ch_layout, source.nb_channels)
        } else {
            try check(av_channel_layout_copy(&ctx.pointee.ch_layout, &source), "av_channel_layout_copy", path: path)
        }
        ctx.pointee.sample_fmt = Self.sampleFormat(for: codec)
        ctx.pointee.bit_rate = bitRate
        ctx.pointee.time_base = AVRational(num: 1, den: sampleRate)
        ctx.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        try check(avcodec_open2(ctx, codec, nil), "avcodec_open2(\(String(cString: codec.pointee.name)))", path: path)
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
    }

    /// Samples per frame the encoder takes (every frame but the last).
    var frameSize: Int { context.pointee.frame_size > 0 ? Int(context.pointee.frame_size) : 1024 }

    /// Samples of priming the encoder puts before the first sample it is given (AAC 1024, Opus pre-skip 312).
    var initialPadding: Int64 { Int64(context.pointee.initial_padding) }

    /// The encoder's name, e.g. `aac` or `libopus`.
    var name: String { String(cString: context.pointee.codec.pointee.name) }

    /// The opened encoder's parameters (extradata, priming as `initial_padding`), for the muxer's stream.
    func parameters() throws(FFmpegError) -> CodecParametersBox {
        let p = try CodecParametersBox()
        try check(avcodec_parameters_from_context(p.pointer, context), "avcodec_parameters_from_context", path: path)
        return p
    }

    /// The first sample format the encoder takes among planar float, float, 16-bit planar and 16-bit.
    private static func sampleFormat(for codec: UnsafePointer<AVCodec>) -> AVSampleFormat {
        var supported: [AVSampleFormat] = []
        if var p = codec.pointee.sample_fmts {
            while p.pointee != AV_SAMPLE_FMT_NONE { supported.append(p.pointee); p += 1 }
        }
        let preferred = [AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_S16P, AV_SAMPLE_FMT_S16]
        return preferred.first { supported.contains($0) } ?? supported.first ?? AV_SAMPLE_FMT_FLTP
    }

    /// Encodes `count` samples of `planes` starting at `start` as one frame (count ≤ frameSize), then hands
    /// every packet the encoder has ready to `emit`.
    func encode(_ planes: [[Float]], start: Int, count: Int, emit: (Packet) throws -> Void) throws {
        let f = frame.pointer
        av_frame_unref(f)
        f.pointee.nb_samples = Int32(count)
        f.pointee.format = context.pointee.sample_fmt.rawValue
        f.pointee.sample_rate = context.pointee.sample_rate
        try check(av_channel_layout_copy(&f.pointee.ch_layout, &context.pointee.ch_layout), "av_channel_layout_copy", path: path)
        try check(av_frame_get_buffer(f, 0), "av_frame_get_buffer", path: path)
        let format = context.pointee.sample_fmt
        let planar = av_sample_fmt_is_planar(format) != 0
        let channels = Int(context.pointee.ch_layout.nb_channels)
        func write<T>(_ type: T.Type, _ convert: (Float) -> T) {
            for c in 0..<channels {
                let base = UnsafeMutableRawPointer(f.pointee.extended_data[planar ? c : 0]!).assumingMemoryBound(to: T.self)
                let stride = planar ? 1 : channels, offset = planar ? 0 : c
                let plane = planes[min(c, planes.count - 1)]
                for n in 0..<count { base[n * stride + offset] = convert(plane[start + n]) }
            }
        }
        if format == AV_SAMPLE_FMT_FLTP || format == AV_SAMPLE_FMT_FLT {
            write(Float.self) { $0 }
        } else {
            write(Int16.self) { Int16(max(-32768, min(32767, ($0 * 32768).rounded()))) }
        }
        f.pointee.pts = samplesSent
        samplesSent += Int64(count)
        try check(avcodec_send_frame(context, f), "avcodec_send_frame", path: path)
        try drain(emit)
    }

    /// Flushes the encoder: its last packets go to `emit`.
    func finish(emit: (Packet) throws -> Void) throws {
        let code = avcodec_send_frame(context, nil)
        if code != AV.eof { try check(code, "avcodec_send_frame", path: path) }
        try drain(emit)
    }

    private func drain(_ emit: (Packet) throws -> Void) throws {
        while true {
            let packet = try Packet()
            let code = avcodec_receive_packet(context, packet.pointer)
            if code == AV.eagain || code == AV.eof { return }
            try check(code, "avcodec_receive_packet", path: path)
            try emit(packet)
        }
    }
}
