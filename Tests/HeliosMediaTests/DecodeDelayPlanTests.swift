import Foundation
@testable import HeliosMedia
import Testing

/// Chunks built by hand the way real encoders lay out B-frames, run packet by packet through the plan's mapper:
/// every output frame on its grid slot, dts strictly increasing across every boundary, pts >= dts, the first
/// frame at 0 and the dts span exactly the frame count, whatever the chunk lengths and decode delays.
enum BFrameChunks {
    /// How a container stores the chunk's timestamps.
    enum Style: String, CaseIterable, Sendable {
        /// MP4 with an edit list: the first frame presents at 0, decoding starts `delay` frames earlier.
        case mp4EditList
        /// Fragmented MP4 without an edit list: decoding starts at 0, presentation `delay` frames later.
        case fragmentedMP4
        /// Matroska: milliseconds, presentation timestamps only (dts derived), shifted by AAC priming (21 ms).
        case matroska
    }

    /// Presentation indices in decode order of an `n`-frame encode whose GOP reorders up to `delay` frames (1: an
    /// anchor then one B-frame; 2: a B-pyramid). Short chunks reorder less, as real encoders' do.
    static func decodeOrder(frames n: Int, delay: Int) -> [Int] {
        var order = n > 0 ? [0] : []
        var k = 1
        while k < n {
            let left = n - k
            let group: [Int]
            switch (delay, left) {
            case (0, _), (_, 1): group = [0]
            case (1, _), (_, 2): group = [1, 0]
            case (_, 3): group = [2, 0, 1]
            default: group = [3, 1, 0, 2]
            }
            order += group.map { k + $0 }
            k += group.count
        }
        return order
    }

    /// The packets of an `frames`-frame chunk at 30 fps, in decode order, as the container stores them.
    static func packets(frames: Int, delay: Int, style: Style) -> [PacketTiming] {
        let order = decodeOrder(frames: frames, delay: delay)
        let actual = DtsDeriver.reorderDelay(ptsInDecodeOrder: order.map(Int64.init))
        return order.enumerated().map { j, frame in
            switch style {
            case .mp4EditList: PacketTiming(pts: Int64(frame) * 512, dts: Int64(j - actual) * 512, duration: 512, isDiscard: false)
            case .fragmentedMP4: PacketTiming(pts: Int64(frame + actual) * 512, dts: Int64(j) * 512, duration: 512, isDiscard: false)
            case .matroska: PacketTiming(pts: 21 + Int64((Double(frame) * 1000 / 30).rounded()), dts: AV.noPTS, duration: 33, isDiscard: false)
            }
        }
    }

    /// Those packets, probed.
    static func chunk(_ index: Int, packets: [PacketTiming], style: Style) -> ProbedInput {
        let isMKV = style == .matroska
        var accumulator = StreamAccumulator(index: 0, signature: Probes.signature(.video),
                                            timeBase: isMKV ? Rational(1, 1000) : Rational(1, 15360),
                                            frameRate: Rational(30, 1), storesNoDts: isMKV)
        for (j, packet) in packets.enumerated() { accumulator.add(packet, isKeyframe: j == 0) }
        return ProbedInput(path: "chunk\(index).\(isMKV ? "mkv" : "mp4")",
                           formatName: isMKV ? "matroska,webm" : "mov,mp4,m4a,3gp,3g2,mj2",
                           fileSize: 1000, streams: [accumulator.finish()], containerDurationMicroseconds: nil)
    }

    /// What went wrong stitching chunks of `sizes` frames with per-chunk requested delays `delays`, or nil.
    static func failure(sizes: [Int], delays: [Int], style: Style) -> String? {
        let chunks = sizes.indices.map { packets(frames: sizes[$0], delay: delays[$0], style: style) }
        let inputs = chunks.indices.map { chunk($0, packets: chunks[$0], style: style) }
        let output = OutputCapabilities(formatName: style == .matroska ? "matroska" : "mp4")
        let errors = StitchValidator.validate(inputs, output: output).filter { $0.severity == .error }
        if !errors.isEmpty { return "validation: \(errors.map(\.message))" }
        let plan = StitchPlan(inputs: inputs, output: output)
        var out: [StitchPlan.MappedPacket] = []
        for i in inputs.indices {
            var mapper = StitchPlan.PacketMapper(plan: plan, inputs: inputs, input: i, stream: 0)
            for p in chunks[i] {
                if let mapped = mapper.map(pts: p.pts, dts: p.dts, duration: p.duration) { out.append(mapped) }
            }
        }
        let total = sizes.reduce(0, +)
        // Every frame on its slot of the 1/30 s grid, each exactly once; the first at the output's origin.
        let origin: Int64 = style == .matroska ? 21 : 0
        let expected = (0..<total).map { origin + (style == .matroska ? Int64((Double($0) * 1000 / 30).rounded()) : Int64($0) * 512) }
        if out.map(\.pts).sorted() != expected { return "pts not on the grid: \(out.map(\.pts))" }
        for k in out.indices {
            if out[k].pts < out[k].dts { return "packet \(k): pts \(out[k].pts) < dts \(out[k].dts)" }
            if k > 0, out[k].dts <= out[k - 1].dts { return "packet \(k): dts \(out[k].dts) after \(out[k - 1].dts)" }
        }
        // One decode delay throughout: dts occupy consecutive frame slots, so the track lasts exactly the frames.
        let delay = plan.outputDecodeDelays[0]
        let frame: Int64 = style == .matroska ? 33 : 512
        if style != .matroska {
            let slots = (0..<total).map { Int64($0) * frame - delay }
            if out.map(\.dts) != slots { return "dts not on consecutive slots from -\(delay): \(out.map(\.dts))" }
        }
        return nil
    }
}

@Suite("Decode delay: B-frame chunks of any length (pure)")
struct DecodeDelayPlanTests {
    @Test func reorderDelayOfCommonPatterns() {
        #expect(DtsDeriver.reorderDelay(ptsInDecodeOrder: [0, 1, 2, 3]) == 0)
        #expect(DtsDeriver.reorderDelay(ptsInDecodeOrder: [0, 2, 1, 4, 3]) == 1)
        #expect(DtsDeriver.reorderDelay(ptsInDecodeOrder: [0, 4, 2, 1, 3]) == 2)
        #expect(DtsDeriver.reorderDelay(ptsInDecodeOrder: [0]) == 0)
    }

    @Test func derivedDtsIncreaseAndNeverPassPts() {
        // The x264 B-pyramid of a 9-frame chunk, in Matroska milliseconds.
        let pts: [Int64] = [21, 154, 88, 54, 121, 288, 221, 188, 254]
        let delay = DtsDeriver.reorderDelay(ptsInDecodeOrder: pts)
        #expect(delay == 2)
        var deriver = DtsDeriver(delay: delay, firstPts: 21, frameDuration: 33)
        let dts = pts.map { deriver.next(pts: $0) }
        #expect(dts == [-45, -12, 21, 54, 88, 121, 154, 188, 221])
        #expect(zip(pts, dts).allSatisfy { $0 >= $1 })
    }

    /// The issue's reproductions: 2, 9, 1 and 30 frames; and 25, 25, 25, 1 (a short B-frame remainder).
    @Test(arguments: BFrameChunks.Style.allCases)
    func shortChunksBeforeLongerOnes(style: BFrameChunks.Style) {
        #expect(BFrameChunks.failure(sizes: [2, 9, 1, 30], delays: [2, 2, 2, 2], style: style) == nil)
        #expect(BFrameChunks.failure(sizes: [25, 25, 25, 1], delays: [2, 2, 2, 2], style: style) == nil)
    }

    /// Every split of 12 frames into chunks of 1 to 5 frames (1,793 splits), at decode delays 0, 1, 2 and a mix.
    @Test(arguments: BFrameChunks.Style.allCases)
    func everySplitOfTwelveFrames(style: BFrameChunks.Style) {
        var failures: [String] = []
        var splits = 0
        func visit(_ sizes: [Int], _ left: Int) {
            if left == 0 {
                splits += 1
                for delays in [sizes.map { _ in 0 }, sizes.map { _ in 1 }, sizes.map { _ in 2 }, sizes.indices.map { [2, 0, 1][$0 % 3] }] {
                    if let failure = BFrameChunks.failure(sizes: sizes, delays: delays, style: style), failures.count < 5 {
                        failures.append("\(sizes) delays \(delays): \(failure)")
                    }
                }
                return
            }
            for size in 1...min(5, left) { visit(sizes + [size], left - size) }
        }
        visit([], 12)
        #expect(splits == 1793)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Splits of 60 frames: every uniform chunk length 1 to 5 with every remainder, and 150 seeded random splits.
    @Test(arguments: BFrameChunks.Style.allCases)
    func splitsOfSixtyFrames(style: BFrameChunks.Style) {
        var cases: [[Int]] = []
        for size in 1...5 {
            for remainder in 0..<size { cases.append(Array(repeating: size, count: (60 - remainder) / size) + (remainder > 0 ? [remainder] : [])) }
        }
        var rng = SplitMix(seed: 60)
        for _ in 0..<150 {
            var sizes: [Int] = [], left = 60
            while left > 0 { let n = min(Int(rng.next() % 5) + 1, left); sizes.append(n); left -= n }
            cases.append(sizes)
        }
        var failures: [String] = []
        for sizes in cases {
            for delays in [sizes.map { _ in 0 }, sizes.map { _ in 1 }, sizes.map { _ in 2 }, sizes.indices.map { [1, 2, 0, 2][$0 % 4] }] {
                if let failure = BFrameChunks.failure(sizes: sizes, delays: delays, style: style), failures.count < 5 {
                    failures.append("\(sizes) delays \(delays): \(failure)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}

/// A small seeded generator, so random cases repeat exactly.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
