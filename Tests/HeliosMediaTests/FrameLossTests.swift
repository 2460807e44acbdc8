import Foundation
@testable import HeliosMedia
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
