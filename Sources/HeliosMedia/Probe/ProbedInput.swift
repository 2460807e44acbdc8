#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The kind of a stream.
public enum MediaKind: String, Codable, Sendable, Hashable {
    case video, audio, subtitle, data, other
}

/// Codec parameters of one stream, as compared between inputs.
///
/// A value type whose fields live in one immutable shared box: the inputs of a stitch almost always carry the
/// same parameters (later inputs whose headers match input 1 reuse its signatures), so 10,000 probed inputs hold
/// one copy instead of 10,000 (about 230 bytes per stream). Setting a field replaces the box.
public struct CodecSignature: Codable, Sendable, Hashable {
    /// The stored fields; encoded flat, so the JSON shape is one object of these keys.
    struct Fields: Codable, Sendable, Hashable {
        var kind: MediaKind
        var codec: String
        var profile: Int32
        var level: Int32
        var width: Int32
        var height: Int32
        var pixelFormat: String?
        var sampleAspectRatio: Rational
        var fieldOrder: String
        var colorRange: String
        var colorPrimaries: String
        var colorTransfer: String
        var colorSpace: String
        var sampleRate: Int32
        var channelLayout: String
        var channels: Int32
        var sampleFormat: String?
        var frameSize: Int32
        var extradata: Data
        /// The display matrix (rotation, flip) a player applies to the video: 9 32-bit values, nil when none.
        var displayMatrix: Data?
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private var fields: Fields {
        get { box.fields }
        set { box = Box(newValue) }
    }

    init(kind: MediaKind, codec: String, profile: Int32, level: Int32, width: Int32, height: Int32,
         pixelFormat: String?, sampleAspectRatio: Rational, fieldOrder: String, colorRange: String,
         colorPrimaries: String, colorTransfer: String, colorSpace: String, sampleRate: Int32, channelLayout: String,
         channels: Int32, sampleFormat: String?, frameSize: Int32, extradata: Data, displayMatrix: Data? = nil) {
        box = Box(Fields(kind: kind, codec: codec, profile: profile, level: level, width: width, height: height,
                         pixelFormat: pixelFormat, sampleAspectRatio: sampleAspectRatio, fieldOrder: fieldOrder,
                         colorRange: colorRange, colorPrimaries: colorPrimaries, colorTransfer: colorTransfer,
                         colorSpace: colorSpace, sampleRate: sampleRate, channelLayout: channelLayout, channels: channels,
                         sampleFormat: sampleFormat, frameSize: frameSize, extradata: extradata,
                         displayMatrix: displayMatrix))
    }

    public init(from decoder: any Decoder) throws { box = Box(try Fields(from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.box === rhs.box || lhs.fields == rhs.fields }
    public func hash(into hasher: inout Hasher) { fields.hash(into: &hasher) }

    /// Whether this value and `other` are one stored copy (not merely equal).
    package func sharesStorage(with other: CodecSignature) -> Bool { box === other.box }

    public var kind: MediaKind { get { box.fields.kind } set { fields.kind = newValue } }
    public var codec: String { get { box.fields.codec } set { fields.codec = newValue } }
    public var profile: Int32 { get { box.fields.profile } set { fields.profile = newValue } }
    public var level: Int32 { get { box.fields.level } set { fields.level = newValue } }
    // Video
    public var width: Int32 { get { box.fields.width } set { fields.width = newValue } }
    public var height: Int32 { get { box.fields.height } set { fields.height = newValue } }
    public var pixelFormat: String? { get { box.fields.pixelFormat } set { fields.pixelFormat = newValue } }
    public var sampleAspectRatio: Rational { get { box.fields.sampleAspectRatio } set { fields.sampleAspectRatio = newValue } }
    public var fieldOrder: String { get { box.fields.fieldOrder } set { fields.fieldOrder = newValue } }
    public var colorRange: String { get { box.fields.colorRange } set { fields.colorRange = newValue } }
    public var colorPrimaries: String { get { box.fields.colorPrimaries } set { fields.colorPrimaries = newValue } }
    public var colorTransfer: String { get { box.fields.colorTransfer } set { fields.colorTransfer = newValue } }
    public var colorSpace: String { get { box.fields.colorSpace } set { fields.colorSpace = newValue } }
    // Audio
    public var sampleRate: Int32 { get { box.fields.sampleRate } set { fields.sampleRate = newValue } }
    public var channelLayout: String { get { box.fields.channelLayout } set { fields.channelLayout = newValue } }
    public var channels: Int32 { get { box.fields.channels } set { fields.channels = newValue } }
    public var sampleFormat: String? { get { box.fields.sampleFormat } set { fields.sampleFormat = newValue } }
    public var frameSize: Int32 { get { box.fields.frameSize } set { fields.frameSize = newValue } }
    /// Codec extradata (e.g. avcC, AudioSpecificConfig), compared byte for byte (FLAC's by what decoding depends on).
    public var extradata: Data { get { box.fields.extradata } set { fields.extradata = newValue } }
    /// The display matrix of a video stream (a phone's portrait recording is stored landscape and turned by it), as
    /// the container states it; nil when none.
    public var displayMatrix: Data? { get { box.fields.displayMatrix } set { fields.displayMatrix = newValue } }

    /// Audio whose packets hold exactly the samples they decode to, a file's last one included: PCM, and the
    /// lossless codecs that cut their last block to the samples left (FLAC, ALAC, WavPack, TTA). Such audio is laid
    /// end to end sample-exactly, each packet with its own duration; frame codecs (AAC, Opus, ...) pad their last
    /// frame to a whole one and are placed on a grid of frames instead.
    public var isSampleExactAudio: Bool {
        kind == .audio && (codec.hasPrefix("pcm_") || Self.losslessBlockCodecs.contains(codec))
    }

    static let losslessBlockCodecs: Set<String> = ["flac", "alac", "wavpack", "tta"]

    /// Extradata as compared between inputs. H.264 and HEVC parameter sets in Annex B form (MPEG-TS, where the
    /// parser takes them from the first access unit) may end in zero bytes that belong to no NAL unit
    /// (`trailing_zero_8bits`): one segment of a stream has them where another does not. They are left out.
    static func comparable(_ extradata: Data, codec: String) -> Data {
        guard codec == "h264" || codec == "hevc", extradata.starts(with: [0, 0, 1]) || extradata.starts(with: [0, 0, 0, 1]),
              let last = extradata.lastIndex(where: { $0 != 0 }) else { return extradata }
        return extradata[...last]
    }

    /// Names of the fields that differ from `other`, in a fixed order. Empty when the signatures match.
    public func differences(from other: CodecSignature) -> [(field: String, mine: String, theirs: String)] {
        var out: [(String, String, String)] = []
        func cmp<T: Equatable>(_ name: String, _ a: T, _ b: T, _ show: (T) -> String = { "\($0)" }) {
            if a != b { out.append((name, show(a), show(b))) }
        }
        cmp("kind", kind.rawValue, other.kind.rawValue)
        cmp("codec", codec, other.codec)
        cmp("profile", profile, other.profile)
        cmp("level", level, other.level)
        if kind == .video {
            cmp("width", width, other.width)
            cmp("height", height, other.height)
            cmp("pixel format", pixelFormat ?? "unknown", other.pixelFormat ?? "unknown")
            cmp("sample aspect ratio", sampleAspectRatio.description, other.sampleAspectRatio.description)
            // Unknown is no claim: MPEG-2 tells its field order in a picture extension the probe reads after the
            // first frame, so a 1-frame chunk has none. (Its bitstream still says it for the decoder.)
            if fieldOrder != "unknown" && other.fieldOrder != "unknown" { cmp("field order", fieldOrder, other.fieldOrder) }
            cmp("color range", colorRange, other.colorRange)
            cmp("color primaries", colorPrimaries, other.colorPrimaries)
            cmp("color transfer", colorTransfer, other.colorTransfer)
            cmp("color space", colorSpace, other.colorSpace)
            if displayMatrix != other.displayMatrix {
                out.append(("display matrix", Self.describeDisplayMatrix(displayMatrix), Self.describeDisplayMatrix(other.displayMatrix)))
            }
        }
        if kind == .audio {
            cmp("sample rate", sampleRate, other.sampleRate)
            cmp("channel layout", channelLayout, other.channelLayout)
            cmp("channels", channels, other.channels)
            cmp("sample format", sampleFormat ?? "unknown", other.sampleFormat ?? "unknown")
            cmp("frame size", frameSize, other.frameSize)
        }
        if codec == "flac", other.codec == "flac", let mine = FLACStreamInfo(extradata: extradata),
           let theirs = FLACStreamInfo(extradata: other.extradata) {
            // Chunks' headers differ in what describes their content (sizes, sample count, MD5): see FLACStreamInfo.
            out += mine.differences(from: theirs)
        } else if Self.comparable(extradata, codec: codec) != Self.comparable(other.extradata, codec: other.codec) {
            let at = Array(zip(extradata, other.extradata)).firstIndex { $0 != $1 } ?? min(extradata.count, other.extradata.count)
            out.append(("extradata", "\(extradata.count) bytes differing from byte \(at)", "\(other.extradata.count) bytes"))
        }
        return out
    }
}

/// Timestamps of one packet, as read.
public struct PacketTiming: Codable, Sendable, Hashable {
    public var pts: Int64
    public var dts: Int64
    public var duration: Int64
    public var isDiscard: Bool

    public init(pts: Int64, dts: Int64, duration: Int64, isDiscard: Bool) {
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.isDiscard = isDiscard
    }

    /// A packet's duration where the container leaves it unset (0): an audio packet lasts one codec frame.
    /// Fragmented MP4 and Matroska leave AAC durations to the parser, which runs only after stream info is read.
    public static func filledDuration(_ duration: Int64, kind: MediaKind, frameSize: Int32, sampleRate: Int32,
                                      timeBase: Rational) -> Int64 {
        guard duration <= 0, kind == .audio, frameSize > 0, sampleRate > 0 else { return duration }
        return Ticks.rescale(Int64(frameSize), from: Rational(1, sampleRate), to: timeBase)
    }
}

/// What probing found about one input file.
public struct ProbedInput: Codable, Sendable, Hashable {
    /// Whether the remux may read this input's packets without libavformat's parsers and copy the same packets:
    /// an MP4/MOV input whose H.264/HEVC key frames are all marked in its sync sample table, every other stream of a
    /// codec the MP4 demuxer does not parse. The parser then only costs time (a zeroed copy of every frame).
    public var remuxesWithoutParser: Bool {
        formatName.hasPrefix("mov,") && streams.allSatisfy { stream in
            switch stream.signature.codec {
            case "h264", "hevc": stream.parserKeyframes == 0
            case "aac", "alac": true
            default: stream.signature.codec.hasPrefix("pcm_")
            }
        }
    }

    /// The file's path.
    public var path: String {
        get { names.directory.isEmpty ? name : names.directory + name }
        set {
            let (directory, name) = Self.split(newValue)
            self.name = name
            if directory != names.directory { names = SharedNames(directory: directory, formatName: names.formatName) }
        }
    }
    /// The demuxer's name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    public var formatName: String {
        get { names.formatName }
        set { if newValue != names.formatName { names = SharedNames(directory: names.directory, formatName: newValue) } }
    }
    /// What follows the last `/` of the path: a chunk's name such as `c-1234.mp4` fits in the string itself.
    private var name: String
    /// The path's directory and the format name, which the inputs of a stitch have in common: one copy for all of
    /// them (`sharingStorage(with:)`), and 8 bytes an input. Held as strings of their own, 10,000 paths took 0.8 MB.
    private var names: SharedNames
    public var fileSize: Int64
    public var streams: [ProbedStream]
    /// Container duration in microseconds, when the container states one.
    @OptionalTicks public var containerDurationMicroseconds: Int64?
    /// What few inputs have (a timecode, cover art, attachments, data streams, fragment shifts), behind one
    /// reference that is nil while every field has its default: 64 bytes an input instead of 128, which is what a
    /// stitch of 10,000 inputs holds twice (the probes and their normalized forms).
    @Boxed private var rare: RareFields?

    /// The timecode of the first frame, when the file states one (a QuickTime `tmcd` track, a `timecode` tag), e.g.
    /// "01:00:00:00". Input 1's becomes the output's.
    public var timecode: String? {
        get { rare?.timecode }
        set { updateRare { $0.timecode = newValue } }
    }
    /// Attached pictures (cover art) the file holds beside its streams; input 1's reaches outputs that keep one.
    public var attachedPictures: Int {
        get { rare?.attachedPictures ?? 0 }
        set { updateRare { $0.attachedPictures = newValue } }
    }
    /// Attachments the file holds beside its streams (Matroska: fonts, ...); input 1's reach Matroska outputs.
    public var attachments: Int {
        get { rare?.attachments ?? 0 }
        set { updateRare { $0.attachments = newValue } }
    }
    /// Data streams the file holds beside its streams (telemetry, navigation packets), named: left out of the output.
    public var dataStreams: [String] {
        get { rare?.dataStreams ?? [] }
        set { updateRare { $0.dataStreams = newValue } }
    }
    /// Ticks taken off every timestamp of each stream as it is read (empty: none), in a fragmented MP4: the
    /// composition shift the demuxer adds, and the edit list a muxer left out (see `applyingFragmentFacts`).
    public var timestampShifts: [Int64] {
        get { rare?.timestampShifts ?? [] }
        set { updateRare { $0.timestampShifts = newValue } }
    }
    /// For a fragmented MP4: the duration of the master stream's first sample as its track run states it (the
    /// demuxer reports the parser's, or none for a fragment's last sample), in its time base; nil elsewhere.
    public var statedFirstFrameDuration: Int64? {
        get { rare?.statedFirstFrameDuration }
        set { updateRare { $0.statedFirstFrameDuration = newValue } }
    }

    public init(path: String, formatName: String, fileSize: Int64, streams: [ProbedStream],
                containerDurationMicroseconds: Int64? = nil, timecode: String? = nil, attachedPictures: Int = 0,
                attachments: Int = 0, dataStreams: [String] = [], timestampShifts: [Int64] = [],
                statedFirstFrameDuration: Int64? = nil) {
        let (directory, name) = Self.split(path)
        self.name = name
        names = SharedNames(directory: directory, formatName: formatName)
        self.fileSize = fileSize
        self.streams = streams
        self.containerDurationMicroseconds = containerDurationMicroseconds
        rare = RareFields(timecode: timecode, attachedPictures: attachedPictures, attachments: attachments,
                          dataStreams: dataStreams, timestampShifts: timestampShifts,
                          statedFirstFrameDuration: statedFirstFrameDuration).unlessDefault
    }

    /// This input holding `previous`'s copies of what the two have in common: each stream's fields that match
    /// (`ProbedStream.sharingStorage(with:)`), the streams themselves when they all match, the format name and the
    /// directory of the path.
    /// Chunks rendered alike then keep one copy of them however many a stitch holds.
    package func sharingStorage(with previous: ProbedInput) -> ProbedInput {
        var shared = self
        if names == previous.names { shared.names = previous.names }
        var streams = self.streams, changed = false
        for k in streams.indices where k < previous.streams.count {
            let stream = streams[k].sharingStorage(with: previous.streams[k])
            if !stream.sharesStorage(with: streams[k]) {
                streams[k] = stream
                changed = true
            }
        }
        shared.streams = streams == previous.streams ? previous.streams : changed ? streams : self.streams
        return shared
    }

    /// A path's directory and a format name, compared by their text.
    private final class SharedNames: Hashable, Sendable {
        let directory: String
        let formatName: String

        init(directory: String, formatName: String) {
            self.directory = directory
            self.formatName = formatName
        }

        static func == (a: SharedNames, b: SharedNames) -> Bool { a === b || (a.directory == b.directory && a.formatName == b.formatName) }
        func hash(into hasher: inout Hasher) {
            hasher.combine(directory)
            hasher.combine(formatName)
        }
    }

    /// `path` cut after its last `/`: the directory (empty without one) and the name.
    private static func split(_ path: String) -> (directory: String, name: String) {
        let utf8 = path.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return ("", path) }
        let cut = utf8.index(after: slash)
        return (String(Substring(utf8[..<cut])), String(Substring(utf8[cut...])))
    }

    /// The stream that drives the timeline: the first video stream, else the first stream.
    public var masterStreamIndex: Int? {
        streams.firstIndex { $0.signature.kind == .video } ?? (streams.isEmpty ? nil : 0)
    }
}

extension ProbedInput {
    struct RareFields: Sendable, Hashable {
        var timecode: String?
        var attachedPictures = 0
        var attachments = 0
        var dataStreams: [String] = []
        var timestampShifts: [Int64] = []
        var statedFirstFrameDuration: Int64?

        /// These fields, or nil when every one has its default (so most inputs allocate no box).
        var unlessDefault: RareFields? { self == RareFields() ? nil : self }
    }

    private mutating func updateRare(_ change: (inout RareFields) -> Void) {
        var fields = rare ?? RareFields()
        change(&fields)
        rare = fields.unlessDefault
    }

    private enum CodingKeys: String, CodingKey {
        case path, formatName, fileSize, streams, containerDurationMicroseconds, timecode, attachedPictures, attachments,
             dataStreams, timestampShifts, statedFirstFrameDuration
    }

    /// The keys synthesized `Codable` gave when every field was stored: nil ones left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(formatName, forKey: .formatName)
        try c.encode(fileSize, forKey: .fileSize)
        try c.encode(streams, forKey: .streams)
        try c.encodeIfPresent(containerDurationMicroseconds, forKey: .containerDurationMicroseconds)
        try c.encodeIfPresent(timecode, forKey: .timecode)
        try c.encode(attachedPictures, forKey: .attachedPictures)
        try c.encode(attachments, forKey: .attachments)
        try c.encode(dataStreams, forKey: .dataStreams)
        try c.encode(timestampShifts, forKey: .timestampShifts)
        try c.encodeIfPresent(statedFirstFrameDuration, forKey: .statedFirstFrameDuration)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try c.decode(String.self, forKey: .path), formatName: try c.decode(String.self, forKey: .formatName),
                  fileSize: try c.decode(Int64.self, forKey: .fileSize), streams: try c.decode([ProbedStream].self, forKey: .streams),
                  containerDurationMicroseconds: try c.decodeIfPresent(Int64.self, forKey: .containerDurationMicroseconds),
                  timecode: try c.decodeIfPresent(String.self, forKey: .timecode),
                  attachedPictures: try c.decodeIfPresent(Int.self, forKey: .attachedPictures) ?? 0,
                  attachments: try c.decodeIfPresent(Int.self, forKey: .attachments) ?? 0,
                  dataStreams: try c.decodeIfPresent([String].self, forKey: .dataStreams) ?? [],
                  timestampShifts: try c.decodeIfPresent([Int64].self, forKey: .timestampShifts) ?? [],
                  statedFirstFrameDuration: try c.decodeIfPresent(Int64.self, forKey: .statedFirstFrameDuration))
    }
}
