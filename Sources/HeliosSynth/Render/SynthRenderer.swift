import CFFmpeg
import Foundation
import HeliosMedia

/// Renders synthetic chunks with libavcodec/libavformat in process.
public enum SynthRenderer {
    /// Renders `request.output`: frames [startFrame, startFrame + frameCount) with timestamps from 0 (or from the
    /// global position with `absoluteTimestamps`) and, unless the audio codec is `none`, the tone samples
    /// [floor(S*sr/fps), floor((S+N)*sr/fps)). Writes a temporary file next to the output and renames it.
    /// The same request always produces the same bytes. `progress` hears the number of frames encoded so far after
    /// each frame.
    @discardableResult
    public static func render(_ request: RenderRequest, progress: (Int) -> Void = { _ in }) throws(SynthError) -> RenderSummary {
        try request.validate()
        try checkContainer(request)
        fixHeapContent
        let clock = ContinuousClock.now
        let output = request.output
        let temp = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.deletingPathExtension().lastPathComponent).partial-\(getpid()).\(output.pathExtension)")
        var done = false
        defer { if !done { unlink(temp.path) } }
        let summary: (frames: Int, first: Int64, samples: Int)
        do {
            let writer = try ChunkWriter(request: request, path: temp.path)
            summary = try writer.run(progress: progress)
        } catch {
            // Name the requested output rather than the temporary file.
            throw SynthError.ffmpeg(FFmpegError(code: error.code, function: error.function, path: output.path))
        }
        guard rename(temp.path, output.path) == 0 else {
            throw SynthError.unusableFile(path: output.path, reason: "cannot rename \(temp.path) into place: \(String(cString: strerror(errno)))")
        }
        done = true
        let elapsed = clock.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return RenderSummary(output: output, videoFrames: summary.frames, firstSample: summary.first,
                             audioSamples: summary.samples, seconds: seconds,
                             framesPerSecond: seconds > 0 ? Double(summary.frames) / seconds : 0)
    }
}

extension SynthRenderer {
    /// Sets libav*'s global log level to errors only (x264/x265 statistics are otherwise printed to stderr).
    public static func quietLibraryLogs() {
        av_log_set_level(AV_LOG_ERROR)
    }

    /// Throws when the output's container cannot carry the requested codecs.
    static func checkContainer(_ request: RenderRequest) throws(SynthError) {
        guard let format = av_guess_format(request.containerFormat, nil, nil) else {
            throw SynthError.invalidRequest(path: request.output.path, reason: "libavformat has no muxer \(request.containerFormat ?? "?")")
        }
        let names = [EncoderSettings.video(request).name] + (EncoderSettings.audio(request.audioCodec).map { [$0.name] } ?? [])
        for name in names {
            guard let codec = avcodec_find_encoder_by_name(name) else {
                throw SynthError.invalidRequest(path: request.output.path, reason: "encoder \(name) is not available")
            }
            if avformat_query_codec(format, codec.pointee.id, FF_COMPLIANCE_NORMAL) == 0 {
                throw SynthError.invalidRequest(
                    path: request.output.path,
                    reason: "container .\(request.output.pathExtension) cannot carry \(String(cString: avcodec_get_name(codec.pointee.id)))")
            }
        }
    }
}

/// One render: the muxer, the encoders and the frames, owned together and used by one task.
final class ChunkWriter {
    let request: RenderRequest
    let path: String
    let muxer: Muxer
    let video: Encoder
    let audio: Encoder?
    let scaler: Scaler?
    let packet: Packet
    var videoStream = 0
    var audioStream = 0
    var videoTimeBase = AVRational(num: 1, den: 1)
    var audioTimeBase = AVRational(num: 1, den: 1)
    let audioRange: (first: Int64, count: Int)

    init(request: RenderRequest, path: String) throws(FFmpegError) {
        self.request = request
        self.path = path
        muxer = try Muxer(path: path, formatName: request.containerFormat)
        let oformat = muxer.formatContext.pointee.oformat!
        let globalHeader = oformat.pointee.flags & AVFMT_GLOBALHEADER != 0
        let v = EncoderSettings.video(request)
        let gop = request.gopSize ?? request.fps
        video = try Encoder(name: v.name, path: path, options: v.options) { ctx in
            ctx.pointee.width = Int32(request.width)
            ctx.pointee.height = Int32(request.height)
            ctx.pointee.pix_fmt = v.pixelFormat
            ctx.pointee.time_base = AVRational(num: 1, den: Int32(request.fps))
            ctx.pointee.framerate = AVRational(num: Int32(request.fps), den: 1)
            ctx.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
            ctx.pointee.gop_size = Int32(gop)
            ctx.pointee.thread_count = 1
            ctx.pointee.flags |= AV_CODEC_FLAG_BITEXACT
            if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        }
        if let a = EncoderSettings.audio(request.audioCodec) {
            audio = try Encoder(name: a.name, path: path, options: a.options) { ctx in
                ctx.pointee.sample_fmt = a.sampleFormat
                ctx.pointee.sample_rate = Int32(request.sampleRate)
                av_channel_layout_default(&ctx.pointee.ch_layout, 1)
                ctx.pointee.time_base = AVRational(num: 1, den: Int32(request.sampleRate))
                ctx.pointee.bit_rate = a.bitRate
                ctx.pointee.thread_count = 1
                ctx.pointee.flags |= AV_CODEC_FLAG_BITEXACT
                if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
            }
        } else {
            audio = nil
        }
        scaler = v.pixelFormat == AV_PIX_FMT_YUV420P ? nil
            : try Scaler(width: request.width, height: request.height, from: AV_PIX_FMT_YUV420P, to: v.pixelFormat)
        packet = try Packet()
        audioRange = request.audioCodec == .none ? (0, 0)
            : Tone.chunkSamples(startFrame: request.startFrame, frameCount: request.frameCount,
                                fps: request.fps, sampleRate: request.sampleRate)
        try addStreams()
    }

    private func addStreams() throws(FFmpegError) {
        let vp = try video.parameters()
        videoStream = try muxer.addStream(copying: vp.pointer, timeBase: Rational(1, Int32(request.fps)))
        let stream = muxer.formatContext.pointee.streams[videoStream]!
        stream.pointee.avg_frame_rate = AVRational(num: Int32(request.fps), den: 1)
        stream.pointee.r_frame_rate = stream.pointee.avg_frame_rate
        if let audio {
            let ap = try audio.parameters()
            audioStream = try muxer.addStream(copying: ap.pointer, timeBase: Rational(1, Int32(request.sampleRate)))
        }
    }

    /// Spare zeroed rows under each input picture (see `Frame.allocateVideo`).
    static let spareRows = 16

    /// Encodes everything and closes the file. Returns (frames, first global sample, samples).
    func run(progress: (Int) -> Void) throws(FFmpegError) -> (frames: Int, first: Int64, samples: Int) {
        var options = ["fflags": "+bitexact"]
        if request.fragmented { options["movflags"] = "+frag_keyframe+empty_moov+default_base_moof" }
        try muxer.writeHeader(options: options)
        videoTimeBase = avRational(muxer.timeBase(of: videoStream))
        if audio != nil { audioTimeBase = avRational(muxer.timeBase(of: audioStream)) }
        let picture = try Frame()
        try picture.allocateVideo(width: request.width, height: request.height, format: AV_PIX_FMT_YUV420P, extraRows: Self.spareRows)
        let converted = try Frame()
        if let scaler {
            try converted.allocateVideo(width: request.width, height: request.height, format: scaler.destination, extraRows: Self.spareRows)
        }
        let audioFrame = try Frame()
        var samplesSent = 0
        let videoBase = request.absoluteTimestamps ? Int64(request.startFrame) : 0
        for k in 0..<request.frameCount {
            let index = request.startFrame + k
            let image = FrameContent.image(index: index, width: request.width, height: request.height)
            if !picture.isWritable {
                try picture.allocateVideo(width: request.width, height: request.height, format: AV_PIX_FMT_YUV420P, extraRows: Self.spareRows)
            }
            picture.copy(from: image)
            var input = picture
            if let scaler {
                if !converted.isWritable {
                    try converted.allocateVideo(width: request.width, height: request.height, format: scaler.destination, extraRows: Self.spareRows)
                }
                try scaler.scale(picture, into: converted)
                input = converted
            }
            input.pointer.pointee.pts = videoBase + Int64(k)
            try video.send(input)
            try drain(video)
            let target = Int(Tone.firstSample(ofFrame: index + 1, fps: request.fps, sampleRate: request.sampleRate) - audioRange.first)
            try sendAudio(upTo: k == request.frameCount - 1 ? audioRange.count : target, sent: &samplesSent, frame: audioFrame)
            progress(k + 1)
        }
        try video.send(nil)
        try drain(video)
        if let audio {
            try audio.send(nil)
            try drain(audio)
        }
        try muxer.finish()
        return (request.frameCount, audioRange.first, samplesSent)
    }

    /// Sends whole encoder frames of tone up to relative sample `target`; at the end of the chunk also the remainder.
    private func sendAudio(upTo target: Int, sent: inout Int, frame: Frame) throws(FFmpegError) {
        guard let audio else { return }
        let size = audio.frameSize > 0 ? audio.frameSize : 1024
        let isEnd = target == audioRange.count
        while sent < target && (sent + size <= target || isEnd) {
            let n = min(size, target - sent)
            var layout = audio.context.pointee.ch_layout
            try frame.allocateAudio(samples: n, format: audio.context.pointee.sample_fmt,
                                    sampleRate: request.sampleRate, layout: layout)
            av_channel_layout_uninit(&layout)
            frame.zeroBuffers()
            let first = audioRange.first + Int64(sent)
            let samples = Tone.samples(from: first, count: n, sampleRate: request.sampleRate)
            let raw = UnsafeMutableRawPointer(frame.plane(0)!)
            switch audio.context.pointee.sample_fmt {
            case AV_SAMPLE_FMT_S16:
                let p = raw.assumingMemoryBound(to: Int16.self)
                for i in 0..<n { p[i] = Int16((samples[i] * 32767).rounded()) }
            default:
                let p = raw.assumingMemoryBound(to: Float.self)
                for i in 0..<n { p[i] = samples[i] }
            }
            let base = request.absoluteTimestamps ? audioRange.first : 0
            frame.pointer.pointee.pts = base + Int64(sent)
            try audio.send(frame)
            try drain(audio)
            sent += n
        }
    }

    private func drain(_ encoder: Encoder) throws(FFmpegError) {
        let isVideo = encoder === video
        while try encoder.receive(into: packet) {
            let p = packet.pointer
            p.pointee.stream_index = Int32(isVideo ? videoStream : audioStream)
            av_packet_rescale_ts(p, encoder.context.pointee.time_base, isVideo ? videoTimeBase : audioTimeBase)
            try muxer.write(packet)
        }
    }
}

func avRational(_ r: Rational) -> AVRational { AVRational(num: r.num, den: r.den) }
