import Foundation
import HeliosTestSupport
import HeliosWorkers
import Testing
import _CryptoExtras

/// `helios-worker serve --verify-id-token`: only requests bearing a valid RS256 ID token for the audience, from the
/// issuer, under a key from the certs URL, get past 401. Keys are served as a PEM map from a file:// URL.
@Suite(.serialized) struct TokenVerificationTests {
    static let audience = "https://render-test.a.run.app"
    static let issuer = "https://accounts.google.com"

    @Test("bad tokens get 401 (none, wrong audience, expired, unknown kid, alg none, tampered, wrong issuer); a good one reaches the worker")
    func badTokensAreRefused() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certs = directory.appendingPathComponent("certs.json")
        try JSONSerialization.data(withJSONObject: ["k1": key.publicKey.pemRepresentation]).write(to: certs)
        let server = try await WorkerServerProcess.built(
            ["--verify-id-token", "--audience", Self.audience, "--certs-url", certs.absoluteString], environment: ["HELIOS_HOME": directory.path])
        defer { server.stop() }

        let now = Int64(Date().timeIntervalSince1970)
        func claims(aud: String = Self.audience, iss: String = Self.issuer, exp: Int64 = now + 3600) -> [String: HeliosWorkers.JSONValue] {
            ["aud": .string(aud), "iss": .string(iss), "exp": .integer(exp), "iat": .integer(now - 10), "sub": "1234", "email": "orchestrator@test.iam.gserviceaccount.com"]
        }
        let good = try JSONWebToken.signRS256(claims: claims(), keyID: "k1", key: key)
        let parts = good.split(separator: ".")
        var tamperedClaims = claims()
        tamperedClaims["sub"] = "9999"
        let tamperedPayload = try JSONWebToken.signRS256(claims: tamperedClaims, keyID: "k1", key: other).split(separator: ".")[1]
        let none = Base64URL.encode(Data("{\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"JWT\"}".utf8)) + "." + parts[1] + "."
        let cases: [(String?, String)] = [
            (nil, "no bearer token"),
            (try JSONWebToken.signRS256(claims: claims(aud: "https://other.a.run.app"), keyID: "k1", key: key), "wrongAudience"),
            (try JSONWebToken.signRS256(claims: claims(exp: now - 600), keyID: "k1", key: key), "expired"),
            (try JSONWebToken.signRS256(claims: claims(), keyID: "k2", key: key), "unknownKey"),
            (try JSONWebToken.signRS256(claims: claims(), keyID: "k1", key: other), "badSignature"),
            (none, "unsupportedAlgorithm"),
            ("\(parts[0]).\(tamperedPayload).\(parts[2])", "badSignature"),
            (try JSONWebToken.signRS256(claims: claims(iss: "https://evil.example.com"), keyID: "k1", key: key), "wrongIssuer"),
            ("not-a-jwt", "malformed"),
        ]
        for (token, reason) in cases {
            let answer = try await exchange(server.url + "/v1/chunks", body: Data("{}".utf8),
                                            headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
            #expect(answer.status == 401, "\(reason)")
            #expect(answer.headers["www-authenticate"]?.contains("invalid_token") == true)
            #expect(answer.response?.error?.message.contains(reason) == true, "\(reason): \(String(decoding: answer.body, as: UTF8.self))")
        }
        // A valid token gets through to the worker, which refuses the empty request itself (400, not 401).
        let accepted = try await exchange(server.url + "/v1/chunks", body: Data("{}".utf8), headers: [("Authorization", "Bearer \(good)")])
        #expect(accepted.status == 400, "\(String(decoding: accepted.body, as: UTF8.self))")
        // /healthz needs no token.
        #expect(try await exchange(server.url + "/healthz", method: "GET").status == 200)
    }

    @Test("google-auth's own fetch_id_token, against the metadata stand-in, gets a token our server accepts (keys as Google's PEM certificate map)")
    func referenceClientTokenIsAccepted() async throws {
        let metadata = try await GooglePeer.metadata()
        defer { metadata.stop() }
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await WorkerServerProcess.built(
            ["--verify-id-token", "--audience", Self.audience, "--certs-url", metadata.pemCertsURL], environment: ["HELIOS_HOME": directory.path])
        defer { server.stop() }
        let token = try await GooglePeer.fetchIDToken(metadataHost: metadata.host, audience: Self.audience)
        let accepted = try await exchange(server.url + "/v1/chunks", body: Data("{}".utf8), headers: [("Authorization", "Bearer \(token)")])
        #expect(accepted.status == 400, "past the token check to the worker: \(String(decoding: accepted.body, as: UTF8.self))")
        // The same token for another audience is refused.
        let other = try await GooglePeer.fetchIDToken(metadataHost: metadata.host, audience: "https://other.a.run.app")
        #expect(try await exchange(server.url + "/v1/chunks", body: Data("{}".utf8), headers: [("Authorization", "Bearer \(other)")]).status == 401)
        // google-auth asked the stand-in as the issue records: root, service account, then identity with format=full.
        let identity = try await metadata.log().filter { $0["event"] as? String == "identity" }
        #expect(identity.count == 2 && identity.allSatisfy { $0["format"] as? String == "full" })
    }
}
