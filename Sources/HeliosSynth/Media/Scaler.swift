import CFFmpeg
import HeliosMedia

/// Owns one `SwsContext` converting pictures of one size between two pixel formats (bit-exact).
final class Scaler {
    private let context: OpaquePointer
    let width: Int
    let height: Int
    let destination: AVPixelFormat

    init(width: Int, height: Int, from source: AVPixelFormat, to destination: AVPixelFormat) throws(FFmpegError) {
        let flags = SWS_POINT | SWS_BITEXACT | SWS_ACCURATE_RND
        guard let ctx = sws_getContext(Int32(width), Int32(height), source, Int32(width), Int32(height), destination,
                                       flags, nil, nil, nil) else {
            throw FFmpegError(code: -EINVAL, function: "sws_getContext")
        }
        context = ctx
        self.width = width
        self.height = height
        self.destination = destination
    }

    deinit { sws_freeContext(context) }

    /// Converts `source` into `target` (whose buffers must already be allocated in the destination format).
    func scale(_ source: Frame, into target: Frame) throws(FFmpegError) {
        let src = source.pointer, dst = target.pointer
        let code = withUnsafePointer(to: &src.pointee.data) { sd in
            withUnsafePointer(to: &src.pointee.linesize) { sl in
                withUnsafePointer(to: &dst.pointee.data) { dd in
                    withUnsafePointer(to: &dst.pointee.linesize) { dl in
                        sws_scale(context,
                                  UnsafeRawPointer(sd).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                  UnsafeRawPointer(sl).assumingMemoryBound(to: Int32.self),
                                  0, Int32(height),
                                  UnsafeRawPointer(dd).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                                  UnsafeRawPointer(dl).assumingMemoryBound(to: Int32.self))
                    }
                }
            }
        }
        try check(code, "sws_scale")
    }
}
