extension ProbedInput {
    /// The inputs as the stitch plans them: first frames stretched backwards put back on their frame grid, and
    /// inputs that continue the timestamps of the one before them taken as its continuation (`continues`).
    ///
    /// **Stretched first frames.**
    /// Without an edit list, FFmpeg's fragmented-MP4 muxer cannot start AAC priming before the video, so it lets
    /// the first video frame start at 0 and last one priming frame longer (840 ticks instead of 512 at 30 fps with
    /// 1024 samples of priming): every later frame, and the audio content, start 21.3 ms later. Such a frame is
    /// moved forward onto the grid its followers set (`leadingStretch`), so the chunk's content starts where its
    /// audio content does and every output frame stays one frame long. A gap of a frame or more is not a stretch (it
    /// stays an irregular duration) unless it is what the audio's first packet, starting with the video, lasts: at
    /// 50 fps and more the priming frame outlasts a video frame. The frame duration is the most common among the
    /// inputs, so a 2-frame chunk, which cannot tell its own, is judged by its neighbours.
    public static func normalized(_ inputs: [ProbedInput]) -> [ProbedInput] {
        var normalizer = InputNormalizer()
        return normalizer.normalize(inputs).inputs
    }

    /// This input put back on the grid of `frame` (ticks of `timeBase`, input 1's master time base), the most
    /// common frame duration among the inputs.
    func normalizingLeadingStretch(master: Int, frame: Int64, timeBase: Rational) -> ProbedInput {
        var input = self
        var stream = input.streams[master]
        // A chunk of 3 frames or more knows its own frame duration; a 2-frame chunk takes its neighbours'.
        let duration = stream.packetCount > 2 ? stream.typicalPacketDuration : Ticks.rescale(frame, from: timeBase, to: stream.timeBase)
        if stream.signature.kind == .video, stream.derivedDtsDelay == nil, let gap = stream.firstFrameGap, var start = stream.startPts,
           gap - duration > 1, gap - duration < duration || isPrimingFrame(gap - duration, videoStart: start, timeBase: stream.timeBase) {
            let stretch = gap - duration
            start += stretch
            stream.leadingStretch = stretch
            stream.startPts = start
            stream.frameRate = stream.frameRate.map { $0.agrees(frameDuration: duration, timeBase: stream.timeBase) }
            stream.firstPts = stream.firstPts.map { $0 + stretch }
            stream.firstDts = stream.firstDts.map { $0 + stretch }
            if !stream.leadingPackets.isEmpty {
                stream.leadingPackets[0].pts += stretch
                stream.leadingPackets[0].dts += stretch
            }
            if stream.packetCount <= 2 {
                // A 2-frame chunk's only gap was the stretched one; an end inferred from it moves with it.
                if stream.endInferred { stream.endPts = stream.endPts.map { $0 - stream.typicalPacketDuration + duration } }
                stream.typicalPacketDuration = duration
            } else if stream.irregularDurationCount > 0 {
                stream.irregularDurationCount -= 1
            }
            input.streams[master] = stream
            input = input.markingUnflaggedPriming()
        }
        // A 1-frame chunk shows no stretch in its timestamps, but its track run states it (840 ticks, where FFmpeg's
        // fragmented MP4 stretched it over one AAC priming frame at 48 kHz): when the audio's first packet starts
        // with the frame and lasts exactly that extra time, it is the unflagged priming, and the frame belongs where
        // the audio content starts, a frame long. (With B-frames the muxer shifts for the video's decode delay
        // instead, which covers the priming.) CMAF and GStreamer leave the frame where their other chunks have
        // theirs, a frame long, and the audio content a priming frame late: nothing is stretched.
        var video = input.streams[master]
        let frameDuration = Ticks.rescale(frame, from: timeBase, to: video.timeBase)
        guard video.packetCount == 1, video.leadingStretch == 0, video.derivedDtsDelay == nil, let videoStart = video.startPts,
              let stated = input.statedFirstFrameDuration, stated - frameDuration > 1,
              input.isPrimingFrame(stated - frameDuration, videoStart: videoStart, timeBase: video.timeBase),
              let a = input.streams.firstIndex(where: { $0.signature.kind == .audio }) else { return input }
        let stretch = stated - frameDuration
        var audio = input.streams[a]
        if audio.unflaggedPrimingPackets == 0 {
            audio.unflaggedPrimingPackets = 1
            audio.startPts = audio.leadingPackets[1].pts
            input.streams[a] = audio
        }
        video.leadingStretch = stretch
        video.startPts = videoStart + stretch
        // A frame long (libavformat gives the stretched frame's duration, or the parser's, or none).
        video.endPts = videoStart + stretch + frameDuration
        video.typicalPacketDuration = frameDuration
        video.frameRate = video.frameRate.map { $0.agrees(frameDuration: frameDuration, timeBase: video.timeBase) }
        video.firstPts = video.firstPts.map { $0 + stretch }
        video.firstDts = video.firstDts.map { $0 + stretch }
        video.lastPts = video.lastPts.map { $0 + stretch }
        video.lastDts = video.lastDts.map { $0 + stretch }
        if !video.leadingPackets.isEmpty {
            video.leadingPackets[0].pts += stretch
            video.leadingPackets[0].dts += stretch
        }
        input.streams[master] = video
        return input
    }
}

extension ProbedInput {
    /// Finds audio priming that no flag marks, and starts the audio's presentation after it.
    ///
    /// Two signs, both for codecs that come in frames (not sample-exact audio such as PCM or FLAC, not Opus, whose
    /// pre-skip is declared):
    /// - packets that end at or before the video starts (ADTS AAC in MPEG-TS starts one frame before the video);
    /// - a first packet at the video's start, or a frame or so before it, when the audio, counted from it, outlasts
    ///   the video by more than half a frame: without an edit list (fragmented MP4, GStreamer's MP4) the encoder's
    ///   priming frame is stored as if it were content, and the chunk's content starts after it.
    public func markingUnflaggedPriming() -> ProbedInput {
        guard let master = streams.firstIndex(where: { $0.signature.kind == .video }),
              let masterStart = streams[master].startPts, let masterEnd = streams[master].endPts else { return self }
        var input = self
        let video = streams[master]
        for s in streams.indices where streams[s].signature.kind == .audio {
            var stream = streams[s]
            guard !stream.signature.isSampleExactAudio, stream.initialPadding == 0, stream.typicalPacketDuration > 0 else { continue }
            var lead = stream.leadingPacketsBefore(masterStart: masterStart, masterTimeBase: video.timeBase)
            if lead == stream.leadingDiscardPackets, lead == 0, stream.leadingPackets.count > 1, let end = stream.endPts {
                let start = Ticks.rescale(masterStart, from: video.timeBase, to: stream.timeBase)
                let videoSpan = Ticks.rescale(masterEnd - masterStart, from: video.timeBase, to: stream.timeBase)
                let first = stream.leadingPackets[0]
                // A first packet less than half a frame ahead of the video is no priming frame: the muxer moved the
                // audio back by its codec's delay (ffmpeg starts MP2 481 samples before the video in MPEG-TS and
                // program streams, which carry no skip), and the frame holds content.
                let ahead = start - first.pts
                let shifted = ahead > 1 && 2 * ahead < stream.typicalPacketDuration
                if first.pts <= start, !shifted, (end - first.pts) - videoSpan > stream.typicalPacketDuration / 2 { lead = 1 }
            }
            guard lead > stream.leadingDiscardPackets, lead < stream.leadingPackets.count else { continue }
            stream.startPts = stream.leadingPackets[lead].pts
            stream.unflaggedPrimingPackets = lead
            input.streams[s] = stream
        }
        return input
    }
}

extension ProbedInput {
    /// Whether `stretch` (ticks of `timeBase`) is what the first audio stream's first packet lasts, starting with the
    /// video at `videoStart`: the unflagged priming frame (AAC's 1,024 samples) that FFmpeg's fragmented MP4 stretches a
    /// first frame over. Longer than a frame at 50 fps and more (328 ticks of 1/15360 where a frame lasts 256 or 307),
    /// where a gap of a frame or more would otherwise be a missing frame.
    func isPrimingFrame(_ stretch: Int64, videoStart: Int64, timeBase: Rational) -> Bool {
        guard let audio = streams.first(where: { $0.signature.kind == .audio }), !audio.signature.isSampleExactAudio,
              audio.initialPadding == 0, audio.leadingDiscardPackets == 0, audio.leadingPackets.count > 1,
              Ticks.rescale(audio.leadingPackets[0].pts, from: audio.timeBase, to: timeBase) == videoStart else { return false }
        let first = audio.leadingPackets[1].pts - audio.leadingPackets[0].pts
        return abs(Ticks.rescale(first, from: audio.timeBase, to: timeBase) - stretch) <= 1
    }
}

extension Rational {
    /// This frame rate, or where it contradicts frames `duration` ticks of `timeBase` long, the rate they make:
    /// libavformat derives a fragmented MP4's rate from its track runs' durations, a stretched first frame's
    /// included (240 frames of 512 ticks and one stretch of 328 declare 460800/15401 fps, not 30).
    func agrees(frameDuration duration: Int64, timeBase: Rational) -> Rational {
        guard num > 0, den > 0, Int64(num) * duration * Int64(timeBase.num) != Int64(den) * Int64(timeBase.den) else { return self }
        return Rational.frameRate(frameDuration: duration, timeBase: timeBase) ?? self
    }
}
