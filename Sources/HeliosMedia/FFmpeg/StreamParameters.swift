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

    /// Copies the parameters of every stream of `demuxer`, whose stream info should have been found.
    package init(_ demuxer: Demuxer) throws(FFmpegError) {
        var parameters: [CodecParametersBox] = [], frameRates: [(average: AVRational, real: AVRational)] = []
        for index in 0..<demuxer.streamCount {
            let copy = try CodecParametersBox()
            let stream = demuxer.stream(index).pointee
            try check(avcodec_parameters_copy(copy.pointer, stream.codecpar), "avcodec_parameters_copy", path: demuxer.path)
            parameters.append(copy)
            frameRates.append((stream.avg_frame_rate, stream.r_frame_rate))
        }
        self.parameters = parameters
        self.frameRates = frameRates
    }

    /// The number of streams.
    package var count: Int { parameters.count }

    /// Stream `index`'s codec parameters.
    package func codecParameters(_ index: Int) -> UnsafePointer<AVCodecParameters> { UnsafePointer(parameters[index].pointer) }

    /// Stream `index`'s average and real base frame rates.
    package func frameRates(_ index: Int) -> (average: AVRational, real: AVRational) { frameRates[index] }
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
