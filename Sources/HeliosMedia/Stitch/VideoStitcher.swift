#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Concatenates rendered chunks into one file.
public protocol VideoStitcher: Sendable {
    /// Stitches `inputs`, in order, into `output` and reports what was done.
    func stitch(_ inputs: [URL], to output: URL) async throws -> StitchReport
}

/// How the stitcher places compressed audio.
public enum AudioMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Copy audio packets as they are (the default): frames laid end to end, within half a frame of the video at
    /// every boundary (sample-exact for PCM, and for Opus into Matroska/WebM).
    case copy
    /// Decode every input's audio, cut each to its video span sample-exactly, join and encode once with the same
    /// codec, rate, layout and about the same bit rate. PCM is exact already and stays copied; video is copied.
    case exact
}

/// How inputs are probed. Both modes give identical probe results (a test checks every fixture set, damaged copies
/// included) and every validation check runs on them.
public enum ProbeMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// MP4/MOV: every packet's size, timestamps, duration and key flag from the sample tables, payloads unread
    /// (the default). Matroska and WebM (H.264, HEVC, AAC, FFV1, PCM, VP9, Opus) of 1 MiB or more: the same from a
    /// walk of its block headers, where its Cues agree with that walk and its frames are large enough for skipping them
    /// to save reads. MPEG-TS, other Matroska files, and streams of codecs whose payload is looked at (VP9 in MP4, MP3,
    /// AC-3, AV1, FLAC in Matroska) are scanned.
    case index
    /// Read every packet of every input.
    case scan
}

/// How `NativeStitcher` behaves.
public struct StitchOptions: Sendable, Hashable {
    /// Output container short name (`mp4`, `mov`, `matroska`, `webm`, `mpegts`); nil picks it from the extension.
    public var format: String?
    /// Move the index to the front so playback can start before the download ends: the MP4/MOV/M4A `moov` in one pass,
    /// Matroska/WebM Cues by a rewrite; MPEG-TS has none.
    public var faststart: Bool
    /// Replace an existing output file.
    public var force: Bool
    /// Downgrade timestamp-continuity findings to warnings. Codec and layout mismatches stay errors.
    public var lenient: Bool
    /// Validate and report only; write nothing.
    public var checkOnly: Bool
    /// How compressed audio is placed: copied (default) or re-encoded sample-exactly.
    public var audio: AudioMode
    /// Accept the same file more than once among the inputs (otherwise refused: usually a mistake in a list).
    public var allowRepeat: Bool
    /// fsync the output (and its directory) before and after it takes its name (the default). False for scratch
    /// outputs: the rename still makes the file appear whole to other processes, but a power cut may lose it.
    public var sync: Bool
    /// How inputs are probed (the same result either way; `.index` reads less).
    public var probe: ProbeMode
    /// Faststart's index reservation in bytes instead of the estimate from the packet counts (tests force the
    /// rewrite fallback with a size too small).
    var reservedIndexBytes: Int64? = nil
    /// Keeps libavformat's parsers in the remux for every input (tests compare the output with the default, which
    /// skips them where the probe shows they change nothing: `ProbedInput.remuxesWithoutParser`).
    var parsesEveryInput = false
    /// The smallest MP4/MOV input whose H.264, HEVC and AAC payloads go into an MP4/MOV output inside the kernel
    /// (`copy_file_range`), unread, instead of being read into memory and written out; nil never (tests compare the
    /// bytes with 0 and nil). Below 1 MiB the two copies through memory cost less than setting the copy up.
    public var kernelCopyMinimumInputBytes: Int64? = 1 << 20
    /// With `probe = .index`, walks the block headers of every Matroska input, even where reading it whole costs less
    /// (under 1 MiB, or small frames): the same result, for tests and fuzzing of the walk on small files.
    public var walksEveryMatroska = false
    /// The smallest inputs probed two at a time (on two cores, after input 1; see `ConcurrentProbes`): inputs this large
    /// are gathered up to the first smaller one. nil never (tests compare results and errors with 0 and nil).
    public var concurrentProbeMinimumInputBytes: Int64? = 1 << 20
    /// With the default durability, payload copies into MP4/MOV go a stride at a time and ask for the output's
    /// writeback after each, so the disk writes an input while the rest of it is copied (tests shrink it to see the
    /// same bytes come out of many small copies).
    var writebackStride = Remuxer.Writeback.interval

    public init(format: String? = nil, faststart: Bool = false, force: Bool = false, lenient: Bool = false, checkOnly: Bool = false,
                audio: AudioMode = .copy, allowRepeat: Bool = false, sync: Bool = true, probe: ProbeMode = .index) {
        self.sync = sync
        self.probe = probe
        self.audio = audio
        self.format = format
        self.faststart = faststart
        self.force = force
        self.lenient = lenient
        self.checkOnly = checkOnly
        self.allowRepeat = allowRepeat
    }
}
