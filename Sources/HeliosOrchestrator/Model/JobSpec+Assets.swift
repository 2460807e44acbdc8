import Foundation

extension JobSpec {
    /// The local directory `assetsUrl` names, or nil when it names none (absent, or a remote URL such as `s3://`
    /// or `https://`). A plain path or a `file://` URL is local; a relative path is taken from `directory` (the job
    /// directory). Pure: the directory is not checked.
    ///
    /// Local chunk commands get this directory as `HELIOS_ASSETS_DIR`; remote runs push it as an asset bundle.
    public func localAssetsDirectory(relativeTo directory: URL) -> URL? {
        guard let text = assetsUrl?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let scheme = text.range(of: "://").map({ text[..<$0.lowerBound].lowercased() }) {
            guard scheme == "file", let url = URL(string: text), !url.path.isEmpty else { return nil }
            return URL(fileURLWithPath: url.path, isDirectory: true).standardizedFileURL
        }
        if text.hasPrefix("/") { return URL(fileURLWithPath: text, isDirectory: true).standardizedFileURL }
        return directory.appendingPathComponent(text, isDirectory: true).standardizedFileURL
    }
}
