import Foundation
import Testing
import _CryptoExtras
@testable import HeliosWorkers

/// The pure cores of the Cloud Run path: JWT signing and checking, key sets, answers and backoff. No I/O.
@Suite struct CloudRunPureTests {
    static let key = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let audience = "https://render-abc-ew.a.run.app"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func claims(_ changes: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var claims: [String: JSONValue] = ["aud": .string(audience), "iss": "https://accounts.google.com", "iat": 1_799_999_990,
                                           "exp": 1_800_003_600, "sub": "1"]
        claims.merge(changes) { $1 }
        return claims
    }

    static var keys: KeySet { KeySet(keys: ["k1": key.publicKey]) }

    @Test("an RS256 token we sign verifies and round-trips its claims; base64url has no padding")
    func signAndVerify() throws {
        let token = try JSONWebToken.signRS256(claims: Self.claims(), keyID: "k1", key: Self.key)
        #expect(!token.contains("=") && !token.contains("+") && !token.contains("/"))
        let jwt = try IDTokenVerifier(audience: Self.audience).verify(token, keys: Self.keys, now: Self.now)
        #expect(jwt.audience == [Self.audience])
        #expect(jwt.expiry == 1_800_003_600)
        #expect(jwt.keyID == "k1")
        #expect(Base64URL.decode(Base64URL.encode(Data([0xFB, 0xFF, 0x01]))) == Data([0xFB, 0xFF, 0x01]))
        #expect(Base64URL.decode("a") == nil)
    }

    @Test("each bad token fails with its own code", arguments: [
        ("audience", IDTokenError.Code.wrongAudience), ("issuer", .wrongIssuer), ("expired", .expired), ("future", .notYetValid),
        ("kid", .unknownKey), ("none", .unsupportedAlgorithm), ("tampered", .badSignature), ("garbage", .malformed), ("noexp", .malformed),
    ])
    func badTokens(_ name: String, _ code: IDTokenError.Code) throws {
        let verifier = IDTokenVerifier(audience: Self.audience)
        let good = try JSONWebToken.signRS256(claims: Self.claims(), keyID: "k1", key: Self.key)
        let parts = good.split(separator: ".").map(String.init)
        let token: String = switch name {
        case "audience": try JSONWebToken.signRS256(claims: Self.claims(["aud": "https://other.a.run.app"]), keyID: "k1", key: Self.key)
        case "issuer": try JSONWebToken.signRS256(claims: Self.claims(["iss": "https://evil.example"]), keyID: "k1", key: Self.key)
        case "expired": try JSONWebToken.signRS256(claims: Self.claims(["exp": 1_799_999_900]), keyID: "k1", key: Self.key)
        case "future": try JSONWebToken.signRS256(claims: Self.claims(["iat": 1_800_000_100]), keyID: "k1", key: Self.key)
        case "kid": try JSONWebToken.signRS256(claims: Self.claims(), keyID: "k2", key: Self.key)
        case "none": Base64URL.encode(Data("{\"alg\":\"none\",\"kid\":\"k1\"}".utf8)) + "." + parts[1] + "."
        case "tampered": parts[0] + "." + Base64URL.encode(Data("{\"aud\":\"\(Self.audience)\",\"exp\":1800003600,\"iss\":\"https://accounts.google.com\",\"sub\":\"2\"}".utf8)) + "." + parts[2]
        case "noexp":
            try JSONWebToken.signRS256(claims: Self.claims().filter { $0.key != "exp" }, keyID: "k1", key: Self.key)
        default: "a.b"
        }
        #expect(throws: IDTokenError.self) { try verifier.verify(token, keys: Self.keys, now: Self.now) }
        do { _ = try verifier.verify(token, keys: Self.keys, now: Self.now) } catch { #expect(error.code == code, "\(error)") }
    }

    @Test("expiry allows the verifier's leeway and no more")
    func leeway() throws {
        let token = try JSONWebToken.signRS256(claims: Self.claims(["exp": 1_800_000_000]), keyID: "k1", key: Self.key)
        let verifier = IDTokenVerifier(audience: Self.audience, leewaySeconds: 30)
        _ = try verifier.verify(token, keys: Self.keys, now: Self.now.addingTimeInterval(29))
        #expect(throws: IDTokenError.self) { try verifier.verify(token, keys: Self.keys, now: Self.now.addingTimeInterval(30)) }
    }

    @Test("a JWKS and a public-key PEM map give the same key; a set without RSA keys is refused")
    func keySets() throws {
        let token = try JSONWebToken.signRS256(claims: Self.claims(), keyID: "k1", key: Self.key)
        let verifier = IDTokenVerifier(audience: Self.audience)
        // n and e from the DER of the public key (RSAPublicKey inside SubjectPublicKeyInfo), as a JWKS carries them.
        let (n, e) = try #require(Self.modulusAndExponent(Self.key.publicKey))
        let jwks = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"x\"},{\"kty\":\"RSA\",\"kid\":\"k1\",\"alg\":\"RS256\",\"n\":\"\(Base64URL.encode(n))\",\"e\":\"\(Base64URL.encode(e))\"}]}"
        _ = try verifier.verify(token, keys: try KeySet(parsing: Data(jwks.utf8)), now: Self.now)
        let pemMap = try JSONSerialization.data(withJSONObject: ["k1": Self.key.publicKey.pemRepresentation])
        _ = try verifier.verify(token, keys: try KeySet(parsing: pemMap), now: Self.now)
        #expect(throws: IDTokenError.self) { try KeySet(parsing: Data("{\"keys\":[]}".utf8)) }
        #expect(throws: IDTokenError.self) { try KeySet(parsing: Data("[1]".utf8)) }
    }

    /// (modulus, exponent) from PKCS#1 RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER } inside the SPKI's BIT STRING.
    static func modulusAndExponent(_ key: _RSA.Signing.PublicKey) -> (Data, Data)? {
        let spki = [UInt8](key.derRepresentation)
        guard let outer = DER.element(spki, at: 0), let algorithm = DER.element(spki, at: outer.header) else { return nil }
        let bitString = outer.header + algorithm.header + algorithm.length
        guard let bits = DER.element(spki, at: bitString) else { return nil }
        let sequence = bitString + bits.header + 1
        guard let rsa = DER.element(spki, at: sequence), let n = DER.element(spki, at: sequence + rsa.header) else { return nil }
        let nStart = sequence + rsa.header + n.header
        guard let e = DER.element(spki, at: nStart + n.length) else { return nil }
        let eStart = nStart + n.length + e.header
        return (Data(spki[nStart..<(nStart + n.length)]), Data(spki[eStart..<(eStart + e.length)]))
    }

    @Test("answers: 200/400 carry a chunk response; 401 asks for a refresh; 403 names the IAM role; 429 throttles; 5xx are resent")
    func answers() throws {
        let failed = ChunkResponse.failure(WorkerFailure(.deterministic, "exit 3")).encodedWithinLimit()
        #expect(try CloudRunInvoker.interpret(status: 200, payload: failed, retryAfter: nil, chunk: "c", service: "s").error?.type == .deterministic)
        func error(_ status: Int, _ body: String = "", retryAfter: Duration? = nil) -> CloudRunInvokeError? {
            do { _ = try CloudRunInvoker.interpret(status: status, payload: Data(body.utf8), retryAfter: retryAfter, chunk: "c", service: "s"); return nil } catch { return error }
        }
        #expect(error(200, "<html>")?.failure.type == .retryable)
        #expect(error(401)?.unauthorized == true)
        #expect(error(403)?.failure.message.contains("roles/run.invoker") == true)
        #expect(error(403)?.resendable == false)
        let throttled = error(429, retryAfter: .seconds(4))
        #expect(throttled?.throttled == true && throttled?.resendable == true && throttled?.retryAfter == .seconds(4))
        for status in [500, 502, 503, 504] { #expect(error(status)?.resendable == true) }
        #expect(error(404)?.failure.type == .badRequest)
        #expect(error(413)?.resendable == false)
    }

    @Test("backoff doubles from the base up to the cap, jitter adds up to as much again, and Retry-After is a floor")
    func backoff() {
        let policy = ResendPolicy(maximumResends: 4, base: .milliseconds(500), cap: .seconds(3))
        #expect(policy.delay(resend: 1, retryAfter: nil, jitter: 0) == .milliseconds(500))
        #expect(policy.delay(resend: 2, retryAfter: nil, jitter: 0) == .seconds(1))
        #expect(policy.delay(resend: 3, retryAfter: nil, jitter: 0.5) == .seconds(3))
        #expect(policy.delay(resend: 9, retryAfter: nil, jitter: 0.99) < .seconds(6))
        #expect(policy.delay(resend: 1, retryAfter: .seconds(10), jitter: 0.5) == .seconds(10))
        #expect(CloudRunInvoker.audience(of: URL(string: "https://render-x.a.run.app/some/path")!) == "https://render-x.a.run.app")
    }

    @Test("the X.509 walk finds the SubjectPublicKeyInfo; garbage is refused")
    func certificates() throws {
        #expect(DER.subjectPublicKeyInfo(ofCertificate: Data([0x30, 0x03, 0x02, 0x01, 0x00])) == nil)
        #expect(throws: IDTokenError.self) { try KeySet.publicKey(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", name: "x") }
    }
}
