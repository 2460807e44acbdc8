import CFFmpeg
import CHeliosShims
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Copies the planned packets of every input into one output file, following FFmpeg's doc/examples/remux.c:
/// read a packet, map its stream, rescale its timestamps, write it (interleaved by dts, or in each input's own order
/// into MP4/MOV: see `RemuxSession`). Confined to the calling task.
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
    /// fsync before the rename (see `StitchOptions.sync`), prepared by an early writeback every few megabytes. Without
    /// it there is no early writeback either: a scratch output's pages are the kernel's flusher's to write, as they
    /// are for `cat` (starting their writeback here cost the stitch 18 ms of 230 on 300 MB).
    var sync = true
    /// For MP4/MOV faststart: bytes reserved for the index at the front, overriding `reservedIndexEstimate` (tests
    /// force the fallback with a size too small).
    var reservedIndexBytes: Int64? = nil
    let logger: Logger
    let progress: (@Sendable (StitchProgress) -> Void)?
    let cancellation: CancellationFlag?
    /// See `StitchOptions.parsesEveryInput`.
    var parsesEveryInput = false
    /// See `StitchOptions.kernelCopyMinimumInputBytes`.
    var kernelCopyMinimumInputBytes: Int64? = 1 << 20
    /// Input 1's stream parameters from its probe (nil: the output opens input 1 and decodes its start again).
    var firstStreams: StreamParameters? = nil
    /// See `StitchOptions.writebackStride`.
    var writebackStride = Writeback.interval

    /// What was written, per stream.
    struct Written {
        var packets: [Int]
        var bytes: Int64
        var timeBases: [Rational]
        /// Per re-encoded audio stream.
        var exactAudio: [ExactAudioSummary] = []
        /// How the MP4/MOV index came to the front with faststart (nil without faststart).
        var faststart: FaststartMethod? = nil
        /// Payload bytes copied file to file (see `StitchOptions.kernelCopyMinimumInputBytes`).
        var bytesCopiedInKernel: Int64 = 0
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

    /// Compressed audio codecs `--audio exact` re-encodes (PCM is exact already and stays copied). Vorbis, which
    /// copying cannot lay end to end, is re-encoded with libvorbis; MP3 with LAME, where the container says how long
    /// each chunk's encoder delay is (`checkExactAudio`).
    static let reencodedCodecs: Set<String> = ["aac", "opus", "vorbis", "mp3"]

    /// The streams `--audio exact` re-encodes: AAC, Opus, Vorbis and MP3 with a known sample rate, beside a video stream that
    /// gives the spans to cut to (audio-only inputs are copied).
    static func exactStreams(_ inputs: [ProbedInput], mode: AudioMode) -> Set<Int> {
        guard mode == .exact, let first = inputs.first, first.masterStreamIndex.map({ first.streams[$0].signature.kind == .video }) == true
        else { return [] }
        return Set(first.streams.filter {
            $0.signature.kind == .audio && reencodedCodecs.contains($0.signature.codec) && $0.signature.sampleRate > 0
        }.map(\.index))
    }

    /// Refuses `--audio exact` where it cannot help: a codec it does not re-encode, MP3 whose container does not say
    /// how long each chunk's encoder delay is, or segments of one stream
    /// (`ProbedInput.continues`), whose audio runs on across the cuts and is copied sample-exactly already (cutting each
    /// segment to its video span would drop the sound carried over and pad silence). Inputs before `from` were checked.
    static func checkExactAudio(_ inputs: [ProbedInput], mode: AudioMode, from: Int = 0) throws(StitchError) {
        guard mode == .exact, let first = inputs.first else { return }
        let name = URL(fileURLWithPath: first.path).lastPathComponent
        for stream in first.streams where stream.signature.kind == .audio && !stream.signature.isSampleExactAudio
            && !reencodedCodecs.contains(stream.signature.codec) {
            throw .usage("--audio exact re-encodes AAC, Opus, Vorbis and MP3 (PCM and lossless FLAC, ALAC, WavPack and TTA are copied, sample-exact already); input 1 (\(name)), stream \(stream.index) is \(stream.signature.codec): use --audio copy")
        }
        // LAME's delay (1,105 samples from ffmpeg) is part of each MP3 chunk's first frame: only the container can say
        // where the sound starts (an MP4 edit list does; Matroska, AVI and MPEG-TS do not).
        for s in exactStreams([first], mode: mode).sorted() where first.streams[s].signature.codec == "mp3" {
            let stream = first.streams[s]
            guard stream.primingSamples <= 0, stream.initialPadding <= 0, stream.leadingDiscardPackets == 0 else { continue }
            throw .usage("--audio exact cuts each chunk's sound where its encoder delay ends, but input 1 (\(name)), stream \(stream.index) is MP3 in a container that does not say how long that delay is (MP4 does, with its edit list): use --audio copy, or write the chunks as MP4")
        }
        guard first.streams.contains(where: { $0.signature.kind == .audio && !$0.signature.isSampleExactAudio }) else { return }
        for i in min(max(from, 1), inputs.count)..<inputs.count where inputs[i].continues(inputs[i - 1]) {
            throw .usage("--audio exact cuts each chunk's audio to its video, but input \(i + 1) (\(URL(fileURLWithPath: inputs[i].path).lastPathComponent)) continues the timestamps of input \(i), as segments of one stream do (HLS, ffmpeg's segment muxer): their audio runs on across the cut and is copied sample-exactly; use --audio copy")
        }
    }

    /// How `faststart` brings the index to the front at the first attempt: MP4, MOV and M4A write it into space
    /// reserved for it (one pass); Matroska and WebM have their Cues moved there by the muxer, which shifts the file
    /// behind them (FFmpeg's `cues_to_front`); other containers have no index to move.
    var faststartMethod: FaststartMethod? {
        guard faststart else { return nil }
        if OutputCapabilities.movMuxers.contains(formatName) { return .reserved }
        return ["matroska", "webm"].contains(formatName) ? .rewritten : nil
    }

    func run() throws(StitchError) -> Written {
        if let written = try attempt(faststart: faststartMethod) { return written }
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
            throw stitchError(error, temp: temp)
        }
    }

    /// What a failure while writing `temp` means to the caller: cancellation, an unreadable input, or a failed output.
    func stitchError(_ error: any Error, temp: TemporaryOutput) -> StitchError {
        if cancellation.isCancelled { return .cancelled }
        switch error {
        case let error as StitchError: return error
        case let error as FFmpegError where error.isInterrupted: return .cancelled
        case let error as FFmpegError where error.path != outputPath && error.path != temp.muxerPath && error.path != nil:
            return .unreadableInput(path: error.path!, reason: MediaProbe.describe(error))
        case let error as FFmpegError where error.function == "avformat_write_header" && error.detail != nil
            && [helios_averror(EINVAL), helios_averror(ENOSYS), helios_averror_patchwelcome()].contains(error.code):
            // The muxer refused a stream when the header was written, saying why in its log (`av1 only supported in
            // MP4 and AVIF`, `FLV does not support sample rate 48000`): the inputs do not fit the container, which no
            // retry changes. Nothing was written.
            let issue = StitchIssue(severity: .error, code: .unsupportedByContainer, inputIndex: 0, inputPath: inputs.first?.path,
                                    message: "the \(formatName) muxer refuses the streams: \(error.explanation)")
            return .invalidInputs(StitchReport(inputs: inputs.map(InputSummary.init), boundaries: [], issues: [issue], output: nil))
        case let error as FFmpegError: return .outputFailed(path: outputPath, reason: "\(error.function): \(error.explanation)")
        default: return .outputFailed(path: outputPath, reason: "\(error)")
        }
    }

    private func remux(into temp: String, faststart method: FaststartMethod?) throws -> Written {
        let session = try RemuxSession(self, temp: temp, faststart: method)
        for i in inputs.indices { try session.copy(input: i, self) }
        return try session.close(self)
    }

    /// Starts writing the output to disk while the stitch goes on, every few megabytes, so the fsync before the
    /// rename waits for the last stretch only instead of the whole file. The writeback is queued on a thread of its
    /// own (`helios_writeback_open`): queueing it in the stitch's thread took 16-66 ms of 4 × 30 s 1080p and 67-92 ms
    /// of the 1 GB set.
    final class Writeback {
        /// The `helios_writeback` (nil if the file could not be opened for it).
        let writeback: OpaquePointer?
        private var started: Int64 = 0
        static let interval: Int64 = 8 << 20

        init(path: String) { writeback = helios_writeback_open(path) }
        deinit { helios_writeback_close(writeback) }

        func advance(to bytes: Int64) {
            guard let writeback, bytes - started >= Self.interval else { return }
            started = bytes
            helios_writeback_request(writeback)
        }
    }
}
