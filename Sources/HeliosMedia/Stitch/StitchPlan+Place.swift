#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StitchPlan.Builder {
    /// Places stream `s` of input `i` after the inputs before it (the lane's running state), reports the
    /// boundary into input `i + 1` when it is known, and returns the placement.
    mutating func place(_ i: Int, stream s: Int, _ c: StitchPlan.Context, timelineEnd: Int64) -> StitchPlan.Placement {
        let inputs = c.inputs, g = c.g, masterIndex = g.masterIndex
        let tb = c.timeBases[s]
        let firstStream = c.first.streams[s]
        let kind = firstStream.signature.kind
        let isAudio = kind == .audio
        let grid = StitchPlan.Context.grid(firstStream)
        let sampleTB = Rational(1, max(firstStream.signature.sampleRate, 1))
        // One audio frame in samples, exactly: where the time base cannot hold it (a 1024-sample AAC frame is
        // 21.33 Matroska milliseconds), counting packets by their rounded durations would drift.
        let frameSamples: Int64 = grid == nil ? 0
            : firstStream.timeBase.num == 1 && Int64(firstStream.timeBase.den) % Int64(sampleTB.den) == 0
                || firstStream.signature.frameSize <= 0
            ? Ticks.rescale(firstStream.typicalPacketDuration, from: firstStream.timeBase, to: sampleTB)
            : Int64(firstStream.signature.frameSize)
        /// `frames` audio frames, in plan ticks.
        func frames(_ frames: Int) -> Int64 { Ticks.rescale(Int64(frames) * frameSamples, from: sampleTB, to: tb) }
        /// An audio offset in ticks, in samples; a single tick is below what the timestamps can tell (a Matroska
        /// millisecond is 48 samples), so it counts as none.
        func samplesResolved(_ ticks: Int64) -> Int64 { abs(ticks) <= 1 ? 0 : Ticks.rescale(ticks, from: tb, to: sampleTB) }
        func map(_ value: Int64, _ i: Int) -> Int64 { c.map(value, i, s, timeline) }
        /// The boundary into input `i` of this stream: the last one this lane reported, at input `i - 1`.
        func boundaryInto(_ lane: StitchPlan.Builder.Lane) -> Int? {
            guard let last = lane.boundaries.indices.last, lane.boundaries[last].index == i else { return nil }
            return last
        }
        // One decode delay for the whole output: the largest any input needs (a 1-frame chunk has none, its
        // neighbours may have two). Every input's dts move back by the difference. Counted in frames on a grid.
        let outputDelay = g.outputDelays[s]

        var lane = lanes[s]
        lanes[s] = Lane()  // the lane is mutated in place below, not copied
        defer { lanes[s] = lane }
        let stream = inputs[i].streams[s]
        let master = inputs[i].streams[masterIndex]
        // Frame-based audio starts where its content does: after priming packets, which later inputs drop.
        // Input 1 keeps its priming where the output can mark it for the decoder to skip (an edit list, or
        // Matroska's negative-timestamp shift); an output that cannot (MPEG-TS) drops it too, so the audio
        // track starts with the video instead of one frame before it.
        var content = isAudio && grid != nil && lane.trimmed == nil ? c.firstKept(i, s)
            : (dropped: 0, pts: stream.leadingPackets.first?.pts ?? stream.startPts ?? 0)
        // A first packet without a pts (refused by the validator all the same) is planned as if at the start.
        if content.pts == AV.noPTS { content.pts = stream.startPts ?? 0 }
        let keepsPriming = i == 0 && (output?.marksAudioPriming ?? true)
        let kept = (dropped: keepsPriming ? 0 : content.dropped, pts: content.pts)
        let primingKept = keepsPriming ? content.dropped : 0
        let available = max(stream.packetCount - kept.dropped, 0)
        var placement = StitchPlan.Placement(offset: map(0, i), dropLeading: kept.dropped, keep: available, gridDuration: nil)
        if kind == .video {
            placement.dtsShift = outputDelay - Ticks.rescale(stream.decodeDelay, from: stream.timeBase, to: tb)
        }
        if s == masterIndex, let frameClock = g.frameClock {
            let delayFrames = Ticks.rescale(stream.decodeDelay, from: stream.timeBase, to: frameClock)
            placement.frameGrid = StitchPlan.FrameGrid(frame: frameClock, framesBefore: timeline.framesBeforeInput[i],
                                                       inputStart: master.contentStart, outputStart: c.origin,
                                                       dtsShiftFrames: g.outputDelayFrames[s] - delayFrames)
        }
        if let trimmed = lane.trimmed {
            let t = trimmed[i]
            placement.offset = t.offset
            placement.keep = t.keep
            placement.trimEnd = t.trimEnd
            if i > 0, let index = boundaryInto(lane) {
                // Against the video, as far as the timestamps can tell.
                let tickError = t.contentStart - map(stream.contentStart, i)
                lane.boundaries[index].audioDiscontinuitySamples = t.contentOffsetSamples + samplesResolved(tickError)
            }
            lane.decodedCount += t.decodedSamples
            lane.cursor = t.contentEnd
            if let lastDts = lane.lastDts, t.firstDts <= lastDts {
                lane.violations.append(StitchPlan.DtsViolation(input: i, stream: s, previous: lastDts, next: t.firstDts))
            }
            lane.lastDts = t.lastDts
        } else if isAudio {
            let ideal = map(kept.pts, i)
            var place = ideal
            if i > 0, let previousEnd = lane.cursor {
                let tolerance = (grid ?? 0) + 1
                place = abs(previousEnd - ideal) <= tolerance ? previousEnd : max(ideal, previousEnd)
                if let index = boundaryInto(lane) {
                    // A segment that continues the one before starts where that one's packets end: a difference
                    // within `continuationTolerance` is the timestamps' rounding (a Matroska millisecond, an MP4
                    // segment's edit list), not missing sound.
                    let rounding = c.continues(i) && abs(place - ideal) <= ProbedInput.continuationTolerance(tb)
                    var discontinuity = rounding ? 0 : Ticks.rescale(place - ideal, from: tb, to: sampleTB)
                    if grid == nil, let frameClock = g.frameClock, place == previousEnd {
                        // PCM laid end to end, against the exact frame clock: samples, not rounded ticks.
                        let within = Ticks.rescale(stream.contentStart, from: stream.timeBase, to: tb)
                            - Ticks.rescale(master.contentStart, from: master.timeBase, to: tb)
                        let ideal = Ticks.rescale(timeline.framesBeforeInput[i], from: frameClock, to: sampleTB)
                            + samplesResolved(within)
                        discontinuity = lane.samplesBefore - ideal
                    }
                    lane.boundaries[index].audioDiscontinuitySamples = discontinuity
                }
            }
            placement.offset = place - Ticks.rescale(kept.pts, from: stream.timeBase, to: tb)
            placement.gridDuration = grid
            placement.primingPackets = primingKept
            placement.contentStart = place
            var end = place + Ticks.rescale((stream.endPts ?? kept.pts) - kept.pts, from: stream.timeBase, to: tb)
            // Where the next input's audio belongs; after the last input, the end of the video (audio an
            // encoder padded past the last frame would make the track outlast the picture).
            let nextIdeal: Int64? = i + 1 < inputs.count
                ? map(c.firstKept(i + 1, s).pts, i + 1)
                : c.first.streams[masterIndex].signature.kind == .video ? Ticks.rescale(timelineEnd, from: c.masterTB, to: tb) : nil
            if grid != nil, let nextIdeal {
                // Keep packet k while its midpoint, place + k*frame + frame/2, is at or before nextIdeal.
                let room = Ticks.rescale(nextIdeal - place, from: tb, to: sampleTB) - frameSamples / 2
                let keep = room < 0 ? 0 : Int(room / frameSamples) + 1
                // Every packet but the output's last decodes to a whole frame: the grid is the real timeline.
                placement.keep = min(primingKept + keep, available)
                end = place + frames(placement.keep - primingKept)
            }
            if grid != nil {
                placement.primingFrameSamples = frameSamples
                lane.decodedCount += Int64(placement.keep - primingKept) * frameSamples
            } else {
                lane.decodedCount += stream.frameCount  // PCM: every sample the input carries, counted exactly
            }
            lane.samplesBefore += stream.frameCount
            lane.cursor = end
            let firstDts = place
            if let lastDts = lane.lastDts, firstDts <= lastDts {
                lane.violations.append(StitchPlan.DtsViolation(input: i, stream: s, previous: lastDts, next: firstDts))
            }
            // The last packet kept (priming ones sit before `place`). An input whose every content packet the next
            // input's audio covers may keep only priming, or nothing (a 1-frame chunk's single frame of sound, where
            // the time base counts whole frames): then the last dts written stays the one before.
            lane.lastDts = placement.keep == 0 ? lane.lastDts
                : placement.keep == available ? Ticks.rescale(stream.lastDts ?? 0, from: stream.timeBase, to: tb) + placement.offset
                : place + frames(placement.keep - primingKept - 1)
        } else {
            func outputDts(_ dts: Int64) -> Int64 {
                if let grid = placement.frameGrid { return grid.mapDts(dts, from: stream.timeBase, to: tb) }
                return Ticks.rescale(dts, from: stream.timeBase, to: tb) + placement.offset - placement.dtsShift
            }
            let firstDts = outputDts(stream.firstDts ?? 0)
            if let lastDts = lane.lastDts, firstDts <= lastDts {
                lane.violations.append(StitchPlan.DtsViolation(input: i, stream: s, previous: lastDts, next: firstDts))
            }
            lane.lastDts = outputDts(stream.lastDts ?? 0)
            lane.cursor = Ticks.rescale(stream.contentEnd, from: stream.timeBase, to: tb) + placement.offset
        }
        lane.written += placement.keep

        // The content gap between this input and the next, measured against the master.
        if i + 1 < inputs.count {
            let next = inputs[i + 1].streams[s], nextMaster = inputs[i + 1].streams[masterIndex]
            let endRel = Ticks.rescale(stream.contentEnd, from: stream.timeBase, to: tb)
                - Ticks.rescale(master.contentEnd, from: master.timeBase, to: tb)
            let startRel = Ticks.rescale(next.contentStart, from: next.timeBase, to: tb)
                - Ticks.rescale(nextMaster.contentStart, from: nextMaster.timeBase, to: tb)
            let gap = startRel - endRel
            lane.boundaries.append(BoundaryReport(
                index: i + 1, stream: s, kind: kind, gapTicks: gap,
                gapMilliseconds: Ticks.milliseconds(gap, in: tb),
                audioDiscontinuitySamples: isAudio ? 0 : nil,
                droppedPackets: (available - placement.keep) + (isAudio && lane.trimmed == nil ? c.firstKept(i + 1, s).dropped : 0)))
        }
        if isAudio {
            // Audio's offset from the video where the input starts and where it ends; the drift is the difference.
            // Segments of one stream (`continues`) share one clock: a segment's audio ends before its video, and the
            // next one's starts as much before its own, so the drift is counted from where the run of segments
            // started, and an input whose successor continues it has none of its own (the boundary shows any gap).
            func offset(_ audio: Int64, _ video: Int64) -> Int64 {
                Ticks.rescale(audio, from: stream.timeBase, to: tb) - Ticks.rescale(video, from: master.timeBase, to: tb)
            }
            let continuing = c.continues(i)
            if continuing, let last = lane.drifts.indices.last, lane.drifts[last].input == i - 1 {
                lane.drifts[last].ticks = 0
                lane.drifts[last].milliseconds = 0
            } else if !continuing {
                lane.driftStart = offset(stream.contentStart, master.contentStart)
            }
            let drift = offset(stream.contentEnd, master.contentEnd) - lane.driftStart
            let tolerance = (grid ?? Ticks.rescale(max(master.typicalPacketDuration, 1), from: master.timeBase, to: tb)) + 1
            lane.drifts.append(StitchPlan.InputDrift(input: i, stream: s, ticks: drift, tolerance: tolerance,
                                                     milliseconds: Ticks.milliseconds(drift, in: tb)))
        }
        return placement
    }

    /// Opus laid end to end: every input's trimmed placement of stream `s` (see `trimmedAudio`).
    func trimmedAudio(_ c: StitchPlan.Context, stream s: Int) -> [StitchPlan.TrimmedAudio] {
        StitchPlan.trimmedAudio(inputs: c.inputs, stream: s, timeBase: c.timeBases[s], firstOffset: c.map(0, 0, s, timeline),
                                ideal: { c.map(c.inputs[$0].streams[s].contentStart, $0, s, timeline) })
    }
}
