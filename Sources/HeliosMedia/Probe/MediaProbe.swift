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

/// What probing the first of a series of inputs learned: its streams' parameters as the container header
/// declares them, and as decoding completed them.
public struct ProbeReference: Sendable {
    let header: [CodecSignature]
    let decoded: [CodecSignature]
    /// The reference input's container name, shared by every later input of that container (one string, not one per
    /// input).
    var formatName: String = ""
    /// The reference input's stream parameters as decoding completed them: the output's streams are made from these.
    var streams: StreamParameters? = nil
}

/// Reads media files and reports their streams and timestamps.
public enum MediaProbe {
    /// Probes one file, reading every packet.
    /// Throws `StitchError.unreadableInput` for missing, empty, unreadable or non-media files.
    public static func probe(_ url: URL) throws(StitchError) -> ProbedInput {
        var reference: ProbeReference?
        return try probe(url, reference: &reference)
    }

    /// Probes one file of a series. The first sets `reference`. A later input whose container header declares
    /// exactly the reference's parameters, extradata included (the avcC or AudioSpecificConfig that decoding
    /// reads them from), takes the decoded parameters from the reference instead of decoding its own start:
    /// identical headers decode to identical parameters, and decoding a frame of every chunk dominated the
    /// probe. Any difference, or a stream without extradata (VP9 in WebM, MPEG-TS), is decoded as usual.
    public static func probe(_ url: URL, reference: inout ProbeReference?) throws(StitchError) -> ProbedInput {
        try probe(url, reference: &reference, cancellation: nil)
    }

    /// Probes one file of a series with the given `mode` (see `ProbeMode`); both modes give the same result.
    public static func probe(_ url: URL, reference: inout ProbeReference?, mode: ProbeMode) throws(StitchError) -> ProbedInput {
        try probe(url, reference: &reference, cancellation: nil, mode: mode)
    }

    static func probe(_ url: URL, reference: inout ProbeReference?, cancellation: CancellationFlag?,
                      mode: ProbeMode = .index) throws(StitchError) -> ProbedInput {
        try probeCounting(url, reference: &reference, cancellation: cancellation, mode: mode).input
    }

    /// `probe`, also returning the bytes read from disk through the index-only I/O context once payloads were skipped
    /// (nil when the file was read as usual: a scan, or a container without an index). `everyMatroska` probes Matroska
    /// files from their block headers even where reading them whole costs less (see `Demuxer.skipMediaData`).
    static func probeCounting(_ url: URL, reference: inout ProbeReference?, cancellation: CancellationFlag?,
                              mode: ProbeMode, everyMatroska: Bool = false) throws(StitchError) -> (input: ProbedInput, bytesRead: Int64?) {
        let path = url.path
        let size = try fileSize(path)
        do {
            // A later input of an MP4/MOV series opens with the reference's demuxer, the one probing picks for any
            // plain ISO BMFF file, without scoring the file against every demuxer; should that fail, it is probed as
            // usual (and fails, if it does, as it always did).
            let hinted = reference.map(\.formatName).flatMap { $0.hasPrefix("mov,") && Demuxer.isPlainISOBMFF(path) ? $0 : nil }
            let demuxer = try hinted.flatMap { try? Demuxer(path: path, findStreamInfo: false, indexOnly: mode == .index, cancellation: cancellation, format: $0) }
                ?? openProbing(path, indexOnly: mode == .index, cancellation: cancellation)
            let header = (0..<demuxer.streamCount).map { CodecSignature(demuxer.stream($0)) }
            let signatures: [CodecSignature]
            if let reference, header == reference.header,
               header.allSatisfy({ !$0.extradata.isEmpty || ($0.kind != .video && $0.kind != .audio) }) {
                signatures = reference.decoded
            } else {
                try demuxer.findStreamInfo()
                signatures = (0..<demuxer.streamCount).map { k in
                    let decoded = CodecSignature(demuxer.stream(k))
                    // Equal to the reference's (VP9 declares no extradata, so its header cannot vouch): one copy.
                    guard let shared = reference?.decoded, k < shared.count, shared[k] == decoded else { return decoded }
                    return shared[k]
                }
                if reference == nil {
                    reference = ProbeReference(header: header, decoded: signatures, streams: try? StreamParameters(demuxer))
                }
            }
            // Index-only: stream parameters are known (decoding, if any, read real bytes); from here on the
            // sample tables (MP4/MOV) or the block headers (Matroska, where its Cues agree) give every packet's size,
            // timestamps, duration and key flag, and payloads are not read.
            let nalStreams = signatures.enumerated().compactMap { k, signature -> (index: Int, hevc: Bool)? in
                signature.codec == "h264" ? (k, false) : signature.codec == "hevc" ? (k, true) : nil
            }
            let frameEnds = signatures.enumerated().compactMap { k, signature -> (index: Int, head: Int, tail: Int)? in
                frameEndsRead[signature.codec].map { (k, $0.head, $0.tail) }
            }
            let indexed = mode == .index && signatures.allSatisfy({ isIndexable($0, formatName: demuxer.formatName) })
                && demuxer.skipMediaData(nalStreams: nalStreams, frameEnds: frameEnds, everyMatroska: everyMatroska)
            let input = try probe(demuxer, signatures: signatures, fileSize: size, cancellation: cancellation)
            // The format name is shared with the inputs before (`ProbedInput.sharingStorage(with:)`), with the path's directory.
            if reference?.formatName.isEmpty == true { reference?.formatName = input.formatName }
            return (input, indexed ? demuxer.bytesReadFromDisk : nil)
        } catch let error as FFmpegError {
            if error.isInterrupted { throw .cancelled }
            throw .unreadableInput(path: path, reason: describe(error))
        } catch let error as StitchError {
            throw error
        } catch {
            throw .unreadableInput(path: path, reason: "\(error)")
        }
    }

    /// Codecs whose packets MP4/MOV describe completely in the sample tables: neither libavformat (no parser, no
    /// header sniffing in the mov demuxer) nor the probe (the VP9 and AV1 frame checks read payloads) looks at their
    /// bytes.
    /// H.264 and HEVC are, with a few bytes per frame: libavformat runs their parser on every packet, and the key flag
    /// the parser derives from the NAL units replaces the sample table's, so their NAL unit headers are read (not in
    /// fragmented MP4, whose sample tables arrive while reading: scanned).
    static let indexableCodecs: Set<String> = ["h264", "hevc", "aac", "opus", "alac", "flac", "prores", "mpeg4", "mjpeg", "ffv1"]

    /// In Matroska and WebM, the codecs whose packets nothing derives from their frames but what is read all the same:
    /// the H.264/HEVC NAL unit headers (key flags), and the ends of each frame in `frameEndsRead`. Each is checked
    /// against the scan by the fixtures (`ProbeModeTests`). Not FLAC (libavformat's parser takes each frame's duration
    /// from its header, anywhere in the frame), nor ProRes (the demuxer looks for its 'icpf' header, to add it where
    /// missing).
    static let matroskaIndexableCodecs: Set<String> = ["h264", "hevc", "aac", "ffv1", "vp9", "opus"]

    /// Bytes at the start and end of each frame read from disk when a Matroska file's frames are otherwise left unread:
    /// VP9's frame header (the probe's frame check, libavformat's parser) and superframe index (at most 34 bytes);
    /// Opus's TOC and frame lengths, which libavformat's parser reads (without them a chunk read 31 packets, not 51).
    static let frameEndsRead: [String: (head: Int, tail: Int)] = ["vp9": (64, 40), "opus": (128, 0)]

    /// Whether packets of this codec can be probed without their payload in a file of the demuxer `formatName`.
    static func isIndexable(_ signature: CodecSignature, formatName: String) -> Bool {
        let codecs = formatName.hasPrefix("matroska,") ? matroskaIndexableCodecs : indexableCodecs
        return codecs.contains(signature.codec) || signature.codec.hasPrefix("pcm_")
    }

    /// Opens `path` with the demuxer libavformat's probe picks. The probe scores a file's first bytes, and can
    /// misjudge a very small one (GStreamer's program stream of a 1-frame chunk, 2.8 KB, scores as MP4, which then
    /// finds no `moov`): when that open fails, the demuxer the file's extension names is tried once, and the first
    /// error stands if that fails too.
    static func openProbing(_ path: String, indexOnly: Bool, cancellation: CancellationFlag?) throws(FFmpegError) -> Demuxer {
        do {
            return try Demuxer(path: path, findStreamInfo: false, indexOnly: indexOnly, cancellation: cancellation)
        } catch {
            if error.isInterrupted { throw error }
            let ext = String(path.split(separator: "/").last?.split(separator: ".").last ?? "").lowercased()
            guard let named = demuxerByExtension[ext],
                  let opened = try? Demuxer(path: path, findStreamInfo: false, indexOnly: indexOnly, cancellation: cancellation, format: named)
            else { throw error }
            return opened
        }
    }

    /// The demuxer a file extension names, for `openProbing`.
    static let demuxerByExtension: [String: String] = [
        "mpg": "mpeg", "mpeg": "mpeg", "vob": "mpeg", "m2p": "mpeg", "ts": "mpegts", "m2ts": "mpegts", "mts": "mpegts",
        "mp4": "mov", "m4v": "mov", "m4a": "mov", "mov": "mov", "mkv": "matroska", "mka": "matroska", "webm": "matroska",
        "avi": "avi", "mxf": "mxf", "flv": "flv",
    ]

    /// Checks existence, type and size before handing the file to libavformat, for clearer messages.
    static func fileSize(_ path: String) throws(StitchError) -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = switch errno {
            case ENOENT: "no such file"
            case EACCES: "permission denied (a directory on its path cannot be searched)"
            case ENOTDIR: "no such file (a component of its path is not a directory)"
            default: String(cString: strerror(errno))
            }
            throw .unreadableInput(path: path, reason: reason)
        }
        if let kind = fileKind(mode: info.st_mode) {
            throw .unreadableInput(path: path, reason: "is \(kind), not a regular file (inputs are read twice: probed, then copied)")
        }
        guard access(path, R_OK) == 0 else { throw .unreadableInput(path: path, reason: "permission denied") }
        if info.st_size == 0 { throw .unreadableInput(path: path, reason: "file is empty (0 bytes)") }
        return Int64(info.st_size)
    }

    static func describe(_ error: FFmpegError) -> String {
        switch error.function {
        case "avformat_open_input":
            // The system refused to open or read it (out of descriptors or memory, an I/O error): not a verdict on
            // what the file holds.
            let refused = [EMFILE, ENFILE, ENOMEM, EIO, EACCES, EPERM, EAGAIN].contains { helios_averror($0) == error.code }
            return refused ? "cannot open it: \(error.message)" : "not a media file libavformat can read (\(error.message))"
        case "avformat_find_stream_info":
            return "cannot read stream parameters; the file may be truncated or corrupt (\(error.message))"
        case "av_read_frame":
            return "read error; the file may be truncated or corrupt (\(error.message))"
        default:
            return "\(error.function) failed: \(error.message)"
        }
    }

    static func probe(_ demuxer: Demuxer, signatures: [CodecSignature], fileSize: Int64,
                      cancellation: CancellationFlag? = nil) throws -> ProbedInput {
        guard signatures.count == demuxer.streamCount else {
            throw StitchError.unreadableInput(path: demuxer.path, reason: "streams changed while probing")
        }
        // Matroska and WebM store one timestamp per block: decode timestamps are derived, always the same way.
        let storesNoDts = demuxer.formatName.contains("matroska") || demuxer.formatName.contains("webm")
        var accumulators = (0..<demuxer.streamCount).map {
            StreamAccumulator(stream: demuxer.stream($0), index: $0, signature: signatures[$0], storesNoDts: storesNoDts,
                              annexB: demuxer.formatName == "mpegts", statesTrimmedDurations: demuxer.formatName == "ogg")
        }
        let fragmented = demuxer.formatName.hasPrefix("mov,") ? demuxer.isFragmentedISOBMFF : nil
        let fragments = fragmented == true ? demuxer.fragmentFacts() : nil
        if let fragments, fragments.contains(where: { $0.compositionShift > 0 }) {
            demuxer.timestampShifts = fragments.map(\.compositionShift)
        }
        // FLV stores no durations either: a codec without a parser (Sorenson's flv1) leaves a 1-frame chunk none.
        if fragmented == true || demuxer.formatName == "flv" {
            for k in accumulators.indices { accumulators[k].fillsFrameDuration() }
        }
        let packet = try Packet()
        var read = 0
        while try demuxer.read(into: packet) {
            read += 1
            if read & 1023 == 0, cancellation.isCancelled { throw StitchError.cancelled }
            let index = packet.streamIndex
            guard index < accumulators.count else { continue }
            accumulators[index].add(packet)
        }
        // A truncated MP4 often opens and then yields no packets: report it rather than stitch nothing.
        var streams = accumulators.map { $0.finish() }
        if fragmented == false {
            for k in streams.indices {
                streams[k].parserKeyframes = demuxer.indexedKeyframes(stream: k).map { accumulators[k].keyframes - $0 }
            }
        }
        if !streams.isEmpty && streams.allSatisfy({ $0.packetCount == 0 }) {
            throw StitchError.unreadableInput(path: demuxer.path, reason: "contains no packets; the file is truncated or empty")
        }
        try checkIntegrity(demuxer, accumulators: accumulators, streams: streams)
        // A fragmented MP4 cut inside its media data reads to the cut without an error: its track runs still declare
        // the samples after it.
        for (stream, facts) in zip(streams, fragments ?? []) where Int64(stream.packetCount) < facts.declaredSamples {
            throw StitchError.damagedInput(index: nil, path: demuxer.path, reason: "the file is truncated: stream \(stream.index) "
                + "(\(stream.signature.kind.rawValue)) has \(stream.packetCount) of the \(facts.declaredSamples) samples its track runs declare")
        }
        let input = ProbedInput(
            path: demuxer.path,
            formatName: demuxer.formatName,
            fileSize: fileSize,
            streams: streams,
            containerDurationMicroseconds: demuxer.containerDuration,
            timecode: demuxer.timecode,
            attachedPictures: demuxer.attachedPictures.count,
            attachments: demuxer.attachments.count,
            dataStreams: demuxer.dataStreams,
            timestampShifts: demuxer.timestampShifts
        )
        return (fragments.map { input.applyingFragmentFacts($0) } ?? input).markingUnflaggedPriming()
    }
}
