/// Whether an H.264 or HEVC packet in Annex B form (MPEG-TS) holds a picture. libavformat's parser cuts such a stream
/// into access units at each picture's first slice; an access unit whose slice a damaged byte turned into another
/// NAL unit type is still handed out as a packet, with no picture ("missing picture in access unit"). Copied, it
/// would be counted as a frame written while a reader of the output joins it to the next one: a frame lost without
/// an error. Pure: walks the start codes up to the first slice.
enum AnnexBFrame {
    /// Why a packet is not a picture, or nil when it holds a slice (or is not in Annex B form: not judged here).
    static func defect(_ bytes: UnsafeBufferPointer<UInt8>, hevc: Bool) -> String? {
        guard !bytes.isEmpty else { return "empty packet" }
        var at = 0, startCodes = 0
        while at + 3 < bytes.count {
            guard bytes[at + 2] <= 1 else { at += 3; continue }  // no start code can end within these three bytes
            guard bytes[at] == 0, bytes[at + 1] == 0, bytes[at + 2] == 1 else { at += 1; continue }
            startCodes += 1
            let header = bytes[at + 3]
            // Video coding layer NAL units: H.264 slices are types 1-5, HEVC's VCL types 0-31.
            if hevc ? (header >> 1) & 0x3F <= 31 : (1...5).contains(header & 0x1F) { return nil }
            at += 3
        }
        return startCodes == 0 ? nil : "an access unit without a picture (no slice among its \(startCodes) NAL units)"
    }
}
