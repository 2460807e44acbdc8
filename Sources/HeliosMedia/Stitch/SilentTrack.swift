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
    /// Whether `input` has the streams of `first` but its audio (and `first` has audio): what a stand-in supplies.
    static func isMissingAudio(_ input: ProbedInput, first: ProbedInput) -> Bool {
        let kinds = input.streams.map(\.signature.kind), firstKinds = first.streams.map(\.signature.kind)
        return !kinds.contains(.audio) && firstKinds.contains(.audio) && kinds == firstKinds.filter { $0 != .audio }
            && input.masterStreamIndex.map { input.streams[$0].signature.kind == .video } == true
    }

    /// Writes `input` with a silent stream in place of each of `first`'s audio streams (made from `parameters`, the
    /// parameters of `first`'s streams) to `path`, in the container `muxerName` names.
    static func write(_ input: ProbedInput, first firstInput: ProbedInput, parameters: StreamParameters, to path: String, muxerName: String,
                      cancellation: CancellationFlag?) throws {
        let demuxer = try Demuxer(path: input.path, findStreamInfo: true, cancellation: cancellation, format: input.formatName)
        // Read as the probe reads it (CMAF's composition shift, a fragmented MP4's missing edit list taken off).
        demuxer.timestampShifts = input.timestampShifts
        let muxer = try Muxer(path: path, formatName: muxerName, cancellation: cancellation)
        let globalHeader = muxer.formatContext.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0
        // The stand-in's streams in input 1's order: the chunk's own in theirs, a silent one for each audio stream.
        var fromInput: [Int: Int] = [:], encoders: [(stream: Int, encoder: AudioEncoder, rate: Int32)] = []
        var next = 0
        for (s, stream) in firstInput.streams.enumerated() {
            if stream.signature.kind == .audio {
                let par = parameters.codecParameters(s).pointee
                let channels = Int64(max(par.ch_layout.nb_channels, 1))
                let encoder = try AudioEncoder(codecID: par.codec_id, sampleRate: par.sample_rate, layout: par.ch_layout,
                                               bitRate: par.bit_rate > 0 ? par.bit_rate : 64_000 * channels,
                                               globalHeader: globalHeader, path: path)
                let made = try encoder.parameters()
                _ = try withExtendedLifetime(made) { try muxer.addStream(copying: made.pointer, timeBase: Rational(1, par.sample_rate)) }
                encoders.append((s, encoder, par.sample_rate))
            } else {
                guard next < demuxer.streamCount else { throw StitchError.unreadableInput(path: input.path, reason: "stream count changed since it was probed") }
                fromInput[next] = try muxer.addStream(copying: demuxer.stream(next), timeBase: input.streams[next].timeBase)
                next += 1
            }
        }
        try muxer.writeHeader(options: [:])

        // The silence spans the chunk's video: from its first frame's presentation to its last frame's end.
        guard let master = input.masterStreamIndex, let start = input.streams[master].startPts, let end = input.streams[master].endPts else {
            throw StitchError.unreadableInput(path: input.path, reason: "no video frames to give a silent track")
        }
        let videoTB = input.streams[master].timeBase
        let span = Self.videoSeconds(input.streams[master])
        var silent: [(seconds: Double, packet: Packet, stream: Int)] = []
        for (stream, encoder, rate) in encoders {
            let sampleTB = Rational(1, rate)
            let first = Ticks.rescale(start, from: videoTB, to: sampleTB)
            let count = span.map { Int64(($0 * Double(rate)).rounded()) } ?? Ticks.rescale(end - start, from: videoTB, to: sampleTB)
            let channels = Int(parameters.codecParameters(stream).pointee.ch_layout.nb_channels)
            let zeros = [[Float]](repeating: [Float](repeating: 0, count: encoder.frameSize), count: max(channels, 1))
            var position: Int64 = 0, sent: Int64 = 0
            let outTB = muxer.timeBase(of: stream)
            // Timestamps counted here, as `ExactAudioTrack` counts them: packet k starts where the ones before it end,
            // less the encoder's priming, which the container marks (MP4's edit list) or keeps ahead of the video;
            // or with the video, where input 1 stores its priming as content (CMAF, GStreamer), as its chunks all do.
            let reference = firstInput.streams[stream], referenceMaster = firstInput.streams[firstInput.masterStreamIndex ?? 0]
            let asContent = reference.primingStoredAsContent(masterStart: referenceMaster.contentStart, masterTimeBase: referenceMaster.timeBase)
            let priming = asContent ? 0 : encoder.initialPadding
            let take = { (packet: Packet) in
                let p = packet.pointer
                let pts = first + position - priming
                position += p.pointee.duration
                p.pointee.stream_index = Int32(stream)
                p.pointee.pts = Ticks.rescale(pts, from: sampleTB, to: outTB)
                p.pointee.dts = p.pointee.pts
                p.pointee.duration = Ticks.rescale(p.pointee.duration, from: sampleTB, to: outTB)
                let owned = try Packet()
                av_packet_move_ref(owned.pointer, p)
                silent.append((Ticks.seconds(pts, in: sampleTB), owned, stream))
            }
            while sent < count {
                let n = Int(min(Int64(encoder.frameSize), count - sent))
                try encoder.encode(zeros, start: 0, count: n, emit: take)
                sent += Int64(n)
            }
            try encoder.finish(emit: take)
        }
        silent.sort { $0.seconds < $1.seconds }

        // The chunk's packets as they are, with the silence interleaved by time.
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
