#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a file's video differs from the picture it was meant to have (a job's size and frame rate).
public enum PictureMismatch: Sendable, Hashable {
    /// The video's stored size.
    case size(width: Int, height: Int)
    /// The video's frame rate: `frames` frames lasting `seconds`. The rate is the one the container declares when
    /// the frames last as long as it says (Matroska's milliseconds make 24 fps measure 23.98), else the measured one.
    case frameRate(Double, frames: Int, seconds: Double)
}

extension ProbedInput {
    /// How this file's video (the stream a stitch times by) differs from `width` x `height` at `fps`, or nil when it
    /// does not, has no video, or does not say. A display matrix that turns the picture a quarter turn may swap the
    /// stored width and height (a phone's portrait video).
    public func pictureMismatch(width: Int, height: Int, fps: Double) -> PictureMismatch? {
        guard let m = masterStreamIndex, streams[m].signature.kind == .video else { return nil }
        let stream = streams[m]
        let stored = (Int(stream.signature.width), Int(stream.signature.height))
        if stored.0 > 0, stored.1 > 0, stored != (width, height) {
            let rotation = stream.signature.displayRotation ?? 0
            if !((rotation == 90 || rotation == 270) && (stored.1, stored.0) == (width, height)) {
                return .size(width: stored.0, height: stored.1)
            }
        }
        let frames = stream.shownFrames
        let typicals = [stream.typicalPacketDuration, stream.statedTypicalDuration]
        guard let measured = Self.measuredRate(duration: stream.duration, frames: frames, typicals: typicals,
                                               timeBase: stream.timeBase, fps: fps) else { return nil }
        // Said as the common rate nearest the measured one that the frames agree with, where one does (Matroska's
        // 24 fps measures 24.04 over 10 frames in 416 ms; a frame of 1/30 s agrees with 30 and 30000/1001 alike).
        let rate = Self.commonRates.filter {
            Self.measuredRate(duration: stream.duration, frames: frames, typicals: typicals, timeBase: stream.timeBase, fps: $0) == nil
        }.min { abs($0 - measured) < abs($1 - measured) } ?? measured
        let ticks = stream.duration > 0 ? stream.duration : Int64(frames) * stream.typicalPacketDuration
        return .frameRate(rate, frames: frames, seconds: Ticks.seconds(ticks, in: stream.timeBase))
    }

    /// Frame rates renderers and cameras use, for naming a chunk's rate.
    static let commonRates: [Double] = [24000.0 / 1001, 24, 25, 30000.0 / 1001, 30, 48, 50, 60000.0 / 1001, 60, 72, 90, 100,
                                        120000.0 / 1001, 120, 144, 240, 12, 15, 10, 8, 5, 1]

    /// The rate a video runs at, when it is not `fps`; nil when it is, or when the file does not say. Two measures
    /// must both disagree with `fps`, so that no chunk a stitch accepts is refused:
    /// - a frame's duration: the most common gap between frames or the most common stored duration (`typicals`;
    ///   FFmpeg's fragmented MP4 stretches a first frame over AAC's priming, so a 2-frame chunk's gap is not its
    ///   frames' duration), within a tick (and 5%) where `fps`'s frame is not whole ticks and spans two or more
    ///   (Matroska keeps milliseconds: 30 fps frames last 33 or 34), else exact;
    /// - all `frames` lasting `duration`, within 0.05%, and a tick where a frame's duration rounds (each end may
    ///   be rounded): it tells 29.97 from 30 fps over enough frames, where a frame's whole ticks cannot, but a
    ///   stretched or misstated frame moves it.
    /// The rate returned is the frames' where it agrees with a typical duration, else the stated duration's (the
    /// last of `typicals` that is known).
    static func measuredRate(duration: Int64, frames: Int, typicals: [Int64], timeBase: Rational, fps: Double) -> Double? {
        guard timeBase.num > 0, timeBase.den > 0, fps > 0, fps.isFinite else { return nil }
        let typicals = typicals.filter { $0 > 0 }
        // A time base rounds a frame's duration where the frame is not whole ticks and spans a few of them; one of
        // a tick or two is the rate itself (AVI's and MXF's time base is one over the frame rate).
        func rounds(_ perFrame: Double) -> Bool { perFrame != perFrame.rounded() && perFrame >= 2 }
        func frameAgrees(_ ticks: Int64, _ perFrame: Double) -> Bool {
            let off = abs(Double(ticks) - perFrame)
            return rounds(perFrame) ? off < 1 && off < perFrame * 0.05 : off < 1e-9
        }
        func framesAgree(_ perFrame: Double) -> Bool {
            guard duration > 0, frames > 0 else { return false }
            let expected = perFrame * Double(frames)
            return abs(Double(duration) - expected) <= max(rounds(perFrame) ? 1 : 0, expected * 0.0005)
        }
        let perFrame = Double(timeBase.den) / (Double(timeBase.num) * fps)
        if typicals.contains(where: { frameAgrees($0, perFrame) }) || framesAgree(perFrame) { return nil }
        let overFrames = duration > 0 && frames > 0 ? Double(frames) * Double(timeBase.den) / (Double(duration) * Double(timeBase.num)) : nil
        if let overFrames, typicals.contains(where: { framesAgree(Double($0)) }) { return overFrames }
        guard let typical = typicals.last else { return overFrames }
        return Double(timeBase.den) / (Double(typical) * Double(timeBase.num))
    }
}

extension ProbedStream {
    /// The most common duration the container states for the packets whose timing the probe kept (the first and
    /// last few: every packet of a short chunk), 0 when none states one.
    var statedTypicalDuration: Int64 {
        var counts: [Int64: Int] = [:]
        for packet in leadingPackets where packet.duration > 0 { counts[packet.duration, default: 0] += 1 }
        if trailingPackets != leadingPackets {
            for packet in trailingPackets where packet.duration > 0 { counts[packet.duration, default: 0] += 1 }
        }
        return counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 0
    }
}
