/// The OBUs of an AV1 packet, as far as they decide whether a muxer keeps it as a frame: the MP4 and Matroska muxers
/// drop temporal delimiters, redundant frame headers, tile lists and padding (FFmpeg's `ff_av1_filter_obus`), so a
/// packet holding nothing else, such as a frame OBU whose type a damaged byte turned into a redundant frame header,
/// would be counted as written yet leave no block in the file. Pure: walks the OBU headers and sizes.
enum AV1Frame {
    /// OBU types the muxers drop: temporal delimiter, redundant frame header, tile list, padding.
    static let droppedTypes: Set<UInt8> = [2, 7, 8, 15]

    /// Why a packet is not a frame a muxer keeps, or nil when its OBUs parse and one of them is kept.
    static func defect(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard !bytes.isEmpty else { return "empty packet" }
        var at = 0, kept = 0
        while at < bytes.count {
            let header = bytes[at]
            guard header & 0x80 == 0 else { return "an OBU header with its forbidden bit set, at byte \(at)" }
            let type = (header >> 3) & 0xF, hasExtension = header & 0x4 != 0, hasSize = header & 0x2 != 0
            var next = at + (hasExtension ? 2 : 1)
            guard next <= bytes.count else { return "an OBU header cut short, at byte \(at)" }
            let size: Int
            if hasSize {
                guard let (value, length) = leb128(bytes, at: next) else { return "an OBU size that does not parse, at byte \(next)" }
                next += length
                guard value <= UInt64(bytes.count - next) else { return "an OBU of \(value) bytes in a packet of \(bytes.count), at byte \(at)" }
                size = Int(value)
            } else {
                size = bytes.count - next  // the last OBU: it runs to the end of the packet
            }
            if !droppedTypes.contains(type) { kept += 1 }
            at = next + size
        }
        return kept == 0 ? "no OBU a muxer keeps (only temporal delimiters, redundant frame headers, tile lists or padding)" : nil
    }

    /// An unsigned LEB128 number of at most 8 bytes at `at`, and its length; nil when cut short or too long.
    static func leb128(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (UInt64, Int)? {
        var value: UInt64 = 0
        for k in 0..<8 {
            guard start + k < bytes.count else { return nil }
            let byte = bytes[start + k]
            value |= UInt64(byte & 0x7F) << (7 * UInt64(k))
            if byte & 0x80 == 0 { return (value, k + 1) }
        }
        return nil
    }
}
