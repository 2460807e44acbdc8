import Crypto
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The default store: a directory on the local file system, `$HELIOS_HOME/artifacts` unless told otherwise.
///
/// Layout under the root: `objects/<key>` holds the content (so an object's URI is `file://ROOT/objects/KEY`),
/// `meta/<key>` a JSON sidecar with the SHA-256, size, content type and user metadata (a parallel tree, so no key
/// can collide with a sidecar), `tmp/` the files being written, `locks/` 256 lock stripes.
///
/// - Writes go to a temp file, fsync, rename into place, fsync of the directory; the sidecar likewise. Object
///   and sidecar are committed (and read) under a per-key stripe lock (`flock`), so readers never see one
///   writer's object with another's sidecar, and concurrent writers never produce a torn object.
/// - `ifAbsent` commits with `link()`, which fails atomically if the name exists: of racing creators, in any
///   number of processes, exactly one wins and the others get `.alreadyExists`.
/// - Every path below the root is walked with `openat(O_NOFOLLOW)`: a symlink planted inside the root is never
///   followed, for reads, writes, listings or deletes (`.outsideScope`).
/// - Temp files are `flock`ed by their writer; those left by a crashed process are swept when a store opens.
public struct LocalArtifactStore: ArtifactStore {
    /// The store's directory.
    public let root: URL
    /// Objects per listing page.
    public let listPageSize: Int
    public var backend: String { "local" }
    let logger = Logger(label: "helios.storage.local")

    /// `$HELIOS_HOME/artifacts`, else `~/.helios/artifacts` (the same home the `helios job` store uses).
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        heliosHome(environment: environment).appendingPathComponent("artifacts", isDirectory: true)
    }

    /// `$HELIOS_HOME`, else `~/.helios`.
    public static func heliosHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let home = environment["HELIOS_HOME"], !home.isEmpty {
            return URL(fileURLWithPath: (home as NSString).expandingTildeInPath, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".helios", isDirectory: true)
    }

    /// Opens (creating if needed) the store at `root` and sweeps temp files abandoned by crashed writers.
    public init(root: URL = LocalArtifactStore.defaultRoot(), listPageSize: Int = 1000) throws(StorageError) {
        self.root = root.standardizedFileURL
        self.listPageSize = max(1, listPageSize)
        let layout = try Layout.open(self.root)
        layout.close()
        _ = try? sweepTemporaryFiles(olderThan: 60)
    }

    /// The directory objects live in; `file://` URIs of this store start with it.
    public var objectsDirectory: URL { root.appendingPathComponent("objects", isDirectory: true) }

    public func uri(for key: ArtifactKey) -> String { fileURL(for: key).absoluteString }

    func fileURL(for key: ArtifactKey) -> URL {
        URL(fileURLWithPath: objectsDirectory.path + "/" + key.rawValue, isDirectory: false)
    }

    /// A `file://` URL of the object. Presigning means nothing locally, but the expiry is checked as S3 would.
    public func url(for key: ArtifactKey, expiresIn: Int, method: URLMethod) throws(StorageError) -> URL {
        try ArtifactURLExpiry.validate(expiresIn, key: key)
        return fileURL(for: key)
    }

    public func put(file: URL, to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        try await Blocking.run { cancellation throws(StorageError) in
            let source = open(file.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard source >= 0 else {
                throw POSIX.failure("cannot read \(file.path)", key: key.rawValue, code: errno == ENOENT ? .notFound : .io)
            }
            defer { close(source) }
            var info = stat()
            guard fstat(source, &info) == 0, info.st_mode & POSIX.formatMask == POSIX.regular else {
                throw StorageError(.invalidRequest, "\(file.path) is not a regular file", key: key.rawValue)
            }
            _ = fcntl(source, F_SETFL, fcntl(source, F_GETFL) & ~O_NONBLOCK)
            return try write(key: key, options: options, total: Int64(info.st_size), cancellation: cancellation) { buffer throws(StorageError) in
                let got = POSIX.readSome(source, buffer.baseAddress!, buffer.count)
                if got < 0 { throw POSIX.failure("cannot read \(file.path)", key: key.rawValue) }
                return got
            }
        }
    }

    public func put(bytes: [UInt8], to key: ArtifactKey, options: PutOptions) async throws(StorageError) -> ArtifactMetadata {
        try await Blocking.run { cancellation throws(StorageError) in
            var offset = 0
            return try write(key: key, options: options, total: Int64(bytes.count), cancellation: cancellation) { buffer in
                let count = min(buffer.count, bytes.count - offset)
                bytes.withUnsafeBytes { source in
                    buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
                }
                offset += count
                return count
            }
        }
    }

    /// Streams `read` (which fills a buffer and returns the byte count, 0 at the end) into a temp file, hashing it,
    /// then commits it and its sidecar under `key`.
    private func write(key: ArtifactKey, options: PutOptions, total: Int64, cancellation: Blocking.Cancellation,
                       read: (UnsafeMutableRawBufferPointer) throws(StorageError) -> Int) throws(StorageError) -> ArtifactMetadata {
        let userMetadata = try UserMetadata.normalize(options.metadata, key: key)
        let layout = try Layout.open(root)
        defer { layout.close() }
        let objectName = POSIX.temporaryName("object"), sidecarName = POSIX.temporaryName("meta")
        let out = openat(layout.tmp, objectName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw POSIX.failure("cannot create a temp file in \(root.path)/tmp", key: key.rawValue) }
        _ = flock(out, LOCK_EX)  // marks the temp file as live for the crash sweeper
        var committed = false
        defer {
            close(out)
            if !committed { unlinkat(layout.tmp, objectName, 0) }
            unlinkat(layout.tmp, sidecarName, 0)
        }
        options.progress?(TransferProgress(key: key, state: .uploading, bytes: 0, total: total))
        var hasher = SHA256()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            try cancellation.check("writing \(key)", key: key.rawValue)
            let got = try read(buffer)
            if got == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            hasher.update(bufferPointer: chunk)
            guard POSIX.writeAll(out, chunk) else { throw POSIX.failure("cannot write the temp file for \(key)", key: key.rawValue) }
            size += Int64(got)
            options.progress?(TransferProgress(key: key, state: .uploading, bytes: size, total: max(total, size)))
        }
        guard fsync(out) == 0 else { throw POSIX.failure("cannot fsync the temp file for \(key)", key: key.rawValue) }
        let sidecar = Sidecar(size: size, sha256: POSIX.hex(hasher.finalize()),
                              contentType: options.contentType ?? key.contentType, metadata: userMetadata)
        guard POSIX.writeNewFile(sidecarName, in: layout.tmp, bytes: sidecar.encoded()) else {
            throw POSIX.failure("cannot write the metadata of \(key)", key: key.rawValue)
        }
        try commit(key: key, layout: layout, objectName: objectName, sidecarName: sidecarName, ifAbsent: options.ifAbsent)
        committed = true
        var info = stat()
        let modified = fstat(out, &info) == 0 ? Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec)) : Date()
        options.progress?(TransferProgress(key: key, state: .complete, bytes: size, total: size))
        logger.debug("stored \(key) (\(size) bytes)")
        return sidecar.metadata(for: key, store: self, size: size, modified: modified)
    }

    /// Moves the temp object and sidecar into place under the key's stripe lock. With `ifAbsent` the object is
    /// linked, not renamed, so an existing name fails atomically with EEXIST.
    private func commit(key: ArtifactKey, layout: Layout, objectName: String, sidecarName: String, ifAbsent: Bool) throws(StorageError) {
        let directories = key.segments.dropLast()
        let name = String(key.filename)
        let lock = try layout.lock(key, exclusive: true)
        defer { close(lock) }
        var attempt = 0
        while true {
            attempt += 1
            let objects = try ConfinedDirectory.openDirectory(directories, in: layout.objects, create: true, shownAs: "", key: key.rawValue)
            defer { close(objects) }
            let meta = try ConfinedDirectory.openDirectory(directories, in: layout.meta, create: true, shownAs: "", key: key.rawValue)
            defer { close(meta) }
            let moved = ifAbsent ? linkat(layout.tmp, objectName, objects, name, 0) : renameat(layout.tmp, objectName, objects, name)
            if moved != 0 {
                // A concurrent delete removed an emptied parent directory between the walk and the move: walk again.
                if errno == ENOENT && attempt < 5 { continue }
                let code = errno
                let type = POSIX.type(of: name, in: objects)
                if type == POSIX.directory {
                    throw StorageError(.invalidRequest, "cannot store \(key): it is a prefix of other objects (a directory here)", key: key.rawValue)
                }
                if code == EEXIST { throw StorageError(.alreadyExists, "\(key) already exists (create-only write)", key: key.rawValue) }
                errno = code
                throw POSIX.failure("cannot move \(key) into place", key: key.rawValue)
            }
            if ifAbsent { unlinkat(layout.tmp, objectName, 0) }
            if renameat(layout.tmp, sidecarName, meta, name) != 0 {
                throw POSIX.failure("cannot move the metadata of \(key) into place", key: key.rawValue)
            }
            _ = fsync(objects)
            _ = fsync(meta)
            return
        }
    }
}

/// Presigned-URL expiry limits, as S3 sets them.
public enum ArtifactURLExpiry {
    /// The default expiry of a presigned URL (one hour).
    public static let defaultSeconds = 3600
    /// The longest expiry S3 accepts (seven days).
    public static let maximumSeconds = 604_800

    /// Refuses an expiry below 1 s or above seven days.
    public static func validate(_ seconds: Int, key: ArtifactKey?) throws(StorageError) {
        guard (1...maximumSeconds).contains(seconds) else {
            throw StorageError(.invalidRequest, "URL expiry \(seconds) s is out of range: it must be 1 to \(maximumSeconds) s (7 days)",
                               key: key?.rawValue)
        }
    }
}

/// User metadata as stores keep it: lower-case keys, `sha256` reserved.
enum UserMetadata {
    static func normalize(_ metadata: [String: String], key: ArtifactKey) throws(StorageError) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in metadata {
            let lower = name.lowercased()
            if lower == "sha256" {
                throw StorageError(.invalidRequest, "user metadata \"sha256\" is reserved: the store records the content hash itself", key: key.rawValue)
            }
            result[lower] = value
        }
        return result
    }
}
