import Foundation
import Testing
@testable import HeliosSynth

/// A fresh directory under the system temporary directory, removed by `cleanUp`.
struct Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("helios-synth-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

/// Runs a tool (ffmpeg/ffprobe) and returns its standard output; fails the test on a non-zero exit.
@discardableResult
func tool(_ name: String, _ arguments: [String], in directory: URL? = nil) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read stdout fully before waiting, so a large output cannot block the child.
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        Issue.record("\(name) \(arguments.joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
    }
    return data
}

/// ffprobe's view of a stream: codec name and the frame count it decodes.
func probe(_ url: URL, stream: String) throws -> (codec: String, frames: Int) {
    let data = try tool("ffprobe", ["-v", "error", "-count_frames", "-select_streams", stream,
                                    "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", url.path])
    let fields = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",")
    return (fields.first.map(String.init) ?? "", fields.count > 1 ? Int(fields[1]) ?? -1 : -1)
}

/// Indices read by an independent decoder: ffmpeg decodes to raw grey pictures and we read each block code.
func indicesViaFFmpeg(_ url: URL, width: Int, height: Int) throws -> [Int?] {
    let raw = try tool("ffmpeg", ["-v", "error", "-i", url.path, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
    let size = width * height
    return raw.withUnsafeBytes { bytes in
        let all = bytes.bindMemory(to: UInt8.self)
        return stride(from: 0, to: all.count - size + 1, by: size).map { offset in
            BlockCode.read(luma: UnsafeBufferPointer(rebasing: all[offset..<(offset + size)]), stride: width, width: width, height: height)
        }
    }
}

func small(_ start: Int, _ count: Int, _ video: SynthVideoCodec = .h264, _ audio: SynthAudioCodec = .aac,
           to url: URL, gop: Int? = nil) -> RenderRequest {
    RenderRequest(startFrame: start, frameCount: count, width: 160, height: 96, videoCodec: video, audioCodec: audio,
                  gopSize: gop, output: url)
}
