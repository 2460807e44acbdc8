import CFFmpeg
import CHeliosShims
#if canImport(Glibc)
import Glibc
#endif

/// An output file written with libavformat. Owns its `AVFormatContext` and I/O context; confined to one task.
package final class Muxer {
    package let path: String
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private var headerWritten = false
    private var finished = false
    /// Kept alive as long as the context whose interrupt callback reads it.
    private let cancellation: CancellationFlag?
    /// Whether the file is written through `helios_copy_io` (payloads copied file to file), not libavformat's own.
    package let copiesPayloads: Bool

    /// Allocates a muxer for `path`; the container comes from `formatName` or, when nil, from the extension.
    /// `copiesPayloads` writes the file through an I/O context that copies the payloads handed to
    /// `write(_:payloadFrom:at:interleaved:)` from their file inside the kernel (ignored for formats that open no file).
    /// `experimental` lets the muxer write what it calls experimental or unofficial in its container (see below).
    package init(path: String, formatName: String?, cancellation: CancellationFlag? = nil, copiesPayloads: Bool = false,
                 experimental: Bool = true) throws(FFmpegError) {
        self.path = path
        self.cancellation = cancellation
        var ctx: UnsafeMutablePointer<AVFormatContext>?
        try check(avformat_alloc_output_context2(&ctx, nil, formatName, path), "avformat_alloc_output_context2", path: path)
        context = ctx
        self.copiesPayloads = copiesPayloads && ctx!.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0
        // Same inputs, same bytes: no random segment UIDs (Matroska) or library version strings.
        ctx!.pointee.flags |= AVFMT_FLAG_BITEXACT
        // Packets are copied as the chunks hold them: a codec the muxer calls experimental in its container (FLAC in
        // MP4 before FFmpeg 6) is one the chunks' own writer chose, and refusing it would leave them unstitchable.
        // Not into another container, where "unofficial" can mean unreadable (MPEG-4 Part 2 in FLV: FFmpeg's own
        // demuxer reads back a dozen streams of garbage).
        ctx!.pointee.strict_std_compliance = experimental ? FF_COMPLIANCE_EXPERIMENTAL : FF_COMPLIANCE_NORMAL
        ctx!.pointee.interrupt_callback = .cancellation(cancellation)
    }

    deinit {
        if let ctx = context {
            if ctx.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0, ctx.pointee.pb != nil {
                if copiesPayloads { _ = helios_copy_io_close(&ctx.pointee.pb) } else { avio_closep(&ctx.pointee.pb) }
            }
            avformat_free_context(ctx)
        }
    }

    package var formatContext: UnsafeMutablePointer<AVFormatContext> { context! }

    /// Adds a stream copying `source`'s codec parameters and frame rate. Returns its index.
    /// The frame rate lets Matroska write a default frame duration, without which the last frame has none.
    package func addStream(copying source: UnsafePointer<AVStream>, timeBase: Rational) throws(FFmpegError) -> Int {
        let index = try addStream(copying: source.pointee.codecpar, timeBase: timeBase)
        let stream = formatContext.pointee.streams[index]!
        stream.pointee.avg_frame_rate = source.pointee.avg_frame_rate
        stream.pointee.r_frame_rate = source.pointee.r_frame_rate
        return index
    }

    /// Declares stream `index`'s frame rate (average and real), in place of the one its input declared.
    package func setFrameRate(_ rate: Rational, of index: Int) {
        let stream = formatContext.pointee.streams[index]!
        stream.pointee.avg_frame_rate = rate.av
        stream.pointee.r_frame_rate = rate.av
    }

    /// Adds a stream made from stream `index` of `parameters` (codec parameters, frame rates, side data, disposition
    /// and descriptive tags). Returns its index.
    package func addStream(copying parameters: StreamParameters, stream index: Int, timeBase: Rational) throws(FFmpegError) -> Int {
        let added = try addStream(copying: parameters.codecParameters(index), timeBase: timeBase)
        let stream = formatContext.pointee.streams[added]!
        (stream.pointee.avg_frame_rate, stream.pointee.r_frame_rate) = parameters.frameRates(index)
        for (type, bytes) in parameters.sideData(index) {
            guard let data = av_stream_new_side_data(stream, type, bytes.count) else {
                throw FFmpegError(code: -ENOMEM, function: "av_stream_new_side_data", path: path)
            }
            bytes.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: bytes.count) }
        }
        let (disposition, tags) = parameters.description(index)
        stream.pointee.disposition = disposition
        for (key, value) in tags { setMetadata(stream: added, key: key, value: value) }
        return added
    }

    /// Adds a stream whose codec parameters are copied from `parameters`. Returns its index.
    package func addStream(copying parameters: UnsafePointer<AVCodecParameters>, timeBase: Rational) throws(FFmpegError) -> Int {
        guard let stream = avformat_new_stream(formatContext, nil) else {
            throw FFmpegError(code: -ENOMEM, function: "avformat_new_stream", path: path)
        }
        try check(avcodec_parameters_copy(stream.pointee.codecpar, parameters), "avcodec_parameters_copy", path: path)
        // The input's tag says more than the codec id where a codec has several (HEVC's hvc1, which Apple's players
        // require, or the muxer's default hev1; ProRes 4444's ap4h, which tells the decoder there is alpha, or the
        // default apcn): it is kept where the output container knows it for this codec, or knows no tag for the
        // codec at all, as `ffmpeg -c copy` keeps it. Otherwise (a Matroska-only tag into MP4) the muxer picks one.
        let par = stream.pointee.codecpar.pointee
        let tags = formatContext.pointee.oformat.pointee.codec_tag
        var known: UInt32 = 0
        let keeps = tags == nil || av_codec_get_id(tags, par.codec_tag) == par.codec_id || av_codec_get_tag2(tags, par.codec_id, &known) == 0
        if !keeps { stream.pointee.codecpar.pointee.codec_tag = 0 }
        stream.pointee.time_base = timeBase.av
        return Int(stream.pointee.index)
    }

    /// Adds a stream without a timeline (before `writeHeader`): an attached picture (cover art, with `disposition`
    /// `AV_DISPOSITION_ATTACHED_PIC`; its picture is written with `writeAttachedPicture`), or an attachment (a
    /// Matroska font: its extradata is the file, its `filename` and `mimetype` tags name it; it has no packets).
    /// Returns its index.
    package func addOffTimelineStream(copying parameters: UnsafePointer<AVCodecParameters>, tags: [(key: String, value: String)],
                                      disposition: Int32 = 0) throws(FFmpegError) -> Int {
        let index = try addStream(copying: parameters, timeBase: Rational(1, 90000))
        formatContext.pointee.streams[index]!.pointee.disposition = disposition
        for (key, value) in tags { setMetadata(stream: index, key: key, value: value) }
        return index
    }

    /// Writes the picture of attached-picture stream `index` (after `writeHeader`): the MP4/MOV muxer keeps it for
    /// the file's cover (`covr`) instead of putting it on a timeline.
    package func writeAttachedPicture(_ picture: [UInt8], stream index: Int) throws(FFmpegError) {
        let packet = try Packet()
        try check(av_new_packet(packet.pointer, Int32(picture.count)), "av_new_packet", path: path)
        picture.withUnsafeBufferPointer { packet.pointer.pointee.data.update(from: $0.baseAddress!, count: picture.count) }
        packet.pointer.pointee.stream_index = Int32(index)
        packet.pointer.pointee.flags |= AV.flagKey
        packet.pointer.pointee.pts = 0
        packet.pointer.pointee.dts = 0
        try write(packet, interleaved: false)
    }

    /// Sets a tag of the container (before `writeHeader`).
    package func setMetadata(key: String, value: String) {
        av_dict_set(&formatContext.pointee.metadata, key, value, 0)
    }

    /// Sets a metadata tag of stream `index` (before `writeHeader`).
    package func setMetadata(stream index: Int, key: String, value: String) {
        av_dict_set(&formatContext.pointee.streams[index]!.pointee.metadata, key, value, 0)
    }

    /// Lets `rewrite` change stream `index`'s extradata in place (before `writeHeader`).
    package func rewriteExtradata(of index: Int, with rewrite: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        let parameters = formatContext.pointee.streams[index]!.pointee.codecpar!
        guard let bytes = parameters.pointee.extradata, parameters.pointee.extradata_size > 0 else { return }
        rewrite(UnsafeMutableBufferPointer(start: bytes, count: Int(parameters.pointee.extradata_size)))
    }

    /// The time base the muxer chose for stream `index` (valid after `writeHeader`).
    package func timeBase(of index: Int) -> Rational {
        Rational(formatContext.pointee.streams[index]!.pointee.time_base)
    }

    /// Opens the file and writes the container header with the given muxer options (e.g. `movflags`).
    package func writeHeader(options: [String: String]) throws(FFmpegError) {
        let ctx = formatContext
        if ctx.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            if copiesPayloads {
                guard let pb = helios_copy_io_open(path) else {
                    throw FFmpegError(code: helios_averror(errno), function: "open", path: path)
                }
                ctx.pointee.pb = pb
            } else {
                var pb: UnsafeMutablePointer<AVIOContext>?
                var callback = AVIOInterruptCB.cancellation(cancellation)
                // An empty file (a stitch's fresh temp file) is not truncated: on ext4 that marks it to be written
                // back in full by the process that closes it (auto_da_alloc), work a scratch output leaves to the
                // kernel's flusher. A file with data still is.
                var fileOptions: OpaquePointer?
                var status = stat()
                if stat(path, &status) == 0, status.st_size == 0 { av_dict_set(&fileOptions, "truncate", "0", 0) }
                defer { av_dict_free(&fileOptions) }
                try check(avio_open2(&pb, path, AVIO_FLAG_WRITE, &callback, &fileOptions), "avio_open2", path: path)
                ctx.pointee.pb = pb
            }
        }
        var dict: OpaquePointer?
        for (key, value) in options { av_dict_set(&dict, key, value, 0) }
        defer { av_dict_free(&dict) }
        // A muxer that refuses a stream says why only in its log (`vp9 only supported in MP4`): kept for the error.
        FFmpegLog.watch(ctx)
        let code = avformat_write_header(ctx, &dict)
        let logged = FFmpegLog.unwatch(ctx)
        if code < 0 {
            throw FFmpegError(code: code, function: "avformat_write_header", path: path, detail: logged.isEmpty ? nil : logged.joined(separator: "; "))
        }
        headerWritten = true
        let format = String(cString: ctx.pointee.oformat.pointee.name)
        codecDelayShift = (0..<Int(ctx.pointee.nb_streams)).map { index in
            Self.codecDelayCompensation(ctx.pointee.streams[index]!.pointee, formatName: format)
        }
    }

    /// Per stream, ticks added to every packet's timestamps (see `codecDelayCompensation`).
    private var codecDelayShift: [Int64] = []

    /// Ticks to add to a stream's timestamps so that they read back as written. FFmpeg's Matroska demuxer
    /// subtracts an Opus track's CodecDelay from every block, but its muxer (5.1) writes the delay without adding
    /// it back: left alone, every file written would move Opus audio 6.5 ms earlier against the video (and, through
    /// the shift that keeps timestamps non-negative, the video later). Zero in every other case.
    static func codecDelayCompensation(_ stream: AVStream, formatName: String) -> Int64 {
        guard let par = stream.codecpar?.pointee, formatName == "matroska" || formatName == "webm",
              par.codec_id == AV_CODEC_ID_OPUS, par.initial_padding > 0, par.sample_rate > 0 else { return 0 }
        return Ticks.rescale(Int64(par.initial_padding), from: Rational(1, par.sample_rate), to: Rational(stream.time_base))
    }

    /// Writes one packet, interleaving by dts (the muxer may hold it back until every stream has one), or at once
    /// when `interleaved` is false: the streams then lie in the file in the order given. Takes ownership of the
    /// packet's data.
    package func write(_ packet: Packet, interleaved: Bool = true) throws(FFmpegError) {
        let p = packet.pointer
        let shift = codecDelayShift.indices.contains(Int(p.pointee.stream_index)) ? codecDelayShift[Int(p.pointee.stream_index)] : 0
        if shift != 0 {
            if p.pointee.pts != AV.noPTS { p.pointee.pts += shift }
            if p.pointee.dts != AV.noPTS { p.pointee.dts += shift }
        }
        if interleaved {
            try checkCopy(av_interleaved_write_frame(formatContext, p), "av_interleaved_write_frame")
        } else {
            defer { packet.unref() }
            try checkCopy(av_write_frame(formatContext, p), "av_write_frame")
        }
    }

    /// A file payloads are copied from (see `write(_:payloadFrom:at:interleaved:)`), open as `descriptor` (which stays the
    /// caller's: the muxer keeps a duplicate until the payloads registered from it are written).
    package func addPayloadSource(_ descriptor: Int32) throws(FFmpegError) -> PayloadSource {
        precondition(copiesPayloads, "the muxer writes through libavformat's own I/O context")
        return PayloadSource(number: try check(helios_copy_io_add_source(formatContext.pointee.pb, descriptor), "dup", path: path))
    }

    /// No more payloads will be registered from `source`.
    package func releasePayloadSource(_ source: PayloadSource) {
        guard let pb = formatContext.pointee.pb else { return }
        helios_copy_io_release_source(pb, source.number)
    }

    /// A source file of payloads (a number of the copying I/O context).
    package struct PayloadSource { let number: Int32 }

    /// Has payload copies ask `writeback` for the file's writeback every `stride` bytes they write, copying a stride at a
    /// time (nil or a stride of 0: no longer). Only when `copiesPayloads`, after `writeHeader`; the caller keeps `writeback` alive until
    /// it detaches it here.
    package func feedWriteback(_ writeback: OpaquePointer?, stride: Int64 = 0) {
        guard copiesPayloads, let pb = formatContext.pointee.pb else { return }
        helios_copy_io_set_writeback(pb, writeback, stride)
    }

    /// Writes one packet like `write(_:interleaved:)`, whose payload the file is to take from the `size` bytes at `position` in
    /// `source` rather than from the packet (whose bytes may be left unset). Only when `copiesPayloads`, and only for
    /// a stream the muxer writes as given (see `helios_copy_io_open`).
    package func write(_ packet: Packet, payloadFrom source: PayloadSource, at position: Int64, interleaved: Bool = true) throws(FFmpegError) {
        let p = packet.pointer
        try checkCopy(helios_copy_io_register(formatContext.pointee.pb, p.pointee.data, p.pointee.size, source.number, position),
                      "helios_copy_io_register")
        try write(packet, interleaved: interleaved)
    }

    /// Why the copying I/O context failed, when it did (see `helios_copy_io_failure`).
    package var copyFailure: Int32 {
        guard copiesPayloads, let pb = formatContext.pointee.pb else { return 0 }
        return helios_copy_io_failure(pb)
    }

    /// Payload bytes copied file to file, known once `finish` returned (0 unless `copiesPayloads`).
    package private(set) var bytesCopied: Int64 = 0

    /// `check`, naming what the copying I/O context found when it is the cause.
    private func checkCopy(_ code: Int32, _ function: String) throws(FFmpegError) {
        guard code < 0 else { return }
        // A write the muxer did not check failed first (its seek back to a box's size): that is the cause, not what
        // the muxer made of the file it then had (a faststart trailer's "reserved_moov_size is too small").
        if copiesPayloads, let pb = formatContext.pointee.pb, case let lost = helios_copy_io_error(pb), lost < 0, lost != code {
            throw FFmpegError(code: lost, function: function, path: path)
        }
        switch copyFailure {
        case Int32(HELIOS_COPY_IO_NOT_VERBATIM):
            throw FFmpegError(code: code, function: "\(function) (a packet's payload did not reach the file as given: it cannot be copied file to file)", path: path)
        case Int32(HELIOS_COPY_IO_SOURCE_SHORT):
            throw FFmpegError(code: code, function: "\(function) (an input ended before a packet's payload did: it changed since it was probed)", path: path)
        default:
            throw FFmpegError(code: code, function: function, path: path)
        }
    }

    /// Bytes handed to the file so far (the I/O context's position; 0 before the header).
    package var bytesWritten: Int64 {
        guard let pb = formatContext.pointee.pb else { return 0 }
        return avio_tell(pb)
    }

    /// Packets the muxer wrote to stream `index` (libavformat's count, after its bitstream filters, which may
    /// merge packets: VP9 into Matroska joins a frame that is not shown with the next one).
    package func packetsWritten(to index: Int) -> Int64 {
        formatContext.pointee.streams[index]!.pointee.nb_frames
    }

    /// Flushes buffered packets, writes the trailer (the index, for MP4) and closes the file.
    package func finish() throws(FFmpegError) {
        guard headerWritten, !finished else { return }
        finished = true
        try checkCopy(av_write_trailer(formatContext), "av_write_trailer")
        if copiesPayloads {
            try checkCopy(helios_copy_io_flush(formatContext.pointee.pb), "write")
            // Every payload registered reached the file: none was dropped or held back by the muxer.
            let unwritten = helios_copy_io_unwritten(formatContext.pointee.pb)
            bytesCopied = helios_copy_io_copied(formatContext.pointee.pb)
            let closed = helios_copy_io_close(&formatContext.pointee.pb)
            if unwritten != 0 {
                throw FFmpegError(code: helios_averror_bug(), function: "av_write_trailer (\(unwritten) bytes of packets copied file to file never reached it)", path: path)
            }
            try check(closed, "close", path: path)
        } else if formatContext.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            try check(avio_closep(&formatContext.pointee.pb), "avio_closep", path: path)
        }
    }
}
