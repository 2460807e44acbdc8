import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CodecSignature {
    /// Reads the comparable parameters of a stream: its codec parameters and its display matrix.
    init(_ stream: UnsafeMutablePointer<AVStream>) {
        self.init(stream.pointee.codecpar)
        var size: Int = 0
        if let matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 {
            displayMatrix = Data(bytes: matrix, count: 36)
        }
    }

    /// The quarter-turn-rounded rotation, in degrees (0, 90, 180 or 270), a player applies to the video; nil without
    /// a display matrix or with a degenerate one.
    public var displayRotation: Int? {
        guard let (_, degrees) = Self.rotation(of: displayMatrix), degrees.isFinite else { return nil }
        let quarters = Int((degrees / 90).rounded())
        return ((quarters % 4) + 4) % 4 * 90
    }

    /// A display matrix's 9 values and the rotation FFmpeg reads from it (`av_display_rotation_get`: not finite for a
    /// degenerate matrix); nil without one.
    private static func rotation(of matrix: Data?) -> (values: [Int32], degrees: Double)? {
        guard let matrix, matrix.count >= 36 else { return nil }
        let values = (0..<9).map { k in matrix.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: k * 4, as: Int32.self)) } }
        return (values, values.withUnsafeBufferPointer { av_display_rotation_get($0.baseAddress!) })
    }

    /// A display matrix as a person would say it: "none", "rotation 90°" (in ffprobe's terms), "mirrored, rotation 0°".
    static func describeDisplayMatrix(_ matrix: Data?) -> String {
        guard let (values, degrees) = rotation(of: matrix) else { return "none" }
        guard degrees.isFinite else { return "a degenerate matrix (\(values.map(String.init).joined(separator: " ")))" }
        let mirrored = Int64(values[0]) * Int64(values[4]) - Int64(values[1]) * Int64(values[3]) < 0
        return "\(mirrored ? "mirrored, " : "")rotation \(Int(degrees.rounded()))°"
    }

    /// Reads the comparable parameters of a stream's codec parameters.
    init(_ par: UnsafeMutablePointer<AVCodecParameters>) {
        let p = par.pointee
        let kind: MediaKind = switch p.codec_type {
        case AVMEDIA_TYPE_VIDEO: .video
        case AVMEDIA_TYPE_AUDIO: .audio
        case AVMEDIA_TYPE_SUBTITLE: .subtitle
        case AVMEDIA_TYPE_DATA: .data
        default: .other
        }
        func name(_ c: UnsafePointer<CChar>?) -> String { c.map { String(cString: $0) } ?? "unknown" }
        var layout = "unknown"
        if kind == .audio {
            var buffer = [CChar](repeating: 0, count: 128)
            var ch = p.ch_layout
            if av_channel_layout_describe(&ch, &buffer, buffer.count) >= 0 {
                layout = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        let extradata: Data = if let bytes = p.extradata, p.extradata_size > 0 {
            Data(bytes: bytes, count: Int(p.extradata_size))
        } else {
            Data()
        }
        self.init(
            kind: kind,
            codec: name(avcodec_get_name(p.codec_id)),
            profile: p.profile,
            level: p.level,
            width: p.width,
            height: p.height,
            pixelFormat: kind == .video && p.format >= 0 ? av_get_pix_fmt_name(AVPixelFormat(rawValue: p.format)).map { String(cString: $0) } : nil,
            sampleAspectRatio: Rational(p.sample_aspect_ratio.num, p.sample_aspect_ratio.den == 0 ? 1 : p.sample_aspect_ratio.den),
            fieldOrder: fieldOrderName(p.field_order),
            colorRange: name(av_color_range_name(p.color_range)),
            colorPrimaries: name(av_color_primaries_name(p.color_primaries)),
            colorTransfer: name(av_color_transfer_name(p.color_trc)),
            colorSpace: name(av_color_space_name(p.color_space)),
            sampleRate: p.sample_rate,
            channelLayout: layout,
            channels: p.ch_layout.nb_channels,
            sampleFormat: kind == .audio && p.format >= 0 ? av_get_sample_fmt_name(AVSampleFormat(rawValue: p.format)).map { String(cString: $0) } : nil,
            frameSize: p.frame_size,
            extradata: extradata
        )
    }
}

private func fieldOrderName(_ order: AVFieldOrder) -> String {
    switch order {
    case AV_FIELD_PROGRESSIVE: "progressive"
    case AV_FIELD_TT: "top first"
    case AV_FIELD_BB: "bottom first"
    case AV_FIELD_TB: "top coded first, bottom displayed first"
    case AV_FIELD_BT: "bottom coded first, top displayed first"
    default: "unknown"
    }
}
