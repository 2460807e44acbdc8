extension ProbedInput {
    /// Whether this input's timestamps carry on from `previous`'s: segments cut from one encode (HLS, ffmpeg's
    /// `segment` muxer) rather than chunks encoded one by one.
    ///
    /// A segmenter cuts the video at a key frame and hands each audio packet to the segment open when it is written,
    /// so a segment's audio starts a few packets before its video and ends as far before the video's end: the
    /// packets before the video are the previous segment's sound, not encoder priming, and audio and video keep one
    /// clock across the cut. Such an input is recognised by its timestamps alone: its video starts where
    /// `previous`'s ends, and every audio stream's first packet starts where `previous`'s last one ends (each within
    /// a tick or a millisecond, `continuationTolerance`). Chunks encoded one by one cannot pass: each starts its
    /// timestamps afresh, or starts its audio with priming that overlaps the chunk before by a frame.
    ///
    /// Segments written with `-reset_timestamps 1` (each file's timestamps start afresh) continue `previous` too when
    /// their structure shows it (`carriesAfterReset`).
    public func continues(_ previous: ProbedInput) -> Bool {
        continuation(of: previous) != nil
    }

    /// How this input continues `previous` (see `continues`), nil when it does not.
    enum Continuation {
        /// Its timestamps carry on from `previous`'s.
        case timestamps
        /// Its timestamps start afresh, its audio before its video by the sound carried over (`carriesAfterReset`).
        case afterReset
        /// The same, the carried sound hidden by its edit list (MP4): `continuing(unhiding: true)` takes it as sound.
        case afterResetHidden
    }

    func continuation(of previous: ProbedInput) -> Continuation? {
        if continuesTimestamps(previous) { return .timestamps }
        if carriesAfterReset(previous, unhiding: false) { return .afterReset }
        if carriesAfterReset(previous, unhiding: true) { return .afterResetHidden }
        return nil
    }

    /// Whether this input's timestamps carry on from `previous`'s (see `continues`).
    private func continuesTimestamps(_ previous: ProbedInput) -> Bool {
        guard let m = masterStreamIndex, streams.count == previous.streams.count, streams[m].signature.kind == .video,
              let start = streams[m].startPts, let previousEnd = previous.streams[m].endPts,
              abs(start - Ticks.rescale(previousEnd, from: previous.streams[m].timeBase, to: streams[m].timeBase))
                <= Self.continuationTolerance(streams[m].timeBase)
        else { return false }
        for s in streams.indices where streams[s].signature.kind == .audio {
            let stream = streams[s], before = previous.streams[s]
            guard before.signature.kind == .audio, let first = stream.leadingPackets.first(where: { !$0.isDiscard }),
                  let end = before.endPts,
                  abs(first.pts - Ticks.rescale(end, from: before.timeBase, to: stream.timeBase))
                    <= Self.continuationTolerance(stream.timeBase) else { return false }
        }
        return true
    }

    /// Whether this input is a segment of the stream `previous` is one of, with timestamps started afresh
    /// (`ffmpeg -f segment -reset_timestamps 1`, Matroska and MPEG-TS): the segmenter's cut keeps each file's audio
    /// where it was against its video, so every audio stream starts before the video by as much as it ended before
    /// the video in `previous` (within a tick or a millisecond), and by more than a packet. Chunks encoded one by one
    /// start their audio at most one packet (AAC's priming) before their video, where they start it early at all.
    ///
    /// MP4 segments so written hide the audio carried over with their edit list, as priming, and the muxer may
    /// stretch a short segment's last audio sample to the segment's end: counted with the packets the edit list
    /// flags for discard, and with `previous`'s last audio packet lasting a packet, the same structure shows, and
    /// `continuing(unhiding:)` takes those packets as sound (`endingUnstretched` trims the previous input's last one).
    /// With `unhiding`, every audio stream's carried sound starts with packets flagged for discard, and `previous`'s
    /// audio ends a packet after its last one starts.
    private func carriesAfterReset(_ previous: ProbedInput, unhiding: Bool) -> Bool {
        let previous = unhiding ? previous.endingUnstretched() : previous
        guard let m = masterStreamIndex, streams.count == previous.streams.count, streams[m].signature.kind == .video,
              let start = streams[m].startPts, let previousEnd = previous.streams[m].endPts else { return false }
        var carried = false
        for s in streams.indices where streams[s].signature.kind == .audio {
            let stream = streams[s], before = previous.streams[s], tb = stream.timeBase
            guard before.signature.kind == .audio, !unhiding || stream.leadingDiscardPackets > 0,
                  let first = unhiding ? stream.leadingPackets.first : stream.leadingPackets.first(where: { !$0.isDiscard }), let end = before.endPts
            else { return false }
            let lead = Ticks.rescale(start, from: streams[m].timeBase, to: tb) - first.pts
            let tail = Ticks.rescale(previousEnd, from: previous.streams[m].timeBase, to: tb) - Ticks.rescale(end, from: before.timeBase, to: tb)
            guard lead > stream.typicalPacketDuration, abs(lead - tail) <= Self.continuationTolerance(tb) else { return false }
            carried = true
        }
        return carried
    }

    /// How far a continuation may start from where the previous input ends: a tick, or a millisecond where the
    /// time base is finer (MP4 segments' edit lists round each file's start to the movie's milliseconds).
    static func continuationTolerance(_ timeBase: Rational) -> Int64 {
        Ticks.millisecond(in: timeBase)
    }

    /// This input as the continuation of the one before it (see `continues`): audio packets that end before the
    /// video starts are sound carried over from the previous segment, so none is taken for unflagged priming; and
    /// the encoder delay its header declares (Opus pre-skip, repeated in every segment's header) was skipped once, at
    /// the start of the stream, not at this segment's.
    ///
    /// With `unhiding` (`Continuation.afterResetHidden`), the audio packets flagged for discard are sound carried over too.
    public func continuing(unhiding: Bool = false) -> ProbedInput {
        var input = self
        for s in streams.indices where streams[s].signature.kind == .audio {
            if unhiding, streams[s].leadingDiscardPackets > 0 {
                input.streams[s].leadingDiscardPackets = 0
                input.streams[s].leadingDiscardDuration = 0
                input.streams[s].primingSamples = 0
                for k in input.streams[s].leadingPackets.indices { input.streams[s].leadingPackets[k].isDiscard = false }
            }
            guard input.streams[s].unflaggedPrimingPackets > 0 || input.streams[s].initialPadding > 0 || unhiding else { continue }
            input.streams[s].unflaggedPrimingPackets = 0
            input.streams[s].initialPadding = 0
            input.streams[s].startPts = input.streams[s].leadingPackets.first { !$0.isDiscard }?.pts ?? streams[s].startPts
        }
        return input
    }

    /// This input with each audio stream ending a packet (its typical duration) after its last packet starts, where
    /// its last packet's stored duration is longer: an MP4 segment's muxer stretches it to the segment's end.
    func endingUnstretched() -> ProbedInput {
        var input = self
        for s in streams.indices where streams[s].signature.kind == .audio {
            guard let last = streams[s].lastPts, let end = streams[s].endPts, streams[s].typicalPacketDuration > 0,
                  end > last + streams[s].typicalPacketDuration else { continue }
            input.streams[s].endPts = last + streams[s].typicalPacketDuration
        }
        return input
    }
}

extension ProbedStream {
    /// For an input after the first: its leading packets dropped (priming), and the pts of the first packet kept.
    /// An input that continues the one before it (`ProbedInput.continues`) drops only packets flagged for discard.
    func firstKept(after master: ProbedStream, continuing: Bool) -> (dropped: Int, pts: Int64) {
        let dropped = continuing ? leadingDiscardPackets
            : leadingPacketsBefore(masterStart: master.contentStart, masterTimeBase: master.timeBase)
        return (dropped, leadingPackets.indices.contains(dropped) ? leadingPackets[dropped].pts : (startPts ?? 0))
    }
}
