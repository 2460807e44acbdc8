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

    /// One page being filled: the items, and the last key examined (the next page's token).
    struct PageBuilder {
        let limit: Int
        var items: [ArtifactMetadata] = []
        var examined = 0
        var lastKey: String?
        var isFull: Bool { examined >= limit }
    }

    func page(prefix: ArtifactKey?, recursive: Bool, after token: String?, cancellation: Blocking.Cancellation) throws(StorageError) -> ArtifactListing.Page {
        let layout = try Layout.open(root)
        defer { layout.close() }
        var page = PageBuilder(limit: listPageSize)
        if let prefix {
            // The prefix names an object, a directory, or nothing.
            guard let parent = try? ConfinedDirectory.openDirectory(prefix.segments.dropLast(), in: layout.objects, create: false, shownAs: "", key: nil) else {
                return ([], nil)
            }
            defer { POSIX.closeFD(parent) }
            let name = String(prefix.filename)
            switch POSIX.type(of: name, in: parent) {
            case POSIX.regular?:
                guard token == nil, let object = try? openObject(prefix, layout: layout) else { return ([], nil) }
                POSIX.closeFD(object.fd)
                return ([object.metadata], nil)
            case POSIX.directory?:
                let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { return ([], nil) }
                defer { POSIX.closeFD(fd) }
                let meta = (try? ConfinedDirectory.openDirectory(prefix.segments, in: layout.meta, create: false, shownAs: "", key: nil)) ?? -1
                defer { if meta >= 0 { POSIX.closeFD(meta) } }
                try walk(fd, meta: meta, path: prefix.rawValue, after: token, recursive: recursive, layout: layout, into: &page, cancellation: cancellation)
            default:
                return ([], nil)
            }
        } else {
            try walk(layout.objects, meta: layout.meta, path: "", after: token, recursive: recursive, layout: layout, into: &page, cancellation: cancellation)
        }
        return (page.items, page.isFull ? page.lastKey : nil)
    }

    /// Adds, in key order, the objects below `dir` (whose key path is `path`; `meta` is the matching sidecar
    /// directory or -1) that sort after `after`, until the page is full.
    private func walk(_ dir: Int32, meta: Int32, path: String, after: String?, recursive: Bool, layout: Layout,
                      into page: inout PageBuilder, cancellation: Blocking.Cancellation) throws(StorageError) {
        try cancellation.check("listing \(path.isEmpty ? "the store" : path)")
        // A directory `d` sorts as `d/`, so `d.txt` comes before `d/x` and `d0` after it, as in a flat key space.
        let entries = try ConfinedDirectory.entries(of: dir)
            .filter { $0.type == POSIX.regular || ($0.type == POSIX.directory && recursive) }
            .map { (name: $0.name, isDirectory: $0.type == POSIX.directory, sortName: $0.name + ($0.type == POSIX.directory ? "/" : "")) }
            .sorted { $0.sortName.utf8.lexicographicallyPrecedes($1.sortName.utf8) }
        for entry in entries {
            if page.isFull { return }
            let keyPath = path.isEmpty ? entry.name : path + "/" + entry.name
            if entry.isDirectory {
                let subtree = keyPath + "/"
                var bound = after
                if let after, !after.hasPrefix(subtree) {
                    if subtree.utf8.lexicographicallyPrecedes(after.utf8) { continue }  // every key below sorts before the token
                    bound = nil
                }
                let fd = openat(dir, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { POSIX.closeFD(fd) }
                let subMeta = meta >= 0 ? openat(meta, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1
                defer { if subMeta >= 0 { POSIX.closeFD(subMeta) } }
                try walk(fd, meta: subMeta, path: keyPath, after: bound, recursive: recursive, layout: layout, into: &page, cancellation: cancellation)
            } else {
                if let after, !after.utf8.lexicographicallyPrecedes(keyPath.utf8) { continue }
                // Names no key could have (made by hand) are skipped.
                guard let key = try? ArtifactKey(keyPath) else { continue }
                page.examined += 1
                page.lastKey = keyPath
                if let item = describeListed(key, name: entry.name, in: dir, meta: meta, layout: layout) { page.items.append(item) }
            }
        }
    }

    /// The metadata of a listed object, read under its stripe lock from the directories the walk holds open;
    /// nil if it was deleted (or replaced by something that is not a file) since the directory was read.
    private func describeListed(_ key: ArtifactKey, name: String, in dir: Int32, meta: Int32, layout: Layout) -> ArtifactMetadata? {
        guard let lock = try? layout.lock(key, exclusive: false) else { return nil }
        defer { POSIX.closeFD(lock) }
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & POSIX.formatMask == POSIX.regular else { return nil }
        return describe(key, info: info, sidecar: meta >= 0 ? POSIX.readSmallFile(name, in: meta) : nil)
    }
}
