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

    /// The audio streams of `input` whose sound ends more than a packet (the continuity tolerance) before its
    /// picture does: what a renderer writes when the soundtrack ends inside the chunk (`ffmpeg -i video -i
    /// shorter.wav`). Empty for an input without video; a stream without packets is not counted.
    static func shortTails(_ input: ProbedInput) -> [ShortTail] {
        guard let m = input.masterStreamIndex, input.streams[m].signature.kind == .video,
              let videoSeconds = videoSeconds(input.streams[m]) else { return [] }
        let video = input.streams[m]
        var tails: [ShortTail] = []
        for (s, stream) in input.streams.enumerated() where stream.signature.kind == .audio && stream.packetCount > 0 {
            let rate = Int64(stream.signature.sampleRate)
            guard rate > 0 else { continue }
            let sampleTB = Rational(1, Int32(rate))
            // Owed up to where the picture ends, where the next chunk's sound (a silent track) starts with its picture.
            let end = Ticks.rescale(stream.contentEnd, from: stream.timeBase, to: sampleTB)
            let owed = Ticks.rescale(video.contentStart, from: video.timeBase, to: sampleTB) + Int64((videoSeconds * Double(rate)).rounded()) - end
            let tolerance = Ticks.rescale(stream.continuityTolerance, from: stream.timeBase, to: sampleTB)
            if owed > tolerance { tails.append(ShortTail(stream: s, start: end, samples: owed)) }
        }
        return tails
    }

    /// Writes `input` with `tails` of silence after the sound of its audio streams (each encoded like its stream) to
    /// `path`, in the container `muxerName` names. Each encoder's priming is laid out as sound: silence either way.
    static func write(_ input: ProbedInput, tails: [ShortTail], to path: String, muxerName: String, cancellation: CancellationFlag?) throws {
        let demuxer = try Demuxer(path: input.path, findStreamInfo: true, cancellation: cancellation, format: input.formatName)
        let parameters = try StreamParameters(demuxer)
        let muxer = try Muxer(path: path, formatName: muxerName, cancellation: cancellation)
        var streams: [Int: Int] = [:]
        for s in 0..<demuxer.streamCount where s < input.streams.count {
            streams[s] = try muxer.addStream(copying: demuxer.stream(s), timeBase: input.streams[s].timeBase)
        }
        var encoders: [(tail: ShortTail, encoder: AudioEncoder, rate: Int32)] = []
        for tail in tails {
            let par = parameters.codecParameters(tail.stream).pointee
            // The silence is read with the chunk's own codec header: Vorbis packets need the header their encoder
            // wrote, and AAC other than LC (HE-AAC's SBR) is not what the encoder here writes.
            guard par.codec_id != AV_CODEC_ID_VORBIS, par.codec_id != AV_CODEC_ID_AAC || par.profile == FF_PROFILE_AAC_LOW || par.profile == FF_PROFILE_UNKNOWN else {
                throw StitchError.unreadableInput(path: input.path, reason: "no silence can be encoded to be read with its audio's codec header")
            }
            let encoder = try encoder(like: par, for: muxer, path: path)
            encoders.append((tail, encoder, par.sample_rate))
            if let out = streams[tail.stream] { try lendHeader(of: encoder, to: muxer.formatContext.pointee.streams[out]!.pointee.codecpar) }
        }
        try muxer.writeHeader(options: [:])
        var silence: [Silence] = []
        for (tail, encoder, rate) in encoders {
            guard let out = streams[tail.stream] else { continue }
            let channels = Int(parameters.codecParameters(tail.stream).pointee.ch_layout.nb_channels)
            silence += try encodeSilence(encoder, rate: rate, channels: channels, samples: max(tail.samples - encoder.initialPadding, 1),
                                         from: tail.start, stream: out, timeBase: muxer.timeBase(of: out))
        }
        try copy(input, from: demuxer, streams: streams, then: silence, into: muxer)
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
