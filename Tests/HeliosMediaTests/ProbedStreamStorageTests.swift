import Foundation
@testable import HeliosMedia
import Testing

/// `ProbedStream` stores optional timestamps behind a sentinel, counts as `Int32` and a missing frame rate as 0/0:
/// every property must still read back what was set, and the JSON must keep one key per property.
struct ProbedStreamStorageTests {
    /// Every property set to a value unlike the others (and unlike the sentinels' neighbours).
    static func everyFieldSet() -> ProbedStream {
        ProbedStream(index: 3, signature: Probes.signature(.audio), timeBase: Rational(1, 44100), packetCount: 123_456,
                     frameCount: 9_876_543_210, firstPts: -1024, firstDts: .min + 1, lastPts: .max, lastDts: 0,
                     startPts: 7, endPts: 8_000_000_000, firstPacketIsKeyframe: true, leadingDiscardPackets: 2,
                     leadingDiscardDuration: 2048, primingSamples: 2112, trailingPaddingSamples: 300,
                     typicalPacketDuration: 1024, irregularDurationCount: 5, missingTimestampCount: 6,
                     firstNonIncreasingDts: 0, firstPtsBeforeDts: Int(Int32.max), corruptPacketCount: 8,
                     leadingPackets: [PacketTiming(pts: -1024, dts: -1024, duration: 1024, isDiscard: true)], initialPadding: 1024,
                     trailingPackets: [PacketTiming(pts: 4096, dts: 4096, duration: 512, isDiscard: false)],
                     frameRate: Rational(30000, 1001), derivedDtsDelay: 0, firstFrameGap: -3, missingPtsCount: 4,
                     missingDtsOnlyCount: 2, leadingStretch: -11, unflaggedPrimingPackets: 1, payloadBytes: 1 << 40,
                     parserKeyframes: 0).withEndInferred(true)
    }

    @Test("every property reads back what was set, zero and extremes included")
    func setValuesReadBack() {
        let s = Self.everyFieldSet()
        #expect(s.index == 3 && s.packetCount == 123_456 && s.frameCount == 9_876_543_210)
        #expect(s.firstPts == -1024 && s.firstDts == .min + 1 && s.lastPts == .max && s.lastDts == 0)
        #expect(s.startPts == 7 && s.endPts == 8_000_000_000 && s.duration == 8_000_000_000 - 7)
        #expect(s.firstPacketIsKeyframe && s.leadingDiscardPackets == 2 && s.leadingDiscardDuration == 2048)
        #expect(s.primingSamples == 2112 && s.trailingPaddingSamples == 300 && s.typicalPacketDuration == 1024)
        #expect(s.irregularDurationCount == 5 && s.missingTimestampCount == 6 && s.corruptPacketCount == 8)
        #expect(s.firstNonIncreasingDts == 0 && s.firstPtsBeforeDts == Int(Int32.max))
        #expect(s.frameRate == Rational(30000, 1001) && s.derivedDtsDelay == 0 && s.firstFrameGap == -3)
        #expect(s.missingPtsCount == 4 && s.missingDtsOnlyCount == 2 && s.leadingStretch == -11)
        #expect(s.unflaggedPrimingPackets == 1 && s.payloadBytes == 1 << 40 && s.parserKeyframes == 0)
        #expect(s.initialPadding == 1024 && s.leadingPackets.count == 1 && s.trailingPackets.count == 1)
    }

    @Test("optional properties set to nil read back nil, and setting them again changes equality")
    func nilsReadBackNil() {
        var s = Self.everyFieldSet()
        (s.firstPts, s.firstDts, s.lastPts, s.lastDts, s.startPts, s.endPts, s.firstFrameGap) = (nil, nil, nil, nil, nil, nil, nil)
        (s.firstNonIncreasingDts, s.firstPtsBeforeDts, s.derivedDtsDelay, s.parserKeyframes) = (nil, nil, nil, nil)
        s.frameRate = nil
        #expect(s.firstPts == nil && s.firstDts == nil && s.lastPts == nil && s.lastDts == nil)
        #expect(s.startPts == nil && s.endPts == nil && s.firstFrameGap == nil && s.frameRate == nil)
        #expect(s.firstNonIncreasingDts == nil && s.firstPtsBeforeDts == nil && s.derivedDtsDelay == nil && s.parserKeyframes == nil)
        #expect(s != Self.everyFieldSet())
        var back = s
        back.firstPts = -1024
        #expect(back != s && back.firstPts == -1024)
        // The fields in a box that alike inputs share, the byte count beside it.
        #expect(MemoryLayout<ProbedStream>.stride <= 16)
    }

    @Test("streams probed alike share one copy of their fields; a set field copies it, and each keeps its byte count")
    func sharedFields() throws {
        let first = Self.everyFieldSet()
        var alike = Self.everyFieldSet()
        alike.payloadBytes = 7
        #expect(!alike.sharesStorage(with: first) && alike != first)
        let shared = alike.sharingStorage(with: first)
        #expect(shared.sharesStorage(with: first) && shared.payloadBytes == 7 && first.payloadBytes == 1 << 40)
        #expect(shared == alike && shared.hashValue == alike.hashValue)

        var changed = shared
        changed.firstPts = 5
        changed.leadingPackets = []
        #expect(!changed.sharesStorage(with: first) && changed.firstPts == 5 && changed.leadingPackets.isEmpty)
        #expect(first.firstPts == -1024 && shared.firstPts == -1024 && shared.leadingPackets.count == 1)
        #expect(shared.sharesStorage(with: first))

        var other = Self.everyFieldSet()
        other.lastDts = 1
        #expect(!other.sharingStorage(with: first).sharesStorage(with: first))
        #expect(other.sharingStorage(with: first) == other)

        // A shared stream encodes as its own: the same JSON as the unshared one.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(shared) == encoder.encode(alike))
    }

    @Test("inputs probed alike share streams and format name; the byte counts stay each input's")
    func inputsShare() {
        func input(_ path: String, payload: Int64, lastDts: Int64 = 0) -> ProbedInput {
            var stream = Self.everyFieldSet()
            stream.payloadBytes = payload
            stream.lastDts = lastDts
            // A format name longer than a small string, so that each input's own is a buffer of its own.
            return ProbedInput(path: path, formatName: String(repeating: "mov,mp4,", count: 3), fileSize: payload,
                               streams: [stream, Self.everyFieldSet()])
        }
        let first = input("/a", payload: 10)
        let second = input("/b", payload: 20).sharingStorage(with: first)
        #expect(second.streams[0].sharesStorage(with: first.streams[0]) && second.streams[1].sharesStorage(with: first.streams[1]))
        #expect(second.streams[0].payloadBytes == 20 && second.path == "/b" && second == input("/b", payload: 20))
        let third = input("/c", payload: 20, lastDts: 9).sharingStorage(with: second)
        #expect(!third.streams[0].sharesStorage(with: second.streams[0]) && third.streams[1].sharesStorage(with: second.streams[1]))
        #expect(third.streams[0].lastDts == 9 && third == input("/c", payload: 20, lastDts: 9))
    }

    @Test("JSON keeps one key per property, nil ones left out, and decodes to an equal stream")
    func jsonShape() throws {
        let full = Self.everyFieldSet()
        let data = try JSONEncoder().encode(full)
        let keys = Set(try #require(JSONSerialization.jsonObject(with: data) as? [String: Any]).keys)
        #expect(keys == [
            "index", "signature", "timeBase", "packetCount", "frameCount", "firstPts", "firstDts", "lastPts", "lastDts",
            "startPts", "endPts", "firstPacketIsKeyframe", "leadingDiscardPackets", "leadingDiscardDuration",
            "primingSamples", "trailingPaddingSamples", "typicalPacketDuration", "irregularDurationCount",
            "missingTimestampCount", "firstNonIncreasingDts", "firstPtsBeforeDts", "corruptPacketCount", "leadingPackets",
            "initialPadding", "trailingPackets", "frameRate", "derivedDtsDelay", "firstFrameGap", "missingPtsCount",
            "missingDtsOnlyCount", "leadingStretch", "unflaggedPrimingPackets", "payloadBytes", "parserKeyframes", "endInferred",
        ])
        #expect(try JSONDecoder().decode(ProbedStream.self, from: data) == full)

        var sparse = full
        (sparse.firstPts, sparse.frameRate, sparse.parserKeyframes) = (nil, nil, nil)
        let sparseData = try JSONEncoder().encode(sparse)
        let sparseKeys = Set(try #require(JSONSerialization.jsonObject(with: sparseData) as? [String: Any]).keys)
        #expect(keys.subtracting(sparseKeys) == ["firstPts", "frameRate", "parserKeyframes"])
        #expect(try JSONDecoder().decode(ProbedStream.self, from: sparseData) == sparse)
    }
}
