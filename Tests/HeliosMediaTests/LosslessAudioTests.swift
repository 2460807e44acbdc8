import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Chunks with lossless audio, as a renderer writes them: FLAC (Matroska, MP4) and ALAC (MOV) cut at each chunk's
/// exact sample span, so every chunk ends on a partial block and every FLAC header differs (frame sizes, sample
/// count, MD5). Checked with ffmpeg: every decoded audio frame equals the chunks' own, bit for bit.
@Suite("Lossless audio chunks: FLAC and ALAC", .serialized)
struct LosslessAudioTests {
    static let splits = ChunkMatrixTests.splits
    static let sets = [
        "lossless-mkv-ffv1-flac-bf0-a", "lossless-mkv-h264-flac-bf3-b", "lossless-mkv-h264-flac-bf3-c",
        "lossless-mp4-h264-flac-bf3-c", "lossless-mov-h264-alac-bf3-c", "lossless-mov-h264-alac-bf0-a",
    ]

    @Test("every sample copied, laid end to end, and the FLAC header made true for the whole", arguments: sets)
    func stitch(set: String) async throws {
        let frames = Self.splits[set.last!]!.reduce(0, +)
        let stitched = try await StitchedSet(set)
        defer { stitched.remove() }
        let (chunks, output, report) = (stitched.chunks, stitched.output, stitched.report)
        #expect(report.isValid)
        #expect(report.output?.videoFrames == Int64(frames))
        #expect(try await Oracle.decodeWarnings(output) == [])

        #expect(try await Oracle.frameHashes(output) == stitched.chunkFrameHashes())
        #expect(try await Oracle.frameHashes(output, stream: "a") == stitched.chunkFrameHashes(stream: "a"),
                "decoded audio frames differ from the chunks'")
        #expect(try await Oracle.decodedAudioSamples(output) == frames * 1600)

        // Laid end to end: each packet starts where the one before it ends, across every boundary. Matroska's
        // millisecond timestamps round each chunk's audio (1,600 samples are 33.33 ms, stored as 33); placement
        // follows on until that rounding reaches 2 ms, then starts the chunk on the video's clock again.
        let timing = try await Oracle.timing(output)
        let video = try #require(timing.first { $0.kind == "video" })
        let audio = try #require(timing.first { $0.kind == "audio" })
        let tick = chunks[0].pathExtension == "mkv" ? 0.001 : 1.0 / 48000
        #expect(abs(audio.packetSpan - Double(frames) / 30) <= 1.5 * tick, "audio spans \(audio.packetSpan) s for \(frames) frames")
        #expect(abs(audio.packetSpan - video.packetSpan) <= 1.5 * tick)
        #expect(try await Self.audioGaps(output, tolerance: (tick == 0.001 ? 2.5 : 0.5) * tick) == [], "packets that do not follow on")

        if set.contains("flac") {
            let first = try #require(FLACStreamInfo(extradata: Data(try await Oracle.extradata(chunks[0]))))
            let header = try #require(FLACStreamInfo(extradata: Data(try await Oracle.extradata(output))))
            #expect(header.sampleRate == 48000 && header.channels == first.channels && header.bitsPerSample == first.bitsPerSample)
            #expect(header.maximumBlockSize == first.maximumBlockSize && header.minimumBlockSize == first.minimumBlockSize)
            // Input 1's sizes, sample count and MD5 describe input 1 alone: the output says "unknown" (0).
            #expect(first.totalSamples == Int64(Self.splits[set.last!]![0] * 1600) && first.md5 != Array(repeating: 0, count: 16))
            #expect(header.minimumFrameSize == 0 && header.maximumFrameSize == 0 && header.totalSamples == 0)
            #expect(header.md5 == Array(repeating: 0, count: 16))
        }
    }

    @Test("a FLAC chunk with larger blocks than input 1's header allows is refused, naming it")
    func largerBlocksRefused() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var chunks: [URL] = []
        for (k, blockSize) in [4608, 8192].enumerated() {
            let url = dir.appendingPathComponent("c\(k).mkv")
            let result = try await Shell.run("ffmpeg", [
                "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30,trim=end_frame=30",
                "-f", "lavfi", "-i", "sine=sample_rate=48000,atrim=end_sample=48000", "-c:v", "ffv1",
                "-c:a", "flac", "-frame_size", "\(blockSize)", url.path])
            try #require(result.status == 0, "\(result.stderr)")
            chunks.append(url)
        }
        let output = dir.appendingPathComponent("out.mkv")
        do {
            _ = try await NativeStitcher().stitch(chunks, to: output)
            Issue.record("stitched a chunk whose blocks its header does not allow")
        } catch StitchError.invalidInputs(let report) {
            let errors = report.issues.filter { $0.severity == .error }
            #expect(errors.count == 1)
            #expect(errors.first?.code == .codecMismatch && errors.first?.inputIndex == 1)
            #expect(errors.first?.message.contains("FLAC maximum block size is 8192 samples but input 1 has 4608") == true,
                    "\(errors.first?.message ?? "")")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
        // In the other order input 1's header allows both.
        let report = try await NativeStitcher().stitch(chunks.reversed(), to: output)
        #expect(report.isValid)
        #expect(try await Oracle.decodeWarnings(output) == [])
        #expect(try await Oracle.decodedAudioSamples(output) == 96000)
    }

    /// Audio packets whose pts is not the previous packet's pts plus its duration (seconds, from ffprobe).
    static func audioGaps(_ url: URL, tolerance: Double) async throws -> [String] {
        let result = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries",
                                                     "packet=pts_time,duration_time", "-of", "csv=p=0", url.path])
        let packets = result.stdout.split(separator: "\n").compactMap { line -> (Double, Double)? in
            let fields = line.split(separator: ",").compactMap { Double($0) }
            return fields.count == 2 ? (fields[0], fields[1]) : nil
        }
        return zip(packets, packets.dropFirst()).compactMap { previous, next in
            abs(previous.0 + previous.1 - next.0) <= tolerance ? nil : "\(previous.0)+\(previous.1) then \(next.0)"
        }
    }
}

/// The FLAC STREAMINFO rules, on bytes (no I/O).
@Suite("FLACStreamInfo")
struct FLACStreamInfoTests {
    /// A STREAMINFO block: blocks 4608, frames 14..1279 bytes, 48 kHz, 2 channels, 24 bits, 14,400 samples, an MD5.
    static let block: [UInt8] = [0x12, 0x00, 0x12, 0x00, 0x00, 0x00, 0x0E, 0x00, 0x04, 0xFF,
                                 0x0B, 0xB8, 0x03, 0x70, 0x00, 0x00, 0x38, 0x40] + Array(1...16)

    @Test("fields read from a bare block and from fLaC plus a block header")
    func parse() throws {
        for extradata in [Self.block, [0x66, 0x4C, 0x61, 0x43, 0x80, 0x00, 0x00, 0x22] + Self.block] {
            let info = try #require(FLACStreamInfo(extradata: Data(extradata)))
            #expect(info.minimumBlockSize == 4608 && info.maximumBlockSize == 4608)
            #expect(info.minimumFrameSize == 14 && info.maximumFrameSize == 1279)
            #expect(info.sampleRate == 48000 && info.channels == 2 && info.bitsPerSample == 24)
            #expect(info.totalSamples == 14400 && info.md5 == Array(1...16))
        }
        #expect(FLACStreamInfo(extradata: Data(Self.block.dropLast())) == nil)
        #expect(FLACStreamInfo(extradata: Data([0x4F, 0x70, 0x75, 0x73] + Self.block)) == nil)  // not "fLaC"
    }

    @Test("stitched: sizes, sample count and MD5 unknown, every other bit kept")
    func stitched() throws {
        for prefix in [[], [0x66, 0x4C, 0x61, 0x43, 0x80, 0x00, 0x00, 0x22] as [UInt8]] {
            let out = [UInt8](FLACStreamInfo.stitched(Data(prefix + Self.block)))
            #expect(out.count == prefix.count + 34)
            #expect(Array(out[..<prefix.count]) == prefix)
            let info = try #require(FLACStreamInfo(extradata: Data(out)))
            #expect(info.minimumBlockSize == 4608 && info.maximumBlockSize == 4608)
            #expect(info.sampleRate == 48000 && info.channels == 2 && info.bitsPerSample == 24)
            #expect(info.minimumFrameSize == 0 && info.maximumFrameSize == 0 && info.totalSamples == 0)
            #expect(info.md5 == Array(repeating: 0, count: 16))
        }
        // The top bits of a sample count beyond 2^32 share a byte with bits per sample.
        var large = Self.block
        large[13] |= 0x0F
        let info = try #require(FLACStreamInfo(extradata: FLACStreamInfo.stitched(Data(large))))
        #expect(info.totalSamples == 0 && info.bitsPerSample == 24)
        #expect(FLACStreamInfo.stitched(Data([1, 2, 3])) == Data([1, 2, 3]))
    }

    @Test("compared on what decoding depends on, not on the chunk's content")
    func differences() throws {
        let reference = try #require(FLACStreamInfo(extradata: Data(Self.block)))
        var content = reference
        (content.minimumFrameSize, content.maximumFrameSize, content.totalSamples, content.md5) = (9, 99, 1600, Array(repeating: 7, count: 16))
        content.minimumBlockSize = 1600
        #expect(content.differences(from: reference).isEmpty)
        var smaller = reference
        smaller.maximumBlockSize = 4096
        #expect(smaller.differences(from: reference).isEmpty)
        var larger = reference
        larger.maximumBlockSize = 8192
        larger.bitsPerSample = 16
        #expect(larger.differences(from: reference).map(\.field) == ["FLAC bits per sample", "FLAC maximum block size"])
    }

    @Test("signatures of FLAC chunks differ only where decoding does")
    func signatures() throws {
        func signature(_ block: [UInt8], codec: String = "flac") -> CodecSignature {
            CodecSignature(kind: .audio, codec: codec, profile: 0, level: 0, width: 0, height: 0, pixelFormat: nil,
                           sampleAspectRatio: Rational(0, 1), fieldOrder: "", colorRange: "", colorPrimaries: "",
                           colorTransfer: "", colorSpace: "", sampleRate: 48000, channelLayout: "stereo", channels: 2,
                           sampleFormat: "s32", frameSize: 4608, extradata: Data(block))
        }
        var other = Self.block
        other[4...9] = [0, 0, 0x10, 0, 0x05, 0x00]
        for k in 16..<34 { other[k] = 0 }
        #expect(signature(other).differences(from: signature(Self.block)).isEmpty)
        // Any other codec's extradata is still compared byte for byte.
        #expect(signature(other, codec: "alac").differences(from: signature(Self.block, codec: "alac")).map(\.field) == ["extradata"])
    }
}
