import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// The keys behind a certs URL (`https://…`, `http://…` or `file://…`), fetched on first use and again when a token
/// names a `kid` the cached set lacks (Google rotates its keys), at most once per ``refetchInterval``.
public actor KeySetCache {
    /// Google's certificates for ID tokens, as a PEM map.
    public static let googleCertsURL = "https://www.googleapis.com/oauth2/v1/certs"

    public let url: String
    public let refetchInterval: Duration
    let http: HTTPClient
    var cached: KeySet?
    var fetchedAt: ContinuousClock.Instant?

    public init(url: String = KeySetCache.googleCertsURL, refetchInterval: Duration = .seconds(30), http: HTTPClient = .shared) {
        self.url = url
        self.refetchInterval = refetchInterval
        self.http = http
    }

    /// Verifies `token` with `verifier`, refetching the keys once if its `kid` is unknown.
    public func verify(_ token: String, with verifier: IDTokenVerifier, now: Date = Date()) async throws(IDTokenError) -> JSONWebToken {
        let keys = try await current(refresh: false)
        do { return try verifier.verify(token, keys: keys, now: now) } catch where error.code == .unknownKey {
            let stale = fetchedAt.map { ContinuousClock.now - $0 >= refetchInterval } ?? true
            guard stale else { throw error }
            return try verifier.verify(token, keys: try await current(refresh: true), now: now)
        }
    }

    /// The cached key set, fetched if there is none or `refresh` is set.
    public func current(refresh: Bool) async throws(IDTokenError) -> KeySet {
        if let cached, !refresh { return cached }
        let data = try await fetch()
        let keys = try KeySet(parsing: data)
        cached = keys
        fetchedAt = .now
        return keys
    }

    func fetch() async throws(IDTokenError) -> Data {
        if url.hasPrefix("file://") {
            let path = URL(string: url)?.path ?? String(url.dropFirst(7))
            do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw IDTokenError(.badKey, "cannot read the key set \(path)", cause: error.localizedDescription)
            }
        }
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else {
                throw IDTokenError(.unavailable, "\(url) answered HTTP \(response.status.code)", retryable: true)
            }
            return Data(buffer: body)
        } catch let error as IDTokenError {
            throw error
        } catch {
            throw IDTokenError(.unavailable, "cannot fetch the key set from \(url)", cause: "\(error)", retryable: true)
        }
    }
}
