/// Lexical rules for chunk output paths, relative to the job directory. Pure: no file system access.
///
/// The normal form drops empty and `.` components, so `chunks/a.mp4`, `chunks//a.mp4` and `./chunks/a.mp4` are
/// one path. `..`, absolute paths, `~` and NUL bytes are refused. Symlinks are handled when the path is opened
/// (`ConfinedOutput`), never here.
public enum OutputPath {
    /// The normal form of `path`, or why it is not acceptable.
    public static func normalize(_ path: String) -> Result<String, Problem> {
        if path.isEmpty { return .failure(.empty) }
        if path.hasPrefix("/") || path.hasPrefix("~") { return .failure(.notRelative) }
        if path.utf8.contains(0) { return .failure(.nulByte) }
        let raw = path.split(separator: "/", omittingEmptySubsequences: false)
        if raw.contains("..") { return .failure(.parentReference) }
        if raw.last == "" || raw.last == "." { return .failure(.notAFile) }
        let parts = raw.filter { !$0.isEmpty && $0 != "." }
        return .success(parts.joined(separator: "/"))
    }

    /// The directories that must exist for `normalized` (`a/b/c.mp4` -> `a`, `a/b`).
    public static func ancestors(of normalized: String) -> [String] {
        var result: [String] = []
        var index = normalized.startIndex
        while let slash = normalized[index...].firstIndex(of: "/") {
            result.append(String(normalized[..<slash]))
            index = normalized.index(after: slash)
        }
        return result
    }

    /// Why an output path is refused.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case empty, notRelative, nulByte, parentReference, notAFile

        public var description: String {
            switch self {
            case .empty: "is empty"
            case .notRelative: "must be relative to the job directory"
            case .nulByte: "contains a NUL byte"
            case .parentReference: "must not contain '..'"
            case .notAFile: "must name a file"
            }
        }
    }
}
