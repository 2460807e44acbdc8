import Testing
@testable import HeliosStorage

@Suite struct ArtifactKeyTests {
    @Test(arguments: [
        "", "/a", "a//b", "a/./b", "a/../b", "..", ".", "a\\b", "a\u{0}b", "a\nb", "a/\u{7f}",
        String(repeating: "é", count: 513),
    ])
    func refusesKeysThatCouldEscapeOrAreNotNormal(_ raw: String) {
        #expect(throws: StorageError.self) { try ArtifactKey(raw) }
        do { _ = try ArtifactKey(raw) } catch { #expect(error.code == .invalidKey) }
    }

    @Test(arguments: ["a", "a/b/c.mp4", "t/r/type/f i+l=e~é.mp4", "a/..b", "a/b.", String(repeating: "x", count: 1024)])
    func acceptsNormalKeys(_ raw: String) throws {
        #expect(try ArtifactKey(raw).rawValue == raw)
    }

    @Test func dropsOneTrailingSlashAndMatchesPrefixesBySegment() throws {
        #expect(try ArtifactKey("a/b/").rawValue == "a/b")
        let key = try ArtifactKey("a/bc/d")
        #expect(key.isUnder(try ArtifactKey("a/bc")))
        #expect(!key.isUnder(try ArtifactKey("a/b")))
    }

    @Test func buildsTenantKeysWithContentTypes() throws {
        let key = try ArtifactKey.build(tenant: "acme", run: "r1", type: "chunks", filename: "c0.MP4")
        #expect(key.rawValue == "acme/r1/chunks/c0.MP4")
        #expect(key.contentType == "video/mp4")
        #expect(throws: StorageError.self) { try ArtifactKey.build(tenant: "a/b", run: "r", type: "t", filename: "f") }
        #expect(throws: StorageError.self) { try ArtifactKey.build(tenant: "..", run: "r", type: "t", filename: "f") }
        let types = ["png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "webm": "video/webm",
                     "mov": "video/quicktime", "mkv": "video/x-matroska", "mp3": "audio/mpeg", "wav": "audio/wav",
                     "ogg": "audio/ogg", "zip": "application/zip", "html": "text/html", "json": "application/json",
                     "bin": "application/octet-stream"]
        for (ext, type) in types { #expect(ContentType.forFilename("x.\(ext)") == type) }
        #expect(ContentType.forFilename(".hidden") == "application/octet-stream")
    }

    @Test func ordersKeysByUTF8BytesAsS3Does() throws {
        let keys = try ["b", "a/z", "a+", "é", "Z"].map { try ArtifactKey($0) }
        #expect(keys.sorted().map(\.rawValue) == ["Z", "a+", "a/z", "b", "é"])
    }
}
