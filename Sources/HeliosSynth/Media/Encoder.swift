import CFFmpeg
import CHeliosShims
import HeliosMedia

/// Owns one opened encoder `AVCodecContext`; freed on deinit. Confined to one task.
final class Encoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    let path: String

    /// Finds the encoder `name`, lets `configure` fill in the context, and opens it with private `options`.
    init(name: String, path: String, options: [String: String],
         configure: (UnsafeMutablePointer<AVCodecContext>) -> Void) throws(FFmpegError) {
        self.path = path
        guard let codec = avcodec_find_encoder_by_name(name) else {
            throw FFmpegError(code: FFCode.encoderNotFound, function: "avcodec_find_encoder_by_name(\(name))", path: path)
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(code: -ENOMEM, function: "avcodec_alloc_context3", path: path)
        }
        context = ctx
        configure(ctx)
        var dict: OpaquePointer?
        for (key, value) in options.sorted(by: { $0.key < $1.key }) { av_dict_set(&dict, key, value, 0) }
        defer { av_dict_free(&dict) }
        try check(avcodec_open2(ctx, codec, &dict), "avcodec_open2(\(name))", path: path)
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
    }

    /// Samples per audio frame the encoder requires (0 when any size is accepted).
    var frameSize: Int { Int(context.pointee.frame_size) }

    /// Copies the opened encoder's parameters into `parameters` (for a muxer stream).
    func parameters() throws(FFmpegError) -> CodecParameters {
        let p = try CodecParameters()
        try check(avcodec_parameters_from_context(p.pointer, context), "avcodec_parameters_from_context", path: path)
        return p
    }

    /// Sends a frame, or nil to start draining.
    func send(_ frame: Frame?) throws(FFmpegError) {
        try check(avcodec_send_frame(context, frame?.pointer), "avcodec_send_frame", path: path)
    }

    /// Receives the next packet. Returns false when the encoder needs more input or is drained.
    func receive(into packet: Packet) throws(FFmpegError) -> Bool {
        let code = avcodec_receive_packet(context, packet.pointer)
        if code == AV.eagain || code == AV.eof { return false }
        try check(code, "avcodec_receive_packet", path: path)
        return true
    }
}

/// Owns one `AVCodecParameters`.
final class CodecParameters {
    let pointer: UnsafeMutablePointer<AVCodecParameters>

    init() throws(FFmpegError) {
        guard let p = avcodec_parameters_alloc() else {
            throw FFmpegError(code: -ENOMEM, function: "avcodec_parameters_alloc")
        }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecParameters>? = pointer
        avcodec_parameters_free(&p)
    }
}
