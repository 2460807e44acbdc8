import CFFmpeg
import CHeliosShims
import HeliosMedia

/// Owns one `AVFrame`; freed on deinit. Confined to the task that created it.
final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(FFmpegError) {
        guard let frame = av_frame_alloc() else { throw FFmpegError(code: -ENOMEM, function: "av_frame_alloc") }
        pointer = frame
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }

    /// Allocates zeroed picture buffers of the given size and pixel format, with `extraRows` spare rows below
    /// the picture. libx264's SIMD code reads a few bytes past the end of the input planes; without the spare
    /// rows those bytes belong to the next heap block, and the output depends on the heap's history.
    func allocateVideo(width: Int, height: Int, format: AVPixelFormat, extraRows: Int = 0) throws(FFmpegError) {
        av_frame_unref(pointer)
        pointer.pointee.width = Int32(width)
        pointer.pointee.height = Int32(height + extraRows)
        pointer.pointee.format = format.rawValue
        try check(av_frame_get_buffer(pointer, 0), "av_frame_get_buffer")
        pointer.pointee.height = Int32(height)
        zeroBuffers()
    }

    /// Whether no one else holds a reference to the buffers.
    var isWritable: Bool { av_frame_is_writable(pointer) != 0 }

    /// Allocates audio buffers for `samples` samples in the given format and layout.
    func allocateAudio(samples: Int, format: AVSampleFormat, sampleRate: Int, layout: AVChannelLayout) throws(FFmpegError) {
        av_frame_unref(pointer)
        pointer.pointee.nb_samples = Int32(samples)
        pointer.pointee.format = format.rawValue
        pointer.pointee.sample_rate = Int32(sampleRate)
        var source = layout
        try check(av_channel_layout_copy(&pointer.pointee.ch_layout, &source), "av_channel_layout_copy")
        try check(av_frame_get_buffer(pointer, 0), "av_frame_get_buffer")
    }

    /// Zeroes every byte of the frame's buffers, padding included. av_frame_get_buffer leaves line and sample
    /// padding uninitialised, and encoders' SIMD code may read it, so without this the output depends on
    /// whatever the heap held before (different bytes from run to run when other work shares the process).
    func zeroBuffers() {
        withUnsafeMutablePointer(to: &pointer.pointee.buf) { tuple in
            tuple.withMemoryRebound(to: UnsafeMutablePointer<AVBufferRef>?.self, capacity: 8) { refs in
                for i in 0..<8 {
                    guard let ref = refs[i], let data = ref.pointee.data else { continue }
                    data.initialize(repeating: 0, count: Int(ref.pointee.size))
                }
            }
        }
    }

    var width: Int { Int(pointer.pointee.width) }
    var height: Int { Int(pointer.pointee.height) }
    var pixelFormat: AVPixelFormat { AVPixelFormat(rawValue: pointer.pointee.format) }
    var sampleFormat: AVSampleFormat { AVSampleFormat(rawValue: pointer.pointee.format) }
    var sampleCount: Int { Int(pointer.pointee.nb_samples) }
    var channelCount: Int { Int(pointer.pointee.ch_layout.nb_channels) }
    /// The best-effort presentation timestamp, or nil when unknown.
    var timestamp: Int64? {
        let t = pointer.pointee.best_effort_timestamp
        return t == AVNoPTS.value ? nil : t
    }

    func plane(_ i: Int) -> UnsafeMutablePointer<UInt8>? {
        withUnsafeMutablePointer(to: &pointer.pointee.data) { tuple in
            tuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { $0[i] }
        }
    }

    func stride(_ i: Int) -> Int {
        withUnsafeMutablePointer(to: &pointer.pointee.linesize) { tuple in
            tuple.withMemoryRebound(to: Int32.self, capacity: 8) { Int($0[i]) }
        }
    }

    /// Copies a `YUVImage` into this yuv420p frame's planes.
    func copy(from image: YUVImage) {
        copyPlane(image.y, width: image.width, height: image.height, plane: 0)
        copyPlane(image.u, width: image.chromaWidth, height: image.chromaHeight, plane: 1)
        copyPlane(image.v, width: image.chromaWidth, height: image.chromaHeight, plane: 2)
    }

    private func copyPlane(_ source: [UInt8], width: Int, height: Int, plane index: Int) {
        guard let dst = plane(index) else { return }
        let linesize = stride(index)
        source.withUnsafeBufferPointer { src in
            for row in 0..<height {
                (dst + row * linesize).update(from: src.baseAddress! + row * width, count: width)
            }
        }
    }

    /// Reads channel 0 of a decoded audio frame as Float, whatever its sample format.
    func channelZeroSamples() -> [Float] {
        let n = sampleCount
        guard n > 0, let data = plane(0) else { return [] }
        let planar = av_sample_fmt_is_planar(sampleFormat) != 0
        let step = planar ? 1 : max(1, channelCount)
        let raw = UnsafeRawPointer(data)
        switch av_get_packed_sample_fmt(sampleFormat) {
        case AV_SAMPLE_FMT_S16:
            let p = raw.assumingMemoryBound(to: Int16.self)
            return (0..<n).map { Float(p[$0 * step]) / 32768 }
        case AV_SAMPLE_FMT_S32:
            let p = raw.assumingMemoryBound(to: Int32.self)
            return (0..<n).map { Float(p[$0 * step]) / 2_147_483_648 }
        case AV_SAMPLE_FMT_FLT:
            let p = raw.assumingMemoryBound(to: Float.self)
            return (0..<n).map { p[$0 * step] }
        case AV_SAMPLE_FMT_DBL:
            let p = raw.assumingMemoryBound(to: Double.self)
            return (0..<n).map { Float(p[$0 * step]) }
        case AV_SAMPLE_FMT_U8:
            let p = raw.assumingMemoryBound(to: UInt8.self)
            return (0..<n).map { (Float(p[$0 * step]) - 128) / 128 }
        default:
            return [Float](repeating: 0, count: n)
        }
    }
}

/// AV_NOPTS_VALUE, via the shim.
enum AVNoPTS {
    static let value: Int64 = helios_nopts_value()
}
