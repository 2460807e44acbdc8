import Foundation
@testable import HeliosOrchestrator
import Testing

/// A chunk's output path and command, and a record's URI, worker and chunk id, are kept in one string each: every
/// combination reads back as given, and two packings are equal exactly when their strings are.
@Suite("Per-chunk strings packed in one")
struct PackedTextTests {
    static let texts: [String?] = [nil, "", "-", ":", "-:", "0:", "12:3:x.mp4", "7", "a", "bc", "ab", "c", "vidéo/🎬 1.mov", "nul\u{0}.mp4",
                                   "file:///jobs/j/c-1.mp4", "lambda:render@lambda.eu-west-1.amazonaws.com"]

    @Test("every pair and triple reads back as given; equal, with equal hashes, exactly when the strings are")
    func readsBack() {
        for a in Self.texts {
            for b in Self.texts {
                let pair = PackedText([a, b])
                #expect(pair.part(0, of: 2) == a && pair.part(1, of: 2) == b, "\(String(describing: a)) | \(String(describing: b))")
                for c in Self.texts {
                    let triple = PackedText([a, b, c])
                    #expect(triple.part(0, of: 3) == a && triple.part(1, of: 3) == b && triple.part(2, of: 3) == c)
                }
                for c in Self.texts {
                    for d in Self.texts {
                        let other = PackedText([c, d])
                        #expect((pair == other) == (a == c && b == d))
                        if pair == other { #expect(pair.hashValue == other.hashValue) }
                    }
                }
            }
        }
    }

    @Test("a chunk and a record take less room than their strings apart did")
    func layouts() {
        #expect(MemoryLayout<RenderJobChunk>.stride == 48)
        #expect(MemoryLayout<ChunkOutputRecord>.stride == 72)
        var record = ChunkOutputRecord(uri: "s3://b/k", bytes: 1, sha256: "x", attempt: 1, worker: "local", chunkId: "c-1")
        record.worker = "lambda:f"
        record.uri = "file:///w/1"
        #expect(record.uri == "file:///w/1" && record.worker == "lambda:f" && record.chunkId == "c-1" && record.sha256 == "x")
        record.chunkId = nil
        #expect(record.chunkId == nil && record.uri == "file:///w/1")
    }
}
