import CFFmpeg
import HeliosMedia

/// Reads the block-code index from decoded pictures, converting to 8-bit grey when the luma plane is not 8-bit.
final class FrameIndexReader {
    private var scaler: Scaler?
    private var grey: Frame?

    static let eightBitLuma: Set<Int32> = [
        AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUVJ422P,
        AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_GRAY8, AV_PIX_FMT_NV12,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// The embedded index of `frame`, or nil when the code cannot be read.
    func index(of frame: Frame) throws(FFmpegError) -> Int? {
        var source = frame
        if !Self.eightBitLuma.contains(frame.pixelFormat.rawValue) {
            if scaler == nil || scaler!.width != frame.width || scaler!.height != frame.height {
                scaler = try Scaler(width: frame.width, height: frame.height, from: frame.pixelFormat, to: AV_PIX_FMT_GRAY8)
                let g = try Frame()
                try g.allocateVideo(width: frame.width, height: frame.height, format: AV_PIX_FMT_GRAY8)
                grey = g
            }
            try scaler!.scale(frame, into: grey!)
            source = grey!
        }
        guard let plane = source.plane(0) else { return nil }
        let stride = source.stride(0)
        let buffer = UnsafeBufferPointer(start: UnsafePointer(plane), count: stride * source.height)
        return BlockCode.read(luma: buffer, stride: stride, width: source.width, height: source.height)
    }
}
