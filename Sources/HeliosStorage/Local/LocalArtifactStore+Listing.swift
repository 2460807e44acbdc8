import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LocalArtifactStore {
    /// Walks the objects tree lazily, one page per call, in UTF-8 key order (S3's). The token is the last key
    /// returned; each page walks down from the prefix skipping every subtree that sorts wholly before the token,
    /// so only one directory's names and one page of metadata are in memory at a time. Symlinks are skipped.
    public func list(prefix: ArtifactKey?, recursive: Bool) -> ArtifactListing {
        let store = self
        return ArtifactListing { token throws(StorageError) in
            try await Blocking.run { cancellation throws(StorageError) in
                try store.page(prefix: prefix, recursive: recursive, after: token, cancellation: cancellation)
            }
        }
    }

    func page(prefix: ArtifactKey?, recursive: Bool, after token: String?, cancellation: Blocking.Cancellation) throws(StorageError) -> ArtifactListing.Page {
        let layout = try Layout.open(root)
        defer { layout.close() }
        var keys: [ArtifactKey] = []
        let limit = listPageSize
        if let prefix {
            // The prefix names an object, a directory, or nothing.
            let directories = prefix.segments.dropLast()
            guard let parent = try? ConfinedDirectory.openDirectory(directories, in: layout.objects, create: false, shownAs: "", key: nil) else {
                return ([], nil)
            }
            defer { POSIX.closeFD(parent) }
            let name = String(prefix.filename)
            switch POSIX.type(of: name, in: parent) {
            case POSIX.regular?:
                if token == nil { keys.append(prefix) }
            case POSIX.directory?:
                let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { return ([], nil) }
                defer { POSIX.closeFD(fd) }
                try walk(fd, path: prefix.rawValue, after: token, recursive: recursive, limit: limit, into: &keys, cancellation: cancellation)
            default:
                return ([], nil)
            }
        } else {
            try walk(layout.objects, path: "", after: token, recursive: recursive, limit: limit, into: &keys, cancellation: cancellation)
        }
        var items: [ArtifactMetadata] = []
        items.reserveCapacity(keys.count)
        for key in keys {
            // An object deleted since the walk saw it is left out.
            guard let object = try? openObject(key, layout: layout) else { continue }
            POSIX.closeFD(object.fd)
            items.append(object.metadata)
        }
        return (items, keys.count == limit ? keys.last?.rawValue : nil)
    }

    /// Appends, in key order, the keys below `dir` (whose key path is `path`) that sort after `after`, up to `limit`.
    private func walk(_ dir: Int32, path: String, after: String?, recursive: Bool, limit: Int,
                      into keys: inout [ArtifactKey], cancellation: Blocking.Cancellation) throws(StorageError) {
        try cancellation.check("listing \(path.isEmpty ? "the store" : path)")
        // A directory `d` sorts as `d/`, so `d.txt` comes before `d/x` and `d0` after it, as in a flat key space.
        let entries = try ConfinedDirectory.entries(of: dir)
            .filter { $0.type == POSIX.regular || ($0.type == POSIX.directory && recursive) }
            .map { (name: $0.name, isDirectory: $0.type == POSIX.directory, sortName: $0.name + ($0.type == POSIX.directory ? "/" : "")) }
            .sorted { $0.sortName.utf8.lexicographicallyPrecedes($1.sortName.utf8) }
        for entry in entries {
            if keys.count >= limit { return }
            let keyPath = path.isEmpty ? entry.name : path + "/" + entry.name
            if entry.isDirectory {
                let subtree = keyPath + "/"
                var bound = after
                if let after {
                    if after.hasPrefix(subtree) {
                        bound = after
                    } else if subtree.utf8.lexicographicallyPrecedes(after.utf8) {
                        continue  // every key below sorts before the token
                    } else {
                        bound = nil
                    }
                }
                let fd = openat(dir, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { POSIX.closeFD(fd) }
                try walk(fd, path: keyPath, after: bound, recursive: recursive, limit: limit, into: &keys, cancellation: cancellation)
            } else {
                if let after, !after.utf8.lexicographicallyPrecedes(keyPath.utf8) { continue }
                // Names no key could have (made by hand) are skipped.
                guard let key = try? ArtifactKey(keyPath) else { continue }
                keys.append(key)
            }
        }
    }
}
