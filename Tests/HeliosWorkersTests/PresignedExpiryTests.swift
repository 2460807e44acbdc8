import Foundation
import HeliosStorage
import Testing
@testable import HeliosRuntime

/// When a presigned URL expires (read from the URL), and what the worker answers when one is refused. Pure.
@Suite struct PresignedExpiryTests {
    static let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret"), region: "us-east-1")
    static let signedAt = Date(timeIntervalSince1970: 1_796_000_000)  // 2026-11-30T00:53:20Z

    static func presigned(expires: Int) throws -> String {
        try signer.presign(method: "GET", scheme: "http", host: "127.0.0.1:8333", encodedPath: "/renders/jobs/j1/spec.json",
                           expires: expires, time: SigV4Time(signedAt)).url
    }

    @Test func expiryIsTheSigningTimePlusTheLifetime() throws {
        #expect(PresignedURLExpiry.expiry(of: try Self.presigned(expires: 3600)) == Self.signedAt.addingTimeInterval(3600))
        #expect(PresignedURLExpiry.expiry(of: try Self.presigned(expires: 1)) == Self.signedAt.addingTimeInterval(1))
        // Parameter names in any case; other parameters ignored.
        #expect(PresignedURLExpiry.expiry(of: "https://h/b/k?partNumber=2&x-amz-date=20000229T235959Z&X-AMZ-EXPIRES=61")
                == Date(timeIntervalSince1970: 951_868_799 + 61))
        #expect(PresignedURLExpiry.expiry(of: "https://h/b/k?X-Amz-Date=19700101T000000Z&X-Amz-Expires=0") == Date(timeIntervalSince1970: 0))
    }

    @Test func urlsWithoutAValidDateOrLifetimeHaveNoExpiry() {
        for url in ["https://h/b/k", "https://h/b/k?X-Amz-Date=20261129T005320Z", "https://h/b/k?X-Amz-Expires=60",
                    "https://h/b/k?X-Amz-Date=2026-11-29T00:53:20Z&X-Amz-Expires=60", "https://h/b/k?X-Amz-Date=20261329T005320Z&X-Amz-Expires=60",
                    "https://h/b/k?X-Amz-Date=20261129T005320Z&X-Amz-Expires=-5", "https://h/b/k?X-Amz-Date=20261129T005320Z&X-Amz-Expires=soon",
                    "not a url at all %%%"] {
            #expect(PresignedURLExpiry.expiry(of: url) == nil, "\(url)")
        }
    }

    @Test func anExpiredURLIsABadRequestNamingTheURLWithoutItsQueryTheStatusAndTheExpiry() throws {
        let url = try Self.presigned(expires: 60)
        let failure = WorkerRuntime.httpFailure("spec at", url: url, status: 403, body: "<Error><Code>AccessDenied</Code></Error>",
                                                now: Self.signedAt.addingTimeInterval(61))
        #expect(failure.type == .badRequest && !failure.isRetryable)
        #expect(failure.message.contains("spec at http://127.0.0.1:8333/renders/jobs/j1/spec.json failed: HTTP 403"), "\(failure.message)")
        #expect(failure.message.contains("expired at 2026-11-30T00:54:20Z"), "\(failure.message)")
        #expect(failure.message.contains("AccessDenied"))
        #expect(!failure.message.contains("X-Amz-Signature") && !failure.message.contains("X-Amz-Credential"), "no credentials in messages")

        // A 403 before the expiry is refused for another reason: no claim that it expired.
        let denied = WorkerRuntime.httpFailure("upload to", url: url, status: 403, body: "", now: Self.signedAt)
        #expect(denied.type == .badRequest && denied.message.contains("HTTP 403") && !denied.message.contains("expired"), "\(denied.message)")
        // Server trouble is worth another attempt; other client errors are not.
        #expect(WorkerRuntime.httpFailure("upload to", url: url, status: 503, body: "SlowDown", now: Self.signedAt).type == .retryable)
        #expect(WorkerRuntime.httpFailure("upload to", url: url, status: 429, body: "", now: Self.signedAt).type == .retryable)
        #expect(WorkerRuntime.httpFailure("spec at", url: url, status: 404, body: "", now: Self.signedAt).type == .badRequest)
    }
}
