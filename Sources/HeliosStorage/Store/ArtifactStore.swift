import Foundation

/// Options for a write.
public struct PutOptions: Sendable {
    /// Defaults to the content type of the key's extension.
    public var contentType: String?
    /// User metadata; keys are lower-cased. `sha256` is reserved (the store sets it).
    public var metadata: [String: String]
    /// Create-only: fail with `.alreadyExists` if the key exists (atomic against racing writers).
    public var ifAbsent: Bool
    /// Bytes sent so far and the total, for a progress bar; called from any task.
    public var progress: (@Sendable (TransferProgress) -> Void)?

    public init(contentType: String? = nil, metadata: [String: String] = [:], ifAbsent: Bool = false,
                progress: (@Sendable (TransferProgress) -> Void)? = nil) {
        self.contentType = contentType
        self.metadata = metadata
        self.ifAbsent = ifAbsent
        self.progress = progress
    }
}

/// An upload's or download's state and bytes moved.
public struct TransferProgress: Sendable, Hashable {
    public enum State: String, Sendable, Codable { case pending, uploading, downloading, complete, failed }
    public var key: ArtifactKey
    public var state: State
    public var bytes: Int64
    public var total: Int64
    public init(key: ArtifactKey, state: State, bytes: Int64, total: Int64) {
        self.key = key
        self.state = state
        self.bytes = bytes
        self.total = total
    }
}

/// The HTTP method a presigned URL allows.
public enum URLMethod: String, Sendable, CaseIterable { case get = "GET", put = "PUT" }

/// A place every worker and the orchestrator can reach: the local file system by default, S3 by opt-in.
///
/// Every method names its key in the errors it throws (``StorageError``). Implementations are safe to call
/// from many tasks at once.
public protocol ArtifactStore: Sendable {
    /// `local`, `s3` or `memory`.
    var backend: String { get }

    /// The URI of `key` in this store (`file:///…`, `s3://bucket/key`, `memory://…`).
    func uri(for key: ArtifactKey) -> String

    /// Stores the file at `file`, streamed (never loaded whole), with its SHA-256 recorded.
    func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata

    /// Stores `bytes`.
    func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata

    /// The object's bytes, for small objects.
    func get(_ key: ArtifactKey) async throws(StorageError) -> [UInt8]

    /// Streams the object into a temp file beside `destination`, verifies its SHA-256 (when recorded) and size,
    /// then renames it into place. Nothing is left at `destination` on failure.
    func download(_ key: ArtifactKey, to destination: URL,
                  progress: (@Sendable (TransferProgress) -> Void)?) async throws(StorageError) -> ArtifactMetadata

    func exists(_ key: ArtifactKey) async throws(StorageError) -> Bool

    /// Throws `.notFound` for a missing key.
    func metadata(_ key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata

    /// Deletes the object; deleting a missing key is not an error. Returns whether it existed (when the backend knows).
    @discardableResult
    func delete(_ key: ArtifactKey) async throws(StorageError) -> Bool

    /// The objects under `prefix` (nil: everything), in key order, fetched page by page.
    /// Non-recursive listing returns only objects directly under the prefix.
    func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing

    /// A URL that grants `method` on `key` for `expiresIn` seconds (presigned on S3; `file://` locally).
    func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL
}

extension ArtifactStore {
    /// Whether `key` exists: its metadata (a HEAD on S3) is found. Stores with a cheaper check override it.
    public func exists(_ key: ArtifactKey) async throws(StorageError) -> Bool {
        do {
            _ = try await metadata(key)
            return true
        } catch where error.code == .notFound {
            return false
        }
    }

    public func put(file: URL, to key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata {
        try await put(file: file, to: key, options: PutOptions())
    }
    public func put(bytes: [UInt8], to key: ArtifactKey) async throws(StorageError) -> ArtifactMetadata {
        try await put(bytes: bytes, to: key, options: PutOptions())
    }
    public func download(_ key: ArtifactKey, to destination: URL) async throws(StorageError) -> ArtifactMetadata {
        try await download(key, to: destination, progress: nil)
    }
    public func list(prefix: ArtifactKey?) -> ArtifactListing { list(prefix: prefix, recursive: true) }
}

/// Progress of listings: a task that sets ``observer`` hears, after each page any listing in it fetches, how many
/// objects and bytes that listing has yielded so far. A CLI sets it to draw progress for long walks
/// (`ls`, usage, cleanup) without every store or maintenance function taking a callback.
public enum ListingProgress {
    @TaskLocal public static var observer: Observer?

    /// Hears a listing's running totals. A struct, not a bare closure: a task-local whose value is an optional
    /// function type crashed optimized builds (Swift 6.3.1) in `swift_task_localValuePush`, which was handed a bad
    /// type for the value, while debug builds and the tests ran fine.
    public struct Observer: Sendable {
        public let report: @Sendable (_ objects: Int, _ bytes: Int64) -> Void
        public init(_ report: @escaping @Sendable (_ objects: Int, _ bytes: Int64) -> Void) { self.report = report }
    }
}

/// A paged listing: an `AsyncSequence` of metadata that asks its store for one page at a time, so 100,000 keys
/// never sit in memory.
public struct ArtifactListing: AsyncSequence, Sendable {
    public typealias Element = ArtifactMetadata
    public typealias Failure = StorageError
    /// One page and the token for the next (nil at the end).
    public typealias Page = (items: [ArtifactMetadata], next: String?)
    /// Fetches the page after `token` (nil: the first).
    public let fetchPage: @Sendable (_ token: String?) async throws(StorageError) -> Page

    public init(fetchPage: @escaping @Sendable (_ token: String?) async throws(StorageError) -> Page) {
        self.fetchPage = fetchPage
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let fetchPage: @Sendable (String?) async throws(StorageError) -> Page
        var buffer: [ArtifactMetadata] = []
        var index = 0
        var token: String?
        var finished = false
        var objects = 0
        var bytes: Int64 = 0

        public mutating func next() async throws(StorageError) -> ArtifactMetadata? {
            while index == buffer.count {
                if finished { return nil }
                let page = try await fetchPage(token)
                buffer = page.items
                index = 0
                token = page.next
                finished = page.next == nil
                objects += page.items.count
                bytes += page.items.reduce(0) { $0 + $1.size }
                ListingProgress.observer?.report(objects, bytes)
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(fetchPage: fetchPage) }
}
