import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves chunk output paths inside the job directory component by component with `openat(O_NOFOLLOW)`, so
/// that no write or delete of the orchestrator ever follows a symlink (or anything but a directory) out of it.
///
/// A symlink anywhere on the path, even one pointing back inside, is refused: outputs are plain files in plain
/// directories of the job directory. The job directory itself is trusted and may be reached through a symlink.
enum ConfinedOutput {
    /// Why an output path cannot be used; `reason` completes "output PATH ...".
    struct Refusal: Error, Sendable, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// Before an attempt: creates the missing directories of `relative` (a normalised output path) and removes a
    /// stale regular file at it. Refuses a symlink, a non-directory on the way, or a non-regular file at the end.
    static func prepare(_ relative: String, in root: URL) throws(Refusal) {
        let (parent, name) = try openParent(of: relative, in: root, create: true)
        defer { close(parent) }
        guard let mode = try type(of: name, in: parent, shownAs: relative) else { return }
        guard mode == regular else { throw Refusal(reason: describe(mode, relative)) }
        if unlinkat(parent, name, 0) != 0 && errno != ENOENT {
            throw Refusal(reason: "cannot remove the stale file \(relative): \(String(cString: strerror(errno)))")
        }
    }

    /// After an attempt: the output, if it exists, is a regular file reached without symlinks. A missing output
    /// is left to the output validator.
    static func check(_ relative: String, in root: URL) throws(Refusal) {
        let parent: Int32, name: String
        do { (parent, name) = try openParent(of: relative, in: root, create: false) } catch let refusal {
            if refusal.reason.hasSuffix(Self.missing) { return }
            throw refusal
        }
        defer { close(parent) }
        guard let mode = try type(of: name, in: parent, shownAs: relative) else { return }
        guard mode == regular else { throw Refusal(reason: describe(mode, relative)) }
    }

    /// `lstat` of the merged output: nil when it does not exist; refuses a symlink or anything not a regular file.
    static func checkMergeTarget(_ url: URL) throws(Refusal) {
        var info = stat()
        guard lstat(url.path, &info) == 0 else {
            if errno == ENOENT { return }
            throw Refusal(reason: "cannot be examined: \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & formatMask
        guard mode == regular else { throw Refusal(reason: describe(mode, url.path)) }
    }

    // MARK: - Helpers

    // File type bits of st_mode (POSIX values, identical on Linux and Darwin).
    private static let formatMask: mode_t = 0o170000
    private static let regular: mode_t = 0o100000
    private static let directory: mode_t = 0o040000
    private static let symlink: mode_t = 0o120000
    private static let missing = "does not exist yet"

    private static func describe(_ mode: mode_t, _ path: String) -> String {
        switch mode {
        case symlink: "\(path) is a symbolic link; outputs must not follow links out of the job directory"
        case directory: "\(path) is a directory, not a file"
        default: "\(path) is not a regular file"
        }
    }

    /// The file type of `name` in `dir` without following a symlink, or nil if it does not exist.
    private static func type(of name: String, in dir: Int32, shownAs path: String) throws(Refusal) -> mode_t? {
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw Refusal(reason: "\(path) cannot be examined: \(String(cString: strerror(errno)))")
        }
        return info.st_mode & formatMask
    }

    /// Opens the directory holding `relative`'s last component, walking one component at a time with
    /// `O_NOFOLLOW | O_DIRECTORY`, creating missing directories when `create` is set.
    private static func openParent(of relative: String, in root: URL, create: Bool) throws(Refusal) -> (Int32, String) {
        // Never trust the caller with `..`: an unvalidated spec must not walk out either.
        let normal: String
        switch OutputPath.normalize(relative) {
        case .success(let path): normal = path
        case .failure(let problem): throw Refusal(reason: "\(problem)")
        }
        let components = normal.split(separator: "/").map(String.init)
        guard let name = components.last else { throw Refusal(reason: "is empty") }
        var fd = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT && create {
            // The job directory itself is the trusted root: created as given, like `mkdir -p`.
            try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            fd = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else { throw Refusal(reason: "cannot be written: job directory \(root.path): \(String(cString: strerror(errno)))") }
        var walked = ""
        for component in components.dropLast() {
            walked += walked.isEmpty ? component : "/" + component
            var next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, component, 0o755) != 0 && errno != EEXIST {
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    throw Refusal(reason: "cannot be written: cannot create directory \(walked): \(reason)")
                }
                next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if next < 0 {
                let code = errno
                let mode = try? type(of: component, in: fd, shownAs: walked)
                close(fd)
                if code == ENOENT { throw Refusal(reason: "directory \(walked) \(missing)") }
                if let found = mode, found != directory { throw Refusal(reason: describe(found, walked)) }
                throw Refusal(reason: "cannot be written: directory \(walked): \(String(cString: strerror(code)))")
            }
            close(fd)
            fd = next
        }
        return (fd, name)
    }
}
