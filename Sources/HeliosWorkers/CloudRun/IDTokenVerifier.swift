import Foundation
import _CryptoExtras

/// Checks a Google-style OIDC ID token: RS256 only, a known `kid`, a valid signature, the expected audience and
/// issuer, and `exp`/`iat` against `now` with a small leeway. Pure: keys and time are inputs.
public struct IDTokenVerifier: Sendable {
    /// Google's ID-token issuers (both spellings appear in its tokens).
    public static let googleIssuers = ["https://accounts.google.com", "accounts.google.com"]

    public var audience: String
    public var issuers: [String]
    /// Clock skew allowed on `exp` and `iat`.
    public var leewaySeconds: Int64

    public init(audience: String, issuers: [String] = IDTokenVerifier.googleIssuers, leewaySeconds: Int64 = 30) {
        self.audience = audience
        self.issuers = issuers
        self.leewaySeconds = leewaySeconds
    }

    /// The token's claims if it passes every check; else the first check it fails.
    public func verify(_ token: String, keys: KeySet, now: Date) throws(IDTokenError) -> JSONWebToken {
        let jwt = try JSONWebToken(parsing: token)
        guard jwt.algorithm == "RS256" else {
            throw IDTokenError(.unsupportedAlgorithm, "alg \(jwt.algorithm ?? "missing") is not RS256")
        }
        guard let kid = jwt.keyID, let key = keys.keys[kid] else {
            throw IDTokenError(.unknownKey, "no key with kid \(jwt.keyID ?? "(none)")", retryable: true)
        }
        guard jwt.hasValidRS256Signature(key) else { throw IDTokenError(.badSignature, "the signature does not verify under kid \(kid)") }
        guard jwt.audience.contains(audience) else {
            throw IDTokenError(.wrongAudience, "audience \(jwt.audience) is not \(audience)")
        }
        guard let issuer = jwt.issuer, issuers.contains(issuer) else {
            throw IDTokenError(.wrongIssuer, "issuer \(jwt.issuer ?? "missing") is not one of \(issuers)")
        }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard let expiry = jwt.expiry else { throw IDTokenError(.malformed, "the token has no exp") }
        guard seconds < expiry + leewaySeconds else { throw IDTokenError(.expired, "expired at \(expiry), now \(seconds)") }
        if let issued = jwt.issuedAt, issued > seconds + leewaySeconds {
            throw IDTokenError(.notYetValid, "issued at \(issued), in the future (now \(seconds))")
        }
        if let notBefore = jwt.notBefore, notBefore > seconds + leewaySeconds {
            throw IDTokenError(.notYetValid, "not valid before \(notBefore) (now \(seconds))")
        }
        return jwt
    }
}

/// Public keys by `kid`, parsed from what a certs URL serves: a JWKS (`{"keys":[{"kid","kty":"RSA","n","e"}]}`, as
/// Google's `oauth2/v3/certs`) or a PEM map (`{"kid": "-----BEGIN CERTIFICATE-----…"}`, as `oauth2/v1/certs`; public
/// key PEMs are taken too). Pure.
public struct KeySet: Sendable {
    public var keys: [String: _RSA.Signing.PublicKey]

    public init(keys: [String: _RSA.Signing.PublicKey]) { self.keys = keys }

    public init(parsing data: Data) throws(IDTokenError) {
        guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw IDTokenError(.badKey, "the key set is not a JSON object")
        }
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        if case .array(let entries)? = root["keys"] {
            for case .object(let jwk) in entries {
                guard jwk["kty"]?.string == "RSA", let kid = jwk["kid"]?.string,
                      let n = jwk["n"]?.string.flatMap(Base64URL.decode), let e = jwk["e"]?.string.flatMap(Base64URL.decode) else { continue }
                do { keys[kid] = try _RSA.Signing.PublicKey(n: n, e: e) } catch {
                    throw IDTokenError(.badKey, "JWK \(kid) is not a usable RSA key", cause: "\(error)")
                }
            }
        } else {
            for (kid, value) in root {
                guard let pem = value.string else { continue }
                keys[kid] = try Self.publicKey(pem: pem, name: kid)
            }
        }
        guard !keys.isEmpty else { throw IDTokenError(.badKey, "the key set holds no RSA key") }
        self.keys = keys
    }

    /// An RSA public key from a `CERTIFICATE`, `PUBLIC KEY` or `RSA PUBLIC KEY` PEM block.
    public static func publicKey(pem: String, name: String) throws(IDTokenError) -> _RSA.Signing.PublicKey {
        do {
            if pem.contains("-----BEGIN CERTIFICATE-----") {
                let body = pem.components(separatedBy: "\n").filter { !$0.hasPrefix("-----") }.joined()
                guard let der = Data(base64Encoded: body.trimmingCharacters(in: .whitespacesAndNewlines)),
                      let spki = DER.subjectPublicKeyInfo(ofCertificate: der) else {
                    throw IDTokenError(.badKey, "certificate \(name) cannot be read")
                }
                return try _RSA.Signing.PublicKey(derRepresentation: spki)
            }
            return try _RSA.Signing.PublicKey(pemRepresentation: pem)
        } catch let error as IDTokenError {
            throw error
        } catch {
            throw IDTokenError(.badKey, "key \(name) is not a usable RSA public key", cause: "\(error)")
        }
    }
}

/// Just enough DER to find an X.509 certificate's SubjectPublicKeyInfo. Pure.
enum DER {
    /// (tag, header length, content length) of the element at `offset`.
    static func element(_ bytes: [UInt8], at offset: Int) -> (tag: UInt8, header: Int, length: Int)? {
        guard offset + 2 <= bytes.count else { return nil }
        let tag = bytes[offset]
        let first = Int(bytes[offset + 1])
        if first < 0x80 { return offset + 2 + first <= bytes.count ? (tag, 2, first) : nil }
        let count = first & 0x7F
        guard (1...4).contains(count), offset + 2 + count <= bytes.count else { return nil }
        var length = 0
        for index in 0..<count { length = length << 8 | Int(bytes[offset + 2 + index]) }
        return offset + 2 + count + length <= bytes.count ? (tag, 2 + count, length) : nil
    }

    /// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial, signature, issuer, validity,
    /// subject, subjectPublicKeyInfo, … }, … }: the SPKI element's bytes.
    static func subjectPublicKeyInfo(ofCertificate der: Data) -> Data? {
        let bytes = [UInt8](der)
        guard let certificate = element(bytes, at: 0), certificate.tag == 0x30,
              let tbs = element(bytes, at: certificate.header), tbs.tag == 0x30 else { return nil }
        var offset = certificate.header + tbs.header
        guard let first = element(bytes, at: offset) else { return nil }
        if first.tag == 0xA0 { offset += first.header + first.length }
        // serialNumber, signature, issuer, validity, subject
        for _ in 0..<5 {
            guard let skipped = element(bytes, at: offset) else { return nil }
            offset += skipped.header + skipped.length
        }
        guard let spki = element(bytes, at: offset), spki.tag == 0x30 else { return nil }
        return Data(bytes[offset..<(offset + spki.header + spki.length)])
    }
}
