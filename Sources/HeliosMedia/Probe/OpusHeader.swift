#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The fields of an Opus identification header (RFC 7845 §5.1, "OpusHead", little-endian) that libavformat gives as
/// an Opus stream's extradata, also for MP4, whose `dOps` box it rewrites into one.
struct OpusHeader: Equatable {
    var channels: UInt8
    var preSkip: UInt16
    var inputRate: UInt32

    init?(_ extradata: Data) {
        let bytes = [UInt8](extradata.prefix(19))
        guard bytes.count >= 19, bytes.starts(with: Array("OpusHead".utf8)) else { return nil }
        channels = bytes[9]
        preSkip = UInt16(bytes[10]) | UInt16(bytes[11]) << 8
        inputRate = UInt32(bytes[12]) | UInt32(bytes[13]) << 8 | UInt32(bytes[14]) << 16 | UInt32(bytes[15]) << 24
    }

    /// Whether the header was written with its fields in the wrong byte order (an MP4 `dOps` box holds them
    /// big-endian; GStreamer 1.22's mp4mux copies Ogg's little-endian ones): an input rate no encoder states (above
    /// 768 kHz) that reads as a common one byte-swapped, 48,000 Hz stored as 2,159,738,880.
    var isByteSwapped: Bool {
        inputRate > 768_000 && Self.commonRates.contains(inputRate.byteSwapped)
    }

    static let commonRates: Set<UInt32> = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000]
}
