import CFFmpeg
import CHeliosShims
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One audio stream re-encoded for `--audio exact`: every input's packets are decoded with nothing skipped, cut to
/// the input's video span (`ExactAudio.cut`), joined with no gap or overlap and encoded once with the same codec,
/// rate, layout and about the same bit rate. Confined to the remuxing task; holds one input's decoded audio at a time.
final class ExactAudioTrack {
    let stream: Int
    let sampleRate: Int32
    private let encoder: AudioEncoder
    let bitRate: Int64
    /// Output sample position of each input's first frame, and of the end (`ExactAudio.videoStartSamples`).
    private let shares: [Int64]
    /// Whether the output container skips encoder priming itself (MP4 edit list, Matroska CodecDelay for Opus);
    /// where it cannot (AAC in Matroska, MPEG-TS) priming packets are not written, so the track starts with the video.
    private let keepsPriming: Bool
    /// Samples (priming included) covered by the packets the encoder returned so far.
    private var encodedPosition: Int64 = 0
    private var pending: [[Float]] = []
    private var pendingStart = 0
    private var decoder: AudioDecoder?
    private var decoded: [[Float]] = []
    private var facts: [ExactAudio.PacketFacts] = []
    private(set) var cuts: [ExactAudio.Cut] = []
    /// Seconds spent decoding and encoding (for the report's cost figure).
    private(set) var codingSeconds: Double = 0
    private(set) var samplesEncoded: Int64 = 0
    private let clock = ContinuousClock()

    init(stream: Int, inputs: [ProbedInput], firstParameters: UnsafePointer<AVCodecParameters>, globalHeader: Bool,
         keepsPriming: Bool, path: String) throws(FFmpegError) {
        self.stream = stream
        let probed = inputs[0].streams[stream]
        sampleRate = probed.signature.sampleRate
        shares = ExactAudio.videoStartSamples(inputs: inputs, sampleRate: sampleRate)
        self.keepsPriming = keepsPriming
        // About the input's bit rate: what input 1's header declares (MP4); else the inputs' bytes over their
        // duration (Matroska and WebM declare none); else 64 kb/s a channel.
        let bytes = inputs.reduce(Int64(0)) { $0 + $1.streams[stream].payloadBytes }
        let seconds = Double(inputs.reduce(Int64(0)) { $0 + $1.streams[stream].frameCount }) / Double(max(sampleRate, 1))
        let measured = seconds > 0 ? Int64(Double(bytes * 8) / seconds) : 0
        let declared = firstParameters.pointee.bit_rate
        let channels = Int64(max(firstParameters.pointee.ch_layout.nb_channels, 1))
        bitRate = declared > 0 ? declared : measured > 0 ? measured : 64_000 * channels
        encoder = try AudioEncoder(codecID: firstParameters.pointee.codec_id, sampleRate: sampleRate,
                                   layout: firstParameters.pointee.ch_layout, bitRate: bitRate,
                                   globalHeader: globalHeader, path: path)
    }

    /// The encoder's parameters, for the output stream.
    func parameters() throws(FFmpegError) -> CodecParametersBox { try encoder.parameters() }
    var encoderName: String { encoder.name }

    /// Starts input `index`, whose audio stream has `parameters` and `timeBase`.
    func begin(parameters: UnsafePointer<AVCodecParameters>, timeBase: Rational, path: String) throws(FFmpegError) {
        decoder = try AudioDecoder(parameters: parameters, timeBase: timeBase, path: path)
        decoded = []
        facts = []
    }

    /// Decodes one packet of the current input, skipping nothing (its discard flag and skip samples are noted,
    /// then removed so the decoder returns every sample). AAC and Opus decoders return a packet's samples as soon
    /// as it is sent, so what comes out is counted as that packet's.
    func consume(_ packet: Packet) throws {
        guard let decoder else { return }
        let started = clock.now
        let skip = packet.skipSamples
        packet.pointer.pointee.flags &= ~AV.flagDiscard
        packet.setSkipSamples(start: 0, end: 0)
        let produced = try decoder.decode(packet, into: &decoded)
        facts.append(ExactAudio.PacketFacts(pts: packet.pts == AV.noPTS ? (facts.last?.pts ?? 0) : packet.pts,
                                            decodedSamples: produced, skipStart: skip?.start ?? 0, skipEnd: skip?.end ?? 0))
        codingSeconds += seconds(clock.now - started)
    }

    /// Ends input `index`: cuts its samples to its video span and encodes every whole frame ready.
    /// `cancellation` is checked between frames: a long chunk takes seconds to encode.
    func end(input index: Int, inputs: [ProbedInput], cancellation: CancellationFlag?, emit: (Packet) throws -> Void) throws {
        let started = clock.now
        if let decoder, !facts.isEmpty { facts[facts.count - 1].decodedSamples += try decoder.decode(nil, into: &decoded) }
        decoder = nil
        let probed = inputs[index].streams[stream]
        let master = inputs[index].streams[inputs[index].masterStreamIndex ?? 0]
        // FFmpeg's Matroska demuxer reads Opus blocks a CodecDelay earlier than its muxer wrote them (the quirk
        // `Muxer.codecDelayCompensation` makes up for on output): put them back where they were written.
        if inputs[index].formatName.contains("matroska"), probed.signature.codec == "opus", probed.initialPadding > 0 {
            let shift = Ticks.rescale(probed.initialPadding, from: Rational(1, sampleRate), to: probed.timeBase)
            for k in facts.indices { facts[k].pts += shift }
        }
        let cut = ExactAudio.cut(packets: facts, primingPackets: probed.leadingPacketsBefore(masterStart: master.contentStart,
                                                                                               masterTimeBase: master.timeBase),
                                 decoderPriming: probed.leadingDiscardPackets == 0 ? probed.initialPadding : 0,
                                 primingStoredAsContent: probed.primingStoredAsContent(masterStart: master.contentStart,
                                                                                       masterTimeBase: master.timeBase),
                                 timeBase: probed.timeBase, sampleRate: sampleRate, videoStart: master.contentStart,
                                 videoTimeBase: master.timeBase, count: shares[index + 1] - shares[index])
        cuts.append(cut)
        append(cut)
        decoded = []
        try encodeFrames(final: false, cancellation: cancellation, emit: emit)
        codingSeconds += seconds(clock.now - started)
    }

    /// Encodes what is left and flushes the encoder.
    func finish(emit: (Packet) throws -> Void) throws {
        let started = clock.now
        try encodeFrames(final: true, cancellation: nil, emit: emit)
        try encoder.finish { try self.pass($0, emit) }
        codingSeconds += seconds(clock.now - started)
    }

    /// Appends the cut's samples, silence where it reaches outside the content.
    private func append(_ cut: ExactAudio.Cut) {
        let channels = max(decoded.count, pending.count, 1)
        if pending.count != channels { pending = Array(repeating: pending.first ?? [], count: channels) }
        for c in 0..<channels {
            let source = c < decoded.count ? decoded[c] : []
            pending[c].reserveCapacity(pending[c].count + Int(cut.count))
            for n in cut.from..<(cut.from + cut.count) {
                let inside = n >= cut.contentStart && n < cut.contentEnd && n < Int64(source.count)
                pending[c].append(inside ? source[Int(n)] : 0)
            }
        }
    }

    private func encodeFrames(final: Bool, cancellation: CancellationFlag?, emit: (Packet) throws -> Void) throws {
        let size = encoder.frameSize
        let available = { (self.pending.first?.count ?? 0) - self.pendingStart }
        var frames = 0
        while available() >= size || (final && available() > 0) {
            frames += 1
            if frames & 63 == 0, cancellation.isCancelled { throw StitchError.cancelled }
            let count = min(size, available())
            try encoder.encode(pending, start: pendingStart, count: count) { try self.pass($0, emit) }
            pendingStart += count
            samplesEncoded += Int64(count)
        }
        // Drop what was encoded once it is a fair share of the buffer.
        if pendingStart > 1 << 16 || final {
            for c in pending.indices { pending[c].removeFirst(pendingStart) }
            pendingStart = 0
        }
    }

    /// Packets from the encoder, their pts in output samples (0 = the video's first frame); priming that ends
    /// at or before 0 is left out where the container cannot mark it.
    /// Timestamps are counted here, not taken from the encoder (libopus starts its pts at 0, FFmpeg's AAC encoder
    /// at minus its priming): packet `k` starts at the sum of the durations before it, minus the priming.
    private func pass(_ packet: Packet, _ emit: (Packet) throws -> Void) throws {
        let p = packet.pointer
        // libvorbis's first packet primes the decoder's overlap (its initial padding, 128 samples at 48 kHz), which
        // the decoder itself never outputs and no container marks: it is kept, at 0, and the sound follows it, as
        // ffmpeg writes Vorbis (2.7 ms after the video at 48 kHz).
        let priming = encoder.primesItself ? 0 : encoder.initialPadding
        let start = encodedPosition - priming
        encodedPosition += p.pointee.duration
        p.pointee.pts = start
        p.pointee.dts = start
        if !keepsPriming, start + p.pointee.duration <= 0 { return }
        // A last frame shorter than a whole one says so where the container can (Matroska's DiscardPadding).
        let frame = Int64(encoder.frameSize)
        if packet.skipSamples == nil, p.pointee.duration > 0, p.pointee.duration < frame {
            packet.setSkipSamples(start: 0, end: frame - p.pointee.duration)
        }
        try emit(packet)
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
