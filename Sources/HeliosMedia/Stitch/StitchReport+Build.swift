#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension InputSummary {
    init(_ input: ProbedInput) {
        let master = input.masterStreamIndex.map { input.streams[$0] }
        self.init(
            path: input.path,
            format: input.formatName,
            bytes: input.fileSize,
            durationSeconds: master.map { Ticks.seconds($0.contentEnd - $0.contentStart, in: $0.timeBase) } ?? 0,
            streams: input.streams.map {
                InputStreamSummary(index: $0.index, kind: $0.signature.kind, codec: $0.signature.codec, timeBase: $0.timeBase,
                                   startTicks: $0.contentStart, endTicks: $0.contentEnd,
                                   durationSeconds: Ticks.seconds($0.contentEnd - $0.contentStart, in: $0.timeBase),
                                   packets: $0.packetCount, frames: $0.frameCount)
            }
        )
    }
}

extension OutputSummary {
    init(plan: StitchPlan, inputs: [ProbedInput], written: Remuxer.Written, path: String, format: String, elapsedSeconds: Double) {
        let first = inputs[0]
        var streams: [OutputStreamSummary] = []
        var videoFrames: Int64?
        var videoSeconds: Double?
        var audioSeconds: Double?
        var decodedDrift: Int64?
        var decodedDriftMs: Double?
        for (s, stream) in first.streams.enumerated() {
            let tb = plan.timeBases[s]
            let seconds = Ticks.seconds(plan.outputDurations[s], in: tb)
            streams.append(OutputStreamSummary(index: s, kind: stream.signature.kind, codec: stream.signature.codec,
                                               timeBase: written.timeBases[s], packets: written.packets[s],
                                               durationTicks: Ticks.rescale(plan.outputDurations[s], from: tb, to: written.timeBases[s]),
                                               durationSeconds: seconds, decodedSamples: plan.decodedSamples[s]))
            if stream.signature.kind == .video, videoFrames == nil {
                videoFrames = Int64(written.packets[s])
                videoSeconds = seconds
            }
            if stream.signature.kind == .audio, audioSeconds == nil { audioSeconds = seconds }
        }
        if let videoSeconds, let s = first.streams.firstIndex(where: { $0.signature.kind == .audio }),
           let decoded = plan.decodedSamples[s] {
            let rate = Double(first.streams[s].signature.sampleRate)
            if let frame = plan.masterFrameDuration, let frames = videoFrames {
                // Exact: the frames' nominal duration, not the rounded timestamps.
                decodedDrift = decoded - Ticks.rescale(frames, from: frame, to: Rational(1, first.streams[s].signature.sampleRate))
            } else {
                decodedDrift = decoded - Int64((videoSeconds * rate).rounded())
            }
            decodedDriftMs = Double(decodedDrift!) * 1000 / rate
        }
        self.init(
            path: path,
            format: format,
            bytes: written.bytes,
            streams: streams,
            videoFrames: videoFrames,
            avDriftMilliseconds: videoSeconds.flatMap { v in audioSeconds.map { ($0 - v) * 1000 } },
            decodedAudioDriftSamples: decodedDrift,
            decodedAudioDriftMilliseconds: decodedDriftMs,
            elapsedSeconds: elapsedSeconds,
            megabytesPerSecond: elapsedSeconds > 0 ? Double(written.bytes) / 1_000_000 / elapsedSeconds : 0
        )
    }
}

extension OutputSummary {
    /// Re-encoded audio streams last exactly what was encoded: their samples replace the copy plan's figures.
    mutating func applyExactAudio(_ exact: [ExactAudioSummary], inputs: [ProbedInput], plan: StitchPlan) {
        exactAudio = exact
        let first = inputs[0]
        for summary in exact {
            let s = summary.stream
            let sampleTB = Rational(1, first.streams[s].signature.sampleRate)
            streams[s].decodedSamples = summary.samples
            streams[s].durationTicks = Ticks.rescale(summary.samples, from: sampleTB, to: streams[s].timeBase)
            streams[s].durationSeconds = Ticks.seconds(summary.samples, in: sampleTB)
            guard first.streams.firstIndex(where: { $0.signature.kind == .audio }) == s else { continue }
            let video = ExactAudio.videoStartSamples(inputs: inputs, sampleRate: sampleTB.den).last ?? 0
            decodedAudioDriftSamples = summary.samples - video
            decodedAudioDriftMilliseconds = Double(summary.samples - video) * 1000 / Double(sampleTB.den)
            if let m = streams.first(where: { $0.kind == .video }) {
                avDriftMilliseconds = (Ticks.seconds(summary.samples, in: sampleTB) - m.durationSeconds) * 1000
            }
        }
    }
}
