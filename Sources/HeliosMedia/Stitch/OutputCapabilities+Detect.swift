import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension OutputCapabilities {
    /// The picture, sound and subtitle codecs libavformat's MPEG-TS muxer gives a stream type its demuxer maps back
    /// to the codec. The muxer keeps no list (`avformat_query_codec` cannot say no) and writes any other codec as
    /// private data without a registration, which readers, ffmpeg among them, take for a data stream (`bin_data`):
    /// VP9, AV1, ProRes, FFV1, FLAC, PCM, Vorbis, ALAC or MP4's mov_text subtitles stitched into .ts would leave a
    /// file without that picture, sound or text. (Each checked by writing it with ffmpeg and reading it back with
    /// ffprobe, libavformat 59.)
    static let mpegtsCodecs: Set<String> = [
        "h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "aac", "aac_latm", "mp2", "mp3", "ac3", "eac3", "dts", "opus",
        "dvb_subtitle", "dvb_teletext",
    ]

    /// The pixel formats the mov muxer has a tag for when it writes uncompressed video (libavformat 59's
    /// `mov_pix_fmt_tags`, and gray8). Any other it writes under the tag of RGB 24 without a word, and every reader
    /// decodes the frames as RGB: a file that plays nothing (yuv420p rawvideo from AVI, Matroska or NUT chunks).
    static let movRawPixelFormats: Set<String> = [
        "yuyv422", "uyvy422", "rgb555be", "rgb555le", "rgb565le", "rgb565be", "gray16be", "rgb24", "bgr24", "argb", "bgra",
        "rgba", "abgr", "rgb48be", "gray",
    ]

    /// Resolves the output container from `format` or the file extension and asks libavformat which of the
    /// first input's codecs it can hold. Throws `StitchError.usage` for an unknown container.
    static func detect(outputPath: String, format: String?, first: ProbedInput) throws(StitchError) -> (OutputCapabilities, String) {
        guard let oformat = av_guess_format(format, format == nil ? outputPath : nil, nil) else {
            if let format { throw .usage("unknown output format '\(format)'") }
            throw .usage("cannot tell the output container from '\(URL(fileURLWithPath: outputPath).lastPathComponent)'; use a known extension (.mp4, .mov, .mkv, .webm, .ts) or --format")
        }
        let name = String(cString: oformat.pointee.name)
        // Into the container the chunks were written in (MOV into MOV, Matroska into Matroska), a codec its muxer
        // keeps no official tag for is one it wrote: CineForm or QuickTime's own codecs in MOV with their fourcc,
        // Ut Video in Matroska as a VfW track. The copy keeps the chunks' tag, as ffmpeg -c copy does; should the
        // muxer refuse it after all, its header says why.
        let ownContainer = first.formatName.split(separator: ",").first.map(String.init) == name
        var unsupported: Set<String> = []
        for stream in first.streams {
            let id = avcodec_descriptor_get_by_name(stream.signature.codec)?.pointee.id ?? AV_CODEC_ID_NONE
            // 0 is a definite no; a negative answer means the muxer keeps no list, so it is not a no.
            if !ownContainer, avformat_query_codec(oformat, id, FF_COMPLIANCE_NORMAL) == 0 {
                unsupported.insert(stream.signature.codec)
            }
            if name == "mov", !ownContainer, stream.signature.codec == "rawvideo",
               !movRawPixelFormats.contains(stream.signature.pixelFormat ?? "") {
                unsupported.insert(stream.signature.codec)
            }
            if name == "mpegts", [.video, .audio, .subtitle].contains(stream.signature.kind),
               !mpegtsCodecs.contains(stream.signature.codec) {
                unsupported.insert(stream.signature.codec)
            }
        }
        // ADTS-framed AAC (MPEG-TS) needs no rule here: the MP4, MOV and Matroska muxers see the ADTS sync word on
        // the first packet and insert libavcodec's aac_adtstoasc filter themselves, which strips the headers and
        // gives the stream its AudioSpecificConfig.
        return (OutputCapabilities(formatName: name, unsupportedCodecs: unsupported), name)
    }
}
