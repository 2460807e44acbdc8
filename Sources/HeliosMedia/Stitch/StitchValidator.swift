#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the output container can hold, worked out before validation (see `OutputCapabilities.detect`).
public struct OutputCapabilities: Sendable, Hashable {
    /// Short name of the output muxer, e.g. `mp4`.
    public var formatName: String
    /// Codec names (as in `CodecSignature.codec`) the container cannot store.
    public var unsupportedCodecs: Set<String>
    /// Whether the muxer can trim samples from the end of any single audio packet (Matroska's DiscardPadding),
    /// which lets codecs with decoder-side priming (Opus pre-skip) be joined sample-exactly.
    public var trimsAudioPackets: Bool
    /// Whether the container's edit lists let the first frame present at 0 whatever the decode delay or audio
    /// priming before it (the ISO base media family): the output timeline then starts at 0.
    public var presentsFromZero: Bool
    /// Whether a decoder of this container skips input 1's audio priming packets kept at the start (MP4/MOV edit
    /// lists). MPEG-TS cannot say so, nor can Matroska for AAC (FFmpeg writes CodecDelay for Opus only): there they
    /// are dropped like every later input's, so the audio track starts with the video instead of a frame before it.
    /// (Opus into Matroska keeps its pre-skip through `trimsAudioPackets`.)
    public var marksAudioPriming: Bool

    static let isoFamily: Set<String> = ["mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"]

    /// The muxers of MP4, MOV and M4A (`ipod`): they write a `moov` index (what `--faststart` brings to the front,
    /// in one pass into space reserved for it), interleave the tracks themselves and keep cover art as `covr`.
    static let movMuxers: Set<String> = ["mp4", "mov", "ipod"]

    /// Whether the container keeps a file's cover art (an attached picture): the MP4, MOV and M4A muxer writes it
    /// as `covr`; FFmpeg's Matroska muxer would make it a one-frame video stream, MPEG-TS has no place for it.
    static func holdsCoverArt(_ formatName: String) -> Bool { movMuxers.contains(formatName) }

    /// Whether the container holds attachments (files beside the streams, such as the fonts of styled subtitles).
    static func holdsAttachments(_ formatName: String) -> Bool { formatName == "matroska" }

    public init(formatName: String, unsupportedCodecs: Set<String> = [], trimsAudioPackets: Bool? = nil) {
        self.formatName = formatName
        self.unsupportedCodecs = unsupportedCodecs
        self.trimsAudioPackets = trimsAudioPackets ?? (formatName == "matroska" || formatName == "webm")
        self.presentsFromZero = Self.isoFamily.contains(formatName)
        self.marksAudioPriming = Self.isoFamily.contains(formatName)
    }
}

/// Pure validation of probed inputs. Runs before a byte of output is written.
public enum StitchValidator {
    /// Returns every finding, errors and warnings, in input order.
    /// With `lenient`, continuity findings become warnings; codec and layout mismatches stay errors.
    /// `plan`, when given, must be `StitchPlan(inputs: inputs, output: output)` (a caller that has it saves planning twice).
    public static func validate(_ inputs: [ProbedInput], output: OutputCapabilities, lenient: Bool = false,
                                audio: AudioMode = .copy, plan given: StitchPlan? = nil) -> [StitchIssue] {
        var checks = InputChecks(output: output, lenient: lenient, audio: audio)
        checks.check(inputs)
        return validate(inputs, checked: checks, plan: given)
    }

    /// `validate` with the checks of each input on its own (and against input 1) already run by `checked`, which
    /// must have checked exactly `inputs`: a stitch fed one input at a time checks each input once.
    public static func validate(_ inputs: [ProbedInput], checked: InputChecks, plan given: StitchPlan? = nil) -> [StitchIssue] {
        var continuity = ContinuityChecks()
        return validate(inputs, checked: checked, plan: given, continuity: &continuity)
    }

    /// `validate` for a plan that grows one step at a time: `continuity` keeps the findings of the boundaries,
    /// drifts and dts violations no later input can change, so each is checked once while the plan's generation
    /// (`StitchPlan.Builder.resets`) stays the same. Gives exactly what `validate` gives.
    public static func validate(_ inputs: [ProbedInput], checked: InputChecks, plan given: StitchPlan? = nil,
                                continuity: inout ContinuityChecks) -> [StitchIssue] {
        let lenient = checked.leniency, output = checked.output
        var issues: [StitchIssue] = []
        guard let first = inputs.first else {
            issues.append(InputChecks.issue(.error, .noInputs, nil, nil, "no inputs given", inputs, lenient: lenient))
            return issues
        }
        issues = checked.inputIssues
        checkContainer(first, output: output, reencodedAudio: lenient.reencodedAudio) { issues.append(InputChecks.issue($0, $1, $2, $3, $4, inputs, lenient: lenient)) }
        for cadence in checked.cadenceIssues { issues += cadence }
        if issues.contains(where: { $0.severity == .error && !$0.code.isContinuity }) {
            // Continuity arithmetic over mismatched layouts would only add noise.
            return issues
        }
        let plan = given ?? StitchPlan(inputs: inputs, output: output)
        issues += continuity.issues(plan, inputs, lenient: lenient)
        return issues
    }

    /// Which error findings are reported as warnings: every continuity finding with `--lenient`; with `--audio exact`,
    /// those of the audio streams it re-encodes, whose sound it cuts to each chunk's video span whatever the chunk's
    /// own audio timing (a gap becomes silence, an overlap is cut).
    public struct Leniency: Sendable, Hashable {
        public var all: Bool
        /// Audio streams (indices in input 1) that `--audio exact` re-encodes.
        public var reencodedAudio: Set<Int>

        public init(all: Bool = false, reencodedAudio: Set<Int> = []) {
            self.all = all
            self.reencodedAudio = reencodedAudio
        }

        /// Whether an error `code` about `stream` is reported as a warning.
        public func downgrades(_ code: IssueCode, stream: Int?) -> Bool {
            code.isContinuity && (all || stream.map(reencodedAudio.contains) == true)
        }
    }

    /// The checks of each input on its own and against input 1 (streams, layout, codecs, timestamps, cadence),
    /// folded one input at a time.
    public struct InputChecks: Sendable {
        public let output: OutputCapabilities
        /// Whether every continuity finding is a warning (`--lenient`).
        public var lenient: Bool { leniency.all }
        /// How the stitch places compressed audio: `--audio exact` re-encodes some streams (`leniency`).
        public let audio: AudioMode
        /// What `lenient` and `audio` make warnings of; the re-encoded streams are known once input 1 is checked.
        public private(set) var leniency: Leniency
        /// Inputs checked so far.
        public private(set) var count = 0
        /// Per input, in input order: no streams, layout and codec mismatches, each stream's own findings.
        var inputIssues: [StitchIssue] = []
        /// Per video stream of input 1, in input order: frame durations that differ from input 1's.
        var cadenceIssues: [[StitchIssue]] = []

        public init(output: OutputCapabilities, lenient: Bool = false, audio: AudioMode = .copy) {
            self.output = output
            self.audio = audio
            leniency = Leniency(all: lenient)
        }

        /// Checks the inputs after the `count` already checked (`inputs` must extend those).
        public mutating func check(_ inputs: [ProbedInput]) {
            guard let first = inputs.first else { return }
            if cadenceIssues.isEmpty { cadenceIssues = Array(repeating: [], count: first.streams.count) }
            if count == 0 { leniency.reencodedAudio = Remuxer.exactStreams([first], mode: audio) }
            let lenient = leniency
            while count < inputs.count {
                let i = count, input = inputs[i]
                var found: [StitchIssue] = []
                func add(_ severity: IssueSeverity, _ code: IssueCode, _ input: Int?, _ stream: Int?, _ message: String) {
                    found.append(Self.issue(severity, code, input, stream, message, inputs, lenient: lenient))
                }
                if input.streams.isEmpty { add(.error, .noStreams, i, nil, "has no audio or video streams") }
                if i == 1, output.formatName == "flac" {
                    // Its frame headers number the frames from the file's start (and only a last frame may be short).
                    add(.error, .unsupportedByContainer, i, nil, "a raw FLAC file numbers its frames from its start, so another "
                        + "input's frames cannot follow the first's in it: write Matroska audio (.mka) or MP4 audio (.m4a)")
                }
                StitchValidator.checkLayout(input, against: first, input: i, add: add)
                for stream in input.streams { StitchValidator.checkStream(stream, in: input, input: i, add: add) }
                inputIssues += found
                for s in first.streams.indices {
                    found = []
                    StitchValidator.checkCadence(input, i, stream: s, first: first, add: add)
                    cadenceIssues[s] += found
                }
                count += 1
            }
        }

        /// One finding; an error `lenient` downgrades becomes a warning.
        static func issue(_ severity: IssueSeverity, _ code: IssueCode, _ input: Int?, _ stream: Int?, _ message: String,
                          _ inputs: [ProbedInput], lenient: Leniency) -> StitchIssue {
            let downgraded = severity == .error && lenient.downgrades(code, stream: stream) ? IssueSeverity.warning : severity
            return StitchIssue(severity: downgraded, code: code, inputIndex: input, inputPath: input.map { inputs[$0].path },
                               stream: stream, message: message)
        }
    }

    fileprivate static func checkLayout(_ input: ProbedInput, against first: ProbedInput, input i: Int,
                                    add: (IssueSeverity, IssueCode, Int?, Int?, String) -> Void) {
        guard i > 0 else { return }
        let kinds = input.streams.map(\.signature.kind.rawValue), firstKinds = first.streams.map(\.signature.kind.rawValue)
        if kinds != firstKinds {
            add(.error, .streamLayoutMismatch, i, nil,
                "has streams [\(kinds.joined(separator: ", "))] but input 1 has [\(firstKinds.joined(separator: ", "))]"
                    + silentChunkHint(kinds, firstKinds))
            return
        }
        // A stream without packets is refused on its own (`emptyStream`); its parameters, which a parser fills in
        // from the packets (MPEG-TS), are unknown, so comparing them would only repeat that finding field by field.
        for (stream, reference) in zip(input.streams, first.streams) where stream.packetCount > 0 && reference.packetCount > 0 {
            for difference in stream.signature.differences(from: reference.signature) {
                add(.error, .codecMismatch, i, stream.index,
                    "\(difference.field) is \(difference.mine) but input 1 has \(difference.theirs)")
            }
            if stream.timeBase != reference.timeBase {
                add(.warning, .timeBaseMismatch, i, stream.index,
                    "time base is \(stream.timeBase) but input 1 has \(reference.timeBase); timestamps are rescaled")
            }
        }
    }

    /// Where one of two layouts is the other without its audio, the likely cause, a chunk rendered silent without a
    /// sound track, and the fix; "" otherwise. (The stitch gives such a chunk a silent track itself, `SilentTrack`;
    /// this is said where it could not, e.g. for a codec without an encoder here.)
    static func silentChunkHint(_ kinds: [String], _ firstKinds: [String]) -> String {
        let audio = MediaKind.audio.rawValue
        let (mine, theirs) = (kinds.filter { $0 != audio }, firstKinds.filter { $0 != audio })
        guard mine == theirs, !mine.isEmpty, kinds.contains(audio) != firstKinds.contains(audio) else { return "" }
        let silent = kinds.contains(audio) ? "input 1" : "this chunk"
        return "; \(silent) has no sound track, as a renderer may write a silent chunk: every chunk needs the same streams, "
            + "so give silent chunks a silent track in the others' codec, rate and layout "
            + "(ffmpeg: -f lavfi -i anullsrc=r=48000:cl=stereo -shortest)"
    }

    /// libavformat's demuxers of raw video elementary streams, which carry no timestamps.
    static let elementaryStreamFormats: Set<String> = ["h264", "hevc", "vvc", "m4v", "mpegvideo", "obu", "h261", "h263", "cavsvideo", "vc1"]

    fileprivate static func checkStream(_ stream: ProbedStream, in input: ProbedInput, input i: Int,
                                    add: (IssueSeverity, IssueCode, Int?, Int?, String) -> Void) {
        let s = stream.index
        if stream.packetCount == 0 {
            add(.error, .emptyStream, i, s, "\(stream.signature.kind.rawValue) stream has no packets")
            return
        }
        if stream.signature.kind == .video && !stream.firstPacketIsKeyframe {
            add(.error, .firstPacketNotKeyframe, i, s, "first video packet is not a keyframe; the chunk cannot be decoded on its own")
        }
        if stream.signature.kind == .video, stream.leadingDiscardPackets > 0 {
            let n = stream.leadingDiscardPackets
            add(.error, .hiddenFrames, i, s,
                "its first \(n) video frame\(n == 1 ? "" : "s") come\(n == 1 ? "s" : "") before the start its edit list gives: a player decodes "
                + "\(n == 1 ? "it" : "them") to reach the frames after but never shows \(n == 1 ? "it" : "them"), as a cut made with stream copy "
                + "between keyframes leaves them (ffmpeg -ss ... -c copy), and a stitched file cannot hide frames among other chunks' frames; "
                + "cut the chunks at keyframes, or re-encode them")
        }
        if stream.missingTimestampCount > 0 {
            let pts = stream.missingPtsCount, dtsOnly = stream.missingDtsOnlyCount
            let what = pts + dtsOnly != stream.missingTimestampCount ? "\(stream.missingTimestampCount) packet(s) have no pts or dts"
                : dtsOnly == 0 ? "\(pts) packet(s) have no pts"
                : pts == 0 ? "\(dtsOnly) packet(s) have a pts but no dts"
                : "\(stream.missingTimestampCount) packet(s) lack timestamps (\(pts) without pts, \(dtsOnly) with a pts but no dts)"
            // AVI stores decode order only; libavformat derives presentation times where frames are not reordered,
            // but not for H.264 or B-frames (ffmpeg's own copy of such a file writes them in decode order). A raw
            // elementary stream stores no time at all.
            let why = pts == 0 || stream.signature.kind != .video ? ""
                : input.formatName == "avi" ? "; AVI stores no presentation times, and with B-frames or H.264 they cannot be derived: render the chunks to MP4 or Matroska"
                : Self.elementaryStreamFormats.contains(input.formatName) ? "; a raw \(stream.signature.codec) stream stores no timestamps: render the chunks to MP4, Matroska or MPEG-TS"
                : ""
            add(.error, .missingTimestamps, i, s, what + why)
        }
        if let n = stream.firstNonIncreasingDts {
            add(.error, .nonIncreasingDts, i, s, "dts does not increase at packet \(n)")
        }
        if let n = stream.firstPtsBeforeDts {
            add(.error, .ptsBeforeDts, i, s, "pts is smaller than dts at packet \(n)")
        }
        if stream.corruptPacketCount > 0 {
            add(.error, .corruptPackets, i, s, "\(stream.corruptPacketCount) packet(s) are flagged corrupt")
        }
        if stream.irregularDurationCount > 0 && stream.signature.kind == .video {
            add(.error, .irregularFrameDuration, i, s,
                "\(stream.irregularDurationCount) frame(s) deviate from the frame duration of \(stream.typicalPacketDuration) ticks")
        }
    }

    private static func checkContainer(_ first: ProbedInput, output: OutputCapabilities, reencodedAudio: Set<Int>,
                                       add: (IssueSeverity, IssueCode, Int?, Int?, String) -> Void) {
        if first.attachedPictures > 0, !OutputCapabilities.holdsCoverArt(output.formatName) {
            add(.warning, .unsupportedByContainer, 0, nil,
                "its cover art (an attached picture) is left out: the \(output.formatName) container holds none (MP4, MOV and M4A outputs keep it)")
        }
        if first.attachments > 0, !OutputCapabilities.holdsAttachments(output.formatName) {
            add(.warning, .unsupportedByContainer, 0, nil,
                "its \(first.attachments) attachment(s) (fonts, ...) are left out: the \(output.formatName) container holds none (Matroska outputs keep them)")
        }
        if let video = first.streams.first(where: { $0.signature.kind == .video }), video.signature.displayMatrix != nil,
           case let turn = CodecSignature.describeDisplayMatrix(video.signature.displayMatrix), turn != "rotation 0°",
           !OutputCapabilities.isoFamily.contains(output.formatName) {
            // libavformat 59 writes a display matrix only into the ISO family (a track header's matrix): a phone's
            // portrait video would play sideways with nothing said.
            add(.warning, .unsupportedByContainer, 0, video.index, "its display matrix (\(turn)) is left out: the \(output.formatName) "
                + "container as libavformat writes it has no place for it (MP4 and MOV outputs keep it), so players show the picture as stored")
        }
        if !first.dataStreams.isEmpty {
            add(.warning, .unsupportedByContainer, 0, nil, "its data stream(s) (\(first.dataStreams.joined(separator: ", "))) are left "
                + "out: they hold neither picture nor sound (telemetry, navigation), as ffmpeg's default selection leaves them")
        }
        for stream in first.streams {
            let codec = stream.signature.codec
            if let reason = unsupportedAudio(stream, in: first, reencoded: reencodedAudio.contains(stream.index)) {
                add(.error, .unsupportedCodec, 0, stream.index, reason)
            } else if output.unsupportedCodecs.contains(codec) {
                let why = output.formatName == "mpegts" ? " (it has no stream type for it: readers, ffmpeg among them, would see a data stream)"
                    : codec == "rawvideo" ? " in \(stream.signature.pixelFormat ?? "an unknown pixel format") (readers would decode it as RGB)" : ""
                add(.error, .unsupportedByContainer, 0, stream.index, "the \(output.formatName) container cannot hold \(codec)\(why)")
            }
        }
    }

    /// Why a stream's audio cannot be laid end to end by copying its packets, if it cannot: refused before the plan
    /// (whose frame grid or sample-exact placement would misplace it) rather than reported as drift. Vorbis is no
    /// reason where `--audio exact` re-encodes the stream (`reencoded`); a header that misstates the sound is, in
    /// either mode (the decoder would drop what it says).
    static func unsupportedAudio(_ stream: ProbedStream, in input: ProbedInput, reencoded: Bool = false) -> String? {
        guard stream.signature.kind == .audio else { return nil }
        switch stream.signature.codec {
        case "vorbis" where !reencoded:
            let hasVideo = input.masterStreamIndex.map { input.streams[$0].signature.kind == .video } ?? false
            return "Vorbis audio cannot be copied end to end: its packets vary in length (short and long blocks), so no "
                + "frame grid places them, and nothing trims the block its encoder pads at each chunk's end; "
                + (hasVideo ? "stitch with --audio exact (the sound decoded, cut to each chunk's video and encoded once as "
                    + "Vorbis), or encode the chunks' audio as Opus, which stitches sample-exactly in WebM and Matroska"
                    : "encode the chunks' audio as Opus, which stitches sample-exactly in WebM and Matroska")
        case "opus" where input.formatName.hasPrefix("mov,"):
            guard let header = OpusHeader(stream.signature.extradata), header.isByteSwapped else { return nil }
            let lost = formatMs(Double(header.preSkip) * 1000 / 48000)
            return "its Opus header (dOps) is written in the wrong byte order, as GStreamer's mp4mux writes it: read as "
                + "written, its pre-skip is \(header.preSkip) samples and its input rate \(header.inputRate) Hz, where "
                + "\(header.preSkip.byteSwapped) and \(header.inputRate.byteSwapped) were meant, so a player drops the first "
                + "\(lost) of every chunk's sound; write Opus chunks as WebM or Matroska (webmmux, matroskamux), or AAC in MP4"
        case "alac" where input.formatName.hasPrefix("matroska"):
            return "ALAC in Matroska carries no packet durations, so each chunk's short last block cannot be placed; "
                + "write ALAC chunks as MOV or M4A, or FLAC in Matroska"
        case let codec where input.formatName == "caf" && !codec.hasPrefix("pcm_"):
            return "\(codec) in CAF carries no packet durations, so each chunk's last packet cannot be placed (only the "
                + "decoder knows its length); write the chunks as M4A or MOV (ALAC, AAC), Matroska (FLAC, Opus), or CAF with PCM"
        default:
            return nil
        }
    }

    /// Every input's video must run at the same frame duration, measured in seconds (time bases may differ):
    /// input `i`'s stream `s` against input 1's.
    private static func checkCadence(_ input: ProbedInput, _ i: Int, stream s: Int, first: ProbedInput,
                                     add: (IssueSeverity, IssueCode, Int?, Int?, String) -> Void) {
        let reference = first.streams[s]
        guard i > 0, reference.signature.kind == .video, input.streams.count > s, input.streams[s].signature.kind == .video else { return }
        let stream = input.streams[s]
        let expected = Ticks.rescale(reference.typicalPacketDuration, from: reference.timeBase, to: stream.timeBase)
        // Timestamps rounded to milliseconds in a finer time base (a Matroska recording remuxed into MP4) give a short
        // chunk's frames 33 ms where the frame is 33.33: within a millisecond, the durations the container states
        // (533 ticks of 1/16000 on every packet) decide, as a Matroska time base's own tick would.
        let difference = abs(stream.typicalPacketDuration - expected)
        let stated = stream.statedTypicalDuration, statedExpected = reference.statedTypicalDuration > 0
            ? Ticks.rescale(reference.statedTypicalDuration, from: reference.timeBase, to: stream.timeBase) : expected
        let roundedAlike = difference <= Ticks.millisecond(in: stream.timeBase) && stated > 0 && abs(stated - statedExpected) <= 1
        if difference > 1 && !roundedAlike {
            add(.error, .frameDurationMismatch, i, s,
                "frame duration is \(formatMs(Ticks.milliseconds(stream.typicalPacketDuration, in: stream.timeBase))) "
                + "but input 1 has \(formatMs(Ticks.milliseconds(reference.typicalPacketDuration, in: reference.timeBase)))")
        }
    }
}

func formatMs(_ ms: Double) -> String { cFormat("%.3f ms", ms) }
