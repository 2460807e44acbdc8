import Foundation

/// The synthetic audio: a sum of tones whose value is a pure function of the global sample index, so
/// back-to-back chunks join without a discontinuity. All frequencies are multiples of 10 Hz, so the
/// signal repeats every 100 ms and a lag is unambiguous within ±50 ms.
public enum Tone {
    /// (frequency in Hz, amplitude) of each component.
    public static let components: [(frequency: Int, amplitude: Double)] = [(50, 0.25), (70, 0.2), (440, 0.2)]
    /// The common period of all components, in Hz (100 ms).
    public static let repetitionRate = 10

    /// Sample `n` (global index) at `sampleRate`. The phase is reduced exactly with integer arithmetic.
    public static func sample(_ n: Int64, sampleRate: Int) -> Double {
        var value = 0.0
        for c in components {
            let phase = Double((Int64(c.frequency) * n) % Int64(sampleRate)) / Double(sampleRate)
            value += c.amplitude * sin(2 * Double.pi * phase)
        }
        return value
    }

    /// `count` consecutive samples starting at global sample `first`.
    public static func samples(from first: Int64, count: Int, sampleRate: Int) -> [Float] {
        (0..<count).map { Float(sample(first + Int64($0), sampleRate: sampleRate)) }
    }

    /// The samples a chunk of frames [startFrame, startFrame + frameCount) carries: the first global sample
    /// is floor(startFrame * sampleRate / fps), so consecutive chunks tile the sample line exactly.
    public static func chunkSamples(startFrame: Int, frameCount: Int, fps: Int, sampleRate: Int) -> (first: Int64, count: Int) {
        let first = firstSample(ofFrame: startFrame, fps: fps, sampleRate: sampleRate)
        let end = firstSample(ofFrame: startFrame + frameCount, fps: fps, sampleRate: sampleRate)
        return (first, Int(end - first))
    }

    /// floor(frame * sampleRate / fps): the global sample that starts a frame.
    public static func firstSample(ofFrame frame: Int, fps: Int, sampleRate: Int) -> Int64 {
        let num = Int64(frame) * Int64(sampleRate)
        let q = num / Int64(fps)
        return num % Int64(fps) < 0 ? q - 1 : q
    }

    /// Largest lag (in samples) the estimator can tell apart: just under half the repetition period.
    public static func maxLag(sampleRate: Int) -> Int { sampleRate / repetitionRate / 2 - 1 }

    /// Estimates where `window` sits relative to where it should: returns d such that window[i] best matches
    /// sample(expectedFirst + i + d), searching |d| <= maxLag, by normalised cross-correlation (so a gain change
    /// from lossy coding does not matter). Nil when the window holds (almost) no signal.
    /// The correlation is computed per component analytically, so the search costs O(window + lags).
    public static func estimateLag(window: [Float], expectedFirst: Int64, sampleRate: Int) -> Int? {
        let w = window.count
        guard w > 0 else { return nil }
        let energy = window.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(w)
        guard energy > 1e-4 else { return nil }
        let sr = Int64(sampleRate)
        var sums: [(s: Double, c: Double, omega: Double, amp: Double)] = []
        for comp in components {
            var s = 0.0, c = 0.0
            let f = Int64(comp.frequency)
            for (i, x) in window.enumerated() {
                let phase = 2 * Double.pi * Double((f * (expectedFirst + Int64(i))) % sr) / Double(sr)
                s += Double(x) * sin(phase)
                c += Double(x) * cos(phase)
            }
            sums.append((s, c, 2 * Double.pi * Double(comp.frequency) / Double(sampleRate), comp.amplitude))
        }
        let limit = maxLag(sampleRate: sampleRate)
        // prefix[j] = sum of reference^2 over global samples [expectedFirst - limit, expectedFirst - limit + j).
        var prefix = [Double](repeating: 0, count: w + 2 * limit + 1)
        for j in 0..<(w + 2 * limit) {
            let t = sample(expectedFirst - Int64(limit) + Int64(j), sampleRate: sampleRate)
            prefix[j + 1] = prefix[j] + t * t
        }
        var best = 0, bestValue = -Double.infinity
        for lag in -limit...limit {
            var r = 0.0
            for k in sums {
                // sum_i x_i sin(phi_i + w*lag) = S cos(w*lag) + C sin(w*lag)
                r += k.amp * (k.s * cos(k.omega * Double(lag)) + k.c * sin(k.omega * Double(lag)))
            }
            let norm = prefix[lag + limit + w] - prefix[lag + limit]
            let score = norm > 0 ? r / norm.squareRoot() : -Double.infinity
            if score > bestValue { bestValue = score; best = lag }
        }
        return best
    }
}
