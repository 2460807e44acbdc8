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

    @Test func environmentCredentialsPresignWithoutARequest() throws {
        let environment = ["AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok/en+",
                           "HOME": "/nonexistent", "AWS_REGION": "eu-west-1"]
        let store = S3ArtifactStore(configuration: try .fromEnvironment(bucket: "helios-art", environment: environment))
        let url = try store.url(for: try ArtifactKey("t/r/video/a.mp4"), expiresIn: 60, method: .put).absoluteString
        #expect(url.hasPrefix("https://helios-art.s3.eu-west-1.amazonaws.com/t/r/video/a.mp4?"))
        #expect(url.contains("X-Amz-Credential=AKENV%2F"))
        #expect(url.contains("X-Amz-Security-Token=tok%2Fen%2B"))
        let container = S3ArtifactStore(configuration: try .fromEnvironment(bucket: "helios-art", environment: [
            "HOME": "/nonexistent", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds"]))
        #expect(throws: StorageError.self) { try container.url(for: try ArtifactKey("a"), expiresIn: 60, method: .get) }
    }
}
