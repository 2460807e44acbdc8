/// The few bits of a VP9 packet that decide whether a muxer keeps it as one frame: Matroska/WebM muxers run
/// FFmpeg's `vp9_superframe` filter, which joins a frame that is not shown with the next packet, so a corrupt
/// `show_frame` bit would silently lose a frame of the output. Pure: reads the packet's first and last bytes.
enum VP9Frame {
    /// Why a packet is not a frame a muxer keeps as is, or nil when it is (a shown frame, a superframe, or a
    /// frame that shows an earlier one).
    static func defect(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard let first = bytes.first, let last = bytes.last else { return "empty packet" }
        // A superframe ends with its index: a marker byte 0b110xxxxx that also opens the index.
        if last & 0xE0 == 0xC0 {
            let frames = Int(last & 0x7) + 1, sizeBytes = Int((last >> 3) & 0x3) + 1
            let indexSize = 2 + sizeBytes * frames
            if bytes.count >= indexSize && bytes[bytes.count - indexSize] == last { return nil }
        }
        // Uncompressed header, most significant bit first: frame_marker (2 bits, 0b10), profile (2 bits, a reserved
        // bit more for profile 3), show_existing_frame, frame_type, show_frame.
        guard first >> 6 == 0b10 else { return "bad frame marker" }
        let profile = Int((first >> 5) & 1) | Int((first >> 4) & 1) << 1
        let showExisting = profile == 3 ? 2 : 3  // bit position from the least significant end
        if (first >> UInt8(showExisting)) & 1 == 1 { return nil }
        let showFrame = showExisting - 2
        return (first >> UInt8(showFrame)) & 1 == 0 ? "not shown and not in a superframe" : nil
    }
}
