import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import _CryptoExtras

/// Google ID tokens for calling a Cloud Run service, cached per audience until 5 minutes before they expire.
///
/// Where tokens come from (``Source/fromEnvironment(_:)``):
/// - the metadata server (on Google Cloud; `GCE_METADATA_HOST` overrides the host, as in Google's own libraries):
///   `GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=…&format=full` with
///   `Metadata-Flavor: Google`;
/// - a service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`): an RS256 JWT assertion signed with its key,
///   exchanged at its `token_uri` for an ID token with `target_audience`;
/// - none (`HELIOS_CLOUDRUN_AUTH=none`), for a local server without verification.
public actor GoogleIDTokenProvider {
    public enum Source: Sendable {
        case metadataServer(host: String)
        case serviceAccount(ServiceAccountKey)
        case none

        /// `HELIOS_CLOUDRUN_AUTH=none`, else `GOOGLE_APPLICATION_CREDENTIALS`, else the metadata server.
        public static func fromEnvironment(_ environment: [String: String]) throws(IDTokenError) -> Source {
            if environment["HELIOS_CLOUDRUN_AUTH"]?.lowercased() == "none" { return .none }
            if let path = environment["GOOGLE_APPLICATION_CREDENTIALS"], !path.isEmpty {
                return .serviceAccount(try ServiceAccountKey(contentsOf: URL(fileURLWithPath: path)))
            }
            let host = environment["GCE_METADATA_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "metadata.google.internal"
            return .metadataServer(host: host)
        }

        var name: String {
            switch self {
            case .metadataServer(let host): "the metadata server at \(host)"
            case .serviceAccount(let key): "service account \(key.clientEmail)"
            case .none: "no authentication"
            }
        }
    }

    /// Tokens are renewed this long before they expire.
    public static let refreshMargin: Int64 = 300

    public let source: Source
    let http: HTTPClient
    let now: @Sendable () -> Date
    let logger: Logger
    var cache: [String: (token: String, expiry: Int64)] = [:]
    var inFlight: [String: Task<(String, Int64), Error>] = [:]
    /// Tokens fetched (not served from the cache), for tests and logs.
    public private(set) var fetches = 0

    public init(source: Source, http: HTTPClient = CloudRunInvoker.client, now: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "helios.cloudrun.token")) {
        self.source = source
        self.http = http
        self.now = now
        self.logger = logger
    }

    /// A token for `audience` (nil without authentication): the cached one unless it expires within 5 minutes or
    /// `refresh` is set (the service answered 401). Concurrent callers share one fetch.
    public func token(audience: String, refresh: Bool = false) async throws(IDTokenError) -> String? {
        if case .none = source { return nil }
        let seconds = Int64(now().timeIntervalSince1970)
        if !refresh, let cached = cache[audience], seconds < cached.expiry - Self.refreshMargin { return cached.token }
        if refresh { cache[audience] = nil }
        let task: Task<(String, Int64), Error>
        if let running = inFlight[audience] { task = running } else {
            let source = source, http = http, now = now
            task = Task { try await Self.fetch(source: source, audience: audience, http: http, now: now) }
            inFlight[audience] = task
        }
        do {
            let (token, expiry) = try await task.value
            if inFlight[audience] == task { inFlight[audience] = nil; fetches += 1 }
            cache[audience] = (token, expiry)
            logger.debug("id token", metadata: ["audience": "\(audience)", "expiry": "\(expiry)", "source": "\(source.name)"])
            return token
        } catch {
            if inFlight[audience] == task { inFlight[audience] = nil }
            throw (error as? IDTokenError) ?? IDTokenError(.unavailable, "no ID token from \(source.name)", cause: "\(error)", retryable: true)
        }
    }

    static func fetch(source: Source, audience: String, http: HTTPClient, now: @Sendable () -> Date) async throws -> (String, Int64) {
        let token: String
        switch source {
        case .none: return ("", .max)
        case .metadataServer(let host):
            var components = URLComponents()
            components.scheme = "http"
            components.percentEncodedHost = host.split(separator: ":").first.map(String.init)
            components.port = host.split(separator: ":").dropFirst().first.flatMap { Int($0) }
            components.path = "/computeMetadata/v1/instance/service-accounts/default/identity"
            components.queryItems = [URLQueryItem(name: "audience", value: audience), URLQueryItem(name: "format", value: "full")]
            guard let url = components.url else { throw IDTokenError(.unavailable, "metadata host \(host) makes no URL") }
            var request = HTTPClientRequest(url: url.absoluteString)
            request.headers.add(name: "Metadata-Flavor", value: "Google")
            token = try await Self.text(of: request, from: "the metadata server at \(host)", http: http).trimmingCharacters(in: .whitespacesAndNewlines)
        case .serviceAccount(let key):
            let assertion = try key.assertion(audience: audience, now: Int64(now().timeIntervalSince1970))
            var request = HTTPClientRequest(url: key.tokenURI)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let form = "grant_type=\(Self.formEncoded("urn:ietf:params:oauth:grant-type:jwt-bearer"))&assertion=\(Self.formEncoded(assertion))"
            request.body = .bytes(ByteBuffer(string: form))
            let body = try await Self.text(of: request, from: key.tokenURI, http: http)
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let idToken = object["id_token"] as? String else {
                throw IDTokenError(.unavailable, "\(key.tokenURI) answered without an id_token: \(body.prefix(300))", retryable: true)
            }
            token = idToken
        }
        let parsed = try JSONWebToken(parsing: token)
        guard let expiry = parsed.expiry else { throw IDTokenError(.malformed, "the ID token from \(source.name) has no exp") }
        return (token, expiry)
    }

    static func text(of request: HTTPClientRequest, from name: String, http: HTTPClient) async throws -> String {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(30))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw IDTokenError(.unavailable, "cannot reach \(name)", cause: "\(error)", retryable: true)
        }
        guard response.status == .ok else {
            let code = Int(response.status.code)
            throw IDTokenError(.unavailable, "\(name) answered HTTP \(code): \(String(buffer: body).prefix(300))",
                               retryable: code >= 500 || code == 429)
        }
        return String(buffer: body)
    }

    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// A service-account key file (`"type": "service_account"`) as Google's console issues it.
public struct ServiceAccountKey: Sendable {
    public var clientEmail: String
    public var privateKeyID: String?
    public var tokenURI: String
    public let privateKey: _RSA.Signing.PrivateKey

    public init(contentsOf url: URL) throws(IDTokenError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw IDTokenError(.badKey, "cannot read the key file \(url.path)", cause: error.localizedDescription)
        }
        try self.init(json: data, name: url.path)
    }

    public init(json data: Data, name: String = "the key file") throws(IDTokenError) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw IDTokenError(.badKey, "\(name) is not a JSON object")
        }
        guard object["type"] as? String == "service_account", let email = object["client_email"] as? String,
              let pem = object["private_key"] as? String else {
            throw IDTokenError(.badKey, "\(name) is not a service-account key (type service_account, client_email, private_key)")
        }
        do { privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: pem) } catch {
            throw IDTokenError(.badKey, "the private key in \(name) is not an RSA key", cause: "\(error)")
        }
        clientEmail = email
        privateKeyID = object["private_key_id"] as? String
        tokenURI = object["token_uri"] as? String ?? "https://oauth2.googleapis.com/token"
    }

    /// The signed JWT assertion that asks the token endpoint for an ID token for `audience`. Pure but for signing.
    public func assertion(audience: String, now: Int64) throws(IDTokenError) -> String {
        try JSONWebToken.signRS256(
            claims: ["iss": .string(clientEmail), "sub": .string(clientEmail), "aud": .string(tokenURI), "iat": .integer(now),
                     "exp": .integer(now + 3600), "target_audience": .string(audience)],
            keyID: privateKeyID, key: privateKey)
    }
}

extension GoogleIDTokenProvider {
    /// Puts `token` in the cache for `audience` as if just fetched (tests: a token the service will refuse).
    func seed(audience: String, token: String, expiry: Int64 = .max) {
        cache[audience] = (token, expiry)
    }
}
