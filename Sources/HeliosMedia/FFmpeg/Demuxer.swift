import CFFmpeg
import CHeliosShims

/// Stops a blocking libavformat call when the work is cancelled: the `CancellationFlag` passed as `opaque`
/// when there is one (work running on its own thread), else the calling task's cancellation (libavformat calls
/// this synchronously on the thread of the task that called into it).
package let cancellationInterrupt: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { opaque in
    guard let opaque else { return Task.isCancelled ? 1 : 0 }
    return Unmanaged<CancellationFlag>.fromOpaque(opaque).takeUnretainedValue().isCancelled ? 1 : 0
}

extension AVIOInterruptCB {
    /// The interrupt callback for `flag` (nil: the current task's cancellation). The flag must outlive the context.
    package static func cancellation(_ flag: CancellationFlag?) -> AVIOInterruptCB {
        AVIOInterruptCB(callback: cancellationInterrupt, opaque: flag.map { Unmanaged.passUnretained($0).toOpaque() })
    }
}

/// An input file opened read-only with libavformat. Owns its `AVFormatContext`; confined to one task.
package final class Demuxer {
    package let path: String
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private var streamInfoFound = false
    /// Kept alive as long as the context whose interrupt callback reads it.
    private let cancellation: CancellationFlag?

    /// Opens `path` for reading. `findStreamInfo` decodes a little of each stream to fill in
    /// codec parameters that a container header does not carry (pixel format, profile, ...). Without it the
    /// streams are still read in full where the container has no header to declare them (MPEG-TS).
    package init(path: String, findStreamInfo: Bool = true, cancellation: CancellationFlag? = nil) throws(FFmpegError) {
        self.path = path
        self.cancellation = cancellation
        FFmpegLog.install()
        guard let ctx = avformat_alloc_context() else {
            throw FFmpegError(code: -ENOMEM, function: "avformat_alloc_context", path: path)
        }
        ctx.pointee.interrupt_callback = .cancellation(cancellation)
        FFmpegLog.watch(ctx)
        var opened: UnsafeMutablePointer<AVFormatContext>? = ctx
        // On failure avformat_open_input frees the context itself.
        let code = avformat_open_input(&opened, path, nil, nil)
        if code < 0 { FFmpegLog.unwatch(ctx) }
        try check(code, "avformat_open_input", path: path)
        context = opened
        if findStreamInfo || needsStreamInfo {
            try self.findStreamInfo()
        }
    }

    /// Decodes the start of each stream to complete its codec parameters (once; later calls do nothing).
    package func findStreamInfo() throws(FFmpegError) {
        guard !streamInfoFound else { return }
        streamInfoFound = true
        try check(avformat_find_stream_info(formatContext, nil), "avformat_find_stream_info", path: path)
    }

    deinit {
        if let context { FFmpegLog.unwatch(context) }
        avformat_close_input(&context)
    }

    /// The error lines the demuxer logged since it was opened (corrupt or truncated data it skipped), at most a few.
    package var loggedErrors: [String] { FFmpegLog.errors(of: formatContext) }

    package var formatContext: UnsafeMutablePointer<AVFormatContext> { context! }

    /// The short name of the demuxer, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    package var formatName: String { String(cString: formatContext.pointee.iformat.pointee.name) }

    package var streamCount: Int { Int(formatContext.pointee.nb_streams) }

    package func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> {
        formatContext.pointee.streams[index]!
    }

    /// Container-level duration in AV_TIME_BASE units, when known.
    package var containerDuration: Int64? {
        let d = formatContext.pointee.duration
        return d == AV.noPTS ? nil : d
    }

    /// Whether the streams are only known once packets are read: a container without a header (MPEG-TS),
    /// or a stream whose codec or dimensions the header leaves out. A missing pixel or sample format alone
    /// does not count: copying packets does not need it.
    private var needsStreamInfo: Bool {
        if formatContext.pointee.ctx_flags & Int32(AVFMTCTX_NOHEADER) != 0 { return true }
        for i in 0..<streamCount {
            let par = stream(i).pointee.codecpar.pointee
            if par.codec_id == AV_CODEC_ID_NONE { return true }
            if par.codec_type == AVMEDIA_TYPE_VIDEO && par.width == 0 { return true }
            if par.codec_type == AVMEDIA_TYPE_AUDIO && par.sample_rate == 0 { return true }
        }
        return false
    }

    /// Reads the next packet into `packet`. Returns false at end of file.
    package func read(into packet: Packet) throws(FFmpegError) -> Bool {
        packet.unref()
        let code = av_read_frame(formatContext, packet.pointer)
        if code == AV.eof { return false }
        try check(code, "av_read_frame", path: path)
        return true
    }
}
