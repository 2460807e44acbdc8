import AsyncHTTPClient
import Foundation
import NIOCore

/// An access key pair, with a session token for temporary credentials.
public struct S3Credentials: Sendable, Hashable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary credentials stop working; nil for long-lived keys.
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

/// A source of credentials. The store asks before every request, so providers cache and refresh themselves.
public protocol S3CredentialProvider: Sendable {
    /// A short name for messages (`environment`, `shared file ~/.aws/credentials [default]`, ...).
    var name: String { get }
    /// The credentials, or nil if this source has none (so a chain tries the next). Throws when the source exists
    /// but is broken (a malformed file, an endpoint that fails).
    func credentials() async throws(StorageError) -> S3Credentials?
}

/// Fixed credentials (tests, explicit configuration).
public struct StaticCredentialProvider: S3CredentialProvider {
    public let value: S3Credentials
    public var name: String { "static" }
    public init(_ value: S3Credentials) { self.value = value }
    public func credentials() async throws(StorageError) -> S3Credentials? { value }
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: S3CredentialProvider {
    public let environment: [String: String]
    public var name: String { "environment (AWS_ACCESS_KEY_ID)" }
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) { self.environment = environment }

    public func credentials() async throws(StorageError) -> S3Credentials? { try resolve() }

    /// The credentials, read without waiting.
    public func resolve() throws(StorageError) -> S3Credentials? {
        let id = environment["AWS_ACCESS_KEY_ID"] ?? ""
        let secret = environment["AWS_SECRET_ACCESS_KEY"] ?? ""
        if id.isEmpty && secret.isEmpty { return nil }
        guard !id.isEmpty, !secret.isEmpty else {
            throw StorageError(.configuration, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }
}

/// The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`), profile
/// `AWS_PROFILE` (default `default`).
public struct SharedFileCredentialProvider: S3CredentialProvider {
    public let path: String
    public let profile: String
    public var name: String { "shared credentials file \(path) [\(profile)]" }

    public init(path: String, profile: String) {
        self.path = path
        self.profile = profile
    }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        self.init(path: environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials",
                  profile: environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default")
    }

    public func credentials() async throws(StorageError) -> S3Credentials? { try resolve() }

    /// The credentials, read without waiting.
    public func resolve() throws(StorageError) -> S3Credentials? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let sections = Self.parse(String(decoding: data, as: UTF8.self))
        guard let section = sections[profile] else { return nil }
        guard let id = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else {
            throw StorageError(.configuration,
                               "\(path): profile [\(profile)] lacks aws_access_key_id or aws_secret_access_key")
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: section["aws_session_token"])
    }

    /// INI sections → lower-cased keys → values; `#`/`;` comments and blank lines skipped. `[profile x]` is read
    /// as `x` (the config file's spelling).
    public static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                var name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let section = current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[section]?[key] = value
        }
        return sections
    }
}

/// The container credentials endpoint (ECS, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (under
/// `http://169.254.170.2`) or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN` or
/// `_TOKEN_FILE` as the `Authorization` header. Credentials are cached until five minutes before they expire.
public final class ContainerCredentialProvider: S3CredentialProvider, @unchecked Sendable {
    public let url: String?
    let environment: [String: String]
    let httpClient: HTTPClient
    private let lock = NSLock()
    private var cached: S3Credentials?

    public var name: String { "container credentials endpoint \(url ?? "(unset)")" }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient = .shared) {
        self.environment = environment
        self.httpClient = httpClient
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            url = full
        } else {
            url = nil
        }
    }

    private struct Answer: Decodable {
        var AccessKeyId: String
        var SecretAccessKey: String
        var Token: String?
        var Expiration: String?
    }

    public func credentials() async throws(StorageError) -> S3Credentials? {
        guard let url else { return nil }
        if let cached = lock.withLock({ cached }),
           cached.expiration.map({ $0.timeIntervalSinceNow > 300 }) ?? true {
            return cached
        }
        var request = HTTPClientRequest(url: url)
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !file.isEmpty {
            guard let token = FileManager.default.contents(atPath: file) else {
                throw StorageError(.configuration, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file)")
            }
            request.headers.add(name: "Authorization",
                                value: String(decoding: token, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !token.isEmpty {
            request.headers.add(name: "Authorization", value: token)
        }
        let body: ByteBuffer
        do {
            let response = try await httpClient.execute(request, timeout: .seconds(10))
            body = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code == 200 else {
                throw StorageError(.auth, "container credentials endpoint \(url) answered HTTP \(response.status.code)",
                                   httpStatus: Int(response.status.code))
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.auth, "container credentials endpoint \(url) failed: \(error)", underlying: error)
        }
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView))
        } catch {
            throw StorageError(.auth, "container credentials endpoint \(url) returned unreadable JSON", underlying: error)
        }
        let expiration = answer.Expiration.flatMap(InternetDate.parse)
        let credentials = S3Credentials(accessKeyID: answer.AccessKeyId, secretAccessKey: answer.SecretAccessKey,
                                        sessionToken: answer.Token, expiration: expiration)
        lock.withLock { cached = credentials }
        return credentials
    }
}

/// Tries providers in order; the first with credentials wins. The default chain is AWS's: environment, shared
/// file, container endpoint.
public struct CredentialProviderChain: S3CredentialProvider {
    public let providers: [any S3CredentialProvider]
    public var name: String { providers.map(\.name).joined(separator: ", ") }

    public init(_ providers: [any S3CredentialProvider]) { self.providers = providers }

    public static func `default`(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 httpClient: HTTPClient = .shared) -> CredentialProviderChain {
        CredentialProviderChain([
            EnvironmentCredentialProvider(environment: environment),
            SharedFileCredentialProvider(environment: environment),
            ContainerCredentialProvider(environment: environment, httpClient: httpClient),
        ])
    }

    public func credentials() async throws(StorageError) -> S3Credentials? {
        for provider in providers {
            if let found = try await provider.credentials() { return found }
        }
        return nil
    }

    /// The credentials, or an `.auth` error naming every source tried.
    public func require() async throws(StorageError) -> S3Credentials {
        guard let found = try await credentials() else {
            throw StorageError(.auth, "no S3 credentials found; tried: \(name)")
        }
        return found
    }
}
