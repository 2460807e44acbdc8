import CFFmpeg
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension OutputCapabilities {
    /// Resolves the output container from `format` or the file extension and asks libavformat which of the
    /// first input's codecs it can hold. Throws `StitchError.usage` for an unknown container.
    static func detect(outputPath: String, format: String?, first: ProbedInput) throws(StitchError) -> (OutputCapabilities, String) {
        guard let oformat = av_guess_format(format, format == nil ? outputPath : nil, nil) else {
            if let format { throw .usage("unknown output format '\(format)'") }
            throw .usage("cannot tell the output container from '\(URL(fileURLWithPath: outputPath).lastPathComponent)'; use a known extension (.mp4, .mov, .mkv, .webm, .ts) or --format")
        }
        let name = String(cString: oformat.pointee.name)
        var unsupported: Set<String> = []
        var conversion: [String: String] = [:]
        for stream in first.streams {
            let id = avcodec_descriptor_get_by_name(stream.signature.codec)?.pointee.id ?? AV_CODEC_ID_NONE
            // 0 is a definite no; a negative answer means the muxer keeps no list, so it is not a no.
            if avformat_query_codec(oformat, id, FF_COMPLIANCE_NORMAL) == 0 {
                unsupported.insert(stream.signature.codec)
            }
            // ADTS-framed AAC (MPEG-TS) needs the aac_adtstoasc filter before MP4, MOV or Matroska can hold it.
            if stream.signature.codec == "aac", first.formatName == "mpegts", name != "mpegts" {
                conversion["aac"] = "AAC from MPEG-TS is ADTS-framed; the \(name) container needs it converted (stitch to .ts instead)"
            }
        }
        return (OutputCapabilities(formatName: name, unsupportedCodecs: unsupported, conversionNeeded: conversion), name)
    }
}
