import Crypto
import Foundation
import _CryptoExtras

/// Why a token was refused, or could not be made. One error shape for the OIDC domain: a code, a message, an optional
/// cause, and whether trying again (with a fresh token or refreshed keys) can help.
public struct IDTokenError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// Not three base64url parts of JSON.
        case malformed
        /// `alg` is not RS256 (`none` included).
        case unsupportedAlgorithm
        /// No key with the token's `kid`.
        case unknownKey
        /// The signature does not verify.
        case badSignature
        case wrongAudience
        case wrongIssuer
        case expired
        /// `iat`/`nbf` lie in the future.
        case notYetValid
        /// A key, key set or key file cannot be read.
        case badKey
        /// The token source (metadata server, token endpoint, certs URL) failed.
        case unavailable
    }

    public var code: Code
    public var message: String
    public var cause: String?
    public var retryable: Bool

    public init(_ code: Code, _ message: String, cause: String? = nil, retryable: Bool = false) {
        self.code = code
        self.message = message
        self.cause = cause
        self.retryable = retryable
    }

    public var description: String { "\(code.rawValue): \(message)" + (cause.map { " (\($0))" } ?? "") }
}

/// A compact JWS (`header.payload.signature`), split and decoded but not trusted. Pure.
public struct JSONWebToken: Sendable, Hashable {
    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]
    /// `header.payload` exactly as received: what the signature covers.
    public var signingInput: String
    public var signature: Data

    /// Splits and decodes `token`; checks nothing but its shape.
    public init(parsing token: String) throws(IDTokenError) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw IDTokenError(.malformed, "a JWT has 3 dot-separated parts, this has \(parts.count)") }
        guard let headerData = Base64URL.decode(parts[0]), let payloadData = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            throw IDTokenError(.malformed, "a part is not base64url")
        }
        guard case .object(let header)? = try? JSONDecoder().decode(JSONValue.self, from: headerData),
              case .object(let claims)? = try? JSONDecoder().decode(JSONValue.self, from: payloadData) else {
            throw IDTokenError(.malformed, "the header or the payload is not a JSON object")
        }
        self.header = header
        self.claims = claims
        self.signingInput = "\(parts[0]).\(parts[1])"
        self.signature = signature
    }

    public var algorithm: String? { header["alg"]?.string }
    public var keyID: String? { header["kid"]?.string }
    public var audience: [String] {
        switch claims["aud"] {
        case .string(let one)?: [one]
        case .array(let many)?: many.compactMap(\.string)
        default: []
        }
    }
    public var issuer: String? { claims["iss"]?.string }
    /// `exp`, seconds since the epoch.
    public var expiry: Int64? { claims["exp"]?.integer }
    public var issuedAt: Int64? { claims["iat"]?.integer }
    public var notBefore: Int64? { claims["nbf"]?.integer }

    /// Signs `claims` with RS256 under `keyID`: `base64url(header).base64url(claims).base64url(signature)`.
    /// Keys are sorted, so the same input always gives the same token.
    public static func signRS256(claims: [String: JSONValue], keyID: String?, key: _RSA.Signing.PrivateKey) throws(IDTokenError) -> String {
        var header: [String: JSONValue] = ["alg": "RS256", "typ": "JWT"]
        if let keyID { header["kid"] = .string(keyID) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let input: String
        do {
            input = Base64URL.encode(try encoder.encode(JSONValue.object(header))) + "." + Base64URL.encode(try encoder.encode(JSONValue.object(claims)))
        } catch { throw IDTokenError(.malformed, "claims cannot be encoded", cause: "\(error)") }
        do {
            let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
            return input + "." + Base64URL.encode(signature.rawRepresentation)
        } catch { throw IDTokenError(.badKey, "RS256 signing failed", cause: "\(error)") }
    }

    /// Whether the RS256 signature verifies under `key`.
    public func hasValidRS256Signature(_ key: _RSA.Signing.PublicKey) -> Bool {
        key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
    }
}

/// base64url without padding (RFC 7515 §2). Pure.
public enum Base64URL {
    public static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("=") else { return nil }
        switch base64.count % 4 {
        case 0: break
        case 2: base64 += "=="
        case 3: base64 += "="
        default: return nil
        }
        return Data(base64Encoded: base64)
    }
}

/// A JSON value, for JWT headers and claims whose fields vary.
public enum JSONValue: Codable, Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }

    public var string: String? { if case .string(let value) = self { value } else { nil } }
    /// An integer, also from a whole JSON number written with a fraction (`1.7e9`).
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value) where value.rounded() == value && abs(value) < 9e15: Int64(value)
        default: nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}
