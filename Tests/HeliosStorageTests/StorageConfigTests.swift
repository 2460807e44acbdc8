import Foundation
@testable import HeliosStorage
import Testing

@Suite struct StorageLocationTests {
    @Test func parsesTheThreeForms() throws {
        #expect(try StorageLocation.parse("s3://my-bucket/a/b.mp4") == .s3(bucket: "my-bucket", key: key("a/b.mp4")))
        #expect(try StorageLocation.parse("s3://my-bucket") == .s3(bucket: "my-bucket", key: nil))
        #expect(try StorageLocation.parse("s3://my-bucket/") == .s3(bucket: "my-bucket", key: nil))
        #expect(try StorageLocation.parse("file:///srv/store/objects/a%20b/c") == .file(path: "/srv/store/objects/a b/c"))
        #expect(try StorageLocation.parse("file://localhost/x") == .file(path: "/x"))
        #expect(try StorageLocation.parse("tenant/run/chunks/c0.mp4") == .key(key("tenant/run/chunks/c0.mp4")))
        #expect(try StorageLocation.parse("") == .key(nil))
    }

    @Test(arguments: ["s3://Bad_Bucket/k", "s3://ab/k", "s3://bucket/a/../b", "s3://bucket//a", "gs://b/k", "file://host/x",
                      "file:relative", "a/../b", "/abs/key", "a\\b"])
    func refusesBadLocations(_ text: String) {
        do { _ = try StorageLocation.parse(text); Issue.record("accepted \(text)") } catch {
            #expect(error.code == .invalidURI, "\(text): \(error)")
            #expect(error.message.contains(text))
        }
    }

    @Test func mapsFilePathsToKeysOnlyInsideTheObjectsDirectory() throws {
        let objects = URL(fileURLWithPath: "/srv/helios/artifacts/objects")
        #expect(try StorageLocation.key(ofPath: "/srv/helios/artifacts/objects/a/b", in: objects) == key("a/b"))
        #expect(try StorageLocation.key(ofPath: "/srv/helios/artifacts/objects", in: objects) == nil)
        for outside in ["/srv/helios/artifacts/objectsX/a", "/etc/passwd", "/srv/helios/artifacts/objects/../meta/a"] {
            #expect(throws: StorageError.self) { try StorageLocation.key(ofPath: outside, in: objects) }
        }
    }
}

@Suite struct DefaultBackendTests {
    @Test func localUnlessToldOtherwise() throws {
        #expect(try DefaultBackend.resolve(environment: ["HELIOS_HOME": "/h"]) == .local(root: URL(fileURLWithPath: "/h/artifacts", isDirectory: true)))
        #expect(try DefaultBackend.resolve(environment: ["HELIOS_STORAGE": "/data/store"]) == .local(root: URL(fileURLWithPath: "/data/store", isDirectory: true)))
        #expect(try DefaultBackend.resolve(environment: ["HELIOS_STORAGE": "file:///data/store"]) == .local(root: URL(fileURLWithPath: "/data/store", isDirectory: true)))
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        #expect(try DefaultBackend.resolve(environment: [:]) == .local(root: URL(fileURLWithPath: home + "/.helios/artifacts", isDirectory: true)))
    }

    @Test func s3AsTheDefaultNeedsTheOptIn() throws {
        do { _ = try DefaultBackend.resolve(environment: ["HELIOS_STORAGE": "s3://renders/prod"]); Issue.record("accepted") } catch {
            #expect(error.code == .configuration && error.message.contains("HELIOS_ALLOW_CLOUD_DEFAULT=true"), "\(error)")
        }
        #expect(throws: StorageError.self) {
            try DefaultBackend.resolve(environment: ["HELIOS_STORAGE": "s3://renders/prod", "HELIOS_ALLOW_CLOUD_DEFAULT": "1"])
        }
        #expect(try DefaultBackend.resolve(environment: ["HELIOS_STORAGE": "s3://renders/prod", "HELIOS_ALLOW_CLOUD_DEFAULT": "true"])
                == .s3(bucket: "renders", prefix: key("prod")))
        for bad in ["relative/path", "gs://x/y", "s3://B/x"] {
            #expect(throws: StorageError.self) { try DefaultBackend.resolve(environment: ["HELIOS_STORAGE": bad]) }
        }
    }

    @Test func theFactoryRoutesLocationsAndInjectsS3() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let buckets = SendableBox()
        let makeS3: StorageFactory.S3Constructor = { bucket, _ in
            buckets.append(bucket)
            return InMemoryArtifactStore(name: bucket)
        }
        let local = StorageFactory(environment: ["HELIOS_HOME": dir.path], makeS3: makeS3)
        let (store, k) = try local.resolve("a/b")
        #expect(store.backend == "local" && k == key("a/b"))
        #expect(store.uri(for: k!) == "file://\(dir.path)/artifacts/objects/a/b")
        let (fileStore, fileKey) = try local.resolve(store.uri(for: k!))
        #expect(fileStore.backend == "local" && fileKey == key("a/b"))
        // Explicit s3:// URIs need no opt-in.
        let (s3, s3Key) = try local.resolve("s3://renders/x/y")
        #expect(s3.backend == "memory" && s3Key == key("x/y") && buckets.values == ["renders"])
        // An S3 default puts bare keys under its prefix.
        let cloud = StorageFactory(environment: ["HELIOS_STORAGE": "s3://renders/prod", "HELIOS_ALLOW_CLOUD_DEFAULT": "true"], makeS3: makeS3)
        #expect(try cloud.resolve("a/b").key == key("prod/a/b"))
        #expect(try cloud.resolve("").key == key("prod"))
        // Without an S3 constructor, s3:// is refused clearly.
        do { _ = try StorageFactory(environment: [:]).resolve("s3://renders/x"); Issue.record("accepted") } catch {
            #expect(error.code == .configuration && error.message.contains("s3://renders"))
        }
    }
}

final class SendableBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ value: String) { lock.withLock { items.append(value) } }
    var values: [String] { lock.withLock { items } }
}
