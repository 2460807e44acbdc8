/// What a bundle holds: every file's relative path, size, SHA-256 and mode, and every directory (so empty ones
/// come back too). Files are stored once each, as content-addressed objects under `blobs`.
public struct AssetBundleManifest: Codable, Sendable, Hashable {
    /// One file.
    public struct File: Codable, Sendable, Hashable {
        /// `/`-separated, relative to the bundle's root.
        public var path: String
        public var size: Int64
        /// Lower-case hex.
        public var sha256: String
        /// Permission bits (`0o644`, `0o755`, ...); set-id and sticky bits are never restored.
        public var mode: UInt32

        public init(path: String, size: Int64, sha256: String, mode: UInt32) {
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.mode = mode
        }
    }

    /// The manifest format's version.
    public var version: Int
    public var jobId: String
    /// The key prefix of the content-addressed file objects (`<blobs>/<sha256>`).
    public var blobs: String
    public var files: [File]
    /// Relative paths of every directory, parents first.
    public var directories: [String]

    public init(jobId: String, blobs: String, files: [File], directories: [String]) {
        version = 1
        self.jobId = jobId
        self.blobs = blobs
        self.files = files.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        self.directories = directories.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The total size of the files.
    public var totalBytes: Int64 { files.reduce(0) { $0 + $1.size } }

    /// Refuses a manifest that could write outside its target or is not self-consistent: paths that are absolute,
    /// contain `..`, `.`, empty segments, backslashes or control characters; a path listed twice; a file that is
    /// also a directory or lies under a file; bad hashes, sizes or modes; an unknown version. Pure.
    public func validate(named name: String) throws(StorageError) {
        func refuse(_ problem: String) -> StorageError {
            StorageError(.integrity, "bundle manifest \(name) is refused: \(problem)", key: name)
        }
        guard version == 1 else { throw refuse("unknown manifest version \(version)") }
        guard (try? ArtifactKey(blobs)) != nil else { throw refuse("blob prefix \"\(ArtifactKey.printable(blobs))\" is not a valid key") }
        var seen = Set<String>()
        var directorySet = Set<String>()
        for directory in directories {
            if let problem = ArtifactKey.problem(in: directory) {
                throw refuse("directory \"\(ArtifactKey.printable(directory))\" would escape the target: \(problem)")
            }
            guard seen.insert(directory).inserted else { throw refuse("\(directory) is listed twice") }
            directorySet.insert(directory)
        }
        var filePaths = Set<String>()
        for file in files {
            if let problem = ArtifactKey.problem(in: file.path) {
                throw refuse("entry \"\(ArtifactKey.printable(file.path))\" would escape the target: \(problem)")
            }
            guard seen.insert(file.path).inserted else { throw refuse("\(file.path) is listed twice") }
            guard file.size >= 0 else { throw refuse("\(file.path) has a negative size") }
            guard file.sha256.utf8.count == 64, file.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw refuse("\(file.path) has no valid SHA-256")
            }
            guard file.mode <= 0o7777 else { throw refuse("\(file.path) has an invalid mode \(String(file.mode, radix: 8))") }
            filePaths.insert(file.path)
        }
        // A file cannot be a directory, nor hold other entries.
        for path in seen {
            var parent = Substring(path)
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                if filePaths.contains(String(parent)) { throw refuse("\(path) lies under \(parent), which is a file") }
            }
        }
    }
}
