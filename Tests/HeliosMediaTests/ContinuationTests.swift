@testable import HeliosMedia
import Testing

/// Segments of one encode, as a segmenter cuts them (see `ProbedInput.continues`), built from timestamps alone.
enum Segments {
    /// 30 fps video and 48 kHz AAC (1024 samples) in 1/90000, the MPEG-TS time base, starting at `origin`: the audio
    /// starts one priming frame before the video, and each audio packet goes to the segment open when it is
    /// written, `lag` packets behind the video. `cuts` are the frames where segments start after the first.
    static func make(frames: Int, cuts: [Int], lag: Int64 = 2, origin: Int64 = 126_000) -> [ProbedInput] {
        let frame: Int64 = 3000, packet: Int64 = 1920
        let bounds = [0] + cuts + [frames]
        let audioPackets = Int((Int64(frames) * frame + packet - 1) / packet) + 1
        return (0..<(bounds.count - 1)).map { k in
            var video = StreamAccumulator(index: 0, signature: Probes.signature(.video), timeBase: Rational(1, 90000))
            for f in bounds[k]..<bounds[k + 1] {
                let pts = origin + Int64(f) * frame
                video.add(PacketTiming(pts: pts, dts: pts, duration: frame, isDiscard: false), isKeyframe: f == bounds[k])
            }
            var audio = StreamAccumulator(index: 1, signature: Probes.signature(.audio), timeBase: Rational(1, 90000))
            // Packet j (priming first) is written with the video frame that presents at its pts plus the lag.
            func segment(of j: Int) -> Int {
                let written = Int64(j - 1) * packet + lag * packet
                return bounds.dropFirst().firstIndex { written < Int64($0) * frame }.map { $0 - 1 } ?? bounds.count - 2
            }
            for j in 0..<audioPackets where segment(of: j) == k {
                let pts = origin - packet + Int64(j) * packet
                audio.add(PacketTiming(pts: pts, dts: pts, duration: packet, isDiscard: false), isKeyframe: true)
            }
            return ProbedInput(path: "segment\(k).ts", formatName: "mpegts", fileSize: 1000,
                               streams: [video.finish(), audio.finish()], containerDurationMicroseconds: nil).markingUnflaggedPriming()
        }
    }
}

@Suite("Segments of one stream: continuation (pure)")
struct ContinuationTests {
    @Test func laterSegmentsContinueAndKeepTheirEarlyPackets() {
        let raw = Segments.make(frames: 90, cuts: [30, 31, 61])
        // The probe took each later segment's packets before its video for priming, as it would a chunk's.
        #expect(raw.dropFirst().allSatisfy { $0.streams[1].unflaggedPrimingPackets > 0 })
        #expect(raw.indices.dropFirst().allSatisfy { raw[$0].continues(raw[$0 - 1]) })
        let inputs = ProbedInput.normalized(raw)
        #expect(inputs[0].streams[1].unflaggedPrimingPackets == 1, "input 1's priming stays priming")
        for input in inputs.dropFirst() {
            #expect(input.streams[1].unflaggedPrimingPackets == 0)
            #expect(input.streams[1].startPts == input.streams[1].leadingPackets.first?.pts)
        }

        let plan = StitchPlan(inputs: inputs, output: OutputCapabilities(formatName: "mp4"))
        // One clock: every segment's audio keeps input 1's offset, and every packet is kept.
        #expect(Set(plan.placements.map { $0[1].offset }).count == 1, "\(plan.placements.map { $0[1] })")
        #expect(plan.placements.dropFirst().allSatisfy { $0[1].dropLeading == 0 })
        #expect(zip(plan.placements.dropLast(), inputs).allSatisfy { $0[1].keep == $1.streams[1].packetCount })
        #expect(plan.boundaries.filter { $0.kind == .audio }.allSatisfy { $0.audioDiscontinuitySamples == 0 && $0.gapTicks == 0 && $0.droppedPackets == 0 })
        // Segments continued by the next carry no drift; the run's is counted at its end.
        #expect(plan.inputDrifts.dropLast().allSatisfy { $0.ticks == 0 })
        #expect(abs(plan.inputDrifts.last!.ticks) <= plan.inputDrifts.last!.tolerance)
        #expect(StitchValidator.validate(inputs, output: OutputCapabilities(formatName: "mp4")).isEmpty)
        // Step by step, as a progressive stitch plans them, the same.
        #expect(StitchPlanBuilderTests.differences(raw, output: OutputCapabilities(formatName: "mp4")).differences.isEmpty)
    }

    @Test func aSetCutShortDriftsAtItsEnd() {
        let inputs = ProbedInput.normalized(Array(Segments.make(frames: 90, cuts: [30, 60]).prefix(2)))
        let drifts = StitchPlan(inputs: inputs, output: OutputCapabilities(formatName: "mp4")).inputDrifts
        // The second segment's audio stops about `lag` packets before its video: its last packet (92, counting the
        // priming packet as 0) ends 92 × 1920 = 176,640 ticks after the video's start, the video at 180,000. The
        // rest was in the missing third.
        #expect(drifts.map(\.ticks) == [0, 176_640 - 180_000])
    }

    @Test func chunksEncodedOneByOneDoNotContinue() {
        let segments = Segments.make(frames: 60, cuts: [30])
        // Timestamps started afresh: the second chunk's video starts at the origin again.
        var restarted = Segments.make(frames: 30, cuts: [])[0]
        #expect(!restarted.continues(segments[0]))
        // Its own priming frame before its video, overlapping the chunk before by one frame.
        restarted = Segments.make(frames: 30, cuts: [], lag: 0, origin: 126_000 + 30 * 3000)[0]
        #expect(!restarted.continues(segments[0]))
        #expect(segments[1].continues(segments[0]))
        // Video that continues but audio that does not (a gap of a packet) is no continuation.
        var gapped = segments[1]
        for k in gapped.streams[1].leadingPackets.indices { gapped.streams[1].leadingPackets[k].pts += 1920 }
        #expect(!gapped.continues(segments[0]))
    }
}
