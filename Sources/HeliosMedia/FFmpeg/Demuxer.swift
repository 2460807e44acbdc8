import CFFmpeg
import CHeliosShims
import Glibc
import Synchronization

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
    /// The I/O context that can answer reads of media data without the disk (`indexOnly`), owned here.
    private var indexIO: UnsafeMutablePointer<AVIOContext>?
    /// The file's indices of the streams this demuxer shows (nil: all of them). Streams that are not on the timeline
    /// are left out: QuickTime timecode tracks (`tmcd`), whose one sample holds the start timecode (which `timecode`
    /// gives and the output's own timecode track is made from); attached pictures (cover art, see
    /// `attachedPictures`); Matroska attachments (fonts). Stream indices everywhere else (`stream(_:)`, packets
    /// read) count shown streams.
    private var shown: [Int]?

    /// Opens `path` for reading. `findStreamInfo` decodes a little of each stream to fill in
    /// codec parameters that a container header does not carry (pixel format, profile, ...). Without it the
    /// streams are still read in full where the container has no header to declare them (MPEG-TS).
    /// `indexOnly` reads an MP4/MOV or Matroska file through an I/O context that `skipMediaData()` can later tell to
    /// answer reads of media data (mdat payloads, Matroska frames) without the disk; other files are opened as usual.
    /// `noParse` hands out packets exactly as the container stores them, without libavformat's parsers
    /// (`AVFMT_FLAG_NOPARSE`): for a remux of inputs whose probe showed the parser changes nothing (see
    /// `ProbedStream.parserKeyframes`), it saves the parser's work and its zeroed copy of every packet.
    /// `format`, the demuxer a probe of this same file chose (`formatName`), opens it with that demuxer without
    /// probing every demuxer again (which reads and scores the file's start against each of them).
    package init(path: String, findStreamInfo: Bool = true, indexOnly: Bool = false,
                 cancellation: CancellationFlag? = nil, noParse: Bool = false, format: String? = nil) throws(FFmpegError) {
        self.path = path
        self.cancellation = cancellation
        FFmpegLog.install()
        guard let ctx = avformat_alloc_context() else {
            throw FFmpegError(code: -ENOMEM, function: "avformat_alloc_context", path: path)
        }
        ctx.pointee.interrupt_callback = .cancellation(cancellation)
        if noParse { ctx.pointee.flags |= AVFMT_FLAG_NOPARSE }
        if indexOnly, Self.hasIndexableContainer(path), let pb = helios_index_io_open(path) {
            indexIO = pb
            ctx.pointee.pb = pb
        }
        FFmpegLog.watch(ctx)
        var opened: UnsafeMutablePointer<AVFormatContext>? = ctx
        // On failure avformat_open_input frees the context itself (not a custom I/O context: deinit does).
        let code = avformat_open_input(&opened, path, format.flatMap(Self.inputFormat), nil)
        if code < 0 {
            FFmpegLog.unwatch(ctx)
            helios_index_io_close(&indexIO)
        }
        try check(code, "avformat_open_input", path: path)
        context = opened
        hideOffTimelineStreams()
        if findStreamInfo || needsStreamInfo {
            try self.findStreamInfo()
        }
        if fillsMissingPts { ctx.pointee.flags |= AVFMT_FLAG_GENPTS }
    }

    /// MPEG program and transport streams need not give every frame a pts: ffmpeg's program stream muxer puts one
    /// on the first frame of a pack, so a P-frame smaller than a pack has none. For MPEG-1/2 video, whose reorder
    /// delay is one frame, the pts of a reference frame is the dts of the next one, and libavformat fills it in so
    /// (`AVFMT_FLAG_GENPTS`, reading ahead to that frame). Not for other codecs (H.264 reorders deeper), nor for AVI,
    /// which stores no pts at all: those stay missing, and the stitch says so.
    private var fillsMissingPts: Bool {
        guard formatName == "mpeg" || formatName == "mpegts" else { return false }
        let video = (0..<streamCount).map { stream($0).pointee.codecpar.pointee }.filter { $0.codec_type == AVMEDIA_TYPE_VIDEO }
        return !video.isEmpty && video.allSatisfy { $0.codec_id == AV_CODEC_ID_MPEG1VIDEO || $0.codec_id == AV_CODEC_ID_MPEG2VIDEO }
    }

    /// Decodes the start of each stream to complete its codec parameters (once; later calls do nothing).
    package func findStreamInfo() throws(FFmpegError) {
        guard !streamInfoFound else { return }
        streamInfoFound = true
        try check(avformat_find_stream_info(formatContext, nil), "avformat_find_stream_info", path: path)
        hideOffTimelineStreams()  // streams a header did not declare (MPEG program streams) are found now
    }

    deinit {
        if let context { FFmpegLog.unwatch(context) }
        avformat_close_input(&context)
        helios_index_io_close(&indexIO)
    }

    /// From now on, reads of media data (the payload of MP4/MOV `mdat` boxes, Matroska frames) are answered without the
    /// disk: packets keep the size, timestamps, duration and flags the container gives them, and a file that ends early
    /// still reads short at the same byte, but their payload bytes are left unset. Only for streams whose payload nothing
    /// looks at (see `MediaProbe.indexableCodecs`). MP4/MOV take packets from their sample tables. A Matroska file is
    /// first walked for its blocks, reading their headers but no frame, and only where its Cues agree with that walk
    /// (`helios_index_io_index_matroska`). Returns false (and changes nothing) for other files and containers.
    /// `nalStreams` are H.264 (`hevc` false) or HEVC streams whose NAL unit headers are read all the same: libavformat's
    /// parser derives their key flags from them (see `helios_index_io_read_nal_headers`). `frameEnds` are Matroska
    /// streams whose frames' first `head` and last `tail` bytes are read all the same (`helios_index_io_read_frame_ends`).
    /// `everyMatroska` walks even a
    /// Matroska file where that reads more than it saves (small files, small frames): for tests of the walk itself.
    package func skipMediaData(nalStreams: [(index: Int, hevc: Bool)] = [], frameEnds: [(index: Int, head: Int, tail: Int)] = [],
                               everyMatroska: Bool = false) -> Bool {
        guard let indexIO else { return false }
        if formatName.hasPrefix("matroska,") {
            guard let regions = indexMatroska(everyMatroska: everyMatroska), regions > 0 else { return false }
            for (index, head, tail) in frameEnds where helios_index_io_read_frame_ends(indexIO, stream(index), Int32(head), Int32(tail)) != 0 {
                return false
            }
        } else {
            guard formatName.hasPrefix("mov,"), helios_index_io_region_count(indexIO) > 0 else { return false }
        }
        for (index, hevc) in nalStreams where helios_index_io_read_nal_headers(indexIO, stream(index), hevc ? 1 : 0) != 0 {
            return false
        }
        helios_index_io_skip_media_data(indexIO, 1)
        return true
    }

    /// Whether the walk of `indexMatroska` ran to the end: every element of the file was where Matroska puts it.
    package var matroskaWalked: Bool { indexIO.map { helios_index_io_matroska_walked($0) == 1 } ?? false }

    /// For a Matroska file opened `indexOnly`: the walk of its block headers (once), giving the frame data regions
    /// found, or a negative reason it is read as usual (see `helios_index_io_index_matroska`; nil for other files).
    package func indexMatroska(everyMatroska: Bool = false) -> Int32? {
        guard let indexIO, formatName.hasPrefix("matroska,") else { return nil }
        return helios_index_io_index_matroska(indexIO, Int32(streamCount), everyMatroska ? 0 : 1)
    }

    /// From now on, the samples of `streams` are not read: their packets keep size, timestamps, flags and position
    /// (`pos`), but their payload bytes are left unset, for a muxer that copies them from the file
    /// (`Muxer.write(_:payloadFrom:at:interleaved:)`). Every other byte is read as usual. False (nothing changes) unless
    /// the file was opened `indexOnly` as a plain MP4/MOV file whose samples are all in its index at open (not
    /// fragmented).
    package func skipSamples(of streams: [Int]) -> Bool {
        guard let indexIO, formatName.hasPrefix("mov,"), helios_index_io_fragmented(indexIO) == 0 else { return false }
        for index in streams where helios_index_io_skip_samples(indexIO, stream(index)) < 0 {
            return false
        }
        helios_index_io_begin_sample_skipping(indexIO)
        return true
    }

    /// Whether the first sample in stream `index`'s index starts with an ADTS sync word (0xFFF), read from the file;
    /// nil when the stream has no index or the bytes cannot be read.
    package func firstSampleStartsWithADTS(stream index: Int) -> Bool? {
        guard let fd = indexedFileDescriptor, let entry = avformat_index_get_entry(stream(index), 0)?.pointee, entry.size >= 2 else { return nil }
        var head: (UInt8, UInt8) = (0, 0)
        guard withUnsafeMutableBytes(of: &head, { pread(fd, $0.baseAddress, 2, off_t(entry.pos)) }) == 2 else { return nil }
        return head.0 == 0xFF && head.1 & 0xF0 == 0xF0
    }

    /// Whether the bytes [pos, pos + size) of the file overlap a sample left unread by `skipSamples`.
    package func overlapsSkippedSample(pos: Int64, size: Int) -> Bool {
        guard let indexIO else { return false }
        return helios_index_io_overlaps_skipped(indexIO, pos, Int64(size)) != 0
    }

    /// The descriptor the index-only I/O context reads the file with (nil when the file was opened as usual).
    package var indexedFileDescriptor: Int32? { indexIO.map { helios_index_io_fd($0) } }

    /// Bytes read from the disk through the index-only I/O context since `skipMediaData()` (nil when the file was
    /// opened as usual).
    package var bytesReadFromDisk: Int64? { indexIO.map { helios_index_io_bytes_read($0) } }

    /// For an MP4/MOV file: whether it is fragmented (a top-level `moof`), from the walk the index-only I/O context
    /// made when it opened the file, or a walk of its own otherwise; nil when the file cannot be read again.
    package var isFragmentedISOBMFF: Bool? {
        if let indexIO { return helios_index_io_fragmented(indexIO) != 0 }
        let found = helios_isobmff_fragmented(path)
        return found < 0 ? nil : found == 1
    }

    /// Whether the file starts with an ISO BMFF box (ftyp, moov, mdat, free, skip, wide).
    /// The demuxer named `name` (a `formatName`: its first short name is the demuxer's), looked up once per name.
    static func inputFormat(_ name: String) -> UnsafePointer<AVInputFormat>? {
        let short = String(name.prefix { $0 != "," })
        return knownFormats.withLock { known in
            if let found = known[short] { return found.pointer }
            let found = av_find_input_format(short)
            known[short] = FormatPointer(pointer: found)
            return found
        }
    }

    /// A demuxer description: static, immutable data of libavformat.
    private struct FormatPointer: @unchecked Sendable { let pointer: UnsafePointer<AVInputFormat>? }
    private static let knownFormats = Mutex<[String: FormatPointer]>([:])

    /// The error lines the demuxer logged since it was opened (corrupt or truncated data it skipped), at most a few.
    package var loggedErrors: [String] { FFmpegLog.errors(of: formatContext) }

    package var formatContext: UnsafeMutablePointer<AVFormatContext> { context! }

    /// The short name of the demuxer, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    package var formatName: String { String(cString: formatContext.pointee.iformat.pointee.name) }

    /// Streams shown (timecode tracks left out).
    package var streamCount: Int { shown?.count ?? Int(formatContext.pointee.nb_streams) }

    /// Shown stream `index`.
    package func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> {
        formatContext.pointee.streams[shown?[index] ?? index]!
    }

    /// The start timecode the file states, e.g. "01:00:00:00": a stream's `timecode` tag (libavformat's MOV demuxer
    /// gives a `tmcd` track's to its video stream too), else the file's. Nil when it states none.
    package var timecode: String? {
        let ctx = formatContext.pointee
        for index in 0..<Int(ctx.nb_streams) {
            if let entry = av_dict_get(ctx.streams[index]!.pointee.metadata, "timecode", nil, 0) { return String(cString: entry.pointee.value) }
        }
        return av_dict_get(ctx.metadata, "timecode", nil, 0).map { String(cString: $0.pointee.value) }
    }

    /// The file's attached pictures (cover art: a stream with one picture, `AVStream.attached_pic`, and no timeline).
    package var attachedPictures: [UnsafeMutablePointer<AVStream>] {
        let ctx = formatContext.pointee
        return (0..<Int(ctx.nb_streams)).map { ctx.streams[$0]! }.filter { $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 }
    }

    /// The file's attachments (Matroska: fonts for its subtitles, ...): the data is the stream's extradata, the name
    /// and type its `filename` and `mimetype` tags.
    package var attachments: [UnsafeMutablePointer<AVStream>] {
        let ctx = formatContext.pointee
        return (0..<Int(ctx.nb_streams)).map { ctx.streams[$0]! }.filter { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_ATTACHMENT }
    }

    /// The file's data streams other than timecode tracks (GoPro's `gpmd` telemetry, a DVD's navigation packets,
    /// MPEG-TS private data), named by codec, else by tag: not picture nor sound, and left out of the stitch.
    package var dataStreams: [String] {
        let ctx = formatContext.pointee
        return (0..<Int(ctx.nb_streams)).map { ctx.streams[$0]!.pointee.codecpar.pointee }
            .filter { $0.codec_type == AVMEDIA_TYPE_DATA && $0.codec_tag != Self.tmcd }
            .map { parameters in
                let name = String(cString: avcodec_get_name(parameters.codec_id))
                guard name == "none", parameters.codec_tag != 0 else { return name }
                return String(decoding: withUnsafeBytes(of: parameters.codec_tag.littleEndian) { Array($0) }, as: UTF8.self)
            }
    }

    private static let tmcd = helios_mktag(0x74, 0x6D, 0x63, 0x64)  // "tmcd"

    /// Leaves timecode tracks and other data streams, attached pictures and attachments out of the streams shown, and
    /// has libavformat skip their packets. (ffmpeg's default stream selection leaves data streams out too, and MP4's
    /// and Matroska's muxers hold none but timecode.)
    private func hideOffTimelineStreams() {
        let ctx = formatContext.pointee
        let hidden = (0..<Int(ctx.nb_streams)).filter { index in
            let stream = ctx.streams[index]!.pointee, parameters = stream.codecpar.pointee
            return parameters.codec_type == AVMEDIA_TYPE_DATA
                || parameters.codec_type == AVMEDIA_TYPE_ATTACHMENT || stream.disposition & AV_DISPOSITION_ATTACHED_PIC != 0
        }
        guard !hidden.isEmpty else { return }
        for index in hidden { ctx.streams[index]!.pointee.discard = AVDISCARD_ALL }
        shown = (0..<Int(ctx.nb_streams)).filter { !hidden.contains($0) }
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
        // Only MP4/MOV and Matroska give every packet its timestamps from the file alone. Elsewhere libavformat
        // fills some in from the decoder delay that finding the stream info measures (MPEG-2 in MXF reads dts 0, 0
        // for -1, 0 without it): a probe and a remux must both measure it to read the same packets.
        if !formatName.hasPrefix("mov,") && !formatName.hasPrefix("matroska,") { return true }
        for i in 0..<streamCount {
            let par = stream(i).pointee.codecpar.pointee
            if par.codec_id == AV_CODEC_ID_NONE { return true }
            if par.codec_type == AVMEDIA_TYPE_VIDEO && par.width == 0 { return true }
            if par.codec_type == AVMEDIA_TYPE_AUDIO && par.sample_rate == 0 { return true }
        }
        return false
    }

    /// Key frames the container's index marks for stream `index` (MP4/MOV: the sync sample table), or nil when
    /// the demuxer keeps no index of every packet.
    package func indexedKeyframes(stream index: Int) -> Int? {
        let st = stream(index)
        let count = avformat_index_get_entries_count(st)
        guard count > 0 else { return nil }
        var keyframes = 0
        for k in 0..<count where (avformat_index_get_entry(st, k)?.pointee.flags ?? 0) & AVINDEX_KEYFRAME != 0 {
            keyframes += 1
        }
        return keyframes
    }

    /// Ticks taken off the pts and dts of every packet `read` hands out, by stream (empty: none); see
    /// `ProbedInput.timestampShifts`.
    package var timestampShifts: [Int64] = []

    /// For an MP4/MOV file the caller found fragmented (`isFragmentedISOBMFF`): what each stream's track runs say
    /// about its start (see `FragmentFacts`); nil for other files, or when the file cannot be read again.
    package func fragmentFacts() -> [FragmentFacts]? {
        guard formatName.hasPrefix("mov,") else { return nil }
        let ids = (0..<streamCount).map { stream($0).pointee.id }
        var tracks = [helios_fragment_track](repeating: helios_fragment_track(), count: ids.count)
        guard helios_isobmff_fragment_tracks(path, ids, &tracks, Int32(ids.count)) == 0 else { return nil }
        return tracks.map {
            FragmentFacts(compositionShift: $0.composition_shift, firstDuration: $0.samples_seen != 0 && $0.first_duration >= 0 ? $0.first_duration : nil,
                          firstComposition: $0.first_composition, hasEditList: $0.has_edit_list != 0, declaredSamples: $0.declared_samples)
        }
    }

    /// Reads the next packet into `packet`. Returns false at end of file.
    package func read(into packet: Packet) throws(FFmpegError) -> Bool {
        while true {
            packet.unref()
            let code = av_read_frame(formatContext, packet.pointer)
            if code == AV.eof { return false }
            try check(code, "av_read_frame", path: path)
            if let shown {
                // A packet of a stream left out is skipped; the others are numbered among the streams shown.
                guard let index = shown.firstIndex(of: packet.streamIndex) else { continue }
                packet.pointer.pointee.stream_index = Int32(index)
            }
            if !timestampShifts.isEmpty { unshift(packet.pointer) }
            return true
        }
    }

    private func unshift(_ p: UnsafeMutablePointer<AVPacket>) {
        let s = Int(p.pointee.stream_index)
        guard s < timestampShifts.count, timestampShifts[s] != 0 else { return }
        if p.pointee.pts != AV.noPTS { p.pointee.pts -= timestampShifts[s] }
        if p.pointee.dts != AV.noPTS { p.pointee.dts -= timestampShifts[s] }
    }
}
