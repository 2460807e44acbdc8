#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StitchPlan {
    /// Sample-exact placement of one input's audio when the decoder skips each input's priming (Opus pre-skip,
    /// declared as codec delay) and the output container can trim the end of any packet (Matroska DiscardPadding).
    ///
    /// A decoder skips priming only at the start of the output stream, so every later input would add its
    /// pre-skip `P` of warm-up samples to the timeline. Instead, the input before it gives up `P` samples at its
    /// end: its end padding and then `P` more are trimmed (whole packets dropped while they fit, the rest as
    /// the last packet's discard padding), and the next input's packets start `P` samples before its content.
    /// Played back to back, input `i`'s content then starts exactly where input `i - 1`'s content ended, and the
    /// output decodes to the sum of the inputs' content samples. The warm-up samples stand in for the previous
    /// input's last `P` samples (6.5 ms for Opus), the price of a remux that cannot trim a packet's start.
    struct TrimmedAudio: Sendable, Hashable {
        /// Added to the input's pts and dts, in plan ticks.
        var offset: Int64
        /// Packets kept from the start of the input.
        var keep: Int
        /// Samples discarded from the end of the last kept packet.
        var trimEnd: Int64
        /// Where the input's content starts and ends on the output timeline, in plan ticks.
        var contentStart: Int64
        var contentEnd: Int64
        /// Samples this input contributes to the decoded output.
        var decodedSamples: Int64
        /// Where the content starts relative to the end of the previous input's content, in samples (0 when exact).
        var contentOffsetSamples: Int64
        /// Output dts of the first and last kept packets, in plan ticks.
        var firstDts: Int64
        var lastDts: Int64
    }

    /// Plans stream `s` of every input; `firstOffset` is input 1's offset, which stays as read. `ideal(i)` is
    /// where input `i`'s content belongs next to the video (plan ticks): a content gap longer than a packet
    /// (accepted with --lenient) is kept as a gap in the timestamps rather than closed.
    static func trimmedAudio(inputs: [ProbedInput], stream s: Int, timeBase tb: Rational, firstOffset: Int64,
                             ideal: (Int) -> Int64) -> [TrimmedAudio] {
        let first = inputs[0].streams[s]
        let sampleTB = Rational(1, max(first.signature.sampleRate, 1))
        func samples(_ ticks: Int64, _ stream: ProbedStream) -> Int64 { Ticks.rescale(ticks, from: stream.timeBase, to: sampleTB) }
        func planTicks(_ ticks: Int64, _ stream: ProbedStream) -> Int64 { Ticks.rescale(ticks, from: stream.timeBase, to: tb) }
        let firstPacket = first.leadingPackets.first?.pts ?? first.startPts ?? 0
        // Output time, in samples, of decoded sample 0 (input 1's content start, after its pre-skip).
        let origin = Ticks.rescale(planTicks(firstPacket, first) + firstOffset, from: tb, to: sampleTB) + first.initialPadding

        var result: [TrimmedAudio] = []
        var position: Int64 = 0  // decoded samples so far
        var previousContentEnd: Int64 = 0  // where the previous input's content ended, in decoded samples
        var previousLastDts: Int64?
        for i in inputs.indices {
            let stream = inputs[i].streams[s]
            let preSkip = stream.initialPadding
            let nextPreSkip = i + 1 < inputs.count ? inputs[i + 1].streams[s].initialPadding : 0
            let total = stream.frameCount  // every packet decodes; no packet is flagged for discard in this mode
            let content = total - preSkip - stream.trailingPaddingSamples

            // Trim end padding plus the next input's pre-skip: whole packets while they fit, then part of one.
            var trim = stream.trailingPaddingSamples + nextPreSkip
            var keep = stream.packetCount
            var tail = stream.trailingPackets.count - 1
            var lastKeptDts = stream.lastDts ?? 0
            while keep > 1 {
                let duration = tail >= 0 ? samples(stream.trailingPackets[tail].duration, stream)
                                         : samples(stream.typicalPacketDuration, stream)
                guard duration > 0, trim >= duration else {
                    // A packet cannot discard all of itself and more: keep at least one sample.
                    trim = min(trim, max(duration - 1, 0))
                    break
                }
                trim -= duration
                keep -= 1
                tail -= 1
                lastKeptDts = tail >= 0 ? stream.trailingPackets[tail].dts
                                        : lastKeptDts - stream.typicalPacketDuration
            }
            let droppedSamples = (stream.packetCount - keep > 0)
                ? (stream.trailingPackets.suffix(stream.packetCount - keep).reduce(0) { $0 + samples($1.duration, stream) })
                : 0
            let decoded = total - (i == 0 ? preSkip : 0) - droppedSamples - trim

            let firstPts = stream.leadingPackets.first?.pts ?? stream.startPts ?? 0
            let firstDtsIn = stream.leadingPackets.first?.dts ?? firstPts
            if i > 0 {
                let idealStart = Ticks.rescale(ideal(i), from: tb, to: sampleTB) - origin
                let packet = samples(stream.typicalPacketDuration, stream)
                if idealStart - (position + preSkip) > packet { position = idealStart - preSkip }
            }
            let contentStartSamples = i == 0 ? 0 : position + preSkip
            var offset = firstOffset
            if i > 0 {
                // The first packet starts pre-skip samples before the content it carries.
                let packetStart = origin + position
                offset = Ticks.rescale(packetStart, from: sampleTB, to: tb) - planTicks(firstPts, stream)
            }
            // Timestamps are rounded to the container's tick (1 ms in Matroska); never let dts stand still.
            if let previousLastDts, planTicks(firstDtsIn, stream) + offset <= previousLastDts {
                offset = previousLastDts + 1 - planTicks(firstDtsIn, stream)
            }
            let placed = TrimmedAudio(
                offset: offset, keep: keep, trimEnd: trim,
                contentStart: Ticks.rescale(origin + contentStartSamples, from: sampleTB, to: tb),
                contentEnd: Ticks.rescale(origin + contentStartSamples + content, from: sampleTB, to: tb),
                decodedSamples: decoded,
                contentOffsetSamples: i == 0 ? 0 : contentStartSamples - previousContentEnd,
                firstDts: planTicks(firstDtsIn, stream) + offset,
                lastDts: planTicks(lastKeptDts, stream) + offset)
            result.append(placed)
            previousLastDts = placed.lastDts
            position += decoded
            previousContentEnd = contentStartSamples + content
        }
        return result
    }
}
