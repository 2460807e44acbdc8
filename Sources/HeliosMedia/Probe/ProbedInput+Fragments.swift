/// What a fragmented MP4's track runs say about one track's start, in its time base (see
/// `helios_isobmff_fragment_tracks`): facts libavformat reads but does not hand out.
public struct FragmentFacts: Sendable, Hashable {
    /// Ticks the demuxer adds to every pts so that none precedes its dts: the most negative composition offset (CMAF
    /// writes signed ones), as a positive number; 0 when there is none.
    public var compositionShift: Int64
    /// The first sample's duration as its run states it, nil when unknown.
    public var firstDuration: Int64?
    /// The first sample's composition offset: how long after it decodes it presents.
    public var firstComposition: Int64
    /// Whether the track has an edit list (FFmpeg's `delay_moov`, as its HLS and DASH muxers use), which libavformat
    /// applies: nothing is missing then.
    public var hasEditList: Bool
    /// How many samples the track runs of the file's whole `moof` boxes declare: a file cut inside its media data
    /// declares samples it no longer holds.
    public var declaredSamples: Int64

    public init(compositionShift: Int64, firstDuration: Int64?, firstComposition: Int64, hasEditList: Bool = false, declaredSamples: Int64 = 0) {
        self.compositionShift = compositionShift
        self.firstDuration = firstDuration
        self.firstComposition = firstComposition
        self.hasEditList = hasEditList
        self.declaredSamples = declaredSamples
    }
}

extension ProbedInput {
    /// This fragmented MP4 input with what its track runs say (one `FragmentFacts` per stream, the composition shift
    /// already taken off the timestamps read):
    /// - `statedFirstFrameDuration`, the master's first sample as the file states it;
    /// - **the edit list a muxer left out.** A muxer that writes its `moov` before the first fragment (`empty_moov`)
    ///   does not know yet the edit list that would start a B-frame video at its first presented frame, so that
    ///   frame presents its reorder delay after the track starts (two frames for x264's defaults). FFmpeg moves
    ///   every other track by as much and stretches a first sample over the difference, keeping the tracks in step.
    ///   GStreamer's `mp4mux fragment-duration` does not:
    ///   each track starts at 0, the audio with the video's first decode, and a chunk's picture presents late by
    ///   its own delay (none in a chunk too short for B-frames), which no two chunks share. When no track's first
    ///   sample is stretched, the video's first sample presents later than it decodes and its track has no edit list
    ///   (FFmpeg's `delay_moov` writes one), that delay is the missing edit list and is taken off the video
    ///   (`timestampShifts`), as GStreamer's unfragmented MP4 states it.
    public func applyingFragmentFacts(_ facts: [FragmentFacts]) -> ProbedInput {
        guard facts.count == streams.count, let master = masterStreamIndex else { return self }
        var input = self
        input.statedFirstFrameDuration = facts[master].firstDuration
        let video = streams[master]
        let stretched = streams.indices.contains { s in
            guard let first = facts[s].firstDuration, streams[s].packetCount > 1 else { return false }
            return streams[s].typicalPacketDuration > 0 && first > streams[s].typicalPacketDuration + 1
        }
        let delay = facts[master].firstComposition
        guard video.signature.kind == .video, !facts[master].hasEditList, !stretched, delay > 0,
              let start = video.startPts, let dts = video.firstDts, abs(start - (dts + delay)) <= 1 else { return input }
        input.streams[master] = video.shifted(by: delay)
        if input.timestampShifts.count != streams.count { input.timestampShifts = Array(repeating: 0, count: streams.count) }
        input.timestampShifts[master] += delay
        return input
    }
}

extension ProbedStream {
    /// This stream with `ticks` taken off every timestamp, as if read so.
    func shifted(by ticks: Int64) -> ProbedStream {
        var stream = self
        stream.firstPts = firstPts.map { $0 - ticks }
        stream.firstDts = firstDts.map { $0 - ticks }
        stream.lastPts = lastPts.map { $0 - ticks }
        stream.lastDts = lastDts.map { $0 - ticks }
        stream.startPts = startPts.map { $0 - ticks }
        stream.endPts = endPts.map { $0 - ticks }
        func shift(_ t: Int64) -> Int64 { t == AV.noPTS ? t : t - ticks }
        stream.leadingPackets = leadingPackets.map { PacketTiming(pts: shift($0.pts), dts: shift($0.dts), duration: $0.duration, isDiscard: $0.isDiscard) }
        stream.trailingPackets = trailingPackets.map { PacketTiming(pts: shift($0.pts), dts: shift($0.dts), duration: $0.duration, isDiscard: $0.isDiscard) }
        return stream
    }
}
