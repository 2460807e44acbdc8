import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Gathers per-stream statistics while packets are read.
struct StreamAccumulator {
    let index: Int
    let signature: CodecSignature
    let timeBase: Rational
    let sampleRate: Int64
    var packetCount = 0
    var firstPts: Int64?
    var firstDts: Int64?
    var lastPts: Int64?
    var lastDts: Int64?
    var startPts: Int64?
    var endPts: Int64?
    var firstIsKey = false
    var keyframes = 0
    var leadingDiscard = 0
    var leadingDiscardDuration: Int64 = 0
    var seenNonDiscard = false
    var skipStart: Int64 = 0
    var lastSkipEnd: Int64 = 0
    var missing = 0
    var missingPts = 0
    var missingDts = 0
    let storesNoDts: Bool
    /// Ogg states a packet's duration without the samples its end trim discards (an Opus chunk's last packet: 312 of
    /// its 960), where Matroska and MP4 state the whole packet beside the trim: read here as the whole packet, so the
    /// end padding is counted once, as for the others.
    let statesTrimmedDurations: Bool
    var firstNonIncreasing: Int?
    var firstPtsBeforeDts: Int?
    var corrupt = 0
    /// Packets a muxer would not keep as one frame (see `VP9Frame`, `AV1Frame`, `AnnexBFrame`), and the first of them
    /// (index, why).
    var malformed = 0
    var firstMalformed: (index: Int, reason: String)?
    var durations: [Int64: Int] = [:]
    var lastDuration: Int64 = 0
    var audioSamples: Int64 = 0
    var payloadBytes: Int64 = 0
    var videoPts: [Int64] = []
    var leading: [PacketTiming] = []
    var trailing: [PacketTiming] = []
    static let trailingKept = 8
    let initialPadding: Int64
    let frameRate: Rational?
    /// Bytes per sample across all channels for PCM codecs; 0 otherwise.
    let pcmBytesPerSample: Int64

    /// Which check each packet's payload gets (`malformed`).
    enum FrameCheck {
        case none, vp9, av1, annexB(hevc: Bool)

        /// Why `bytes` is not a frame a muxer keeps (see `VP9Frame`, `AV1Frame`, `AnnexBFrame`), or nil.
        func defect(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
            switch self {
            case .none: nil
            case .vp9: VP9Frame.defect(bytes)
            case .av1: AV1Frame.defect(bytes)
            case .annexB(let hevc): AnnexBFrame.defect(bytes, hevc: hevc)
            }
        }
    }
    var frameCheck = FrameCheck.none
    /// A video frame's duration at the stream's rate, in ticks, for frames read without one (0: they stay 0); see
    /// `fillsFrameDuration()`.
    var frameDuration: Int64 = 0
    /// Video frames read without a duration while `frameDuration` is set.
    var durationsMissing = 0

    /// Gives video frames read without a duration one frame. For a fragmented MP4: every sample has a duration in
    /// its track run, but libavformat hands out a fragment's last sample with none unless a parser supplies it
    /// (H.264's does, HEVC's does not), so a 1-frame HEVC chunk would last no time at all. The frame is the one the
    /// presentation timestamps show; a chunk of one frame takes the rate libavformat states for the track. FLV, which
    /// stores no durations, the same.
    mutating func fillsFrameDuration() {
        guard signature.kind == .video, let frameRate, frameRate.num > 0 else { return }
        frameDuration = max(Ticks.rescale(1, from: Rational(frameRate.den, frameRate.num), to: timeBase), 0)
    }

    /// `annexB`: the container carries H.264/HEVC with start codes and its payloads are read (MPEG-TS), so each
    /// packet is checked to hold a picture. `statesTrimmedDurations`: the container is Ogg (see the property).
    init(stream: UnsafeMutablePointer<AVStream>, index: Int, signature: CodecSignature, storesNoDts: Bool = false,
         annexB: Bool = false, statesTrimmedDurations: Bool = false) {
        self.statesTrimmedDurations = statesTrimmedDurations
        self.index = index
        if signature.kind == .video {
            switch signature.codec {
            case "vp9": frameCheck = .vp9
            case "av1": frameCheck = .av1
            case "h264" where annexB, "hevc" where annexB: frameCheck = .annexB(hevc: signature.codec == "hevc")
            default: break
            }
        }
        self.signature = signature
        self.storesNoDts = storesNoDts && signature.kind == .video
        timeBase = Rational(stream.pointee.time_base)
        sampleRate = Int64(stream.pointee.codecpar.pointee.sample_rate)
        initialPadding = Int64(stream.pointee.codecpar.pointee.initial_padding)
        let rate = stream.pointee.avg_frame_rate.num > 0 && stream.pointee.avg_frame_rate.den > 0
            ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        frameRate = signature.kind == .video && rate.num > 0 && rate.den > 0 ? Rational(rate) : nil
        let par = stream.pointee.codecpar.pointee
        let bits = Int64(av_get_bits_per_sample(par.codec_id))
        pcmBytesPerSample = signature.codec.hasPrefix("pcm_") && bits % 8 == 0 ? bits / 8 * Int64(max(par.ch_layout.nb_channels, 0)) : 0
    }

    /// An accumulator for a stream described without libavformat (hand-built inputs in tests).
    init(index: Int, signature: CodecSignature, timeBase: Rational, frameRate: Rational? = nil, storesNoDts: Bool = false) {
        self.index = index
        self.signature = signature
        self.storesNoDts = storesNoDts && signature.kind == .video
        statesTrimmedDurations = false
        self.timeBase = timeBase
        sampleRate = Int64(signature.sampleRate)
        initialPadding = 0
        self.frameRate = frameRate
        pcmBytesPerSample = 0
    }

    mutating func add(_ packet: Packet) {
        if case .none = frameCheck {} else {
            let p = packet.pointer.pointee
            let defect = p.data.map { frameCheck.defect(UnsafeBufferPointer(start: $0, count: Int(p.size))) } ?? "empty packet"
            if let defect {
                malformed += 1
                if firstMalformed == nil { firstMalformed = (packetCount, defect) }
            }
        }
        add(PacketTiming(pts: packet.pts, dts: packet.dts, duration: packet.duration, isDiscard: packet.isDiscard),
            isKeyframe: packet.isKeyframe, isCorrupt: packet.isCorrupt, size: packet.size, skipSamples: packet.skipSamples)
    }

    mutating func add(_ read: PacketTiming, isKeyframe: Bool, isCorrupt: Bool = false, size: Int = 0,
                      skipSamples: (start: Int64, end: Int64)? = nil) {
        let n = packetCount
        packetCount += 1
        if n == 0 { firstIsKey = isKeyframe }
        if isKeyframe { keyframes += 1 }
        if read.duration <= 0 && frameDuration > 0 { durationsMissing += 1 }
        var duration = PacketTiming.filledDuration(read.duration, kind: signature.kind, frameSize: signature.frameSize,
                                                   sampleRate: signature.sampleRate, timeBase: timeBase)
        if statesTrimmedDurations, signature.kind == .audio, let end = skipSamples?.end, end > 0, duration > 0, sampleRate > 0 {
            duration += Ticks.rescale(end, from: Rational(1, Int32(sampleRate)), to: timeBase)
        }
        let timing = PacketTiming(pts: read.pts, dts: read.dts, duration: duration, isDiscard: read.isDiscard)
        if n < 16 { leading.append(timing) }
        if trailing.count == Self.trailingKept { trailing.removeFirst() }
        trailing.append(timing)
        if isCorrupt { corrupt += 1 }
        payloadBytes += Int64(max(size, 0))
        let pts = read.pts, dts = read.dts
        if pts == AV.noPTS || dts == AV.noPTS {
            missing += 1
        }
        if pts == AV.noPTS { missingPts += 1 }
        if dts == AV.noPTS { missingDts += 1 }
        if n == 0 {
            firstPts = pts == AV.noPTS ? nil : pts
            firstDts = dts == AV.noPTS ? nil : dts
        }
        if dts != AV.noPTS {
            if let last = lastDts, dts <= last, firstNonIncreasing == nil { firstNonIncreasing = n }
            lastDts = dts
        }
        if pts != AV.noPTS {
            lastPts = pts
            if dts != AV.noPTS, pts < dts, firstPtsBeforeDts == nil { firstPtsBeforeDts = n }
        }
        if let skip = skipSamples {
            if n == 0 { skipStart = skip.start }
            lastSkipEnd = skip.end
        } else {
            lastSkipEnd = 0
        }
        let discard = read.isDiscard
        if discard && !seenNonDiscard {
            leadingDiscard += 1
            leadingDiscardDuration += max(duration, 0)
        } else {
            seenNonDiscard = true
        }
        if pts != AV.noPTS && !discard {
            startPts = min(startPts ?? pts, pts)
            endPts = max(endPts ?? pts, pts + max(duration, 0))
        }
        if n > 0 { durations[lastDuration, default: 0] += 1 }  // the last packet's duration is not counted
        lastDuration = duration
        if signature.kind == .video && pts != AV.noPTS { videoPts.append(pts) }
        if signature.kind == .audio && !discard {
            // PCM: the exact count from the bytes (a millisecond time base rounds every packet's duration).
            audioSamples += pcmBytesPerSample > 0
                ? Int64(size) / pcmBytesPerSample
                : Ticks.rescale(max(duration, 0), from: timeBase, to: Rational(1, Int32(max(sampleRate, 1))))
        }
    }

    /// The clock a video stream's timestamps were rounded to, in ticks of its time base: the greatest common divisor
    /// of the gaps between frames, where a frame spans at least 8 of it; else 1. A Matroska recording remuxed into
    /// MP4 (`ffmpeg -c copy`, OBS's remux) keeps its millisecond timestamps in a finer time base: 1/30 s is 528 or 544
    /// ticks of 1/16000, never 533, so the frames lie within a millisecond of the grid, not within a tick. A hole
    /// stays irregular: it is off by a frame, at least 8 of these ticks (in a stream without rounding, where every
    /// gap is a multiple of the frame, the divisor is a frame, and the tick stays 1).
    static func quantum(_ gaps: some Sequence<Int64>, mode: Int64) -> Int64 {
        func gcd(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : gcd(b, a % b) }
        let divisor = gaps.filter { $0 > 0 }.reduce(Int64(0), gcd)
        return divisor > 1 && divisor * 8 <= mode ? divisor : 1
    }

    func finish() -> ProbedStream {
        var typical: Int64 = lastDuration
        var irregular = 0
        var firstFrameGap: Int64?
        if signature.kind == .video && videoPts.count > 1 {
            // Frame durations come from presentation order: decode order hides them behind B-frames.
            let sorted = videoPts.sorted()
            if videoPts.first == sorted.first { firstFrameGap = sorted[1] - sorted[0] }
            var deltas: [Int64: Int] = [:]
            for i in 1..<sorted.count { deltas[sorted[i] - sorted[i - 1], default: 0] += 1 }
            let mode = deltas.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? lastDuration
            // Timestamps rounded from a finer clock one by one (GStreamer's nanoseconds into MPEG-TS's 90 kHz: 2999,
            // 3000 and 3001 ticks for 1/30 s) lie within a tick of the exact grid, so neighbouring deltas differ by up
            // to two: the frame duration is the mean of the deltas within two ticks of the most common one. A tick
            // is the clock the timestamps were rounded to, which may be coarser than the time base (see `quantum`).
            let tick = Self.quantum(deltas.keys, mode: mode)
            let near = deltas.filter { abs($0.key - mode) <= 2 * tick }
            let count = near.values.reduce(0, +)
            typical = count == 0 ? mode
                : Int64((Double(near.reduce(Int64(0)) { $0 + $1.key * Int64($1.value) }) / Double(count)).rounded())
            irregular = deltas.filter { abs($0.key - typical) > tick }.reduce(0) { $0 + $1.value }
        } else if let mode = durations.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) {
            typical = mode.key
            irregular = durations.filter { abs($0.key - typical) > 1 }.reduce(0) { $0 + $1.value }
            // The priming packet of AAC is part of the stream's normal cadence, not an irregularity.
        }
        var endPts = self.endPts, endInferred = false
        if durationsMissing > 0, let last = videoPts.max() {
            if videoPts.count == 1 { typical = frameDuration }
            endInferred = last + typical > endPts ?? last
            endPts = max(endPts ?? last, last + typical)
        }
        // Decode timestamps the container does not store (Matroska), or that some packets lack, are derived from
        // the reorder delay; validation then checks them like any others. A packet without pts stays an error.
        var firstDts = self.firstDts, lastDts = self.lastDts, missing = self.missing
        var firstNonIncreasing = self.firstNonIncreasing, firstPtsBeforeDts = self.firstPtsBeforeDts
        var leading = self.leading, trailing = self.trailing
        var derivedDelay: Int?
        if signature.kind == .video, storesNoDts || missingDts > 0, missingPts == 0, let start = startPts ?? videoPts.min() {
            let delay = DtsDeriver.reorderDelay(ptsInDecodeOrder: videoPts)
            var deriver = DtsDeriver(delay: delay, firstPts: start, frameDuration: max(typical, 1))
            let derived = videoPts.map { deriver.next(pts: $0) }
            derivedDelay = delay
            missing = 0
            firstNonIncreasing = derived.indices.dropFirst().first { derived[$0] <= derived[$0 - 1] }
            firstPtsBeforeDts = derived.indices.first { videoPts[$0] < derived[$0] }
            firstDts = derived.first
            lastDts = derived.last
            for k in leading.indices { leading[k].dts = derived[k] }
            for k in trailing.indices { trailing[k].dts = derived[derived.count - trailing.count + k] }
        }
        // Exact-capacity copies, and one buffer for both when every packet is in each (short chunks): 10,000
        // one-frame inputs held 4.5 MB of these arrays, mostly doubling slack and duplicates.
        leading = leading.withUnsafeBufferPointer { Array($0) }
        trailing = trailing == leading ? leading : trailing.withUnsafeBufferPointer { Array($0) }
        let priming = signature.kind == .audio
            ? max(skipStart, Ticks.rescale(leadingDiscardDuration, from: timeBase, to: Rational(1, Int32(max(sampleRate, 1)))))
            : 0
        return ProbedStream(
            index: index,
            signature: signature,
            timeBase: timeBase,
            packetCount: packetCount,
            frameCount: signature.kind == .audio ? audioSamples : Int64(packetCount),
            firstPts: firstPts,
            firstDts: firstDts,
            lastPts: lastPts,
            lastDts: lastDts,
            startPts: startPts,
            endPts: endPts,
            firstPacketIsKeyframe: firstIsKey,
            leadingDiscardPackets: leadingDiscard,
            leadingDiscardDuration: leadingDiscardDuration,
            primingSamples: priming,
            trailingPaddingSamples: lastSkipEnd,
            typicalPacketDuration: typical,
            irregularDurationCount: irregular,
            missingTimestampCount: missing,
            firstNonIncreasingDts: firstNonIncreasing,
            firstPtsBeforeDts: firstPtsBeforeDts,
            corruptPacketCount: corrupt,
            leadingPackets: leading,
            initialPadding: initialPadding,
            trailingPackets: trailing,
            frameRate: frameRate,
            derivedDtsDelay: derivedDelay,
            firstFrameGap: firstFrameGap,
            missingPtsCount: missingPts,
            missingDtsOnlyCount: missing - missingPts,
            payloadBytes: payloadBytes
        ).withEndInferred(endInferred)
    }
}
