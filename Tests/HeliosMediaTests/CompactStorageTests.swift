import Foundation
@testable import HeliosMedia
import Testing

/// What a stitch holds for each input (its probe twice, two placements, two boundaries) is stored compactly: a
/// stitch of 10,000 one-frame inputs with sound peaks under 64 MiB only while these stay small. Each must still read
/// back every value and keep its JSON.
struct CompactStorageTests {
    static func input(rare: Bool) -> ProbedInput {
        let stream = ProbedStreamStorageTests.everyFieldSet()
        guard rare else {
            return ProbedInput(path: "/renders/chunk-00001.mp4", formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 3711,
                               streams: [stream], containerDurationMicroseconds: 33_333)
        }
        return ProbedInput(path: "/renders/chunk-00001.mov", formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 1 << 33,
                           streams: [stream, stream], containerDurationMicroseconds: nil, timecode: "01:00:00:00",
                           attachedPictures: 1, attachments: 2, dataStreams: ["gpmd"], timestampShifts: [0, -1024],
                           statedFirstFrameDuration: 1352)
    }

    @Test("an input's rare fields read back what was set, and equality and hashing see them")
    func inputFieldsReadBack() {
        let plain = Self.input(rare: false), rare = Self.input(rare: true)
        #expect(plain.timecode == nil && plain.attachedPictures == 0 && plain.attachments == 0)
        #expect(plain.dataStreams.isEmpty && plain.timestampShifts.isEmpty && plain.statedFirstFrameDuration == nil)
        #expect(plain.containerDurationMicroseconds == 33_333 && plain.fileSize == 3711 && plain.streams.count == 1)
        #expect(rare.timecode == "01:00:00:00" && rare.attachedPictures == 1 && rare.attachments == 2)
        #expect(rare.dataStreams == ["gpmd"] && rare.timestampShifts == [0, -1024] && rare.statedFirstFrameDuration == 1352)
        #expect(rare.containerDurationMicroseconds == nil && rare.fileSize == 1 << 33)

        // Set one by one, then back to the defaults: equal to an input that never had them, hash included.
        var changed = plain
        changed.timecode = "00:00:10:00"
        changed.statedFirstFrameDuration = 0
        #expect(changed != plain && changed.timecode == "00:00:10:00" && changed.statedFirstFrameDuration == 0)
        let copy = changed
        changed.attachments = 3
        #expect(copy.attachments == 0 && changed.attachments == 3, "a copy does not see a later change")
        (changed.timecode, changed.statedFirstFrameDuration, changed.attachments) = (nil, nil, 0)
        #expect(changed == plain && changed.hashValue == plain.hashValue)
        #expect(Set([plain, rare, changed]).count == 2)
    }

    @Test("an input's JSON keeps the keys the stored fields gave, nil ones left out, and decodes to an equal input")
    func inputJSON() throws {
        for rare in [false, true] {
            let input = Self.input(rare: rare)
            let data = try JSONEncoder().encode(input)
            let keys = Set(try #require(JSONSerialization.jsonObject(with: data) as? [String: Any]).keys)
            let always: Set = ["path", "formatName", "fileSize", "streams", "attachedPictures", "attachments", "dataStreams", "timestampShifts"]
            #expect(keys == always.union(rare ? ["timecode", "statedFirstFrameDuration"] : ["containerDurationMicroseconds"]))
            #expect(try JSONDecoder().decode(ProbedInput.self, from: data) == input)
        }
        // A document without the defaulted keys (as an older writer left them) reads with the defaults.
        let minimal = #"{"path":"a.mp4","formatName":"mpegts","fileSize":1,"streams":[]}"#
        let read = try JSONDecoder().decode(ProbedInput.self, from: Data(minimal.utf8))
        #expect(read == ProbedInput(path: "a.mp4", formatName: "mpegts", fileSize: 1, streams: [], containerDurationMicroseconds: nil))
    }

    @Test("a placement's compact fields read back, the frame grid boxed")
    func placementFieldsReadBack() {
        let grid = StitchPlan.FrameGrid(frame: Rational(1001, 30000), framesBefore: 7, inputStart: -3, outputStart: 90_000, dtsShiftFrames: 1)
        var p = StitchPlan.Placement(offset: -5, dropLeading: 2, keep: 1_000_000, gridDuration: nil, trimEnd: 0, frameGrid: grid,
                                     dtsShift: 1024, primingPackets: 1, contentStart: .min + 1, primingFrameSamples: 1024)
        #expect(p.offset == -5 && p.dropLeading == 2 && p.keep == 1_000_000 && p.gridDuration == nil && p.trimEnd == 0)
        #expect(p.frameGrid == grid && p.dtsShift == 1024 && p.primingPackets == 1 && p.contentStart == .min + 1)
        let before = p
        p.frameGrid?.framesBefore = 8
        #expect(before.frameGrid?.framesBefore == 7 && p.frameGrid?.framesBefore == 8 && p != before)
        p.frameGrid = grid
        #expect(p == before && p.hashValue == before.hashValue)
        p.frameGrid = nil
        #expect(p.frameGrid == nil && p != before)
    }

    @Test("an input's path and format name read back as given, compare as text, and alike inputs share them")
    func pathAndFormatNameReadBack() {
        let paths = ["/jobs/j/chunks/c-1.mp4", "c-1.mp4", "", "/", "/a", "dir/", "./x/y/", "/tmp/vidéo/🎬 1.mov", "//double//slash.mkv"]
        for path in paths {
            for other in paths {
                var a = ProbedInput(path: path, formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 1, streams: [])
                let b = ProbedInput(path: other, formatName: "mov,mp4,m4a,3gp,3g2,mj2", fileSize: 1, streams: [])
                #expect(a.path == path && (a == b) == (path == other))
                if a == b { #expect(a.hashValue == b.hashValue) }
                let shared = a.sharingStorage(with: b)
                #expect(shared.path == path && shared.formatName == "mov,mp4,m4a,3gp,3g2,mj2" && shared == a)
                a.formatName = "matroska,webm"
                a.path = other + "/z"
                #expect(a.formatName == "matroska,webm" && a.path == other + "/z" && a.fileSize == 1)
            }
        }
    }

    @Test("per-input records stay small: the regression that took a 10,000-input stitch past 64 MiB was ProbedInput doubling")
    func strides() {
        #expect(MemoryLayout<ProbedInput>.stride <= 56)
        #expect(MemoryLayout<StitchPlan.Placement>.stride <= 72)
        #expect(MemoryLayout<BoundaryReport>.stride <= 40)
        #expect(MemoryLayout<StitchPlan.InputDrift>.stride <= 32)
        #expect(MemoryLayout<ProbedStream>.stride <= 16)
    }
}
