import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SilentTrack {
    /// An audio stream of a chunk whose sound ends before its picture: how many samples of silence make it last as
    /// long as the picture, and where they start (in the stream's samples).
    struct ShortTail: Equatable {
        var stream: Int
        var start: Int64
        var samples: Int64
    }

    /// An audio stream of a chunk whose sound starts after its picture, by its timestamps (`ffmpeg -itsoffset`: the
    /// soundtrack begins inside the chunk): how many samples of silence come before it, ending where its first
    /// packet starts (in the stream's samples).
    struct LateHead: Equatable {
        var stream: Int
        var end: Int64
        var samples: Int64
    }

    /// Where an audio stream's sound and its chunk's picture begin and end, in the stream's samples.
    struct SoundSpan {
        var stream: Int
        var pictureStart, pictureEnd: Int64
        var start, end: Int64
        /// The stream's first packet, priming included.
        var firstPacket: Int64
        /// A packet: the continuity tolerance.
        var tolerance: Int64
    }

    /// The spans of `input`'s audio streams that have packets and a sample rate, against its picture. Empty for an
    /// input without video.
    static func soundSpans(_ input: ProbedInput) -> [SoundSpan] {
        guard let m = input.masterStreamIndex, input.streams[m].signature.kind == .video,
              let videoSeconds = videoSeconds(input.streams[m]) else { return [] }
        let video = input.streams[m]
        return input.streams.enumerated().compactMap { s, stream in
            let rate = Int64(stream.signature.sampleRate)
            guard stream.signature.kind == .audio, stream.packetCount > 0, rate > 0, let first = stream.startPts else { return nil }
            let sampleTB = Rational(1, Int32(rate))
            func samples(_ ticks: Int64, _ timeBase: Rational) -> Int64 { Ticks.rescale(ticks, from: timeBase, to: sampleTB) }
            let pictureStart = samples(video.contentStart, video.timeBase)
            return SoundSpan(stream: s, pictureStart: pictureStart, pictureEnd: pictureStart + Int64((videoSeconds * Double(rate)).rounded()),
                             start: samples(stream.contentStart, stream.timeBase), end: samples(stream.contentEnd, stream.timeBase),
                             firstPacket: samples(first, stream.timeBase), tolerance: samples(stream.continuityTolerance, stream.timeBase))
        }
    }

    /// The audio streams of `input` whose sound ends more than a packet (the continuity tolerance) before its
    /// picture does: what a renderer writes when the soundtrack ends inside the chunk (`ffmpeg -i video -i
    /// shorter.wav`). Owed up to where the picture ends, where the next chunk's sound (a silent track) starts with
    /// its picture.
    static func shortTails(_ input: ProbedInput) -> [ShortTail] {
        soundSpans(input).compactMap { span in
            span.pictureEnd - span.end > span.tolerance ? ShortTail(stream: span.stream, start: span.end, samples: span.pictureEnd - span.end) : nil
        }
    }

    /// The AAC streams of `input` whose sound starts more than a packet after its picture and lasts to the picture's
    /// end (within a packet): the chunk where a soundtrack that starts late begins. The silence ends where the
    /// chunk's own packets begin (its priming included). Only AAC: its priming decodes as the silence it is in the
    /// middle of a stream (the sound where it was, within a packet in copy mode, 1.2 ms in exact); Opus's pre-skip,
    /// read there, put the sound 28 ms late (49 ms with exact audio), so an Opus chunk that starts late is refused.
    static func lateHeads(_ input: ProbedInput) -> [LateHead] {
        soundSpans(input).compactMap { span in
            // Only where the late start makes the sound shorter than the picture by more than a packet (which the
            // validator refuses as drift): a set that stitches as it is stays as it is.
            guard input.streams[span.stream].signature.codec == "aac", span.start - span.pictureStart > span.tolerance,
                  span.end >= span.pictureEnd - span.tolerance,
                  (span.pictureEnd - span.pictureStart) - (span.end - span.start) > span.tolerance else { return nil }
            return LateHead(stream: span.stream, end: span.firstPacket, samples: span.firstPacket - span.pictureStart)
        }
    }

    /// Writes `input` with `tails` of silence after the sound of its audio streams (each encoded like its stream) to
    /// `path`, in the container `muxerName` names. Each encoder's priming is laid out as sound: silence either way.
    static func write(_ input: ProbedInput, tails: [ShortTail], to path: String, muxerName: String, cancellation: CancellationFlag?) throws {
        try writePadded(input, streams: tails.map(\.stream), to: path, muxerName: muxerName, cancellation: cancellation) { k, encoder, rate, channels, out, timeBase in
            let tail = tails[k]
            return (try encodeSilence(encoder, rate: rate, channels: channels, samples: max(tail.samples - encoder.initialPadding, 1),
                                      from: tail.start, stream: out, timeBase: timeBase), false)
        }
    }

    /// Writes `input` with `heads` of silence before the sound of its audio streams (each encoded like its stream,
    /// in whole packets ending where the stream's first packet starts) to `path`, in the container `muxerName` names.
    static func write(_ input: ProbedInput, heads: [LateHead], to path: String, muxerName: String, cancellation: CancellationFlag?) throws {
        try writePadded(input, streams: heads.map(\.stream), to: path, muxerName: muxerName, cancellation: cancellation) { k, encoder, rate, channels, out, timeBase in
            // Whole packets that fit: the silence starts less than a packet after the picture (as the chunk before
            // it, silent, may end its sound up to a packet after its picture), within a packet of continuity.
            let head = heads[k], frame = Int64(max(encoder.frameSize, 1))
            let packets = head.samples / frame
            // Silence of the encoder's own making, its priming included, is silence throughout: the first `packets`
            // of it (not the flush, which Opus may cut short), laid end to end up to the sound.
            var made = try encodeSilence(encoder, rate: rate, channels: channels, samples: packets * frame, from: head.end - packets * frame,
                                         stream: out, timeBase: timeBase)
            made.removeLast(max(made.count - Int(packets), 0))
            guard made.count == packets, made.allSatisfy({ $0.packet.pointer.pointee.duration == Ticks.rescale(frame, from: Rational(1, rate), to: timeBase) }) else {
                throw StitchError.unreadableInput(path: input.path, reason: "its silence could not be encoded in whole packets")
            }
            return (made, true)
        }
    }

    /// `input`'s packets with silence made for its audio streams `padded` by `silence` (given the stream's place in
    /// `padded`, an encoder like it, its rate and channels, the output stream and its time base; the packets, and
    /// whether they come before the chunk's: interleaved by time, or after the chunk's last packet).
    private static func writePadded(_ input: ProbedInput, streams padded: [Int], to path: String, muxerName: String, cancellation: CancellationFlag?,
                                    silence: (Int, AudioEncoder, Int32, Int, Int, Rational) throws -> ([Silence], Bool)) throws {
        let demuxer = try Demuxer(path: input.path, findStreamInfo: true, cancellation: cancellation, format: input.formatName)
        let parameters = try StreamParameters(demuxer)
        let muxer = try Muxer(path: path, formatName: muxerName, cancellation: cancellation)
        var streams: [Int: Int] = [:]
        for s in 0..<demuxer.streamCount where s < input.streams.count {
            streams[s] = try muxer.addStream(copying: demuxer.stream(s), timeBase: input.streams[s].timeBase)
        }
        var encoders: [(k: Int, stream: Int, encoder: AudioEncoder, rate: Int32)] = []
        for (k, stream) in padded.enumerated() {
            let par = parameters.codecParameters(stream).pointee
            // The silence is read with the chunk's own codec header: Vorbis packets need the header their encoder
            // wrote, and AAC other than LC (HE-AAC's SBR) is not what the encoder here writes.
            guard par.codec_id != AV_CODEC_ID_VORBIS, par.codec_id != AV_CODEC_ID_AAC || par.profile == FF_PROFILE_AAC_LOW || par.profile == FF_PROFILE_UNKNOWN else {
                throw StitchError.unreadableInput(path: input.path, reason: "no silence can be encoded to be read with its audio's codec header")
            }
            let encoder = try encoder(like: par, for: muxer, path: path)
            encoders.append((k, stream, encoder, par.sample_rate))
            if let out = streams[stream] { try lendHeader(of: encoder, to: muxer.formatContext.pointee.streams[out]!.pointee.codecpar) }
        }
        try muxer.writeHeader(options: [:])
        var before: [Silence] = [], after: [Silence] = []
        for (k, stream, encoder, rate) in encoders {
            guard let out = streams[stream] else { continue }
            let channels = Int(parameters.codecParameters(stream).pointee.ch_layout.nb_channels)
            let (made, leads) = try silence(k, encoder, rate, channels, out, muxer.timeBase(of: out))
            if leads { before += made } else { after += made }
        }
        try copy(input, from: demuxer, streams: streams, interleaving: before, then: after, into: muxer)
    }

    /// Gives a stream without a codec header (MPEG-TS's AAC, whose packets carry ADTS headers) the encoder's, so that
    /// the muxer frames the encoder's bare packets as it frames the chunk's own (ADTS around each AAC frame).
    private static func lendHeader(of encoder: AudioEncoder, to target: UnsafeMutablePointer<AVCodecParameters>) throws {
        guard target.pointee.extradata_size == 0 else { return }
        let made = try encoder.parameters()
        try withExtendedLifetime(made) {
            let n = Int(made.pointer.pointee.extradata_size)
            guard n > 0, let source = made.pointer.pointee.extradata else { return }
            guard let bytes = av_mallocz(n + Int(AV_INPUT_BUFFER_PADDING_SIZE))?.assumingMemoryBound(to: UInt8.self) else {
                throw FFmpegError(code: -ENOMEM, function: "av_mallocz", path: encoder.path)
            }
            bytes.update(from: source, count: n)
            target.pointee.extradata = bytes
            target.pointee.extradata_size = Int32(n)
        }
    }
}
