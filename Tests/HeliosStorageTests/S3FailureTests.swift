import Foundation
import HeliosStorage
import HeliosTestSupport
import Testing

/// Refusals, cancellation and retries against SeaweedFS, through a fault-injecting proxy where needed.
@Suite struct S3FailureTests {
    @Test func wrongSecretIsANonRetryableAuthErrorSentOnce() async throws {
        let (server, good) = try await S3Fixture.freshStore("auth")
        let proxy = try FaultProxy(upstreamPort: server.s3Port)
        defer { proxy.stop() }
        let bad = try S3Fixture.store(server: server, bucket: good.configuration.bucket, endpoint: proxy.endpoint,
                                      secret: "not-the-secret")
        do {
            _ = try await bad.put(bytes: [1, 2, 3], to: try ArtifactKey("t/r/json/x.json"))
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect(error.code == .auth)
            #expect(error.s3Code == "SignatureDoesNotMatch")
            #expect(error.httpStatus == 403)
            #expect(error.requestID?.isEmpty == false, "SeaweedFS names its request")
            #expect(error.isRetryable == false)
            #expect(error.description.contains("SignatureDoesNotMatch"))
            #expect(error.key == "t/r/json/x.json")
        }
        #expect(proxy.requestCount == 1)

        // A validation error (400) is not retried either.
        let invalid = try S3Fixture.store(server: server, bucket: "ab", endpoint: proxy.endpoint)
        do {
            try await invalid.createBucket()
            Issue.record("a two-letter bucket was created")
        } catch {
            #expect(error.code == .invalidRequest)
            #expect(error.httpStatus == 400)
            #expect(error.s3Code == "InvalidBucketName")
            #expect(!error.isRetryable)
        }
        #expect(proxy.requestCount == 2)
    }

    @Test func retriesThrottlingServerErrorsAndResetsThenSucceeds() async throws {
        let (server, direct) = try await S3Fixture.freshStore("retry")
        let proxy = try FaultProxy(upstreamPort: server.s3Port, faults: [.slowDown, .internalError, .reset])
        defer { proxy.stop() }
        let store = try S3Fixture.store(server: server, bucket: direct.configuration.bucket, endpoint: proxy.endpoint)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try S3Fixture.randomFile(dir, size: 300_000)
        let key = try ArtifactKey("t/r/video/retry.mp4")
        let put = try await store.put(file: file, to: key)
        #expect(proxy.faultCount == 3)
        #expect(proxy.requestCount == 4)
        #expect(try await direct.metadata(key).sha256 == put.sha256)

        // A multipart upload whose parts meet faults: each part is retried, re-read from the file.
        let big = try S3Fixture.randomFile(dir, size: (11 << 20) + 3)
        proxy.plan([.reset, .slowDown, .reset, .internalError])
        let bigKey = try ArtifactKey("t/r/video/retry-big.mp4")
        let events = EventLog()
        let bigPut = try await store.put(file: big, to: bigKey, options: PutOptions(progress: events.record))
        #expect(proxy.faultCount == 7)
        // Progress never counts a retried part twice: it only grows, and ends at the size.
        let bytes = events.bytes
        #expect(bytes == bytes.sorted())
        #expect(bytes.last == Int64((11 << 20) + 3))
        #expect(events.states.last == .complete)
        let back = dir.appendingPathComponent("back")
        proxy.plan([.reset, .slowDown])
        _ = try await store.download(bigKey, to: back)
        #expect(try await S3Fixture.sha256sum(back) == bigPut.sha256)
        #expect(proxy.faultCount == 9)

        // Too many faults: the last error surfaces, typed and retryable.
        proxy.plan(Array(repeating: .slowDown, count: 5))
        do {
            _ = try await store.get(key)
            Issue.record("five faults did not exhaust five attempts")
        } catch {
            #expect(error.code == .throttled)
            #expect(error.s3Code == "SlowDown")
            #expect(error.httpStatus == 503)
            #expect(error.requestID?.hasPrefix("fault-") == true)
            #expect(error.isRetryable)
        }
    }

    @Test func cancellingAMultipartUploadAbortsIt() async throws {
        let (server, store) = try await S3Fixture.freshStore("cancel", threshold: 5 << 20, concurrency: 1)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try S3Fixture.sparseMarkedFile(dir, size: 40 << 20)
        let key = try ArtifactKey("t/r/video/cancelled.mp4")
        let box = TaskBox()
        let task = Task {
            try await store.put(file: file, to: key, options: PutOptions(progress: { event in
                if event.bytes > 7 << 20 { box.cancel() }
            }))
        }
        box.set(task)
        do {
            _ = try await task.value
            Issue.record("the cancelled upload completed")
        } catch let error as StorageError {
            #expect(error.code == .cancelled)
        }
        let listed = try await server.aws(["s3api", "list-multipart-uploads", "--bucket", store.configuration.bucket])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(!listed.stdout.contains("UploadId"), "\(listed.stdout)")
        #expect(try await store.incompleteUploads(prefix: nil).isEmpty)
        #expect(try await store.exists(key) == false)
    }
}

/// Lets a progress callback cancel the task it reports on.
final class TaskBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<ArtifactMetadata, any Error>?
    private var cancelled = false
    func set(_ task: Task<ArtifactMetadata, any Error>) {
        let early = lock.withLock { self.task = task; return cancelled }
        if early { task.cancel() }
    }
    func cancel() {
        let task = lock.withLock { cancelled = true; return self.task }
        task?.cancel()
    }
}
