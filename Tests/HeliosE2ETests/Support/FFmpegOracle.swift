import Foundation
import HeliosSynth

/// Independent measurements with the ffmpeg/ffprobe command-line tools (their own demuxers, decoders and seeking).
enum FFmpegOracle {
    /// Presentation time of the first video frame, in seconds, as ffprobe reports it.
    static func videoStartTime(_ url: URL) async throws -> Double {
        let result = try await Tool.checked("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time",
                                                        "-of", "csv=p=0", url.path])
        guard let start = Double(result.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ToolError(description: "ffprobe gave no video start time for \(url.path): '\(result.text)'")
        }
        return start
    }

    /// `entries` of the first video stream (`stream=` fields of ffprobe's, frames counted by decoding: nb_read_frames),
    /// comma-separated as ffprobe prints them.
    static func videoStream(_ url: URL, _ entries: String = "nb_read_frames") async throws -> String {
        let result = try await Tool.checked("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                                        "stream=\(entries)", "-of", "csv=p=0", url.path])
        return result.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every decoded video frame's timestamp in presentation order, with the stream's time base, from ffprobe.
    static func videoFrameTimestamps(_ url: URL) async throws -> (timeBase: (num: Int64, den: Int64), pts: [Int64]) {
        let result = try await Tool.checked("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=time_base:frame=pts",
                                                        "-of", "compact", url.path])
        var timeBase: (num: Int64, den: Int64)?
        var pts: [Int64] = []
        for line in result.text.split(separator: "\n") {
            if line.hasPrefix("frame|pts=") {
                // Frames with side data continue the line: `frame|pts=0|side_data|`.
                let field = line.dropFirst("frame|pts=".count).prefix { $0 != "|" }
                guard let value = Int64(field) else { throw ToolError(description: "frame without a timestamp in \(url.path): \(line)") }
                pts.append(value)
            } else if line.hasPrefix("stream|time_base=") {
                let parts = line.dropFirst("stream|time_base=".count).split(separator: "/").compactMap { Int64($0) }
                if parts.count == 2 { timeBase = (parts[0], parts[1]) }
            }
        }
        guard let timeBase else { throw ToolError(description: "ffprobe gave no video time base for \(url.path)") }
        return (timeBase, pts)
    }

    /// The embedded index of the single frame `ffmpeg -ss T -i FILE -frames:v 1` decodes, where T is the timestamp of
    /// frame `frame` (video start + frame/fps, absolute thanks to `-seek_timestamp 1`). Input `-ss` with transcoding is
    /// ffmpeg's accurate seek: it seeks to the keyframe before T, decodes, and discards frames before T.
    /// The frame is converted to 8-bit grey and its block code read with HeliosSynth's reader.
    static func indexAfterSeek(_ url: URL, frame: Int, fps: Int, videoStart: Double, width: Int, height: Int) async throws -> Int? {
        let time = String(format: "%.6f", videoStart + Double(frame) / Double(fps))
        let result = try await Tool.checked("ffmpeg", ["-nostdin", "-v", "error", "-seek_timestamp", "1", "-ss", time, "-i", url.path,
                                                       "-map", "0:v:0", "-frames:v", "1", "-fps_mode", "passthrough",
                                                       "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        guard result.stdout.count == width * height else {
            throw ToolError(description: "ffmpeg -ss \(time) on \(url.lastPathComponent) gave \(result.stdout.count) bytes, not one \(width)x\(height) grey frame")
        }
        return result.stdout.withUnsafeBytes { raw in
            BlockCode.read(luma: raw.bindMemory(to: UInt8.self), stride: width, width: width, height: height)
        }
    }

    /// MD5 of every decoded video frame, in presentation order (`-f framemd5`; timestamps are not compared).
    static func videoFrameHashes(_ url: URL) async throws -> [String] {
        let result = try await Tool.checked("ffmpeg", ["-nostdin", "-v", "error", "-i", url.path, "-map", "0:v:0", "-f", "framemd5", "-"])
        return result.text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .compactMap { $0.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// MD5 of the whole decoded first audio stream (`-f md5`): equal only if every sample is equal.
    static func audioHash(_ url: URL) async throws -> String {
        let result = try await Tool.checked("ffmpeg", ["-nostdin", "-v", "error", "-i", url.path, "-map", "0:a:0", "-f", "md5", "-"])
        return result.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
