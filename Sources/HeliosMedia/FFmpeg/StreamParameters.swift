import CFFmpeg
#if canImport(Glibc)
import Glibc
#endif

/// Copies of an input's stream parameters once decoding completed them (`Demuxer.findStreamInfo`): what an output's
/// streams are created from. The probe of a stitch's input 1 keeps them (`ProbeReference.streams`), so the output is
/// opened without decoding the start of that input a second time (a few milliseconds for 1080p H.264).
///
/// Owns its `AVCodecParameters`, freed in `deinit`. Written only while it is made and read-only afterwards, which is
/// what makes sharing it between threads safe.
package final class StreamParameters: @unchecked Sendable {
    private var parameters: [UnsafeMutablePointer<AVCodecParameters>] = []
    /// Per stream, `avg_frame_rate` and `r_frame_rate` (the Matroska muxer writes a track's default duration from the
    /// first).
    private var frameRates: [(average: AVRational, real: AVRational)] = []

    /// Copies the parameters of every stream of `demuxer`, whose stream info should have been found.
    package init(_ demuxer: Demuxer) throws(FFmpegError) {
        for index in 0..<demuxer.streamCount {
            guard let copy = avcodec_parameters_alloc() else {
                throw FFmpegError(code: -ENOMEM, function: "avcodec_parameters_alloc", path: demuxer.path)
            }
            parameters.append(copy)
            let stream = demuxer.stream(index).pointee
            try check(avcodec_parameters_copy(copy, stream.codecpar), "avcodec_parameters_copy", path: demuxer.path)
            frameRates.append((stream.avg_frame_rate, stream.r_frame_rate))
        }
    }

    deinit {
        for pointer in parameters {
            var p: UnsafeMutablePointer<AVCodecParameters>? = pointer
            avcodec_parameters_free(&p)
        }
    }

    /// The number of streams.
    package var count: Int { parameters.count }

    /// Stream `index`'s codec parameters.
    package func codecParameters(_ index: Int) -> UnsafePointer<AVCodecParameters> { UnsafePointer(parameters[index]) }

    /// Stream `index`'s average and real base frame rates.
    package func frameRates(_ index: Int) -> (average: AVRational, real: AVRational) { frameRates[index] }
}
