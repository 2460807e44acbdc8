import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension MediaProbe {
    /// Throws `damagedInput` when a stream lost frames the container declares, holds packets flagged corrupt, or
    /// the demuxer logged errors about the file (a corrupt or truncated block it skipped): nothing is lost silently.
    static func checkIntegrity(_ demuxer: Demuxer, accumulators: [StreamAccumulator], streams: [ProbedStream]) throws(StitchError) {
        // An AVI cut short at a chunk boundary reads cleanly, and without its index at the end the demuxer lists
        // only the chunks it finds: the RIFF header's size is what tells.
        if demuxer.formatName == "avi", let riff = Demuxer.riffSizes(demuxer.path), riff.actual < riff.declared {
            throw .damagedInput(index: nil, path: demuxer.path,
                                reason: "the file is truncated: its RIFF header declares \(riff.declared) bytes, the file holds \(riff.actual)")
        }
        // A program stream has no index nor a frame count: a last pack cut short is what tells.
        if demuxer.formatName == "mpeg", Demuxer.programStreamCutShort(demuxer.path) == true {
            throw .damagedInput(index: nil, path: demuxer.path, reason: "the file is truncated: its last pack runs past the end of the file")
        }
        // The Matroska demuxer skips an element it does not expect without a word: a block whose ID was damaged is a
        // frame lost in silence. (An index-only probe's walk already found every element in its place.)
        if demuxer.formatName.hasPrefix("matroska,"), !demuxer.matroskaWalked, let lost = Demuxer.matroskaLostFrame(demuxer.path) {
            throw .damagedInput(index: nil, path: demuxer.path, reason: "a frame is lost: \(lost)")
        }
        let logged = demuxer.loggedErrors
        let libav = logged.first.map { "; libavformat: \($0)" } ?? ""
        for (accumulator, stream) in zip(accumulators, streams) {
            let declared = declaration(demuxer, stream: stream.index)
            if let loss = FrameLoss.detect(read: stream.packetCount, presentation: accumulator.videoPts, timeBase: stream.timeBase,
                                           frameRate: stream.frameRate, declared: declared) {
                throw .damagedInput(index: nil, path: demuxer.path, reason: "stream \(stream.index) (\(stream.signature.kind.rawValue)): \(loss)\(libav)")
            }
            if let first = accumulator.firstMalformed {
                throw .damagedInput(index: nil, path: demuxer.path, reason: "stream \(stream.index): \(accumulator.malformed) corrupt "
                    + "\(stream.signature.codec) frame(s); frame \(first.index + 1) is \(first.reason)\(libav)")
            }
            if stream.corruptPacketCount > 0 {
                throw .damagedInput(index: nil, path: demuxer.path,
                                    reason: "stream \(stream.index): \(stream.corruptPacketCount) packet(s) are flagged corrupt\(libav)")
            }
        }
        if let line = logged.first {
            throw .damagedInput(index: nil, path: demuxer.path,
                                reason: "the file is corrupt or truncated; libavformat: \(line)\(logged.count > 1 ? " (and \(logged.count - 1) more)" : "")")
        }
    }

    /// What the container declares about stream `index`: its sample count, and in Matroska its statistics tags
    /// and the file's duration. (MPEG-TS durations are estimates from the bit rate, never declarations.)
    static func declaration(_ demuxer: Demuxer, stream index: Int) -> FrameLoss.Declared {
        let stream = demuxer.stream(index)
        var declared = FrameLoss.Declared()
        // MP4's sample count; for PCM a sample table counts audio samples, not packets. A text track's count is not
        // what the demuxer returns: ffmpeg writes an empty sample after the last cue (tx3g, mov_text), which the MP4
        // demuxer does not hand out, so only video and audio are held to it.
        let codec = stream.pointee.codecpar.pointee.codec_id
        let isPCM = String(cString: avcodec_get_name(codec)).hasPrefix("pcm_")
        let type = stream.pointee.codecpar.pointee.codec_type
        if demuxer.formatName == "avi" || demuxer.formatName == "caf" {
            // AVI's stream header length is no packet count: it counts the frames of the timeline, and ffmpeg marks a
            // dropped or delayed frame with an empty chunk, which the demuxer skips (and an MP3 track's length is in
            // its own units). The index lists the chunks that hold data, each a packet the demuxer returns. CAF's
            // count is of samples (its packet table's valid frames), and its packet table is the index.
            if !isPCM, type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO {
                let entries = (0..<avformat_index_get_entries_count(stream)).count { avformat_index_get_entry(stream, $0)?.pointee.size ?? 0 > 0 }
                if entries > 0 { declared.frames = entries }
            }
        } else if stream.pointee.nb_frames > 0, !isPCM, type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO {
            declared.frames = Int(stream.pointee.nb_frames)
        }
        guard demuxer.formatName.contains("matroska") else { return declared }
        func tag(_ key: String) -> String? {
            guard let entry = av_dict_get(stream.pointee.metadata, key, nil, 0), let value = entry.pointee.value else { return nil }
            return String(cString: value)
        }
        if declared.frames == nil, let text = tag("NUMBER_OF_FRAMES"), let frames = Int(text), frames > 0 { declared.frames = frames }
        declared.streamEndSeconds = tag("DURATION").flatMap(FrameLoss.seconds(ofDurationTag:))
        declared.containerSeconds = demuxer.containerDuration.map { Double($0) / Double(AV_TIME_BASE) }
        let indexed = (0..<avformat_index_get_entries_count(stream)).compactMap { avformat_index_get_entry(stream, $0)?.pointee.timestamp }
        declared.lastIndexedPts = indexed.filter { $0 != AV.noPTS }.max()
        return declared
    }
}
