import CFFmpeg

/// Copies of an input's stream parameters once decoding completed them (`Demuxer.findStreamInfo`): what an output's
/// streams are created from. The probe of a stitch's input 1 keeps them (`ProbeReference.streams`), so the output is
/// opened without decoding the start of that input a second time (a few milliseconds for 1080p H.264).
///
/// Its `AVCodecParameters` are owned by `CodecParametersBox`es. Written only while it is made and read-only
/// afterwards, which is what makes sharing it between threads safe.
package final class StreamParameters: @unchecked Sendable {
    private let parameters: [CodecParametersBox]
    /// Per stream, `avg_frame_rate` and `r_frame_rate` (the Matroska muxer writes a track's default duration from the
    /// first).
    private let frameRates: [(average: AVRational, real: AVRational)]
    /// Per stream, its side data (display matrix, HDR mastering display and light levels, stereo 3D, ...): what a
    /// player needs besides the codec parameters, as `ffmpeg -c copy` carries it over.
    private let sideData: [[(type: AVPacketSideDataType, bytes: [UInt8])]]
    /// Per stream, its disposition (default, forced, ...) and the tags that describe it rather than this one file
    /// (language, title, handler; see `describing`).
    private let dispositions: [Int32]
    private let streamTags: [[(key: String, value: String)]]
    /// The container's tags that describe the content (see `describing`).
    package let containerTags: [(key: String, value: String)]
    /// The file's attached pictures (cover art): codec parameters, the picture's bytes and its descriptive tags.
    let attachedPictures: [(parameters: CodecParametersBox, picture: [UInt8], tags: [(key: String, value: String)])]
    /// The file's attachments (Matroska's fonts, ...): codec parameters (the data is their extradata) and tags.
    let attachments: [(parameters: CodecParametersBox, tags: [(key: String, value: String)])]

    /// Copies the parameters of every stream of `demuxer`, whose stream info should have been found.
    package init(_ demuxer: Demuxer) throws(FFmpegError) {
        var parameters: [CodecParametersBox] = [], frameRates: [(average: AVRational, real: AVRational)] = []
        var sideData: [[(type: AVPacketSideDataType, bytes: [UInt8])]] = []
        var dispositions: [Int32] = [], streamTags: [[(key: String, value: String)]] = []
        for index in 0..<demuxer.streamCount {
            let stream = demuxer.stream(index).pointee
            parameters.append(try Self.copy(stream.codecpar, path: demuxer.path))
            frameRates.append((stream.avg_frame_rate, stream.r_frame_rate))
            sideData.append((0..<Int(stream.nb_side_data)).compactMap { k in
                let entry = stream.side_data[k]
                guard let data = entry.data, entry.size > 0 else { return nil }
                return (entry.type, Array(UnsafeBufferPointer(start: data, count: Int(entry.size))))
            })
            dispositions.append(stream.disposition)
            streamTags.append(Self.describing(stream.metadata))
        }
        self.dispositions = dispositions
        self.streamTags = streamTags
        containerTags = Self.describing(demuxer.formatContext.pointee.metadata)
        var pictures: [(parameters: CodecParametersBox, picture: [UInt8], tags: [(key: String, value: String)])] = []
        for stream in demuxer.attachedPictures {
            let picture = stream.pointee.attached_pic
            guard let data = picture.data, picture.size > 0 else { continue }
            pictures.append((try Self.copy(stream.pointee.codecpar, path: demuxer.path), Array(UnsafeBufferPointer(start: data, count: Int(picture.size))), Self.describing(stream.pointee.metadata)))
        }
        attachedPictures = pictures
        var attachments: [(parameters: CodecParametersBox, tags: [(key: String, value: String)])] = []
        for stream in demuxer.attachments {
            attachments.append((try Self.copy(stream.pointee.codecpar, path: demuxer.path), Self.describing(stream.pointee.metadata)))
        }
        self.attachments = attachments
        self.parameters = parameters
        self.frameRates = frameRates
        self.sideData = sideData
    }

    /// The number of streams.
    package var count: Int { parameters.count }

    /// Stream `index`'s codec parameters.
    package func codecParameters(_ index: Int) -> UnsafePointer<AVCodecParameters> { UnsafePointer(parameters[index].pointer) }

    /// Stream `index`'s average and real base frame rates.
    package func frameRates(_ index: Int) -> (average: AVRational, real: AVRational) { frameRates[index] }

    /// A copy of `parameters`.
    private static func copy(_ parameters: UnsafePointer<AVCodecParameters>, path: String) throws(FFmpegError) -> CodecParametersBox {
        let copy = try CodecParametersBox()
        try check(avcodec_parameters_copy(copy.pointer, parameters), "avcodec_parameters_copy", path: path)
        return copy
    }

    /// Stream `index`'s disposition and descriptive tags.
    package func description(_ index: Int) -> (disposition: Int32, tags: [(key: String, value: String)]) {
        (dispositions[index], streamTags[index])
    }

    /// Tags that describe one input file rather than the content, left out of the output: its length and statistics
    /// (Matroska's DURATION, mkvmerge's NUMBER_OF_FRAMES, BPS, ... of the chunk alone), its MP4 brands and writer
    /// (the output's muxer writes its own), and a timecode (input 1's is set apart, see `ProbedInput.timecode`).
    static let fileTags: Set<String> = [
        "duration", "number_of_frames", "number_of_bytes", "bps", "_statistics_writing_app", "_statistics_writing_date_utc",
        "_statistics_tags", "major_brand", "minor_version", "compatible_brands", "encoder", "timecode",
    ]

    /// The entries of `dictionary` but those in `fileTags` (compared without case, and Matroska's `-eng` suffixes).
    static func describing(_ dictionary: OpaquePointer?) -> [(key: String, value: String)] {
        var tags: [(key: String, value: String)] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let next = av_dict_get(dictionary, "", entry, AV_DICT_IGNORE_SUFFIX) {
            entry = next
            let key = String(cString: next.pointee.key), value = String(cString: next.pointee.value)
            let base = key.lowercased().split(separator: "-").first.map(String.init) ?? ""
            if !fileTags.contains(base) { tags.append((key, value)) }
        }
        return tags
    }

    /// Stream `index`'s side data.
    package func sideData(_ index: Int) -> [(type: AVPacketSideDataType, bytes: [UInt8])] { sideData[index] }
}

/// Owns one `AVCodecParameters`; freed on deinit.
final class CodecParametersBox {
    let pointer: UnsafeMutablePointer<AVCodecParameters>

    init() throws(FFmpegError) {
        guard let p = avcodec_parameters_alloc() else { throw FFmpegError(code: -ENOMEM, function: "avcodec_parameters_alloc") }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecParameters>? = pointer
        avcodec_parameters_free(&p)
    }
}
