import CFFmpeg
import CHeliosShims
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// One output being written, input by input: the muxer, whose streams are made from input 1's parameters as decoding
/// completed them (kept from its probe, else decoded again here), the re-encoded audio tracks and the per-stream
/// bookkeeping.
///
/// A batch stitch copies every input and closes in one go (`Remuxer`); an `IncrementalStitch` copies each input
/// once the plan of the inputs so far fixes its placement, and closes at `finish`. Every call takes the `Remuxer`
/// that holds the inputs and plan as they are now; the inputs already copied must be planned the same in it.
/// Confined to one thread at a time.
final class RemuxSession {
    private let muxer: Muxer
    /// Input 1's demuxer, opened with stream info for the output's parameters when its probe's were not kept; its
    /// packets are read by `copy(0)`.
    private var first: Demuxer?
    private var tracks: [Int: ExactAudioTrack] = [:]
    private let outTimeBases: [Rational]
    private let method: FaststartMethod?
    private let temp: String
    private var lastDts: [Int64?]
    private var written: [Int]
    private let packet: Packet
    /// nil without a fsync to prepare (`sync` false).
    private let writeback: Remuxer.Writeback?
    /// Bytes of input copied so far, for progress.
    private var bytesDone: Int64 = 0
    /// The inputs' total size, summed once per input count (not once per input copied).
    private var totalBytes: (inputs: Int, bytes: Int64) = (0, 0)
    /// Inputs copied so far (always a prefix: `copy` takes them in order).
    private(set) var inputsCopied = 0
    /// Whether packets go through the muxer's interleaving queue. Into MP4/MOV without re-encoded audio they are
    /// written in the order each input holds them (its file order, from libavformat's MOV demuxer): the inputs'
    /// own interleaving, which makes each input's media data one run of the output that a single kernel copy fills.
    /// Re-interleaved by dts, an input whose audio moved against its video (priming trimmed) took two copies a frame.
    private let interleaves: Bool

    /// Opens the muxer on `temp` and writes the header from input 1 of `r`.
    init(_ r: Remuxer, temp: String, faststart method: FaststartMethod?) throws {
        self.temp = temp
        self.method = method
        // Payloads are copied file to file into MP4/MOV/M4A (libavformat's mov muxer), except under a faststart rewrite
        // (which reads the file back while it writes, past bytes the copying context may still hold).
        let movMuxer = OutputCapabilities.movMuxers.contains(r.formatName)
        let copies = r.kernelCopyMinimumInputBytes != nil && movMuxer && method != .rewritten
        // What the muxer calls experimental goes only into the chunks' own container or the ISO family, whose
        // readers take FLAC and Opus (FFmpeg 5 calls them experimental in MP4).
        let own = r.inputs.first.map { $0.formatName.split(separator: ",").contains(Substring(r.formatName)) } ?? false
        let muxer = try Muxer(path: temp, formatName: r.formatName, cancellation: r.cancellation, copiesPayloads: copies,
                              experimental: own || OutputCapabilities.isoFamily.contains(r.formatName))
        self.muxer = muxer
        // The probe of input 1 decoded its start and kept the parameters; only without them is it decoded again.
        let streams: StreamParameters
        if let kept = r.firstStreams, kept.count == r.inputs[0].streams.count {
            streams = kept
            first = nil
        } else {
            let opened = try Demuxer(path: r.inputs[0].path, findStreamInfo: true, cancellation: r.cancellation)
            streams = try StreamParameters(opened)
            first = opened
        }
        let exact = Remuxer.exactStreams(r.inputs, mode: r.audio)
        let globalHeader = muxer.formatContext.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0
        var tracks: [Int: ExactAudioTrack] = [:]
        for s in 0..<streams.count {
            if exact.contains(s) {
                let track = try ExactAudioTrack(stream: s, inputs: r.inputs, firstParameters: streams.codecParameters(s),
                                                globalHeader: globalHeader, keepsPriming: r.marksAudioPriming, path: r.outputPath)
                tracks[s] = track
                let parameters = try track.parameters()
                _ = try withExtendedLifetime(parameters) {
                    try muxer.addStream(copying: parameters.pointer, timeBase: Rational(1, track.sampleRate))
                }
            } else {
                let added = try muxer.addStream(copying: streams, stream: s, timeBase: Self.muxerTimeBase(r, stream: s))
                // The rate the probe put right where libavformat counted a stretched first frame in (`Rational.agrees`):
                // Matroska writes each frame's default duration from it.
                let first = r.inputs[0].streams[s]
                if first.leadingStretch > 0, let rate = first.frameRate { muxer.setFrameRate(rate, of: added) }
                // Input 1's FLAC header describes input 1's audio alone (its sample count and MD5): made unknown.
                if r.inputs[0].streams[s].signature.codec == "flac" { muxer.rewriteExtradata(of: added, with: FLACStreamInfo.makeStitched) }
            }
        }
        self.tracks = tracks
        // Input 1's title, creation time and other tags that describe the content, as `ffmpeg -c copy` keeps them.
        for (key, value) in streams.containerTags { muxer.setMetadata(key: key, value: value) }
        // Input 1's cover art, where the container holds one (MP4, MOV, M4A: `covr`); the validator warns elsewhere.
        let pictures = OutputCapabilities.holdsCoverArt(r.formatName) ? streams.attachedPictures : []
        let pictureStreams = try pictures.map {
            try muxer.addOffTimelineStream(copying: $0.parameters.pointer, tags: $0.tags, disposition: AV_DISPOSITION_ATTACHED_PIC)
        }
        // Input 1's attachments (fonts its subtitles need), where the container holds them (Matroska).
        for attachment in OutputCapabilities.holdsAttachments(r.formatName) ? streams.attachments : [] {
            _ = try muxer.addOffTimelineStream(copying: attachment.parameters.pointer, tags: attachment.tags)
        }
        // Input 1's start timecode (its timecode track is not copied as a stream): MOV and MP4 make their own
        // timecode track of it, Matroska a tag.
        if let timecode = r.inputs[0].timecode, let master = r.inputs[0].masterStreamIndex,
           r.inputs[0].streams[master].signature.kind == .video {
            muxer.setMetadata(stream: master, key: "timecode", value: timecode)
        }
        interleaves = !(movMuxer && tracks.isEmpty)
        var options: [String: String] = [:]
        let reserved = r.reservedIndexBytes ?? Remuxer.reservedIndexEstimate(r.inputs)
        switch method {
        case .reserved: options["moov_size"] = "\(reserved)"  // the index written in place, in one pass
        case .rewritten where movMuxer: options["movflags"] = "+faststart"  // the file read back and shifted behind the index
        case .rewritten: options["cues_to_front"] = "1"  // Matroska and WebM: the same, behind the Cues
        case nil: break
        }
        try muxer.writeHeader(options: options)
        for (picture, index) in zip(pictures, pictureStreams) { try muxer.writeAttachedPicture(picture.picture, stream: index) }
        outTimeBases = (0..<streams.count).map { muxer.timeBase(of: $0) }
        lastDts = [Int64?](repeating: nil, count: streams.count)
        written = [Int](repeating: 0, count: streams.count)
        packet = try Packet()
        writeback = r.sync ? Remuxer.Writeback(path: temp) : nil
        // Payload copies feed it as they write, a stride at a time (the copies of an input happen after its packets).
        muxer.feedWriteback(writeback?.writeback, stride: r.writebackStride)
    }

    /// The muxer's context may still copy when it is freed (an abandoned output): it must not reach the writeback then.
    deinit { muxer.feedWriteback(nil) }

    /// Writes a packet of a re-encoded stream: pts in output samples from the video's first frame.
    private func writeEncoded(_ encoded: Packet, stream s: Int, _ r: Remuxer) throws {
        let p = encoded.pointer
        let master = r.inputs[0].masterStreamIndex ?? 0
        let sampleTB = Rational(1, r.inputs[0].streams[s].signature.sampleRate)
        let origin = Ticks.rescale(r.plan.videoOrigin, from: r.plan.timeBases[master], to: sampleTB)
        let outTB = outTimeBases[s]
        p.pointee.stream_index = Int32(s)
        if p.pointee.pts != AV.noPTS { p.pointee.pts = Ticks.rescale(origin + p.pointee.pts, from: sampleTB, to: outTB) }
        if p.pointee.dts != AV.noPTS { p.pointee.dts = Ticks.rescale(origin + p.pointee.dts, from: sampleTB, to: outTB) }
        p.pointee.duration = Ticks.rescale(p.pointee.duration, from: sampleTB, to: outTB)
        if let previous = lastDts[s], p.pointee.dts <= previous {
            throw StitchError.outputFailed(path: r.outputPath, reason: "re-encoded audio dts \(p.pointee.dts) does not follow \(previous) (time base \(outTB))")
        }
        lastDts[s] = p.pointee.dts
        written[s] += 1
        try muxer.write(encoded)
    }

    /// Copies the planned packets of input `i` of `r` (the next one: inputs are copied in order).
    func copy(input i: Int, _ r: Remuxer) throws {
        precondition(i == inputsCopied, "inputs are copied in order")
        let input = r.inputs[i]
        let noParse = !r.parsesEveryInput && input.remuxesWithoutParser
        let candidates = payloadCopies(input, noParse: noParse, r)
        let demuxer: Demuxer
        if i == 0, let first, candidates.isEmpty { demuxer = first } else {
            demuxer = try Demuxer(path: input.path, findStreamInfo: false, indexOnly: !candidates.isEmpty, cancellation: r.cancellation,
                                  noParse: noParse, format: input.formatName)
        }
        first = nil
        demuxer.timestampShifts = input.timestampShifts
        // AAC stored as ADTS frames (a malformed MP4) would make the muxer add its ADTS filter, which reads them all.
        let copied = candidates.filter { s in input.streams[s].signature.codec != "aac" || demuxer.firstSampleStartsWithADTS(stream: s) == false }
        // The file whose unread samples the muxer copies (nil: every payload is read).
        let source = try !copied.isEmpty && demuxer.skipSamples(of: copied) ? demuxer.indexedFileDescriptor.map(muxer.addPayloadSource) : nil
        defer { if let source { muxer.releasePayloadSource(source) } }
        let unreadAAC = Set(copied.filter { input.streams[$0].signature.codec == "aac" })
        guard demuxer.streamCount == input.streams.count else {
            throw StitchError.unreadableInput(path: input.path, reason: "stream count changed since it was probed")
        }
        var mappers = (0..<input.streams.count).map { StitchPlan.PacketMapper(plan: r.plan, inputs: r.inputs, input: i, stream: $0) }
        for (s, track) in tracks {
            try track.begin(parameters: demuxer.stream(s).pointee.codecpar, timeBase: input.streams[s].timeBase, path: input.path)
        }
        var packetsRead = 0
        var perStream = [Int](repeating: 0, count: input.streams.count)
        while try demuxer.read(into: packet) {
            packetsRead += 1
            if packetsRead & 255 == 0, r.cancellation.isCancelled { throw StitchError.cancelled }
            let s = packet.streamIndex
            guard s < mappers.count else { continue }
            perStream[s] += 1
            if let track = tracks[s] {
                try track.consume(packet)
                continue
            }
            let p = packet.pointer
            guard let mapped = mappers[s].map(pts: p.pointee.pts, dts: p.pointee.dts, duration: p.pointee.duration) else { continue }
            let planTB = r.plan.timeBases[s]
            p.pointee.pts = mapped.pts
            p.pointee.dts = mapped.dts
            p.pointee.duration = mapped.duration
            if mapped.clearsDiscard { p.pointee.flags &= ~AV.flagDiscard }
            if let trim = mapped.trimEnd { packet.setSkipSamples(start: 0, end: trim) }
            // Plan time base to the muxer's.
            let outTB = outTimeBases[s]
            p.pointee.pts = p.pointee.pts == AV.noPTS ? AV.noPTS : Ticks.rescale(p.pointee.pts, from: planTB, to: outTB)
            p.pointee.dts = p.pointee.dts == AV.noPTS ? AV.noPTS : Ticks.rescale(p.pointee.dts, from: planTB, to: outTB)
            p.pointee.duration = Ticks.rescale(p.pointee.duration, from: planTB, to: outTB)
            let position = p.pointee.pos
            p.pointee.pos = -1
            if let previous = lastDts[s], p.pointee.dts <= previous {
                throw StitchError.invalidInputs(StitchReport(inputs: [], boundaries: [], issues: [StitchIssue(
                    severity: .error, code: .outputDtsNotIncreasing, inputIndex: i, inputPath: input.path, stream: s,
                    message: "output dts \(p.pointee.dts) does not follow \(previous) (time base \(outTB))")], output: nil))
            }
            lastDts[s] = p.pointee.dts
            written[s] += 1
            if let source, demuxer.overlapsSkippedSample(pos: position, size: Int(p.pointee.size)) {
                // The mov muxer checks an AAC frame's first two bytes for an ADTS sync word, which raw AAC never
                // starts with (its first element would be ID_END): unread, they are set so that it finds none.
                if unreadAAC.contains(s), p.pointee.size >= 2 { p.pointee.data[0] = 0; p.pointee.data[1] = 0 }
                try muxer.write(packet, payloadFrom: source, at: position, interleaved: interleaves)
            } else {
                try muxer.write(packet, interleaved: interleaves)
            }
            writeback?.advance(to: muxer.bytesWritten)
        }
        // The same file read twice must give the same packets: anything else lost frames since it was probed.
        if let line = demuxer.loggedErrors.first {
            throw StitchError.damagedInput(index: i, path: input.path, reason: "the file is corrupt or truncated; libavformat: \(line)")
        }
        for (s, stream) in input.streams.enumerated() where perStream[s] != stream.packetCount {
            throw StitchError.damagedInput(index: i, path: input.path,
                                           reason: "stream \(s): \(perStream[s]) packets read but \(stream.packetCount) when probed; the file changed or is damaged")
        }
        for s in tracks.keys.sorted() {
            try tracks[s]!.end(input: i, inputs: r.inputs, cancellation: r.cancellation) { try writeEncoded($0, stream: s, r) }
        }
        inputsCopied += 1
        bytesDone += input.fileSize
        if totalBytes.inputs != r.inputs.count { totalBytes = (r.inputs.count, r.inputs.reduce(Int64(0)) { $0 + $1.fileSize }) }
        r.progress?(.remuxing(bytesRead: bytesDone, totalBytes: totalBytes.bytes))
        r.logger.trace("copied input \(i + 1) of \(r.inputs.count): \(input.path)")
    }

    /// The streams of `input` whose payloads the muxer may copy from the file instead of the packets: H.264 and HEVC
    /// in length-prefixed form (avcC, hvcC) and AAC, which the mov muxer writes as given. Only streams copied (not
    /// re-encoded) from an MP4/MOV input read without parsers (a parser looks at the payload), of at least
    /// `kernelCopyMinimumInputBytes`. Empty when the muxer does not copy payloads.
    private func payloadCopies(_ input: ProbedInput, noParse: Bool, _ r: Remuxer) -> [Int] {
        guard muxer.copiesPayloads, noParse, input.formatName.hasPrefix("mov,"),
              input.fileSize >= r.kernelCopyMinimumInputBytes ?? .max else { return [] }
        let context = muxer.formatContext.pointee
        return input.streams.indices.filter { s in
            guard tracks[s] == nil, s < Int(context.nb_streams), let par = context.streams[s]?.pointee.codecpar?.pointee else { return false }
            switch (input.streams[s].signature.codec, par.codec_id) {
            case ("h264", AV_CODEC_ID_H264): return par.extradata_size >= 7 && par.extradata.pointee == 1
            case ("hevc", AV_CODEC_ID_HEVC): return par.extradata_size >= 23 && par.extradata.pointee == 1
            case ("aac", AV_CODEC_ID_AAC): return true
            default: return false
            }
        }
    }

    /// Flushes the re-encoded audio, writes the trailer and checks the muxer wrote every packet copied; returns what
    /// the file holds. Throws `Remuxer.ReservedIndexExceeded` when the faststart index outgrew its reserved space.
    func close(_ r: Remuxer) throws -> Remuxer.Written {
        for s in tracks.keys.sorted() {
            try tracks[s]!.finish { try writeEncoded($0, stream: s, r) }
        }
        r.progress?(.finishing)
        let trailer: FFmpegError?
        do { try muxer.finish(); trailer = nil } catch { trailer = error }
        if let trailer {
            // "reserved_moov_size is too small": the trailer wrote nothing usable.
            if method == .reserved && trailer.code == helios_averror(EINVAL) { throw Remuxer.ReservedIndexExceeded() }
            throw trailer
        }
        // The trailer is written; from here to the rename only cancellation can stop the run.
        if r.cancellation.isCancelled { throw StitchError.cancelled }
        // The report counts what the file holds: a muxer's bitstream filter must not have merged or dropped packets.
        // PCM into MXF is exempt: that muxer cuts it into one packet per video frame, as the format stores it.
        let rechunked = r.formatName != "mxf" ? []
            : Set(written.indices.filter { r.inputs.first?.streams[$0].signature.codec.hasPrefix("pcm_") == true })
        for s in written.indices where !rechunked.contains(s) && muxer.packetsWritten(to: s) != Int64(written[s]) {
            throw StitchError.outputFailed(path: r.outputPath, reason: "stream \(s): \(written[s]) packets were copied but the muxer "
                + "wrote \(muxer.packetsWritten(to: s)) (its bitstream filter merged or dropped some: a corrupt frame in the inputs?)")
        }
        // stat follows /proc/self/fd/N to the file (FileManager's attributes would describe the link).
        var info = stat()
        let bytes = stat(temp, &info) == 0 ? Int64(info.st_size) : 0
        let summaries = tracks.keys.sorted().map { s -> ExactAudioSummary in
            let track = tracks[s]!
            let seconds = Double(track.samplesEncoded) / Double(track.sampleRate)
            return ExactAudioSummary(stream: s, encoder: track.encoderName, bitRate: track.bitRate, samples: track.samplesEncoded,
                                     videoOffsetSamples: track.cuts.map(\.videoOffset), silentSamples: track.cuts.map(\.silentSamples),
                                     codingSeconds: track.codingSeconds,
                                     audioSecondsPerSecond: track.codingSeconds > 0 ? seconds / track.codingSeconds : 0)
        }
        return Remuxer.Written(packets: written, bytes: bytes, timeBases: outTimeBases, exactAudio: summaries, faststart: method,
                               bytesCopiedInKernel: muxer.bytesCopied)
    }
}
