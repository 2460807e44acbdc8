import CFFmpeg
import CHeliosShims
import HeliosMedia

/// Owns one opened decoder `AVCodecContext` for a demuxed stream; freed on deinit. Confined to one task.
final class Decoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    let path: String

    init(stream: UnsafeMutablePointer<AVStream>, path: String) throws(FFmpegError) {
        self.path = path
        let par = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            throw FFmpegError(code: FFCode.decoderNotFound, function: "avcodec_find_decoder", path: path)
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(code: -ENOMEM, function: "avcodec_alloc_context3", path: path)
        }
        context = ctx
        try check(avcodec_parameters_to_context(ctx, par), "avcodec_parameters_to_context", path: path)
        ctx.pointee.pkt_timebase = stream.pointee.time_base
        ctx.pointee.thread_count = 1
        try check(avcodec_open2(ctx, codec, nil), "avcodec_open2", path: path)
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
    }

    /// Sends a packet, or nil to drain. A full decoder (EAGAIN) is reported as false: receive first.
    @discardableResult
    func send(_ packet: Packet?) throws(FFmpegError) -> Bool {
        let code = avcodec_send_packet(context, packet?.pointer)
        if code == AV.eagain { return false }
        if code == AV.eof { return true }
        try check(code, "avcodec_send_packet", path: path)
        return true
    }

    /// Receives the next frame. Returns false when more input is needed or the decoder is drained.
    func receive(into frame: Frame) throws(FFmpegError) -> Bool {
        let code = avcodec_receive_frame(context, frame.pointer)
        if code == AV.eagain || code == AV.eof { return false }
        try check(code, "avcodec_receive_frame", path: path)
        return true
    }

    /// Drops buffered state after a seek.
    func flush() { avcodec_flush_buffers(context) }
}
