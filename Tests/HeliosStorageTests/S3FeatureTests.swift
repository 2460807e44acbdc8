import Foundation
import HeliosStorage
import HeliosTestSupport
import Testing

/// Seed 002's features on the S3 store: tenant scope, dedup, public/private URLs, cleanup and usage.
@Suite struct S3FeatureTests {
    @Test func tenantScopeRefusesKeysAndURLsOutsideTheTenant() async throws {
        let (_, store) = try await S3Fixture.freshStore("tenant")
        _ = try await store.put(bytes: [9], to: try ArtifactKey("globex/r/json/secret.json"))
        let acme = try TenantScopedStore(store, tenant: "acme")
        let mine = try acme.key("r1/json/a.json")
        _ = try await acme.put(bytes: [1], to: mine)
        #expect(try await acme.get(mine) == [1])
        for outside in ["globex/r/json/secret.json", "acme", "acmecorp/r/json/x.json"] {
            let key = try ArtifactKey(outside)
            do { _ = try await acme.get(key); Issue.record("read \(outside)") } catch { #expect(error.code == .outsideScope) }
            do { _ = try await acme.put(bytes: [2], to: key); Issue.record("wrote \(outside)") } catch { #expect(error.code == .outsideScope) }
            do { _ = try await acme.delete(key); Issue.record("deleted \(outside)") } catch { #expect(error.code == .outsideScope) }
            #expect(throws: StorageError.self) { try acme.url(for: key, expiresIn: 60, method: .get) }
        }
        #expect(try await store.get(try ArtifactKey("globex/r/json/secret.json")) == [9])
        var listed: [String] = []
        for try await item in acme.list(prefix: nil, recursive: true) { listed.append(item.key.rawValue) }
        #expect(listed == ["acme/r1/json/a.json"])
        do {
            for try await _ in acme.list(prefix: try ArtifactKey("globex"), recursive: true) {}
            Issue.record("listed another tenant")
        } catch { #expect(error.code == .outsideScope) }
        try acme.check(uri: store.uri(for: mine))
        #expect(throws: StorageError.self) { try acme.check(uri: "s3://\(store.configuration.bucket)/globex/r/json/secret.json") }
        #expect(throws: StorageError.self) { try acme.check(uri: "s3://\(store.configuration.bucket)/acme/../globex/x") }
        #expect(throws: StorageError.self) { try TenantScopedStore(store, tenant: "a/b") }
    }

    @Test func dedupSkipsTheUploadWhenTheContentIsPresent() async throws {
        let (server, direct) = try await S3Fixture.freshStore("dedup")
        let proxy = try FaultProxy(upstreamPort: server.s3Port)
        defer { proxy.stop() }
        let store = try S3Fixture.store(server: server, bucket: direct.configuration.bucket, endpoint: proxy.endpoint)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try S3Fixture.randomFile(dir, size: 70_000)
        let copy = dir.appendingPathComponent("same-content.bin")
        try FileManager.default.copyItem(at: file, to: copy)
        let prefix = try ArtifactKey("acme/cas")
        let first = try await store.putDeduplicated(file: file, under: prefix)
        #expect(first.uploaded)
        #expect(first.bytesSkipped == 0)
        let expected = try await S3Fixture.sha256sum(file)
        #expect(first.metadata.key.rawValue == "acme/cas/sha256/\(expected)")
        let before = proxy.requestCount
        let second = try await store.putDeduplicated(file: copy, under: prefix)
        #expect(!second.uploaded)
        #expect(second.bytesSkipped == 70_000)
        #expect(second.metadata.key == first.metadata.key)
        #expect(proxy.requestCount - before == 1, "only a HEAD is sent")
    }

    @Test func publicObjectsUseTheCDNBaseAndPrivateOnesArePresigned() async throws {
        let (_, store) = try await S3Fixture.freshStore("share")
        let key = try ArtifactKey("acme/r/image/thumb 1.png")
        let cdn = try #require(URL(string: "https://cdn.example.com/assets/"))
        #expect(try store.shareURL(for: key, visibility: .public, publicBaseURL: cdn).absoluteString
                == "https://cdn.example.com/assets/acme/r/image/thumb%201.png")
        let privateURL = try store.shareURL(for: key, visibility: .private, publicBaseURL: cdn, expiresIn: 120)
        #expect(privateURL.absoluteString.contains("X-Amz-Signature="))
        #expect(privateURL.absoluteString.contains("X-Amz-Expires=120"))
        #expect(throws: StorageError.self) { try store.shareURL(for: key, visibility: .public) }
    }

    @Test func usageCountsByTypeAndCleanupDeletesInBatchesAndAbortsOldUploads() async throws {
        let (server, store) = try await S3Fixture.freshStore("lifecycle")
        for index in 0..<5 { _ = try await store.put(bytes: [UInt8](repeating: 1, count: 100), to: try ArtifactKey("acme/r/video/v\(index).mp4")) }
        for index in 0..<3 { _ = try await store.put(bytes: [UInt8](repeating: 2, count: 10), to: try ArtifactKey("acme/r/json/j\(index).json")) }
        _ = try await store.put(bytes: [3], to: try ArtifactKey("globex/r/json/other.json"))
        let usage = try await StorageMaintenance.usage(of: store, prefix: try ArtifactKey("acme"))
        #expect(usage.total == .init(objects: 8, bytes: 530))
        #expect(usage.byKeyType["video"] == .init(objects: 5, bytes: 500))
        #expect(usage.byKeyType["json"] == .init(objects: 3, bytes: 30))
        #expect(usage.byContentType["video/mp4"] == .init(objects: 5, bytes: 500))

        let created = try await server.aws(["s3api", "create-multipart-upload", "--bucket", store.configuration.bucket,
                                            "--key", "acme/r/video/abandoned.mp4"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try await store.incompleteUploads(prefix: try ArtifactKey("acme")).count == 1)

        // Nothing is older than an hour yet.
        let none = try await StorageMaintenance.cleanup(of: store, prefix: try ArtifactKey("acme"),
                                                        olderThan: Date().addingTimeInterval(-3600))
        #expect(none.deletedObjects == 0)
        #expect(none.keptObjects == 8)
        #expect(none.abortedUploads == 0)
        // With the cutoff an hour ahead, everything under acme/ is older.
        let report = try await StorageMaintenance.cleanup(of: store, prefix: try ArtifactKey("acme"),
                                                          olderThan: Date().addingTimeInterval(3600))
        #expect(report.deletedObjects == 8)
        #expect(report.deletedBytes == 530)
        #expect(report.abortedUploads == 1)
        #expect(try await store.usage(prefix: try ArtifactKey("acme")).total.objects == 0)
        #expect(report.keptObjects == 0)
        #expect(try await store.exists(try ArtifactKey("globex/r/json/other.json")))
        let listed = try await server.aws(["s3api", "list-multipart-uploads", "--bucket", store.configuration.bucket])
        #expect(!listed.stdout.contains("UploadId"), "\(listed.stdout)")
    }
}
