import CFFmpeg
import CHeliosShims

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
        guard let codec = Self.encoder(for: codecID) else {
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
        if codecID == AV_CODEC_ID_VORBIS {
            // libvorbis refuses average bit rates outside a range that depends on the rate and layout (32 kb/s mono at
            // 48 kHz is the least it takes; a quiet chunk measures less): its quality scale always opens. About the
            // same bit rate: quality 0 is about 32 kb/s a channel, each step about 8 kb/s more.
            let perChannel = Double(bitRate) / Double(max(layout.nb_channels, 1))
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
            ctx.pointee.global_quality = Int32((min(max((perChannel - 32_000) / 8_000, 0), 10) * Double(FF_QP2LAMBDA)).rounded())
        }
        ctx.pointee.time_base = AVRational(num: 1, den: sampleRate)
        ctx.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        try check(avcodec_open2(ctx, codec, nil), "avcodec_open2(\(String(cString: codec.pointee.name)))", path: path)
    }

    /// The encoder for `codecID`: libopus and libvorbis rather than FFmpeg's experimental native Opus and Vorbis
    /// encoders (the native Vorbis one is not taken at all), LAME for MP3, FFmpeg's own for the rest.
    private static func encoder(for codecID: AVCodecID) -> UnsafePointer<AVCodec>? {
        switch codecID {
        case AV_CODEC_ID_OPUS: avcodec_find_encoder_by_name("libopus") ?? avcodec_find_encoder(codecID)
        case AV_CODEC_ID_VORBIS: avcodec_find_encoder_by_name("libvorbis")
        case AV_CODEC_ID_MP3: avcodec_find_encoder_by_name("libmp3lame") ?? avcodec_find_encoder(codecID)
        default: avcodec_find_encoder(codecID)
        }
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
    }

    /// Samples per frame the encoder takes (every frame but the last).
    var frameSize: Int { context.pointee.frame_size > 0 ? Int(context.pointee.frame_size) : 1024 }

    /// Samples of priming the encoder puts before the first sample it is given (AAC 1024, Opus pre-skip 312).
    var initialPadding: Int64 { Int64(context.pointee.initial_padding) }

    /// Whether the decoder drops the priming itself, without a container's say (Vorbis: its first packet only starts
    /// the overlap of its blocks).
    var primesItself: Bool { context.pointee.codec_id == AV_CODEC_ID_VORBIS }

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
