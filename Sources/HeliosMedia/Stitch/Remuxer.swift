import CFFmpeg
import CHeliosShims
import Foundation
import Logging

/// Copies the planned packets of every input into one output file, following FFmpeg's doc/examples/remux.c:
/// read a packet, map its stream, rescale its timestamps, write it interleaved. Confined to the calling task.
struct Remuxer {
    let inputs: [ProbedInput]
    let plan: StitchPlan
    let outputPath: String
    let formatName: String
    let faststart: Bool
    /// `.exact` re-encodes compressed audio streams (see `ExactAudioTrack`); PCM and video are copied either way.
    var audio: AudioMode = .copy
    /// Whether the output container skips encoder priming it is told about (an MP4 edit list).
    var marksAudioPriming = true
    /// fsync before the rename (see `StitchOptions.sync`); false also skips the early writeback.
    var sync = true
    /// For MP4/MOV faststart: bytes reserved for the index at the front, overriding `reservedIndexEstimate` (tests
    /// force the fallback with a size too small).
    var reservedIndexBytes: Int64? = nil
    let logger: Logger
    let progress: (@Sendable (StitchProgress) -> Void)?
    let cancellation: CancellationFlag?

    /// What was written, per stream.
    struct Written {
        var packets: [Int]
        var bytes: Int64
        var timeBases: [Rational]
        /// Per re-encoded audio stream.
        var exactAudio: [ExactAudioSummary] = []
        /// How the MP4/MOV index came to the front with faststart (nil without faststart).
        var faststart: FaststartMethod? = nil
    }

    /// The reserved index space was too small: the stitch is written again with the index moved by a rewrite.
    struct ReservedIndexExceeded: Error {}

    /// Bytes to reserve at the front of an MP4/MOV output for its index (`moov`), from the probed packet counts: a
    /// bound on what libavformat's mov muxer writes per sample (stsz 4, stts 8, ctts 8, stss 4, co64 8, stsc 12:
    /// 44, rounded up to 48), plus 4 KiB per track and 16 KiB for the rest. The unused rest becomes a `free` box.
    static func reservedIndexEstimate(_ inputs: [ProbedInput]) -> Int64 {
        guard let first = inputs.first else { return 0 }
        let packets = inputs.reduce(Int64(0)) { sum, input in sum + input.streams.reduce(Int64(0)) { $0 + Int64($1.packetCount) } }
        return 16_384 + 4_096 * Int64(first.streams.count) + 48 * packets
    }

    /// Compressed audio codecs `--audio exact` re-encodes (PCM is exact already and stays copied).
    static let reencodedCodecs: Set<String> = ["aac", "opus"]

    /// The streams `--audio exact` re-encodes: AAC and Opus with a known sample rate, beside a video stream that
    /// gives the spans to cut to (audio-only inputs are copied).
    static func exactStreams(_ inputs: [ProbedInput], mode: AudioMode) -> Set<Int> {
        guard mode == .exact, let first = inputs.first, first.masterStreamIndex.map({ first.streams[$0].signature.kind == .video }) == true
        else { return [] }
        return Set(first.streams.filter {
            $0.signature.kind == .audio && reencodedCodecs.contains($0.signature.codec) && $0.signature.sampleRate > 0
        }.map(\.index))
    }

    /// Refuses `--audio exact` for compressed audio it cannot re-encode, naming the stream.
    static func checkExactAudio(_ inputs: [ProbedInput], mode: AudioMode) throws(StitchError) {
        guard mode == .exact, let first = inputs.first else { return }
        for stream in first.streams where stream.signature.kind == .audio && !stream.signature.codec.hasPrefix("pcm_")
            && !reencodedCodecs.contains(stream.signature.codec) {
            throw .usage("--audio exact re-encodes AAC and Opus (PCM is copied); input 1 (\(URL(fileURLWithPath: first.path).lastPathComponent)), stream \(stream.index) is \(stream.signature.codec): use --audio copy")
        }
    }

    func run() throws(StitchError) -> Written {
        let isMP4 = formatName == "mp4" || formatName == "mov"
        let method: FaststartMethod? = faststart && isMP4 ? .reserved : nil
        if let written = try attempt(faststart: method) { return written }
        logger.debug("the index outgrew the space reserved for it; writing again with the index moved by a rewrite")
        guard let written = try attempt(faststart: .rewritten) else {
            throw .outputFailed(path: outputPath, reason: "the muxer refused the index after a rewrite")
        }
        return written
    }

    /// One write of the output; nil (nothing left behind) when the index outgrew the space reserved for it.
    private func attempt(faststart method: FaststartMethod?) throws(StitchError) -> Written? {
        let temp = TemporaryOutput(outputPath: outputPath)
        do {
            var written = try remux(into: temp.muxerPath, faststart: method)
            written.faststart = method
            try temp.commit(cancellation: cancellation, sync: sync)
            return written
        } catch is ReservedIndexExceeded {
            temp.discard()
            return nil
        } catch {
            temp.discard()
            if cancellation.isCancelled { throw .cancelled }
            switch error {
            case let error as StitchError: throw error
            case let error as FFmpegError where error.isInterrupted: throw .cancelled
            case let error as FFmpegError where error.path != outputPath && error.path != temp.muxerPath && error.path != nil:
                throw .unreadableInput(path: error.path!, reason: MediaProbe.describe(error))
            case let error as FFmpegError: throw .outputFailed(path: outputPath, reason: "\(error.function): \(error.message)")
            default: throw .outputFailed(path: outputPath, reason: "\(error)")
            }
        }
    }

    private func remux(into temp: String, faststart method: FaststartMethod?) throws -> Written {
        let muxer = try Muxer(path: temp, formatName: formatName, cancellation: cancellation)
        // Input 1's parameters, completed by decoding, describe the output's streams; later inputs are only read.
        let first = try Demuxer(path: inputs[0].path, findStreamInfo: true, cancellation: cancellation)
        let exact = Self.exactStreams(inputs, mode: audio)
        let globalHeader = muxer.formatContext.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0
        var tracks: [Int: ExactAudioTrack] = [:]
        for s in 0..<first.streamCount {
            if exact.contains(s) {
                let track = try ExactAudioTrack(stream: s, inputs: inputs, firstParameters: first.stream(s).pointee.codecpar,
                                                globalHeader: globalHeader, keepsPriming: marksAudioPriming, path: outputPath)
                tracks[s] = track
                let parameters = try track.parameters()
                _ = try withExtendedLifetime(parameters) {
                    try muxer.addStream(copying: parameters.pointer, timeBase: Rational(1, track.sampleRate))
                }
            } else {
                _ = try muxer.addStream(copying: first.stream(s), timeBase: plan.timeBases[s])
            }
        }
        var options: [String: String] = [:]
        let reserved = reservedIndexBytes ?? Self.reservedIndexEstimate(inputs)
        switch method {
        case .reserved: options["moov_size"] = "\(reserved)"  // the index written in place, in one pass
        case .rewritten: options["movflags"] = "+faststart"  // the file read back and shifted behind the index
        case nil: break
        }
        try muxer.writeHeader(options: options)
        let outTimeBases = (0..<first.streamCount).map { muxer.timeBase(of: $0) }

        let totalBytes = inputs.reduce(Int64(0)) { $0 + $1.fileSize }
        var bytesDone: Int64 = 0
        var lastDts = [Int64?](repeating: nil, count: first.streamCount)
        var written = [Int](repeating: 0, count: first.streamCount)
        let packet = try Packet()
        let writeback = sync ? Writeback(path: temp) : nil
        let master = inputs[0].masterStreamIndex ?? 0
        /// Writes a packet of a re-encoded stream: pts in output samples from the video's first frame.
        func writeEncoded(_ encoded: Packet, stream s: Int, input i: Int) throws {
            let p = encoded.pointer
            let sampleTB = Rational(1, inputs[0].streams[s].signature.sampleRate)
            let origin = Ticks.rescale(plan.videoOrigin, from: plan.timeBases[master], to: sampleTB)
            let outTB = outTimeBases[s]
            p.pointee.stream_index = Int32(s)
            if p.pointee.pts != AV.noPTS { p.pointee.pts = Ticks.rescale(origin + p.pointee.pts, from: sampleTB, to: outTB) }
            if p.pointee.dts != AV.noPTS { p.pointee.dts = Ticks.rescale(origin + p.pointee.dts, from: sampleTB, to: outTB) }
            p.pointee.duration = Ticks.rescale(p.pointee.duration, from: sampleTB, to: outTB)
            if let previous = lastDts[s], p.pointee.dts <= previous {
                throw StitchError.outputFailed(path: outputPath, reason: "re-encoded audio dts \(p.pointee.dts) does not follow \(previous) (time base \(outTB))")
            }
            lastDts[s] = p.pointee.dts
            written[s] += 1
            try muxer.write(encoded)
        }
        for (i, input) in inputs.enumerated() {
            let demuxer = i == 0 ? first : try Demuxer(path: input.path, findStreamInfo: false, cancellation: cancellation)
            guard demuxer.streamCount == input.streams.count else {
                throw StitchError.unreadableInput(path: input.path, reason: "stream count changed since it was probed")
            }
            var mappers = (0..<input.streams.count).map { StitchPlan.PacketMapper(plan: plan, inputs: inputs, input: i, stream: $0) }
            for (s, track) in tracks {
                try track.begin(parameters: demuxer.stream(s).pointee.codecpar, timeBase: input.streams[s].timeBase, path: input.path)
            }
            var packetsRead = 0
            var perStream = [Int](repeating: 0, count: input.streams.count)
            while try demuxer.read(into: packet) {
                packetsRead += 1
                if packetsRead & 255 == 0, cancellation.isCancelled { throw StitchError.cancelled }
                let s = packet.streamIndex
                guard s < mappers.count else { continue }
                perStream[s] += 1
                if let track = tracks[s] {
                    try track.consume(packet)
                    continue
                }
                let p = packet.pointer
                guard let mapped = mappers[s].map(pts: p.pointee.pts, dts: p.pointee.dts, duration: p.pointee.duration) else { continue }
                let planTB = plan.timeBases[s]
                p.pointee.pts = mapped.pts
                p.pointee.dts = mapped.dts
                p.pointee.duration = mapped.duration
                if mapped.clearsDiscard { p.pointee.flags &= ~AV.flagDiscard }
                if let trim = mapped.trimEnd { packet.setSkipSamples(start: 0, end: trim) }
                // Plan time base to the muxer's.
                let outTB = outTimeBases[s]
                p.pointee.pts = p.pointee.pts == AV.noPTS ? AV.noPTS : Ticks.rescale(p.pointee.pts, from: planTB, to: outTB)
                p.pointee.dts = p.pointee.dts == AV.noPTS ? AV.noPTS : Ticks.rescale(p.pointee.dts, from: planTB, to: outTB)
                p.pointee.duration = Ticks.rescale(p.pointee.duration, from: planTB, to: outTB)
                p.pointee.pos = -1
                if let previous = lastDts[s], p.pointee.dts <= previous {
                    throw StitchError.invalidInputs(StitchReport(inputs: [], boundaries: [], issues: [StitchIssue(
                        severity: .error, code: .outputDtsNotIncreasing, inputIndex: i, inputPath: input.path, stream: s,
                        message: "output dts \(p.pointee.dts) does not follow \(previous) (time base \(outTB))")], output: nil))
                }
                lastDts[s] = p.pointee.dts
                written[s] += 1
                try muxer.write(packet)
                writeback?.advance(to: muxer.bytesWritten)
            }
            // The same file read twice must give the same packets: anything else lost frames since it was probed.
            if let line = demuxer.loggedErrors.first {
                throw StitchError.damagedInput(index: i, path: input.path, reason: "the file is corrupt or truncated; libavformat: \(line)")
            }
            for (s, stream) in input.streams.enumerated() where perStream[s] != stream.packetCount {
                throw StitchError.damagedInput(index: i, path: input.path,
                                               reason: "stream \(s): \(perStream[s]) packets read but \(stream.packetCount) when probed; the file changed or is damaged")
            }
            for s in tracks.keys.sorted() {
                try tracks[s]!.end(input: i, inputs: inputs, cancellation: cancellation) { try writeEncoded($0, stream: s, input: i) }
            }
            bytesDone += input.fileSize
            progress?(.remuxing(bytesRead: bytesDone, totalBytes: totalBytes))
            logger.trace("copied input \(i + 1) of \(inputs.count): \(input.path)")
        }
        for s in tracks.keys.sorted() {
            try tracks[s]!.finish { try writeEncoded($0, stream: s, input: inputs.count - 1) }
        }
        progress?(.finishing)
        let trailer: FFmpegError?
        do { try muxer.finish(); trailer = nil } catch { trailer = error }
        if let trailer {
            // "reserved_moov_size is too small": the trailer wrote nothing usable.
            if method == .reserved && trailer.code == helios_averror(EINVAL) { throw ReservedIndexExceeded() }
            throw trailer
        }
        // The trailer is written; from here to the rename only cancellation can stop the run.
        if cancellation.isCancelled { throw StitchError.cancelled }
        // The report counts what the file holds: a muxer's bitstream filter must not have merged or dropped packets.
        for s in written.indices where muxer.packetsWritten(to: s) != Int64(written[s]) {
            throw StitchError.outputFailed(path: outputPath, reason: "stream \(s): \(written[s]) packets were copied but the muxer "
                + "wrote \(muxer.packetsWritten(to: s)) (its bitstream filter merged or dropped some: a corrupt frame in the inputs?)")
        }
        // stat follows /proc/self/fd/N to the file (FileManager's attributes would describe the link).
        var info = stat()
        let bytes = stat(temp, &info) == 0 ? Int64(info.st_size) : 0
        let summaries = tracks.keys.sorted().map { s -> ExactAudioSummary in
            let track = tracks[s]!
            let seconds = Double(track.samplesEncoded) / Double(track.sampleRate)
            return ExactAudioSummary(stream: s, encoder: track.encoderName, bitRate: track.bitRate, samples: track.samplesEncoded,
                                     videoOffsetSamples: track.cuts.map(\.videoOffset), silentSamples: track.cuts.map(\.silentSamples),
                                     codingSeconds: track.codingSeconds,
                                     audioSecondsPerSecond: track.codingSeconds > 0 ? seconds / track.codingSeconds : 0)
        }
        return Written(packets: written, bytes: bytes, timeBases: outTimeBases, exactAudio: summaries)
    }

    /// Starts writing the output to disk while the stitch goes on, every few megabytes, so the fsync before the
    /// rename waits for the last stretch only instead of the whole file.
    final class Writeback {
        private let fd: Int32
        private var started: Int64 = 0
        static let interval: Int64 = 8 << 20

        init(path: String) { fd = open(path, O_WRONLY) }
        deinit { if fd >= 0 { close(fd) } }

        func advance(to bytes: Int64) {
            guard fd >= 0, bytes - started >= Self.interval else { return }
            started = bytes
            _ = helios_start_writeback(fd)
        }
    }
}
