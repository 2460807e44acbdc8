#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The STREAMINFO block of a FLAC stream's extradata: 34 bytes on their own, or after the `fLaC` marker and a
/// metadata block header (as Matroska's CodecPrivate and MP4's `dfLa` hold it).
///
/// **Why chunks differ.** An encoder rewrites STREAMINFO when it finishes: the smallest and largest frame in bytes,
/// the total number of samples and the MD5 of the decoded audio. Those describe one chunk's content, so FLAC chunks
/// of one render never have equal extradata. What decoding depends on is the sample rate, the channel count, the
/// bits per sample and the largest block a frame may hold (FFmpeg's decoder refuses a frame whose block exceeds it).
/// Inputs are compared on those (`differences`), and the output carries input 1's block with the content fields set
/// to 0, which the format defines as unknown (`stitched`): input 1's MD5 would be wrong for the stitched audio.
///
/// A pure value: parsing and rewriting bytes, no FFmpeg.
package struct FLACStreamInfo: Sendable, Hashable {
    /// The block's size in bytes.
    package static let size = 34

    package var minimumBlockSize: Int
    package var maximumBlockSize: Int
    package var minimumFrameSize: Int
    package var maximumFrameSize: Int
    package var sampleRate: Int
    package var channels: Int
    package var bitsPerSample: Int
    /// 0 when unknown.
    package var totalSamples: Int64
    package var md5: [UInt8]

    /// The block in `extradata`, or nil when it holds none (then extradata is compared byte for byte).
    package init?(extradata: Data) {
        guard let offset = Self.offset(in: extradata) else { return nil }
        let b = [UInt8](extradata[(extradata.startIndex + offset)..<(extradata.startIndex + offset + Self.size)])
        func be(_ range: Range<Int>) -> UInt64 { range.reduce(0) { $0 << 8 | UInt64(b[$1]) } }
        minimumBlockSize = Int(be(0..<2))
        maximumBlockSize = Int(be(2..<4))
        minimumFrameSize = Int(be(4..<7))
        maximumFrameSize = Int(be(7..<10))
        let packed = be(10..<18)
        sampleRate = Int(packed >> 44)
        channels = Int((packed >> 41) & 0x7) + 1
        bitsPerSample = Int((packed >> 36) & 0x1F) + 1
        totalSamples = Int64(packed & 0xF_FFFF_FFFF)
        md5 = Array(b[18..<34])
    }

    /// Where the block starts in `extradata`: 0 for a bare block, 8 after `fLaC` and a STREAMINFO block header.
    package static func offset<Bytes: Collection<UInt8>>(in extradata: Bytes) -> Int? {
        if extradata.count == size { return 0 }
        let bytes = [UInt8](extradata.prefix(8))
        // "fLaC", then a block header whose type (the low 7 bits of its first byte) is 0 (STREAMINFO), of 34 bytes.
        guard extradata.count >= 8 + size, bytes[0..<4] == [0x66, 0x4C, 0x61, 0x43], bytes[4] & 0x7F == 0,
              Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7]) == size else { return nil }
        return 8
    }

    /// Sets the block's content fields in `extradata` (frame size bounds, total samples, MD5) to 0, "unknown", in
    /// place: the header of a stream stitched from several. Extradata without a block is left as it is.
    package static func makeStitched(_ extradata: UnsafeMutableBufferPointer<UInt8>) {
        guard let offset = offset(in: extradata) else { return }
        for k in (offset + 4)..<(offset + 10) { extradata[k] = 0 }  // minimum and maximum frame size
        extradata[offset + 13] &= 0xF0  // the top 4 bits of the 36-bit total samples share a byte with bits per sample
        for k in (offset + 14)..<(offset + size) { extradata[k] = 0 }  // the rest of total samples, then the MD5
    }

    /// `extradata` as `makeStitched` leaves it.
    package static func stitched(_ extradata: Data) -> Data {
        var out = extradata
        out.withUnsafeMutableBytes { makeStitched($0.bindMemory(to: UInt8.self)) }
        return out
    }

    /// How input `mine` differs from input 1 (`reference`) in what decoding its frames depends on, as
    /// `CodecSignature.differences` lists them. Sample rate and channels are compared there already.
    package func differences(from reference: FLACStreamInfo) -> [(field: String, mine: String, theirs: String)] {
        var out: [(String, String, String)] = []
        if bitsPerSample != reference.bitsPerSample {
            out.append(("FLAC bits per sample", "\(bitsPerSample)", "\(reference.bitsPerSample)"))
        }
        // The output's header is input 1's: every later block must fit the largest block it declares.
        if maximumBlockSize > reference.maximumBlockSize {
            out.append(("FLAC maximum block size", "\(maximumBlockSize) samples",
                        "\(reference.maximumBlockSize) (the output's header is input 1's, and decoders refuse larger blocks)"))
        }
        return out
    }
}
