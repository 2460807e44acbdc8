import CFFmpeg
import CHeliosShims
import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// MP4/MOV payloads (H.264, HEVC, AAC) go from input to output inside the kernel, unread: the output must be the
/// bytes the copy through memory writes, and the copying I/O context must refuse what it cannot copy faithfully.
@Suite("Payloads copied in the kernel", .serialized)
struct KernelCopyTests {
    /// Sets whose stitch copies no payload in the kernel, and why.
    static let notCopied: [String: String] = [
        "matrix-fmp4-h264-bf0-a": "fragmented: samples arrive while reading", "matrix-fmp4-h264-bf3-a": "fragmented",
        "matrix-fmp4-h264-bf3-c": "fragmented", "matrix-cmaf-h264-bf0-c": "fragmented", "matrix-cmaf-h264-bf3-a": "fragmented",
        "matrix-cmaf-hevc-bf3-a": "fragmented", "matrix-cmaf-hevc-bf3-c": "fragmented", "matrix-fmp4-hevc-bf3-a": "fragmented",
        "matrix-fmp4-hevc-bf0-c": "fragmented", "gst-fmp4-bf3-a": "fragmented", "gst-fmp4-bf3-c": "fragmented",
        "matrix-dfmp4-h264-bf3-a": "fragmented", "matrix-dfmp4-hevc-bf3-c": "fragmented", "matrix-fmp4-h264-bf0-d": "fragmented",
        "matrix-fmp4-hevc-bf0-d": "fragmented", "matrix-mkv-h264-bf3-d": "Matroska output",
        "matrix-mkv-h264-bf0-a": "Matroska output", "matrix-mkv-h264-bf3-a": "Matroska output", "matrix-mkv-h264-bf3-c": "Matroska output",
        "matrix-mkv-hevc-bf4-b": "Matroska output", "mkvmerge-h264-bf3-a": "Matroska output", "gst-mkv-bf3-b": "Matroska output",
        "matrix-webm-vp9-bf0-c": "WebM output", "matrix-ts-h264-bf3-a": "MPEG-TS output", "matrix-ts-h264-bf0-b": "MPEG-TS output",
    ]

    @Test("the same output bytes as the copy through memory, with and without faststart, on every MP4/MOV set and the chunk matrix",
          arguments: ["mp4-h264-aac", "mp4-hevc-aac", "mov-h264-pcm", "mp4-video-only", "m4a-audio-only"] + ChunkMatrixTests.sets,
          [false, true])
    func sameBytes(set: String, faststart: Bool) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (kernel, copied, read) = try await Self.stitchBothWays(set, StitchOptions(faststart: faststart), in: dir)
        #expect(read.output?.bytesCopiedInKernel == nil)
        let bytes = copied.output?.bytesCopiedInKernel ?? 0
        if let reason = Self.notCopied[set] {
            #expect(bytes == 0, "\(reason)")
        } else {
            // Every H.264/HEVC/AAC payload the output holds: all of its media data but PCM's.
            let expected = try await Self.payloadBytes([kernel])
            #expect(bytes == expected, "\(bytes) of \(expected) payload bytes copied in the kernel")
        }
    }

    @Test("copied a stride at a time with the writeback asked for after each (a page, and an odd 5,000 bytes): the same bytes as the copy through memory",
          arguments: ["mp4-h264-aac", "matrix-mp4-h264-bf3-c", "mov-h264-pcm", "mp4-hevc-aac"], [Int64(4096), 5000])
    func strided(set: String, stride: Int64) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = StitchOptions()
        options.writebackStride = stride
        let (_, copied, _) = try await Self.stitchBothWays(set, options, in: dir)
        // More than a few strides went through the kernel.
        #expect(copied.output?.bytesCopiedInKernel ?? 0 > 4 * stride)
    }

    /// Stitches `set` with `options` twice into `dir`, payloads copied in the kernel whatever the inputs' size, then
    /// read through memory, and expects the same bytes; the first output and both reports.
    static func stitchBothWays(_ set: String, _ options: StitchOptions, in dir: URL) async throws -> (URL, StitchReport, StitchReport) {
        let chunks = try await FixtureCache.shared.files(set)
        let name = "out." + chunks[0].pathExtension
        let (kernel, memory) = (dir.appendingPathComponent("kernel-" + name), dir.appendingPathComponent("memory-" + name))
        var options = options
        options.kernelCopyMinimumInputBytes = 0
        let copied = try await NativeStitcher(options: options).stitch(chunks, to: kernel)
        options.kernelCopyMinimumInputBytes = nil
        let read = try await NativeStitcher(options: options).stitch(chunks, to: memory)
        #expect(try Data(contentsOf: kernel) == Data(contentsOf: memory), "\(set)")
        return (kernel, copied, read)
    }

    @Test("appended one at a time, as a job's chunks finish (each input written once the next arrives): the same bytes",
          arguments: ["mp4-h264-aac", "matrix-mp4-h264-bf3-c", "gst-mp4-bf3-a"], [false, true])
    func incremental(set: String, faststart: Bool) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // (Against the same appends through memory: with faststart, the index space reserved from an expected input
        // count differs from a batch's.)
        var options = StitchOptions(faststart: faststart)
        options.kernelCopyMinimumInputBytes = nil
        let (read, _, _) = IncrementalStitchTests.incremental(chunks, into: dir.appendingPathComponent("memory.mp4"), options: options,
                                                              expectedInputs: chunks.count)
        options.kernelCopyMinimumInputBytes = 0
        let (copied, _, written) = IncrementalStitchTests.incremental(chunks, into: dir.appendingPathComponent("kernel.mp4"), options: options,
                                                                      expectedInputs: chunks.count)
        guard case .stitched(let memory, _) = read, case .stitched(let kernel, let report) = copied else {
            Issue.record("\(read) \(copied)")
            return
        }
        #expect(written.last == chunks.count - 1, "every input but the last written before finish")
        #expect(kernel == memory)
        #expect((report.output?.bytesCopiedInKernel ?? 0) > 0)
    }

    @Test("inputs under the size threshold are copied through memory; the default threshold is 1 MiB")
    func threshold() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(StitchOptions().kernelCopyMinimumInputBytes == 1 << 20)
        var options = StitchOptions()
        let sizes = try chunks.map { try #require(FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int64) }
        options.kernelCopyMinimumInputBytes = sizes.max()! + 1
        let report = try await NativeStitcher(options: options).stitch(chunks, to: dir.appendingPathComponent("out.mp4"))
        #expect(report.output?.bytesCopiedInKernel == nil)
        // Only the inputs at or above the threshold.
        options.kernelCopyMinimumInputBytes = sizes.max()!
        let some = try await NativeStitcher(options: options).stitch(chunks, to: dir.appendingPathComponent("some.mp4"))
        let copied = try #require(some.output?.bytesCopiedInKernel)
        let all = try await Self.payloadBytes([dir.appendingPathComponent("some.mp4")])
        #expect(copied > 0 && copied < all)
    }

    @Test("an input whose AAC starts with an ADTS sync word (a malformed MP4) has its AAC read, not copied: the same bytes as through memory")
    func adtsInMP4() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        let damaged = dir.appendingPathComponent("adts.mp4")
        try FileManager.default.copyItem(at: chunks[1], to: damaged)
        let probe = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pos",
                                                    "-read_intervals", "%+#1", "-of", "csv=p=0", damaged.path])
        let pos = try #require(probe.stdout.split(whereSeparator: { $0 == "\n" || $0 == "," }).first.flatMap { UInt64($0) })
        let handle = try FileHandle(forUpdating: damaged)
        try handle.seek(toOffset: pos)
        try handle.write(contentsOf: Data([0xFF, 0xF1]))
        try handle.close()
        chunks[1] = damaged
        var options = StitchOptions()
        options.kernelCopyMinimumInputBytes = 0
        let kernel = dir.appendingPathComponent("kernel.mp4"), memory = dir.appendingPathComponent("memory.mp4")
        let copied = try await NativeStitcher(options: options).stitch(chunks, to: kernel)
        options.kernelCopyMinimumInputBytes = nil
        _ = try await NativeStitcher(options: options).stitch(chunks, to: memory)
        #expect(try Data(contentsOf: kernel) == Data(contentsOf: memory))
        // Its video and the other inputs' video and audio were copied; its audio was not.
        let all = try await Self.payloadBytes([kernel])
        let audio = try await Shell.run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=size", "-of", "csv=p=0", damaged.path])
        let damagedAudio = audio.stdout.split(separator: "\n").compactMap { $0.split(separator: ",").first.flatMap { Int64($0) } }.reduce(0, +)
        // (The output holds that audio but for the priming dropped at its start.)
        let bytes = try #require(copied.output?.bytesCopiedInKernel)
        #expect(bytes < all && bytes >= all - damagedAudio, "\(bytes) copied of \(all); the damaged input's audio \(damagedAudio)")
    }

    @Test("a payload copied from a file on another file system (tmpfs to the test directory) arrives whole")
    func crossFileSystem() throws {
        let shm = URL(fileURLWithPath: "/dev/shm/helios-copy-\(getpid()).bin")
        let bytes = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try bytes.write(to: shm)
        defer { try? FileManager.default.removeItem(at: shm) }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.bin")
        let written = try Self.copy(from: shm, ranges: [(1000, 200_000), (201_000, 50_000)], to: out, between: Data("box".utf8))
        #expect(written.close == 0 && written.failure == 0)
        #expect(try Data(contentsOf: out) == bytes[1000..<201_000] + Data("box".utf8) + bytes[201_000..<251_000])
    }

    @Test("a source that shrank before its payload was copied fails the write, and says so")
    func sourceShrank() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("in.bin")
        try Data(repeating: 7, count: 100_000).write(to: source)
        let written = try Self.copy(from: source, ranges: [(0, 100_000)], to: dir.appendingPathComponent("out.bin"), between: Data()) {
            _ = truncate(source.path, 10_000)
        }
        #expect(written.close < 0)
        #expect(written.failure == Int32(HELIOS_COPY_IO_SOURCE_SHORT))
    }

    @Test("a payload that reaches the context other than as registered is refused, not copied")
    func notVerbatim() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("in.bin")
        try Data(repeating: 1, count: 10_000).write(to: source)
        let pb = try #require(helios_copy_io_open(dir.appendingPathComponent("out.bin").path))
        var context: UnsafeMutablePointer<AVIOContext>? = pb
        let fd = open(source.path, O_RDONLY)
        defer { close(fd) }
        let file = helios_copy_io_add_source(pb, fd)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 10_000)
        defer { buffer.deallocate() }
        #expect(helios_copy_io_register(pb, buffer, 10_000, file, 0) == 0)
        // The second half first: the muxer changed the payload's framing.
        avio_write(pb, buffer + 5_000, 5_000)
        #expect(pb.pointee.error == helios_averror_bug())
        #expect(helios_copy_io_failure(pb) == Int32(HELIOS_COPY_IO_NOT_VERBATIM))
        #expect(helios_copy_io_unwritten(pb) == 10_000)
        // The same address registered again while unwritten: a payload the muxer dropped.
        #expect(helios_copy_io_register(pb, buffer, 100, file, 0) == helios_averror_bug())
        _ = helios_copy_io_close(&context)
    }

    /// Copies `ranges` of `source` back to back into `out` through a copying I/O context, `between` written after the
    /// first; `beforeClose` runs while the copies are still held back. The close result and the failure reason.
    static func copy(from source: URL, ranges: [(Int64, Int32)], to out: URL, between: Data,
                     beforeClose: () -> Void = {}) throws -> (close: Int32, failure: Int32) {
        let pb = try #require(helios_copy_io_open(out.path))
        var context: UnsafeMutablePointer<AVIOContext>? = pb
        let fd = open(source.path, O_RDONLY)
        defer { close(fd) }
        let file = helios_copy_io_add_source(pb, fd)
        for (k, (pos, size)) in ranges.enumerated() {
            // Unset bytes stand for the payload, as the demuxer leaves them.
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(size))
            defer { buffer.deallocate() }
            #expect(helios_copy_io_register(pb, buffer, size, file, pos) == 0)
            avio_write(pb, buffer, size)
            if k == 0 { between.withUnsafeBytes { avio_write(pb, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count)) } }
        }
        helios_copy_io_release_source(pb, file)
        #expect(helios_copy_io_unwritten(pb) == 0)
        #expect(helios_copy_io_copied(pb) == ranges.reduce(Int64(0)) { $0 + Int64($1.1) })
        beforeClose()
        let flushed = helios_copy_io_flush(pb)
        let failure = helios_copy_io_failure(pb)
        let closed = helios_copy_io_close(&context)
        return (flushed < 0 ? flushed : closed, failure)
    }

    /// The payload bytes of the H.264, HEVC and AAC packets of `files`, by ffprobe.
    static func payloadBytes(_ files: [URL]) async throws -> Int64 {
        var total: Int64 = 0
        for file in files {
            let result = try await Shell.run("ffprobe", ["-v", "error", "-show_entries", "stream=index,codec_name:packet=stream_index,size",
                                                         "-of", "json", file.path])
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
            let codecs = Dictionary(uniqueKeysWithValues: (json["streams"] as! [[String: Any]]).map { ($0["index"] as! Int, $0["codec_name"] as! String) })
            for packet in json["packets"] as! [[String: Any]] {
                let size = Int64(packet["size"] as! String)!
                switch codecs[packet["stream_index"] as! Int] {
                case "h264", "hevc", "aac": total += size
                default: break
                }
            }
        }
        return total
    }
}
