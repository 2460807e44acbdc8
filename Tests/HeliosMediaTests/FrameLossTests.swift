import CFFmpeg
import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// The pure rule that turns a damaged chunk's missing frames into an error: container declarations and the grid.
@Suite("Frame loss: declared frames, durations and the frame grid")
struct FrameLossTests {
    let ms = Rational(1, 1000)
    let fps30 = Rational(30, 1)

    /// Presentation timestamps of frames `indices` on the 30 fps grid in milliseconds, starting at `offset`.
    func grid(_ indices: some Sequence<Int>, offset: Int64 = 0) -> [Int64] {
        indices.map { offset + Int64((Double($0) * 1000 / 30).rounded()) }
    }

    @Test("packets read without a pts fill holes in the grid: read, not lost")
    func packetsWithoutPts() {
        // 20 packets read, two of them without a pts (an MPEG program stream's P-frames smaller than a pack).
        let pts = grid((0..<20).filter { $0 != 7 && $0 != 13 })
        #expect(FrameLoss.detect(read: 20, presentation: pts, timeBase: ms, frameRate: fps30, declared: FrameLoss.Declared()) == nil)
        // Holes beyond them are still frames lost.
        let loss = FrameLoss.detect(read: 19, presentation: grid((0..<20).filter { ![3, 7, 13].contains($0) }), timeBase: ms,
                                    frameRate: fps30, declared: FrameLoss.Declared())
        #expect(loss?.expected == 20 && loss?.read == 19)
    }

    @Test("a whole chunk on the grid, as its DURATION tag says, has lost nothing")
    func wholeChunk() {
        let pts = grid(0..<30, offset: 7)
        let declared = FrameLoss.Declared(streamEndSeconds: 1.007, containerSeconds: 1.008)
        #expect(FrameLoss.detect(read: 30, presentation: pts, timeBase: ms, frameRate: fps30, declared: declared) == nil)
    }

    @Test("a truncated chunk: the DURATION tag counts the frames that are gone")
    func truncatedByDurationTag() throws {
        let pts = grid(0..<21, offset: 7)
        let loss = try #require(FrameLoss.detect(read: 21, presentation: pts, timeBase: ms, frameRate: fps30,
                                                 declared: FrameLoss.Declared(streamEndSeconds: 1.007)))
        #expect(loss.expected == 30)
        #expect(loss.read == 21)
        #expect(abs((loss.firstMissingSeconds ?? 0) - 0.7) < 0.002)
        #expect(loss.description.hasPrefix("9 of 30 frames could not be read"))
    }

    @Test("one frame missing at the end is found by the tag; short chunks with B-frame delay are whole")
    func oneFrameAndShortChunks() {
        #expect(FrameLoss.detect(read: 29, presentation: grid(0..<29, offset: 7), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(streamEndSeconds: 1.007))?.expected == 30)
        // FFmpeg's Matroska chunks of 1 and 5 frames with a 21 ms decode delay (tags 0.054 and 0.187 s).
        #expect(FrameLoss.detect(read: 1, presentation: [21], timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(streamEndSeconds: 0.054)) == nil)
        #expect(FrameLoss.detect(read: 5, presentation: grid(0..<5, offset: 21), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(streamEndSeconds: 0.187)) == nil)
    }

    @Test("a hole in the middle of the grid is a loss even when the end is there")
    func hole() throws {
        let pts = grid(Array(0..<10) + Array(13..<30))
        let loss = try #require(FrameLoss.detect(read: 27, presentation: pts, timeBase: ms, frameRate: fps30,
                                                 declared: FrameLoss.Declared()))
        #expect(loss.expected == 30)
        #expect(abs((loss.firstMissingSeconds ?? 0) - 10.0 / 30) < 0.002)
        #expect(loss.evidence == "holes in the frame grid")
    }

    @Test("an exact declared count wins: MP4's sample table, mkvmerge's NUMBER_OF_FRAMES")
    func declaredCount() {
        #expect(FrameLoss.detect(read: 29, presentation: grid(0..<29), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(frames: 30))?.expected == 30)
        #expect(FrameLoss.detect(read: 30, presentation: grid(0..<30), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(frames: 30)) == nil)
        // mkvmerge writes DURATION 0 for a 1-frame track; its frame count says 1.
        #expect(FrameLoss.detect(read: 1, presentation: [0], timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(frames: 1, streamEndSeconds: 0)) == nil)
        // Holes in the grid with every declared frame read were written so (ffmpeg -ss/-t -c copy ends a piece on a
        // reference frame without the B-frames shown before it): no loss; the stitch reports the timing instead.
        #expect(FrameLoss.detect(read: 27, presentation: grid(Array(0..<25) + [25, 28]), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(frames: 27)) == nil)
    }

    @Test("the container duration alone tolerates audio outlasting the video by most of a frame")
    func containerDuration() {
        // GStreamer: 30 frames in a file of 1.021 s (AAC outlasts the video); 1 frame in 0.055 s.
        #expect(FrameLoss.detect(read: 30, presentation: grid(0..<30), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(containerSeconds: 1.021333)) == nil)
        #expect(FrameLoss.detect(read: 1, presentation: [0], timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(containerSeconds: 0.054666)) == nil)
        #expect(FrameLoss.detect(read: 16, presentation: grid(0..<16), timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(containerSeconds: 1.021333))?.expected == 30)
    }

    @Test("an index entry (Matroska Cues) after the last frame read is a loss; one within the frames read is not")
    func cues() throws {
        let pts = grid(0..<60)
        #expect(FrameLoss.detect(read: 60, presentation: pts, timeBase: ms, frameRate: fps30,
                                 declared: FrameLoss.Declared(lastIndexedPts: 1000)) == nil)
        let loss = try #require(FrameLoss.detect(read: 40, presentation: grid(0..<40), timeBase: ms, frameRate: fps30,
                                                 declared: FrameLoss.Declared(lastIndexedPts: 1667)))
        #expect(loss.expected == 40 + 11)
        #expect(loss.evidence.contains("Cues"))
    }

    @Test("Matroska duration tags parse; other text does not")
    func durationTag() {
        #expect(FrameLoss.seconds(ofDurationTag: "00:00:01.007000000") == 1.007)
        #expect(FrameLoss.seconds(ofDurationTag: "01:02:03.5") == 3723.5)
        #expect(FrameLoss.seconds(ofDurationTag: "1.5") == nil)
        #expect(FrameLoss.seconds(ofDurationTag: "aa:bb:cc") == nil)
    }
}

/// A VP9 frame a WebM/Matroska muxer would merge with the next packet is found before anything is written.
@Suite("VP9 frames a muxer keeps")
struct VP9FrameTests {
    func defect(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBufferPointer { VP9Frame.defect($0) } }

    @Test("shown frames, superframes and show-existing frames are kept; a hidden lone frame or a bad marker is not")
    func frames() {
        // Profile 0: 10 0 0 | show_existing | frame_type | show_frame | error_resilient.
        #expect(defect([0b1000_0010, 0x49, 0x83]) == nil)                       // key frame, shown
        #expect(defect([0b1000_0110, 0x00]) == nil)                             // inter frame, shown
        #expect(defect([0b1000_0100, 0x00]) == "not shown and not in a superframe")
        #expect(defect([0b1000_1000]) == nil)                                   // show_existing_frame
        #expect(defect([0b0100_0010, 0x00]) == "bad frame marker")
        // Profile 3 carries a reserved bit before show_existing_frame.
        #expect(defect([0b1011_0001, 0x00]) == nil)
        #expect(defect([0b1011_0000, 0x00]) == "not shown and not in a superframe")
        // A hidden frame packed with a shown one: a superframe with a 2-frame, 1-byte-size index (marker 0xC1).
        #expect(defect([0b1000_0100, 0xAA, 0b1000_0110, 0xBB, 0xC1, 2, 2, 0xC1]) == nil)
        #expect(defect([]) == "empty packet")
    }
}

/// An AV1 packet the MP4/Matroska muxers would drop whole (nothing but OBUs they filter out) is found before anything
/// is written: fuzzing found a frame OBU whose type a flipped bit made a redundant frame header, counted as written yet
/// missing from the output.
@Suite("AV1 packets a muxer keeps")
struct AV1FrameTests {
    func defect(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBufferPointer { AV1Frame.defect($0) } }

    /// An OBU header byte: type, extension flag, size field flag.
    func header(_ type: UInt8, sized: Bool = true, extended: Bool = false) -> UInt8 {
        type << 3 | (extended ? 0x4 : 0) | (sized ? 0x2 : 0)
    }

    @Test("frames kept; packets of only dropped OBU types, or OBUs that do not parse, are not")
    func packets() {
        // Temporal delimiter (empty), then a frame OBU of 3 bytes: kept.
        #expect(defect([header(2), 0, header(6), 3, 0xAA, 0xBB, 0xCC]) == nil)
        // A frame header OBU alone (show_existing_frame), with an extension byte: kept.
        #expect(defect([header(3, extended: true), 0x08, 1, 0x10]) == nil)
        // The last OBU without a size field runs to the end.
        #expect(defect([header(2), 0, header(6, sized: false), 1, 2, 3]) == nil)
        // A two-byte LEB128 size: 130 bytes of frame.
        #expect(defect([header(6), 0x82, 0x01] + [UInt8](repeating: 7, count: 130)) == nil)
        // The fuzz case: the frame's type turned into a redundant frame header (7); padding (15) and tile lists (8) too.
        #expect(defect([header(7), 3, 1, 2, 3])?.hasPrefix("no OBU a muxer keeps") == true)
        #expect(defect([header(2), 0, header(15), 1, 0, header(8), 0])?.hasPrefix("no OBU a muxer keeps") == true)
        #expect(defect([0x80 | header(6), 1, 0])?.contains("forbidden bit") == true)
        #expect(defect([header(6), 9, 1, 2])?.contains("an OBU of 9 bytes in a packet of 4") == true)
        #expect(defect([header(6), 0x80])?.contains("does not parse") == true)
        #expect(defect([header(6, extended: true)])?.contains("cut short") == true)
        #expect(defect([]) == "empty packet")
    }

    @Test("a chunk whose frame OBU became a redundant frame header is refused, naming the file and frame")
    func damagedChunk() async throws {
        let files = try await FixtureCache.shared.files("mkv-av1-opus")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A video packet after the first that is one frame OBU, found in the file by its first 16 bytes.
        let demuxer = try Demuxer(path: files[1].path, findStreamInfo: false)
        let packet = try Packet()
        var frame = 0, head: [UInt8] = []
        while try demuxer.read(into: packet), head.isEmpty {
            defer { packet.unref() }
            let p = packet.pointer.pointee
            guard demuxer.stream(Int(p.stream_index)).pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO else { continue }
            frame += 1
            let bytes = UnsafeBufferPointer(start: p.data, count: Int(p.size))
            guard frame > 1, bytes.count > 16, bytes[0] >> 3 & 0xF == 6, bytes[0] & 0x6 == 0x2,
                  let (size, length) = AV1Frame.leb128(bytes, at: 1), 1 + length + Int(size) == bytes.count else { continue }
            head = Array(bytes.prefix(16))
        }
        try #require(!head.isEmpty, "no packet of one frame OBU")
        var bytes = try Data(contentsOf: files[1])
        let at = try #require(bytes.range(of: Data(head))).lowerBound
        #expect(bytes[at] >> 3 & 0xF == 6, "a frame OBU")
        bytes[at] = bytes[at] & ~0x78 | 7 << 3
        let damaged = dir.appendingPathComponent("damaged.mkv")
        try bytes.write(to: damaged)
        do {
            _ = try await NativeStitcher().stitch([files[0], damaged, files[2]], to: dir.appendingPathComponent("out.mkv"))
            Issue.record("stitched a chunk whose frame \(frame) holds no frame")
        } catch let error as StitchError {
            #expect("\(error)".contains("damaged.mkv") && "\(error)".contains("frame \(frame) is no OBU a muxer keeps"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["damaged.mkv"])
    }
}

@Suite("H.264 and HEVC access units in MPEG-TS")
struct AnnexBFrameTests {
    func defect(_ bytes: [UInt8], hevc: Bool = false) -> String? { bytes.withUnsafeBufferPointer { AnnexBFrame.defect($0, hevc: hevc) } }

    @Test("an access unit holds a picture when one of its NAL units is a slice")
    func pictures() {
        let aud: [UInt8] = [0, 0, 0, 1, 0x09, 0xF0], sei: [UInt8] = [0, 0, 1, 0x06, 0x05, 0x11], idr: [UInt8] = [0, 0, 1, 0x65, 0x88, 0x84]
        #expect(defect(aud + sei + idr) == nil)
        #expect(defect(aud + [0, 0, 1, 0x41, 0x9A]) == nil)  // a non-IDR slice
        #expect(defect(aud + sei)?.contains("no slice among its 2 NAL units") == true)
        #expect(defect(aud + sei + [0, 0, 1, 0x6C, 0xFF]) != nil)  // filler data (type 12) is no picture
        #expect(defect([0x65, 0x88, 0x84, 0x00]) == nil)  // no start code: not Annex B, not judged
        #expect(defect([]) == "empty packet")
        // HEVC: VCL types 0-31 (IDR_W_RADL is 19), then AUD (35), SEI (39).
        #expect(defect([0, 0, 1, 0x46, 0x01, 0, 0, 1, 0x26, 0x01, 0xAF], hevc: true) == nil)
        #expect(defect([0, 0, 1, 0x46, 0x01, 0, 0, 1, 0x4E, 0x01, 0x05], hevc: true) != nil)
    }

    @Test("a chunk whose slice a damaged byte turned into another NAL unit is refused: its last frame, and one inside")
    func damagedChunk() async throws {
        let files = try await FixtureCache.shared.files("ts-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The slices' start codes, found in the file (each frame here is one slice, on 188-byte packet boundaries or not).
        let original = [UInt8](try Data(contentsOf: files[1]))
        var slices: [Int] = []
        var at = 0
        while at + 3 < original.count {
            if original[at] == 0, original[at + 1] == 0, original[at + 2] == 1, [1, 5].contains(original[at + 3] & 0x1F) { slices.append(at) }
            at += 1
        }
        try #require(slices.count == 30)
        for (frame, expected) in [(6, "could not be read"), (30, "frame 30 is an access unit without a picture")] {
            var bytes = original
            bytes[slices[frame - 1] + 3] = bytes[slices[frame - 1] + 3] & 0xE0 | 12  // filler data
            let damaged = dir.appendingPathComponent("damaged\(frame).ts")
            try Data(bytes).write(to: damaged)
            let output = dir.appendingPathComponent("out.ts")
            do {
                _ = try await NativeStitcher().stitch([files[0], damaged, files[2]], to: output)
                Issue.record("stitched a chunk whose frame \(frame) holds no picture")
            } catch let error as StitchError {
                #expect("\(error)".contains("damaged\(frame).ts") && "\(error)".contains(expected), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
