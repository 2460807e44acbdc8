import Foundation
@testable import HeliosOrchestrator
import Testing

/// A job holds every chunk's record to its end, so a record keeps its SHA-256 in 32 bytes when it can: whatever it
/// was given must read back, encode and compare exactly as the string did.
@Suite("Chunk records: digests held in 32 bytes")
struct CompactDigestTests {
    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let texts = [
        empty, String(repeating: "0", count: 64), String(repeating: "f", count: 64), String(repeating: "0123456789abcdef", count: 4),
        empty.uppercased(), String(empty.dropLast()), empty + "0", "", "abc", String(repeating: "g", count: 64),
        String(empty.dropLast()) + "é", String(empty.dropFirst(2)) + "é",
    ]

    @Test("every text reads back as given; equal, with equal hashes, exactly when the texts are")
    func readsBack() {
        for text in Self.texts {
            #expect(CompactDigest(text).text == text, "\(text)")
            for other in Self.texts {
                #expect((CompactDigest(text) == CompactDigest(other)) == (text == other), "\(text) vs \(other)")
            }
            #expect(CompactDigest(text).hashValue == CompactDigest(String(text)).hashValue)
        }
        #expect(MemoryLayout<CompactDigest>.size <= 33)
    }

    @Test("a record encodes the digest it was given under its key, decodes to an equal record, and takes a new one")
    func recordJSON() throws {
        for text in [Self.empty, Self.empty.uppercased(), "not a digest"] {
            var record = ChunkOutputRecord(uri: "file:///jobs/j/c-1.mp4", bytes: 7, sha256: text, attempt: 2, worker: "local", chunkId: "c-1")
            let data = try JSONEncoder().encode(record)
            let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(Set(object.keys) == ["uri", "bytes", "sha256", "attempt", "worker", "chunkId"])
            #expect(object["sha256"] as? String == text)
            #expect(try JSONDecoder().decode(ChunkOutputRecord.self, from: data) == record)
            record.sha256 = String(repeating: "a", count: 64)
            #expect(record.sha256 == String(repeating: "a", count: 64))
            record.chunkId = nil
            let keys = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as? [String: Any]).keys
            #expect(Set(keys) == ["uri", "bytes", "sha256", "attempt", "worker"])
        }
    }
}
