import CFFmpeg
import CHeliosShims

/// Owns one `AVFrame`; freed on deinit. Confined to the task that created it.
final class AudioFrame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(FFmpegError) {
        guard let frame = av_frame_alloc() else { throw FFmpegError(code: -ENOMEM, function: "av_frame_alloc") }
        pointer = frame
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }
}
