import CFFmpeg

/// Owns one `AVPacket`; freed on deinit. Confined to the task that created it.
package final class Packet {
    package let pointer: UnsafeMutablePointer<AVPacket>

    package init() throws(FFmpegError) {
        guard let packet = av_packet_alloc() else {
            throw FFmpegError(code: -ENOMEM, function: "av_packet_alloc")
        }
        pointer = packet
    }

    deinit {
        var packet: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&packet)
    }

    package var streamIndex: Int { Int(pointer.pointee.stream_index) }
    package var pts: Int64 { pointer.pointee.pts }
    package var dts: Int64 { pointer.pointee.dts }
    package var duration: Int64 { pointer.pointee.duration }
    package var size: Int { Int(pointer.pointee.size) }
    package var isKeyframe: Bool { pointer.pointee.flags & AV.flagKey != 0 }
    package var isDiscard: Bool { pointer.pointee.flags & AV.flagDiscard != 0 }
    package var isCorrupt: Bool { pointer.pointee.flags & AV.flagCorrupt != 0 }

    /// The (start, end) trim of the AV_PKT_DATA_SKIP_SAMPLES side data, in samples, when present.
    package var skipSamples: (start: Int64, end: Int64)? {
        var size: Int = 0
        guard let data = av_packet_get_side_data(pointer, AV_PKT_DATA_SKIP_SAMPLES, &size), size >= 8 else {
            return nil
        }
        let start = Int64(UInt32(data[0]) | UInt32(data[1]) << 8 | UInt32(data[2]) << 16 | UInt32(data[3]) << 24)
        let end = Int64(UInt32(data[4]) | UInt32(data[5]) << 8 | UInt32(data[6]) << 16 | UInt32(data[7]) << 24)
        return (start, end)
    }

    /// Sets (or replaces) the skip-samples side data: `start` samples dropped at the front, `end` at the back.
    /// Both zero removes it.
    package func setSkipSamples(start: Int64, end: Int64) {
        av_packet_free_side_data(pointer)
        guard start != 0 || end != 0, let data = av_packet_new_side_data(pointer, AV_PKT_DATA_SKIP_SAMPLES, 10) else { return }
        for i in 0..<10 { data[i] = 0 }
        for i in 0..<4 {
            data[i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: start) >> (8 * UInt32(i)))
            data[4 + i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: end) >> (8 * UInt32(i)))
        }
    }

    package func unref() { av_packet_unref(pointer) }
}
