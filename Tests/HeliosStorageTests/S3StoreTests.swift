import Foundation
import HeliosStorage
import HeliosTestSupport
import Testing

/// The S3 store against a real SeaweedFS that checks signatures; awscli, curl and sha256sum are the oracles.
@Suite struct S3StoreTests {
    @Test(arguments: [0, 1, (5 << 20) - 1, (5 << 20) + 1])
    func roundTripsAcrossTheMultipartThreshold(size: Int) async throws {
        let (server, store) = try await S3Fixture.freshStore("rt\(size)", threshold: 5 << 20)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try S3Fixture.randomFile(dir, size: size)
        let expected = try await S3Fixture.sha256sum(file)
        let key = try ArtifactKey("acme/run 1/video/clip+\(size)=~é.mp4")
        let events = EventLog()
        let put = try await store.put(file: file, to: key, options: PutOptions(metadata: ["Job": "j1"], progress: events.record))
        #expect(put.sha256 == expected)
        #expect(put.size == Int64(size))
        #expect(events.states.first == .pending)
        #expect(events.states.last == .complete)
        #expect(events.lastBytes == Int64(size))

        let head = try await store.metadata(key)
        #expect(head.size == Int64(size))
        #expect(head.sha256 == expected)
        #expect(head.contentType == "video/mp4")
        #expect(head.metadata["job"] == "j1")

        let back = dir.appendingPathComponent("back.mp4")
        let got = try await store.download(key, to: back)
        #expect(got.sha256 == expected)
        #expect(try await S3Fixture.sha256sum(back) == expected)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasSuffix(".part") })

        // awscli reads what we wrote (and its metadata) independently.
        let viaAWS = dir.appendingPathComponent("aws.bin")
        let copied = try await server.aws(["s3", "cp", "--quiet", "s3://\(store.configuration.bucket)/\(key)", viaAWS.path])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(try await S3Fixture.sha256sum(viaAWS) == expected)
        let meta = try await server.aws(["s3api", "head-object", "--bucket", store.configuration.bucket, "--key", key.rawValue])
        #expect(meta.stdout.contains("\"sha256\": \"\(expected)\""))
    }

    @Test func hundredMegabytesStreamInParts() async throws {
        let (_, store) = try await S3Fixture.freshStore("big", threshold: 16 << 20)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try S3Fixture.sparseMarkedFile(dir, size: 100_000_000)
        let expected = try await S3Fixture.sha256sum(file)
        let key = try ArtifactKey("acme/r/video/big.mkv")
        let put = try await store.put(file: file, to: key)
        #expect(put.sha256 == expected)
        let back = dir.appendingPathComponent("back.mkv")
        let got = try await store.download(key, to: back)
        #expect(got.size == 100_000_000)
        #expect(try await S3Fixture.sha256sum(back) == expected)
    }

    @Test func bytesGetExistsAndDelete() async throws {
        let (_, store) = try await S3Fixture.freshStore("bytes")
        let key = try ArtifactKey("t/r/json/spec.json")
        #expect(try await store.exists(key) == false)
        await #expect(throws: StorageError.self) { try await store.metadata(key) }
        do { _ = try await store.get(key) } catch { #expect(error.code == .notFound); #expect(error.httpStatus == 404) }
        let put = try await store.put(bytes: Array("{\"a\":1}".utf8), to: key)
        #expect(put.uri == "s3://\(store.configuration.bucket)/t/r/json/spec.json")
        #expect(try await store.get(key) == Array("{\"a\":1}".utf8))
        #expect(try await store.exists(key))
        #expect(try await store.delete(key))
        #expect(try await store.exists(key) == false)
        #expect(try await store.delete(key) == false)
    }

    @Test func ifAbsentRefusesAnExistingKey() async throws {
        let (_, store) = try await S3Fixture.freshStore("ifabsent", threshold: 5 << 20)
        let key = try ArtifactKey("t/r/json/once.json")
        _ = try await store.put(bytes: [1], to: key, options: PutOptions(ifAbsent: true))
        do {
            _ = try await store.put(bytes: [2], to: key, options: PutOptions(ifAbsent: true))
            Issue.record("a second create-only write succeeded")
        } catch {
            #expect(error.code == .alreadyExists)
            #expect(error.key == key.rawValue || error.key == "t/r/json/once.json")
        }
        #expect(try await store.get(key) == [1])
        // The multipart path refuses too.
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try S3Fixture.randomFile(dir, size: (5 << 20) + 10)
        await #expect(throws: StorageError.self) {
            _ = try await store.put(file: file, to: key, options: PutOptions(ifAbsent: true))
        }
        #expect(try await store.get(key) == [1])
    }

    @Test func presignedURLsWorkWithCurlAndExpire() async throws {
        let (server, store) = try await S3Fixture.freshStore("presign")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = try ArtifactKey("t/r/image/a b+c.png")
        let upload = try S3Fixture.randomFile(dir, size: 4096)
        let putURL = try store.url(for: key, expiresIn: 600, method: .put)
        let put = try await Shell.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", upload.path, putURL.absoluteString])
        #expect(put.stdout == "200")
        let getURL = try store.url(for: key, expiresIn: SigV4Signer.defaultExpiry, method: .get)
        #expect(getURL.absoluteString.contains("X-Amz-Expires=3600"))
        let fetched = dir.appendingPathComponent("fetched")
        let get = try await Shell.run("curl", ["-s", "-o", fetched.path, "-w", "%{http_code}", getURL.absoluteString])
        #expect(get.stdout == "200")
        #expect(try Data(contentsOf: fetched) == Data(contentsOf: upload))

        // Signed two hours ago for one minute: refused.
        let past = try S3Fixture.store(server: server, bucket: store.configuration.bucket, now: { Date().addingTimeInterval(-7200) })
        let stale = try past.url(for: key, expiresIn: 60, method: .get)
        let refused = try await Shell.run("curl", ["-s", "-w", "\n%{http_code}", stale.absoluteString])
        #expect(refused.stdout.hasSuffix("403"), "\(refused.stdout)")
        let stalePut = try past.url(for: key, expiresIn: 60, method: .put)
        let refusedPut = try await Shell.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", upload.path, stalePut.absoluteString])
        #expect(refusedPut.stdout == "403")
        #expect(throws: StorageError.self) { try store.url(for: key, expiresIn: 604_801, method: .get) }
    }

    @Test func listingOf2500KeysPages() async throws {
        let (_, store) = try await S3Fixture.freshStore("list")
        try await withThrowingTaskGroup(of: Void.self) { group in
            var started = 0
            for index in 0..<2500 {
                if started >= 32 { try await group.next(); started -= 1 }
                group.addTask { _ = try await store.put(bytes: [UInt8(index % 251)], to: try ArtifactKey(String(format: "t/r/json/k%05d.json", index))) }
                started += 1
            }
            try await group.waitForAll()
        }
        _ = try await store.put(bytes: [1], to: try ArtifactKey("t/r/json/sub/deeper.json"))
        let pages = Counter()
        let base = store.list(prefix: try ArtifactKey("t/r/json"), recursive: true)
        let counted = ArtifactListing { token throws(StorageError) in
            pages.increment()
            return try await base.fetchPage(token)
        }
        var keys: [ArtifactKey] = []
        for try await item in counted { keys.append(item.key) }
        #expect(keys.count == 2501)
        #expect(pages.value >= 3)
        #expect(keys == keys.sorted())
        var direct = 0
        for try await _ in store.list(prefix: try ArtifactKey("t/r/json"), recursive: false) { direct += 1 }
        #expect(direct == 2500)
    }
}

/// Progress events, recorded from any task.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [TransferProgress] = []
    var record: @Sendable (TransferProgress) -> Void { { [self] event in lock.withLock { events.append(event) } } }
    var states: [TransferProgress.State] { lock.withLock { events.map(\.state) } }
    var lastBytes: Int64 { lock.withLock { events.last?.bytes ?? -1 } }
    var bytes: [Int64] { lock.withLock { events.map(\.bytes) } }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

@Suite struct S3IntegrityTests {
    @Test func aDownloadNotMatchingItsRecordedHashLeavesNothing() async throws {
        let (server, store) = try await S3Fixture.freshStore("integrity")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let body = try S3Fixture.randomFile(dir, size: 1000)
        // Written by another tool with a wrong recorded hash.
        let wrong = String(repeating: "0", count: 64)
        let put = try await server.aws(["s3api", "put-object", "--bucket", store.configuration.bucket, "--key", "t/r/video/bad.mp4",
                                        "--body", body.path, "--metadata", "sha256=\(wrong)"])
        #expect(put.status == 0, "\(put.stderr)")
        let key = try ArtifactKey("t/r/video/bad.mp4")
        let destination = dir.appendingPathComponent("out.mp4")
        do {
            _ = try await store.download(key, to: destination)
            Issue.record("a corrupt object was accepted")
        } catch {
            #expect(error.code == .integrity)
            #expect(error.message.contains(wrong))
        }
        #expect(!FileManager.default.fileExists(atPath: destination.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == [body.lastPathComponent])
        await #expect(throws: StorageError.self) { try await store.get(key) }
    }

    @Test func racingCreateOnlyWritersGiveOneWinner() async throws {
        let (_, store) = try await S3Fixture.freshStore("race")
        let key = try ArtifactKey("t/r/json/lock.json")
        let outcomes = try await withThrowingTaskGroup(of: StorageError.Code?.self) { group in
            for writer in 0..<8 {
                group.addTask { () async -> StorageError.Code? in
                    do throws(StorageError) {
                        _ = try await store.put(bytes: [UInt8(writer)], to: key, options: PutOptions(ifAbsent: true))
                        return nil
                    } catch {
                        return error.code
                    }
                }
            }
            return try await group.reduce(into: [StorageError.Code?]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == nil }.count == 1)
        #expect(outcomes.filter { $0 == StorageError.Code.alreadyExists }.count == 7)
    }
}

@Suite struct S3PrefixTests {
    @Test func aStorePrefixPlacesAndListsObjectsUnderIt() async throws {
        let (server, root) = try await S3Fixture.freshStore("prefix")
        let store = try S3Fixture.store(server: server, bucket: root.configuration.bucket, prefix: "team/a/")
        let key = try ArtifactKey("t/r/json/x y.json")
        let put = try await store.put(bytes: [7], to: key)
        #expect(put.uri == "s3://\(root.configuration.bucket)/team/a/t/r/json/x y.json")
        _ = try await root.put(bytes: [8], to: try ArtifactKey("team/ab/outside.json"))
        let head = try await server.aws(["s3api", "head-object", "--bucket", root.configuration.bucket, "--key", "team/a/t/r/json/x y.json"])
        #expect(head.status == 0, "\(head.stderr)")
        var listed: [String] = []
        for try await item in store.list(prefix: nil, recursive: true) { listed.append(item.key.rawValue) }
        #expect(listed == ["t/r/json/x y.json"])
        #expect(try await store.get(key) == [7])
    }
}
