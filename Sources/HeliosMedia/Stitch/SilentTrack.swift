import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A chunk rendered silent without a sound track, given one. Renderers may leave the audio stream out of a chunk
/// that has no sound, where every other chunk has one; the stitch needs the same streams in every input. The
/// chunk's packets are copied, as they are, beside a silent track made like input 1's (codec, sample rate, channel
/// layout, about its bit rate) and spanning the chunk's video, into a temp file that stands in for the chunk:
/// probed, validated and stitched like any other input, so the silence is laid out as encoded sound always is.
/// The chunk itself is not modified.
enum SilentTrack {
    /// Whether `input` has no sound where `first` has: the streams of `first` but its audio, or with every audio
    /// stream empty (Matroska, WebM, MPEG-TS and fragmented MP4 keep a stream that got no packets) and declared as
    /// `first`'s is, and video.
    static func isMissingAudio(_ input: ProbedInput, first: ProbedInput) -> Bool {
        func sounds(_ p: ProbedInput) -> Bool { p.streams.contains { $0.signature.kind == .audio && $0.packetCount > 0 } }
        func audio(_ p: ProbedInput) -> [ProbedStream] { p.streams.filter { $0.signature.kind == .audio } }
        func others(_ p: ProbedInput) -> [MediaKind] { p.streams.map(\.signature.kind).filter { $0 != .audio } }
        let empty = audio(input)
        return !sounds(input) && sounds(first) && others(input) == others(first)
            && (empty.isEmpty || (empty.count == audio(first).count && zip(empty, audio(first)).allSatisfy { isEmpty($0, like: $1) }))
            && input.masterStreamIndex.map { input.streams[$0].signature.kind == .video } == true
    }

    /// Whether `stream`, which has no packets, is declared as `reference` is: the same codec, rate, channels and codec
    /// header; or only the codec, where the container declares nothing else of a stream without packets (MPEG-TS).
    /// A header damaged so that the demuxer reads none of the stream's packets declares otherwise (an Opus header
    /// unread: no channels), and is refused as an empty stream, not taken for silence.
    static func isEmpty(_ stream: ProbedStream, like reference: ProbedStream) -> Bool {
        let (mine, theirs) = (stream.signature, reference.signature)
        guard stream.packetCount == 0, mine.codec == theirs.codec else { return false }
        if mine.sampleRate == 0, mine.channels == 0, mine.extradata.isEmpty { return true }
        return mine.sampleRate == theirs.sampleRate && mine.channels == theirs.channels && mine.extradata == theirs.extradata
    }

    /// Writes `input` with a silent stream in place of each of `first`'s audio streams (made from `parameters`, the
    /// parameters of `first`'s streams) to `path`, in the container `muxerName` names.
    static func write(_ input: ProbedInput, first firstInput: ProbedInput, parameters: StreamParameters, to path: String, muxerName: String,
                      cancellation: CancellationFlag?) throws {
        let demuxer = try Demuxer(path: input.path, findStreamInfo: true, cancellation: cancellation, format: input.formatName)
        let muxer = try Muxer(path: path, formatName: muxerName, cancellation: cancellation)
        // The stand-in's streams in input 1's order: the chunk's own in theirs (its empty audio streams left out), a
        // silent one for each audio stream.
        var others = input.streams.indices.filter { input.streams[$0].signature.kind != .audio }.makeIterator()
        var fromInput: [Int: Int] = [:], encoders: [(stream: Int, encoder: AudioEncoder, rate: Int32)] = []
        for (s, stream) in firstInput.streams.enumerated() {
            if stream.signature.kind == .audio {
                let (encoder, rate) = try addSilentStream(to: muxer, like: parameters.codecParameters(s), path: path)
                encoders.append((s, encoder, rate))
            } else {
                guard let next = others.next(), next < demuxer.streamCount else {
                    throw StitchError.unreadableInput(path: input.path, reason: "stream count changed since it was probed")
                }
                fromInput[next] = try muxer.addStream(copying: demuxer.stream(next), timeBase: input.streams[next].timeBase)
            }
        }
        try muxer.writeHeader(options: [:])

        // The silence spans the chunk's video: from its first frame's presentation to its last frame's end.
        guard let master = input.masterStreamIndex, let start = input.streams[master].startPts, let end = input.streams[master].endPts else {
            throw StitchError.unreadableInput(path: input.path, reason: "no video frames to give a silent track")
        }
        let videoTB = input.streams[master].timeBase
        let span = Self.videoSeconds(input.streams[master])
        var silent: [Silence] = []
        for (stream, encoder, rate) in encoders {
            let sampleTB = Rational(1, rate)
            let count = span.map { Int64(($0 * Double(rate)).rounded()) } ?? Ticks.rescale(end - start, from: videoTB, to: sampleTB)
            // Timestamps counted here, as `ExactAudioTrack` counts them: packet k starts where the ones before it end,
            // less the encoder's priming, which the container marks (MP4's edit list) or keeps ahead of the video;
            // or with the video, where input 1 stores its priming as content (CMAF, GStreamer), as its chunks all do.
            let reference = firstInput.streams[stream], referenceMaster = firstInput.streams[firstInput.masterStreamIndex ?? 0]
            let asContent = reference.primingStoredAsContent(masterStart: referenceMaster.contentStart, masterTimeBase: referenceMaster.timeBase)
            silent += try encodeSilence(encoder, rate: rate, channels: Int(parameters.codecParameters(stream).pointee.ch_layout.nb_channels),
                                        samples: count, from: Ticks.rescale(start, from: videoTB, to: sampleTB) - (asContent ? 0 : encoder.initialPadding),
                                        stream: stream, timeBase: muxer.timeBase(of: stream))
        }
        try copy(input, from: demuxer, streams: fromInput, interleaving: silent, into: muxer)
    }

    /// One packet of encoded silence, for output stream `stream`, and when it starts.
    struct Silence {
        var seconds: Double
        var packet: Packet
        var stream: Int
    }

    /// Adds to `muxer` a stream for the silence an encoder made like `parameters` (codec, sample rate, channel layout,
    /// about its bit rate) writes, and returns that encoder and its sample rate.
    static func addSilentStream(to muxer: Muxer, like parameters: UnsafePointer<AVCodecParameters>, path: String) throws -> (AudioEncoder, Int32) {
        let par = parameters.pointee
        let encoder = try encoder(like: par, for: muxer, path: path)
        let made = try encoder.parameters()
        _ = try withExtendedLifetime(made) { try muxer.addStream(copying: made.pointer, timeBase: Rational(1, par.sample_rate)) }
        return (encoder, par.sample_rate)
    }

    /// An encoder of `par`'s codec, sample rate and channel layout, at about its bit rate, for `muxer`'s container.
    static func encoder(like par: AVCodecParameters, for muxer: Muxer, path: String) throws -> AudioEncoder {
        try AudioEncoder(codecID: par.codec_id, sampleRate: par.sample_rate, layout: par.ch_layout,
                         bitRate: par.bit_rate > 0 ? par.bit_rate : 64_000 * Int64(max(par.ch_layout.nb_channels, 1)),
                         globalHeader: muxer.formatContext.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0, path: path)
    }

    /// `samples` of silence from `encoder` (all it writes, its priming and flush included), the first packet
    /// starting at `first` (in samples), each next one where the one before it ends, for output stream `stream`
    /// (whose time base is `timeBase`).
    static func encodeSilence(_ encoder: AudioEncoder, rate: Int32, channels: Int, samples count: Int64, from first: Int64,
                              stream: Int, timeBase outTB: Rational) throws -> [Silence] {
        let sampleTB = Rational(1, rate)
        let zeros = [[Float]](repeating: [Float](repeating: 0, count: encoder.frameSize), count: max(channels, 1))
        var position: Int64 = 0, sent: Int64 = 0, silent: [Silence] = []
        let take = { (packet: Packet) in
            let p = packet.pointer
            let pts = first + position
            position += p.pointee.duration
            p.pointee.stream_index = Int32(stream)
            p.pointee.pts = Ticks.rescale(pts, from: sampleTB, to: outTB)
            p.pointee.dts = p.pointee.pts
            p.pointee.duration = Ticks.rescale(p.pointee.duration, from: sampleTB, to: outTB)
            let owned = try Packet()
            av_packet_move_ref(owned.pointer, p)
            silent.append(Silence(seconds: Ticks.seconds(pts, in: sampleTB), packet: owned, stream: stream))
        }
        while sent < count {
            let n = Int(min(Int64(encoder.frameSize), count - sent))
            try encoder.encode(zeros, start: 0, count: n, emit: take)
            sent += Int64(n)
        }
        try encoder.finish(emit: take)
        return silent
    }

    /// Copies `input`'s packets (read by `demuxer`) as they are into `muxer`'s streams (`streams` maps the input's to
    /// them; others are left out), with `silence` (of streams without packets of the input) interleaved by time and
    /// `tails` (of streams with packets) after them, and finishes the file. A tail waits for the end of the input: a
    /// file's packets are in order per stream, not across streams (MPEG-TS carries its audio late), and the muxer
    /// interleaves what it is given.
    static func copy(_ input: ProbedInput, from demuxer: Demuxer, streams fromInput: [Int: Int], interleaving silence: [Silence] = [],
                     then tails: [Silence] = [], into muxer: Muxer) throws {
        // Read as the probe reads it (CMAF's composition shift, a fragmented MP4's missing edit list taken off).
        demuxer.timestampShifts = input.timestampShifts
        let silent = silence.sorted { $0.seconds < $1.seconds }
        var k = 0
        let packet = try Packet()
        while try demuxer.read(into: packet) {
            guard let out = fromInput[packet.streamIndex] else { continue }
            let p = packet.pointer, tb = input.streams[packet.streamIndex].timeBase, outTB = muxer.timeBase(of: out)
            let dts = p.pointee.dts != AV.noPTS ? p.pointee.dts : p.pointee.pts
            if dts != AV.noPTS {
                let seconds = Ticks.seconds(dts, in: tb)
                while k < silent.count, silent[k].seconds <= seconds {
                    try muxer.write(silent[k].packet)
                    k += 1
                }
            }
            p.pointee.stream_index = Int32(out)
            if p.pointee.pts != AV.noPTS { p.pointee.pts = Ticks.rescale(p.pointee.pts, from: tb, to: outTB) }
            if p.pointee.dts != AV.noPTS { p.pointee.dts = Ticks.rescale(p.pointee.dts, from: tb, to: outTB) }
            p.pointee.duration = Ticks.rescale(p.pointee.duration, from: tb, to: outTB)
            p.pointee.pos = -1
            try muxer.write(packet)
        }
        while k < silent.count {
            try muxer.write(silent[k].packet)
            k += 1
        }
        // A chunk read short (cut off, damaged) is not one to stand in for: the probe that refuses it says why.
        if let line = demuxer.loggedErrors.first {
            throw StitchError.damagedInput(index: nil, path: input.path, reason: "the file is corrupt or truncated; libavformat: \(line)")
        }
        for tail in tails { try muxer.write(tail.packet) }
        try muxer.finish()
    }

    /// How long `video`'s frames last, in seconds: its frames at its declared rate where that agrees with its
    /// timestamps within a frame (a millisecond time base rounds 20 frames at 30 fps to 666 ms; they last 666.7),
    /// else its timestamps' span; nil without frames.
    static func videoSeconds(_ video: ProbedStream) -> Double? {
        guard let start = video.startPts, let end = video.endPts else { return nil }
        let span = Ticks.seconds(end - start, in: video.timeBase)
        guard let rate = video.frameRate, rate.num > 0, rate.den > 0 else { return span }
        let counted = Double(video.packetCount) * Double(rate.den) / Double(rate.num)
        return abs(counted - span) * rate.doubleValue < 1 ? counted : span
    }

    /// The muxer libavformat names for a file called like `path` (its extension), nil when none fits.
    static func muxerName(forFileNamed path: String) -> String? {
        guard let format = av_guess_format(nil, path, nil) else { return nil }
        return String(cString: format.pointee.name)
    }
}
