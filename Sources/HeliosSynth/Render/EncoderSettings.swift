import CFFmpeg
import HeliosMedia

/// Encoder names, formats and options per codec, chosen for byte-identical output across runs
/// (one thread, bit-exact flags, no scene-cut keyframes).
struct EncoderSettings {
    var name: String
    var options: [String: String]
    var pixelFormat: AVPixelFormat = AV_PIX_FMT_YUV420P
    var sampleFormat: AVSampleFormat = AV_SAMPLE_FMT_NONE
    var bitRate: Int64 = 0

    static func video(_ request: RenderRequest) -> EncoderSettings {
        switch request.videoCodec {
        case .h264:
            var options = ["preset": "veryfast", "x264-params": "scenecut=0"]
            if request.lossless { options["qp"] = "0" } else { options["crf"] = "20" }
            return EncoderSettings(name: "libx264", options: options)
        case .hevc:
            var params = "log-level=error:pools=none:frame-threads=1:scenecut=0:info=0"
            if request.lossless { params += ":lossless=1" }
            return EncoderSettings(name: "libx265", options: ["preset": "ultrafast", "crf": "24", "x265-params": params])
        case .vp9:
            var options = ["deadline": "realtime", "cpu-used": "8", "row-mt": "0", "crf": "30"]
            if request.lossless { options["lossless"] = "1" }
            return EncoderSettings(name: "libvpx-vp9", options: options)
        case .prores:
            return EncoderSettings(name: "prores_ks", options: ["profile": "standard"], pixelFormat: AV_PIX_FMT_YUV422P10LE)
        case .ffv1:
            return EncoderSettings(name: "ffv1", options: ["slices": "4", "slicecrc": "1"])
        }
    }

    static func audio(_ codec: SynthAudioCodec) -> EncoderSettings? {
        switch codec {
        case .aac: EncoderSettings(name: "aac", options: [:], sampleFormat: AV_SAMPLE_FMT_FLTP, bitRate: 128_000)
        case .pcm: EncoderSettings(name: "pcm_s16le", options: [:], sampleFormat: AV_SAMPLE_FMT_S16)
        case .opus: EncoderSettings(name: "libopus", options: [:], sampleFormat: AV_SAMPLE_FMT_FLT, bitRate: 96_000)
        case .none: nil
        }
    }
}
