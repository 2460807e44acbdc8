import Foundation
import HeliosOrchestrator
@testable import HeliosSynth
import Testing

extension E2E {
    /// Copy-mode AAC of chunks shorter than two AAC frames: the stitched audio is a patchwork of the chunks' own
    /// whole frames (1,024 samples against 1,600 per 30 fps frame), and AAC's overlap at every splice leaves no
    /// stretch long enough for `helios-synth verify`'s lag windows (2,048 samples, 1,024 kept clear of each
    /// boundary), so its lag estimates there are codec transients, not placement. The placement is checked here
    /// instead, from ffprobe's packets: every output audio packet is one of the chunks' own (by CRC32 of its
    /// payload), in chunk order, and each presents within half an AAC frame of where its content belongs, with no
    /// accumulation to the end.
    @Suite("Audio placement of 1-frame chunks (ffprobe packets)")
    struct AudioPlacementE2ETests {
        static let cases: [PipelineCase] = [
            PipelineCase(label: "40 one-frame chunks, H.264 B-frames+AAC, MP4", totalFrames: 40, split: .framesPerChunk(1),
                         video: .h264, audio: .aac, container: "mp4"),
            PipelineCase(label: "24 chunks of 1-3 frames, H.264 B-frames+AAC, MP4", totalFrames: 48,
                         split: .chunkSizes(PipelineCase.cyclingSizes(24)), video: .h264, audio: .aac, container: "mp4"),
        ]

        /// Half an AAC frame: how far the plan lets a chunk's audio sit from its content's place.
        static let halfFrame: Int64 = 512

        struct AudioPacket: Equatable {
            var pts: Int64
            var hash: String
        }

        /// The audio packets of `url` in file order, as ffprobe reads them; the stream's time base must be 1/48000.
        static func audioPackets(_ url: URL) async throws -> [AudioPacket] {
            let result = try await Tool.checked("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_data_hash", "CRC32",
                                                            "-show_entries", "stream=time_base:packet=pts,data_hash", "-of", "json", url.path])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.text.utf8)) as? [String: Any])
            let streams = try #require(json["streams"] as? [[String: Any]])
            #expect(streams.first?["time_base"] as? String == "1/48000", "\(url.lastPathComponent): audio time base")
            let packets = try #require(json["packets"] as? [[String: Any]])
            return try packets.map { packet in
                let pts = try #require(packet["pts"] as? Int, "\(url.lastPathComponent): a packet without pts")
                return AudioPacket(pts: Int64(pts), hash: try #require(packet["data_hash"] as? String))
            }
        }

        @Test("every output audio packet is a chunk's own, within half a frame of its content's place", arguments: cases)
        func placement(_ c: PipelineCase) async throws {
            let dir = try WorkDirectory("placement-\(c.container)")
            defer { dir.remove() }
            let run = try await SynthPipeline.run(c, in: dir.url)
            let output = try await Self.audioPackets(run.output)
            var next = 0
            var lags: [Int64] = []
            for (i, (chunk, file)) in zip(run.spec.chunks, run.chunks).enumerated() {
                // Input 1 keeps its priming packet (the edit list skips it); later inputs start at their content.
                let own = try await Self.audioPackets(file).filter { i == 0 || $0.pts >= 0 }
                let contentStart = Tone.firstSample(ofFrame: chunk.startFrame, fps: c.fps, sampleRate: c.sampleRate)
                var kept = 0
                while next < output.count, kept < own.count, output[next].hash == own[kept].hash {
                    if own[kept].pts >= 0 { lags.append(output[next].pts - (contentStart + own[kept].pts)) }
                    next += 1
                    kept += 1
                }
                #expect(kept > (i == 0 ? 1 : 0), "\(c.label): chunk \(i + 1) contributes no audio packet at output packet \(next)")
            }
            #expect(next == output.count, "\(c.label): output audio packet \(next) of \(output.count) is none of the chunks' own, in order")
            #expect(lags.count >= run.chunks.count)
            #expect(lags.allSatisfy { abs($0) <= Self.halfFrame }, "\(c.label): lags (samples) \(lags)")
            print("[E2E] \(c.label): \(output.count) audio packets, content lags \(lags.min() ?? 0)...\(lags.max() ?? 0) samples, last \(lags.suffix(4))")
        }
    }
}
