import CFFmpeg

extension RemuxSession {
    /// The time base a stream is handed to the muxer in: the plan's, except where the container counts video in
    /// frames. MXF's muxer takes a video stream's time base for its edit rate (a MOV's 1/12288 became a 12,288 fps
    /// MXF that decoders misread) and counts PCM in samples; AVI's takes it for its frame slots, and filled a
    /// millisecond MP4's 33 ms frames with 32 empty chunks each. Timestamps are rescaled to it as they are written.
    static func muxerTimeBase(_ r: Remuxer, stream s: Int) -> Rational {
        let signature = r.inputs[0].streams[s].signature
        guard r.formatName == "mxf" || r.formatName == "avi" else { return r.plan.timeBases[s] }
        if signature.kind == .video { return frameDuration(r.plan, stream: s, first: r.inputs[0].streams[s]) }
        if r.formatName == "mxf", signature.kind == .audio, signature.codec.hasPrefix("pcm_"), signature.sampleRate > 0 {
            return Rational(1, signature.sampleRate)
        }
        return r.plan.timeBases[s]
    }

    /// Frame rates of video as cameras, renderers and broadcast use them.
    static let standardRates: [Rational] = [
        Rational(24000, 1001), Rational(24, 1), Rational(25, 1), Rational(30000, 1001), Rational(30, 1), Rational(48, 1),
        Rational(50, 1), Rational(60000, 1001), Rational(60, 1), Rational(100, 1), Rational(120000, 1001), Rational(120, 1),
    ]

    /// One frame of video stream `s`: the plan's frame clock where it counted frames; else the standard rate within
    /// 0.5 % of the output's average, the nearest (a millisecond MP4's frames last 33 and 34 ms: 30 fps); else the first
    /// input's most common frame duration.
    static func frameDuration(_ plan: StitchPlan, stream s: Int, first: ProbedStream) -> Rational {
        if let frame = plan.masterFrameDuration, frame.num > 0 { return frame }
        let tb = plan.timeBases[s], frames = plan.outputPackets[s], duration = plan.outputDurations[s]
        if frames > 1, duration > 0 {
            let fps = Double(frames) * Double(tb.den) / (Double(duration) * Double(tb.num))
            func error(_ rate: Rational) -> Double { abs(fps / rate.doubleValue - 1) }
            if let rate = standardRates.min(by: { error($0) < error($1) }), error(rate) < 0.005 { return Rational(rate.den, rate.num) }
        }
        var frame = AVRational()
        let ftb = first.timeBase
        if first.typicalPacketDuration > 0,
           av_reduce(&frame.num, &frame.den, Int64(ftb.num) * first.typicalPacketDuration, Int64(ftb.den), Int64(Int32.max)) == 1 {
            return Rational(frame)
        }
        return tb
    }
}
