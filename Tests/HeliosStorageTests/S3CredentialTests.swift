import Foundation
import HeliosStorage
import HeliosTestSupport
import Testing

/// The credential chain's container endpoint, served on loopback, feeding a store that SeaweedFS accepts.
@Suite struct S3CredentialTests {
    @Test func containerEndpointCredentialsAreFetchedWithTheTokenCachedAndAccepted() async throws {
        let server = try await SeaweedFS.shared()
        let endpoint = try LoopbackResponder { head in
            guard head.hasPrefix("GET /v2/credentials/abc "),
                  head.lowercased().contains("\r\nauthorization: secret-token") else { return (401, "{}") }
            return (200, """
                {"AccessKeyId": "\(SeaweedFS.accessKey)", "SecretAccessKey": "\(SeaweedFS.secretKey)",
                 "Token": null, "Expiration": "2999-01-01T00:00:00Z"}
                """)
        }
        defer { endpoint.stop() }
        let environment = [
            "HOME": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(endpoint.url)/v2/credentials/abc",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "secret-token",
            "AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_REGION": SeaweedFS.region,
        ]
        let bucket = S3Fixture.bucketName("container")
        let store = S3ArtifactStore(configuration: try .fromEnvironment(bucket: bucket, environment: environment))
        try await store.createBucket()
        let key = try ArtifactKey("t/r/json/creds.json")
        _ = try await store.put(bytes: Array("{}".utf8), to: key)
        #expect(try await store.get(key) == Array("{}".utf8))
        #expect(endpoint.requestCount == 1, "credentials are cached until they near expiry")
        _ = try store.url(for: key, expiresIn: 60, method: .get)

        var wrongToken = environment
        wrongToken["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "other"
        let refused = S3ArtifactStore(configuration: try .fromEnvironment(bucket: bucket, environment: wrongToken))
        do {
            _ = try await refused.get(key)
            Issue.record("credentials were served without the token")
        } catch {
            #expect(error.code == .auth)
            #expect(error.httpStatus == 401)
        }
    }
}
