#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How `--audio exact` cuts each input's decoded audio to its video span. Pure integer arithmetic on timestamps.
///
/// Every packet of an input is decoded, priming and padding included (the decoder is told to skip nothing), so
/// decoded sample `n` of an input is well defined. Which of those samples are content comes from what the container
/// says: leading packets that are priming (discard-flagged by an MP4 edit list, ending before the video starts, or
/// recognised as unflagged priming by the probe), then the skip-samples side data of the first content packet (Opus
/// pre-skip, a partial edit list), and at the end the last packet's discard padding. The first content sample
/// presents at its packet's pts plus that skip; the video span of the input starts some samples later or earlier
/// (zero in a well-made chunk). The cut keeps exactly the samples of the input's share of the output timeline,
/// `round(end × rate) − round(start × rate)` with start and end the exact times of its first and next input's first
/// frame, so the shares add up to the video's duration with no drift. Samples the cut wants outside the content
/// (a chunk whose audio is shorter than its video) are silence.
public enum ExactAudio {
    /// One audio packet of an input, in read order, as read and decoded.
    public struct PacketFacts: Sendable, Hashable {
        /// Presentation timestamp, in the stream's time base.
        public var pts: Int64
        /// Samples the decoder produced for this packet (nothing skipped).
        public var decodedSamples: Int64
        /// Skip-samples side data: samples to drop from the start and the end of this packet.
        public var skipStart: Int64
        public var skipEnd: Int64

        public init(pts: Int64, decodedSamples: Int64, skipStart: Int64 = 0, skipEnd: Int64 = 0) {
            self.pts = pts
            self.decodedSamples = decodedSamples
            self.skipStart = skipStart
            self.skipEnd = skipEnd
        }
    }

    /// Which decoded samples of one input go to the output.
    public struct Cut: Sendable, Hashable {
        /// Index (in the input's decoded samples) of the first output sample; negative when silence leads.
        public var from: Int64
        /// Samples this input contributes to the output.
        public var count: Int64
        /// Decoded samples `[contentStart, contentEnd)` are content; the rest is priming and padding.
        public var contentStart: Int64
        public var contentEnd: Int64
        /// Where the video span starts relative to the audio content, in samples, as the timestamps tell it
        /// (0 for a chunk whose audio starts with its video; differences within one timestamp tick count as 0).
        public var videoOffset: Int64

        /// Samples of the cut that fall outside the content and are written as silence.
        public var silentSamples: Int64 {
            let before = max(0, min(contentStart, from + count) - from)
            let after = max(0, from + count - max(contentEnd, from))
            return min(before + after, count)
        }
    }

    /// Where each input's video starts on the output timeline, in samples at `sampleRate`, plus where the last ends
    /// (`inputs.count + 1` values, the first 0). Each is rounded once from an exact time: frames counted on the frame
    /// clock where the master time base cannot hold a frame (Matroska milliseconds), else the exact sum of ticks.
    public static func videoStartSamples(inputs: [ProbedInput], sampleRate: Int32) -> [Int64] {
        guard let master = inputs.first?.masterStreamIndex, sampleRate > 0 else { return [] }
        let sampleTB = Rational(1, sampleRate)
        let masterTB = inputs[0].streams[master].timeBase
        let frameClock = StitchPlan.frameClock(inputs, master: master)
        var result: [Int64] = [0]
        var ticks: Int64 = 0, frames: Int64 = 0
        for input in inputs {
            let video = input.streams[master]
            ticks += Ticks.rescale(video.contentEnd - video.contentStart, from: video.timeBase, to: masterTB)
            frames += Int64(video.packetCount)
            result.append(frameClock.map { Ticks.rescale(frames, from: $0, to: sampleTB) }
                          ?? Ticks.rescale(ticks, from: masterTB, to: sampleTB))
        }
        return result
    }

    /// The cut of one input.
    /// - Parameters:
    ///   - packets: the input's audio packets in read order.
    ///   - primingPackets: leading packets that are priming as a whole (`ProbedStream.leadingPacketsBefore`).
    ///   - decoderPriming: samples a decoder skips at the start of the stream on its own, without side data (the
    ///     codec's declared delay, Opus pre-skip): priming when no packet is flagged and the first carries no skip.
    ///   - primingStoredAsContent: the priming packets start with the video, not before it: a muxer that cannot mark
    ///     priming (CMAF, GStreamer's MP4, both without an edit list) stored the encoder's priming frame where its
    ///     input starts, and the content a frame later than it belongs. The content is then taken to start where the
    ///     first packet does: every chunk's sound would otherwise be cut a frame late, its start silent.
    ///   - timeBase: the audio stream's time base.
    ///   - videoStart: the input's first frame, in `videoTimeBase`.
    ///   - count: samples the input contributes (its share of `videoStartSamples`).
    public static func cut(packets: [PacketFacts], primingPackets: Int, decoderPriming: Int64 = 0,
                           primingStoredAsContent: Bool = false, timeBase: Rational, sampleRate: Int32,
                           videoStart: Int64, videoTimeBase: Rational, count: Int64) -> Cut {
        let sampleTB = Rational(1, max(sampleRate, 1))
        let total = packets.reduce(Int64(0)) { $0 + $1.decodedSamples }
        var primed = min(max(primingPackets, 0), packets.count)
        // A packet the container marks as only partly priming (skip samples short of its length: LAME's 1,105 in a
        // 1,152-sample MP3 frame) holds content after its skip, however near the video's start its end falls.
        while primed > 0, case let last = packets[primed - 1], last.skipStart > 0, last.skipStart < last.decodedSamples { primed -= 1 }
        var contentStart = packets.prefix(primed).reduce(Int64(0)) { $0 + $1.decodedSamples }
        var offset: Int64 = 0
        if primed < packets.count {
            let first = packets[primed]
            let skip = primed == 0 && first.skipStart <= 0 ? max(decoderPriming, 0) : max(first.skipStart, 0)
            contentStart += skip
            // Sample-exact when both time bases count samples or finer; otherwise a difference within one tick of
            // the coarser one (a Matroska millisecond is 48 samples) is below what the timestamps can tell.
            let placed = primingStoredAsContent && primed > 0 ? packets[0] : first
            let contentTime = Ticks.rescale(placed.pts, from: timeBase, to: sampleTB) + skip
            let difference = Ticks.rescale(videoStart, from: videoTimeBase, to: sampleTB) - contentTime
            let resolution = max(tickSamples(timeBase, sampleRate), tickSamples(videoTimeBase, sampleRate))
            offset = abs(difference) <= (resolution > 1 ? resolution : 0) ? 0 : difference
        }
        let padding = packets.last.map { min(max($0.skipEnd, 0), $0.decodedSamples) } ?? 0
        let contentEnd = max(total - padding, contentStart)
        contentStart = min(contentStart, total)
        return Cut(from: contentStart + offset, count: max(count, 0), contentStart: contentStart,
                   contentEnd: contentEnd, videoOffset: offset)
    }

    /// One tick of `timeBase` in samples, rounded up.
    static func tickSamples(_ timeBase: Rational, _ sampleRate: Int32) -> Int64 {
        let num = Int64(timeBase.num) * Int64(sampleRate), den = Int64(max(timeBase.den, 1))
        return (num + den - 1) / den
    }
}
