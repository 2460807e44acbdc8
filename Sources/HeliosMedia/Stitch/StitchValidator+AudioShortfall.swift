extension StitchValidator {
    /// Frame-coded audio that copy mode leaves short of the video, by more than two audio frames, as warnings.
    ///
    /// Copy mode places each chunk's audio frames where its video says they belong, within one frame. When every
    /// chunk's sound ends before its picture (GStreamer's `voaacenc` drops each chunk's partial last frame: 896
    /// samples of a 30-frame chunk at 48 kHz), each boundary keeps a gap under that bound, but the gaps add up: ten
    /// such chunks decode 187 ms shorter than their video. A player that follows the timestamps stays in step; one
    /// that plays the decoded sound back to back falls behind by as much. `--audio exact` fills each chunk's missing
    /// sound with silence instead. Pure: from the plan's count of decoded samples and the video's frames.
    public static func audioShortfall(_ plan: StitchPlan, _ inputs: [ProbedInput]) -> [StitchIssue] {
        guard let first = inputs.first, let master = first.masterStreamIndex, first.streams[master].signature.kind == .video,
              master < plan.outputPackets.count else { return [] }
        var issues: [StitchIssue] = []
        for (s, stream) in first.streams.enumerated() where stream.signature.kind == .audio && !stream.signature.isSampleExactAudio {
            let rate = stream.signature.sampleRate, frame = Int64(stream.signature.frameSize)
            guard rate > 0, frame > 0, s < plan.decodedSamples.count, let decoded = plan.decodedSamples[s] else { continue }
            let sampleTB = Rational(1, rate)
            let video = plan.masterFrameDuration.map { Ticks.rescale(Int64(plan.outputPackets[master]), from: $0, to: sampleTB) }
                ?? Ticks.rescale(plan.outputDurations[master], from: plan.timeBases[master], to: sampleTB)
            let short = video - decoded
            guard short > 2 * frame else { continue }
            issues.append(StitchIssue(
                severity: .warning, code: .avDrift, stream: s,
                message: "the audio decodes \(formatMs(Double(short) * 1000 / Double(rate))) shorter than the video "
                    + "(\(short) samples): the chunks' sound ends before their pictures, and copy mode leaves the gaps "
                    + "at the boundaries, which a player that plays the sound back to back turns into drift; "
                    + "--audio exact fills each chunk's missing sound with silence"))
        }
        return issues
    }
}
