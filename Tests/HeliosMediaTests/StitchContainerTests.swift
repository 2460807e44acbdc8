import Foundation
@testable import HeliosMedia
import Synchronization
import Testing

/// Every container/codec pair stitched in process, checked with ffmpeg/ffprobe as an independent decoder.
@Suite("Stitching real chunk sets", .serialized)
struct StitchContainerTests {
    static let sets: [(name: String, ext: String, audioExact: Bool)] = [
        ("mp4-h264-aac", "mp4", false), ("mp4-hevc-aac", "mp4", false), ("mov-h264-pcm", "mov", true),
        ("mov-prores-pcm", "mov", true), ("webm-vp9-opus", "webm", true), ("mkv-av1-opus", "mkv", true),
        ("ts-h264-aac", "ts", false), ("mp4-video-only", "mp4", false), ("m4a-audio-only", "m4a", false),
    ]

    @Test("output decodes to exactly the inputs' frames, in order, with no warnings", arguments: sets.map(\.name))
    func framesMatch(set: String) async throws {
        let entry = Self.sets.first { $0.name == set }!
        let stitched = try await StitchedSet(set, container: entry.ext)
        defer { stitched.remove() }
        let (output, report) = (stitched.output, stitched.report)

        #expect(report.isValid)
        #expect(try await Oracle.decodeWarnings(output) == [])
        let hasVideo = report.inputs[0].streams.contains { $0.kind == .video }
        if hasVideo {
            let expected = try await stitched.chunkFrameHashes()
            let actual = try await Oracle.frameHashes(output)
            #expect(actual.count == 90)
            #expect(actual == expected, "decoded frames differ from the chunks' frames")
            #expect(report.output?.videoFrames == 90)
        }
        let hasAudio = report.inputs[0].streams.contains { $0.kind == .audio }
        if hasAudio {
            let decoded = try await Oracle.decodedAudioSamples(output)
            let rate = Int(report.inputs[0].streams.first { $0.kind == .audio }.map { _ in 48000 } ?? 48000)
            let videoSamples = 3 * rate  // three chunks of one second
            if entry.audioExact {
                #expect(decoded == videoSamples, "PCM and Opus (in Matroska) must come out sample-exact")
            } else {
                // At most one codec frame (AAC 1024, Opus 960 samples) of drift, plus MPEG-TS's own first priming frame.
                let bound = entry.ext == "ts" ? 2048 : 1024
                #expect(abs(decoded - videoSamples) <= bound, "decoded audio drifts \(decoded - videoSamples) samples")
            }
            for boundary in report.boundaries where boundary.kind == .audio {
                #expect(abs(boundary.audioDiscontinuitySamples ?? .max) <= (entry.audioExact ? 0 : 512))
            }
        }
        // Durations on the output's own timestamps, measured by ffprobe. MPEG-TS has no edit list, so its audio
        // keeps the first chunk's priming frame (21.3 ms) before the video starts, as the chunk itself did.
        for stream in try await Oracle.streams(output) {
            if let duration = Double(stream["duration"] ?? "") {
                let bound = entry.ext == "ts" && stream["codec_type"] == "audio" ? 0.0214 + 0.0107 : 0.0107
                #expect(abs(duration - 3.0) <= bound, "stream \(stream["index"] ?? "?") lasts \(duration) s")
            }
        }
    }

    @Test("AAC chunks: drift stays within half a frame over many boundaries")
    func aacDriftBounded() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac-10")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        let decoded = try await Oracle.decodedAudioSamples(output)
        let video = 10 * 48000
        #expect(abs(decoded - video) <= 1024, "decoded audio drifts \(decoded - video) samples over 10 chunks")
        #expect(Int64(decoded - video) == report.output?.decodedAudioDriftSamples)
        #expect(try await Oracle.decodeWarnings(output) == [])
        let hashes = try await Oracle.frameHashes(output)
        #expect(hashes.count == 300)
    }

    /// M4A is written by the same muxer as MP4 (its index was left at the end until the two were told apart no more).
    @Test("--faststart puts the index before the media data in one pass, into space reserved from the packet counts: MP4 and M4A",
          arguments: [("mp4-h264-aac", "mp4", 90), ("m4a-audio-only", "m4a", 0)])
    func faststart(set: String, ext: String, videoFrames: Int) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.\(ext)"), plain = dir.appendingPathComponent("plain.\(ext)")
        let report = try await NativeStitcher(options: StitchOptions(faststart: true)).stitch(chunks, to: output)
        #expect(report.output?.faststart == .reserved)
        let boxes = try await Oracle.topLevelBoxes(output)
        #expect(boxes.firstIndex(of: "moov")! < boxes.firstIndex(of: "mdat")!, "\(boxes)")
        _ = try await NativeStitcher().stitch(chunks, to: plain)
        #expect(try await Oracle.frameHashes(output, stream: "a") == (try await Oracle.frameHashes(plain, stream: "a")))
        if videoFrames > 0 {
            #expect(try await Oracle.frameHashes(output) == (try await Oracle.frameHashes(plain)))
            #expect(try await Oracle.frameHashes(output).count == videoFrames)
        }
    }

    @Test("--faststart whose reserved space is too small falls back to the rewrite: the same frames, index in front")
    func faststartFallback() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4"), plain = dir.appendingPathComponent("plain.mp4")
        var options = StitchOptions(faststart: true)
        options.reservedIndexBytes = 64
        let report = try await NativeStitcher(options: options).stitch(chunks, to: output)
        #expect(report.output?.faststart == .rewritten)
        let boxes = try await Oracle.topLevelBoxes(output)
        #expect(boxes.firstIndex(of: "moov")! < boxes.firstIndex(of: "mdat")!, "\(boxes)")
        _ = try await NativeStitcher().stitch(chunks, to: plain)
        #expect(try await Oracle.frameHashes(output) == (try await Oracle.frameHashes(plain)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["out.mp4", "plain.mp4"], "no temp file left")
        #expect(report.output?.bytes == (try FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int64))
        let plainReport = try await NativeStitcher(options: StitchOptions(force: true)).stitch(chunks, to: plain)
        #expect(plainReport.output?.faststart == nil)
    }

    @Test("--faststart into Matroska and WebM moves the Cues before the first Cluster (by mkvinfo): the same frames and sound; MPEG-TS has no index to move",
          arguments: [("mkv-h264-opus", "mkv"), ("webm-vp9-opus", "webm"), ("ts-h264-aac", "ts")])
    func faststartMatroska(set: String, ext: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.\(ext)"), plain = dir.appendingPathComponent("plain.\(ext)")
        let report = try await NativeStitcher(options: StitchOptions(faststart: true)).stitch(chunks, to: output)
        _ = try await NativeStitcher().stitch(chunks, to: plain)
        #expect(try await Oracle.frameHashes(output) == (try await Oracle.frameHashes(plain)))
        #expect(try await Oracle.frameHashes(output, stream: "a") == (try await Oracle.frameHashes(plain, stream: "a")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["out.\(ext)", "plain.\(ext)"], "no temp file left")
        guard ext != "ts" else {
            #expect(report.output?.faststart == nil)
            return
        }
        #expect(report.output?.faststart == .rewritten)
        func elements(_ url: URL) async throws -> [String] {
            let result = try await Shell.run("mkvinfo", ["-v", url.path])
            try #require(result.status == 0, "\(result.stderr)")
            return result.stdout.split(separator: "\n").filter { $0.hasPrefix("|+ ") }.map { String($0.dropFirst(3).prefix { $0 != " " }) }
        }
        let moved = try await elements(output), asWritten = try await elements(plain)
        #expect(try #require(moved.firstIndex(of: "Cues")) < (try #require(moved.firstIndex(of: "Cluster"))), "\(moved)")
        #expect(try #require(asWritten.firstIndex(of: "Cues")) > (try #require(asWritten.firstIndex(of: "Cluster"))), "\(asWritten)")
    }

    @Test("1,000 one-frame inputs stitch into 1,000 frames")
    func thousandInputs() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-tiny-1000")
        #expect(chunks.count == 1000)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let report = try await NativeStitcher().stitch(chunks, to: output)
        #expect(report.output?.videoFrames == 1000)
        let streams = try await Oracle.streams(output)
        #expect(streams.first?["nb_read_frames"] == "1000")
        #expect(abs((Double(streams.first?["duration"] ?? "") ?? 0) - 1000.0 / 30) < 0.001)
    }

    @Test("cancelling a stitch leaves no output and no temp file")
    func cancellation() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-tiny-1000")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let task = Task { try await NativeStitcher().stitch(chunks, to: output) }
        task.cancel()
        await #expect(throws: StitchError.self) { try await task.value }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test("cancelling in the middle of the copy stops the stitch thread and removes the temp file")
    func cancellationMidRemux() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-tiny-1000")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let (events, continuation) = AsyncStream.makeStream(of: StitchProgress.self)
        // The stitch thread waits at the first progress past a tenth until the task is cancelled: however busy the
        // machine, the cancel lands mid-copy (without the wait, a stitch on a quiet core could finish first).
        let cancelled = DispatchSemaphore(value: 0), waitOnce = WaitOnce()
        let stitcher = NativeStitcher(progress: { event in
            continuation.yield(event)
            if case .remuxing(let done, let total) = event, done * 10 > total, waitOnce.first() { cancelled.wait() }
        })
        let task = Task { try await stitcher.stitch(chunks, to: output) }
        for await event in events {
            if case .remuxing(let done, let total) = event, done * 10 > total { break }  // a tenth copied
        }
        task.cancel()
        cancelled.signal()
        let error = await #expect(throws: StitchError.self) { try await task.value }
        #expect(error.map { if case .cancelled = $0 { true } else { false } } == true, "\(String(describing: error))")
        continuation.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test("cancelling while the trailer is written and the file synced still cancels: nothing is renamed into place",
          arguments: ["mp4-h264-aac", "webm-vp9-opus"])
    func cancellationWhileFinishing(set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.\(chunks[0].pathExtension)")
        let holder = Mutex<Task<StitchReport, Error>?>(nil)
        // Called on the stitch thread just before the trailer: the cancellation lands during the final flush.
        let stitcher = NativeStitcher(progress: { event in
            if case .finishing = event { holder.withLock { $0?.cancel() } }
        })
        let task = holder.withLock { task in
            let started = Task { try await stitcher.stitch(chunks, to: output) }
            task = started
            return started
        }
        let error = await #expect(throws: StitchError.self) { try await task.value }
        #expect(error.map { if case .cancelled = $0 { true } else { false } } == true, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test("Matroska round trip: a stitched file stitched again keeps its A/V start times, durations and frames",
          arguments: ["webm-vp9-opus", "mkv-av1-opus"])
    func matroskaRoundTrip(set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let ext = chunks[0].pathExtension
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let once = dir.appendingPathComponent("once.\(ext)"), twice = dir.appendingPathComponent("twice.\(ext)")
        _ = try await NativeStitcher().stitch(chunks, to: once)
        _ = try await NativeStitcher().stitch([once], to: twice)
        func timing(_ url: URL) async throws -> [String] {
            try await Oracle.streams(url).map { "\($0["codec_type"] ?? "?") start \($0["start_time"] ?? "?") duration \($0["duration"] ?? "?")" }
        }
        // Opus's codec delay is written so that it reads back as written: the chunk's own A/V offset is kept.
        let chunkStarts = try await Oracle.streams(chunks[0]).map { $0["start_time"] ?? "?" }
        #expect(try await Oracle.streams(once).map { $0["start_time"] ?? "?" } == chunkStarts)
        #expect(try await timing(twice) == (try await timing(once)))
        #expect(try await Oracle.frameHashes(twice) == (try await Oracle.frameHashes(once)))
        #expect(try await Oracle.decodedAudioSamples(twice) == 3 * 48000)
    }

    @Test("inputs are never modified")
    func inputsUntouched() async throws {
        let chunks = try await FixtureCache.shared.files("mov-h264-pcm")
        let before = try chunks.map { try Data(contentsOf: $0) }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try await NativeStitcher().stitch(chunks, to: dir.appendingPathComponent("out.mov"))
        #expect(try chunks.map { try Data(contentsOf: $0) } == before)
    }
}

/// True for the first caller only.
private final class WaitOnce: Sendable {
    private let taken = Atomic(false)
    func first() -> Bool { !taken.exchange(true, ordering: .relaxed) }
}
