import CFFmpeg

/// An exact rational number (a time base or a frame rate), Codable and Sendable.
public struct Rational: Hashable, Sendable, Codable, CustomStringConvertible {
    public var num: Int32
    public var den: Int32

    public init(_ num: Int32, _ den: Int32) {
        self.num = num
        self.den = den
    }

    init(_ r: AVRational) { self.init(r.num, r.den) }

    var av: AVRational { AVRational(num: num, den: den) }

    public var description: String { "\(num)/\(den)" }

    /// The frame rate of frames `duration` ticks of `timeBase` long, in lowest terms; nil for a duration of 0 or less
    /// or one that does not fit.
    static func frameRate(frameDuration duration: Int64, timeBase: Rational) -> Rational? {
        let num = Int64(timeBase.den), den = duration * Int64(timeBase.num)
        guard duration > 0, timeBase.num > 0, timeBase.den > 0 else { return nil }
        var (a, b) = (num, den)
        while b != 0 { (a, b) = (b, a % b) }
        guard let n = Int32(exactly: num / a), let d = Int32(exactly: den / a) else { return nil }
        return Rational(n, d)
    }

    /// The value as a Double, for display only.
    public var doubleValue: Double { den == 0 ? 0 : Double(num) / Double(den) }
}

/// Exact timestamp arithmetic on integer ticks.
public enum Ticks {
    /// Rescales `value` from one time base to another, rounding to the nearest tick (halfway away from zero).
    public static func rescale(_ value: Int64, from: Rational, to: Rational) -> Int64 {
        if from == to { return value }
        return av_rescale_q_rnd(value, from.av, to.av, AVRounding(rawValue: AV_ROUND_NEAR_INF.rawValue | AV_ROUND_PASS_MINMAX.rawValue))
    }

    /// A millisecond in ticks of `timeBase`, at least one tick: how far a timestamp kept through a millisecond clock
    /// (Matroska, an MP4 edit list) may lie from the exact one.
    public static func millisecond(in timeBase: Rational) -> Int64 {
        max(1, rescale(1, from: Rational(1, 1000), to: timeBase))
    }

    /// Milliseconds for a tick count, for reports.
    public static func milliseconds(_ value: Int64, in timeBase: Rational) -> Double {
        Double(value) * Double(timeBase.num) * 1000 / Double(timeBase.den)
    }

    /// Seconds for a tick count, for reports.
    public static func seconds(_ value: Int64, in timeBase: Rational) -> Double {
        Double(value) * Double(timeBase.num) / Double(timeBase.den)
    }
}
