#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A file's identity on its filesystem: two paths name the same file (through symlinks or hard links) exactly
/// when their device and inode match.
struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64

    /// The identity of the file at `path` (following symlinks), nil when it cannot be examined.
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// The output as inputs are compared with it: its path with symlinks resolved and, when it exists, its identity.
struct OutputIdentity {
    let resolvedPath: String
    let identity: FileIdentity?

    init(path: String) {
        resolvedPath = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        identity = FileIdentity(path: path)
    }

    /// Whether `input` (whose identity is `identity`, when known) is the output: by path, symlink or hard link.
    func isNamed(by input: URL, identity inputIdentity: FileIdentity?) -> Bool {
        if let inputIdentity, inputIdentity == identity { return true }
        return input.standardizedFileURL.resolvingSymlinksInPath().path == resolvedPath
    }
}

/// What kind of file a `st_mode` describes, as a phrase ("a character device"); nil for a regular file.
func fileKind(mode: mode_t) -> String? {
    switch mode & S_IFMT {
    case S_IFREG: nil
    case S_IFDIR: "a directory"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFIFO: "a FIFO"
    case S_IFSOCK: "a socket"
    default: "not a regular file"
    }
}

extension NativeStitcher {
    /// Refuses the same file twice among the inputs unless `allowRepeat`. Returns the inputs' identities.
    func checkRepeats(_ inputs: some Collection<URL>) throws(StitchError) -> [FileIdentity: Int] {
        var seen: [FileIdentity: Int] = [:]
        for (index, input) in inputs.enumerated() { _ = try admit(input, index: index, seen: &seen) }
        return seen
    }

    /// Records input `index`'s identity in `seen` (the first index of each file), refusing a file seen before unless
    /// `allowRepeat`. Returns the identity, nil when the file cannot be examined (probing reports why).
    func admit(_ input: URL, index: Int, seen: inout [FileIdentity: Int]) throws(StitchError) -> FileIdentity? {
        guard let identity = FileIdentity(path: input.path) else { return nil }
        if let first = seen[identity] {
            if !options.allowRepeat { throw .repeatedInput(index: index, firstIndex: first, path: input.path) }
            logger.warning("input \(index + 1) (\(input.path)) is the same file as input \(first + 1)")
        } else {
            seen[identity] = index
        }
        return identity
    }

    /// Refuses an output that is an input (by path, symlink or hard link), is not a regular file, exists without
    /// `force`, or sits in a missing or unwritable directory.
    func checkOutputPath(_ outputPath: String, inputs: some Collection<URL>, identities: [FileIdentity: Int]) throws(StitchError) {
        let target = OutputIdentity(path: outputPath)
        for input in inputs where target.isNamed(by: input, identity: nil) {
            throw .outputIsInput(path: outputPath)
        }
        var info = stat()
        if stat(outputPath, &info) == 0 {
            if let identity = FileIdentity(path: outputPath), identities[identity] != nil { throw .outputIsInput(path: outputPath) }
            if let kind = fileKind(mode: info.st_mode) { throw .outputNotRegularFile(path: outputPath, kind: kind) }
            if !options.force { throw .outputExists(path: outputPath) }
        }
        let directory = URL(fileURLWithPath: outputPath).deletingLastPathComponent().path
        var directoryInfo = stat()
        guard stat(directory, &directoryInfo) == 0, directoryInfo.st_mode & S_IFMT == S_IFDIR else {
            throw .outputFailed(path: outputPath, reason: "directory \(directory) does not exist")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw .outputFailed(path: outputPath, reason: "directory \(directory) is not writable")
        }
    }
}
