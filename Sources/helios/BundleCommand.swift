import ArgumentParser
import Foundation
import HeliosStorage

/// `helios bundle …`
struct BundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Push and pull asset bundles: a directory stored as content-addressed files plus a manifest.",
        discussion: """
            Files already in the store are not uploaded again; pulled files are cached by hash in \
            $HELIOS_HOME/cache/bundles (budget HELIOS_BUNDLE_CACHE_MAX_BYTES, default 2 GiB). Exit codes as for \
            `helios artifacts`: 0 success; 1 transfer failed (hash mismatch, server or network error); 2 invalid \
            input (missing, empty or unreadable directory, symlink in it, bad URI, unsafe manifest entry); 3 not \
            found; 4 target exists and is not empty; 7 storage I/O error; 9 refused; 64 usage; 130 interrupted.
            """,
        subcommands: [PushCommand.self, PullCommand.self, BundleRmCommand.self]
    )
}

/// `helios bundle push DIR PREFIX-URI`
struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Upload a directory; prints the manifest URI.")
    @Argument(help: "Local directory.") var directory: String
    @Argument(help: "Prefix URI or key the bundle goes under (e.g. s3://bucket/bundles).") var prefix: String
    @Option(help: "Job id the bundle belongs to (default: the directory's name).") var job: String?
    @Option(help: "Files moved at once.") var concurrency = 4
    @Flag(help: "Print the upload report as JSON.") var json = false

    func run() async throws {
        let (directory, prefix, job, concurrency, json) = (directory, prefix, job, concurrency, json)
        try await StorageCLI.run {
            let url = URL(fileURLWithPath: directory).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("bundle directory \(url.path) does not exist or is not a directory")
            }
            let (store, key) = try StorageCLI.factory().resolve(prefix)
            let bar = ByteProgressBar(label: "pushing")
            let bundles = AssetBundles(store: store, prefix: key, concurrency: concurrency) { bar.update($0.bytes, $0.total) }
            let report = try await bundles.uploadAssetBundle(jobId: job ?? url.lastPathComponent, localDirectory: url)
            bar.finish()
            if json { try StorageCLI.printJSON(report); return }
            StorageCLI.printLine(report.manifestURI)
            printError("\(report.files) files (\(report.bytes) bytes): uploaded \(report.uploadedFiles) (\(report.uploadedBytes) bytes), already present \(report.skippedFiles) (\(report.skippedBytes) bytes)")
        }
    }
}

/// `helios bundle pull MANIFEST-URI DIR`
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Download a bundle into a new directory (every file verified).")
    @Argument(help: "Manifest URI or key (as printed by push).") var manifest: String
    @Argument(help: "Directory to create.") var directory: String
    @Option(help: "Files moved at once.") var concurrency = 4
    @Flag(help: "Print the download report as JSON.") var json = false

    func run() async throws {
        let (manifest, directory, concurrency, json) = (manifest, directory, concurrency, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(manifest)
            let bar = ByteProgressBar(label: "pulling")
            let bundles = AssetBundles(store: store, concurrency: concurrency) { bar.update($0.bytes, $0.total) }
            let report = try await bundles.downloadAssetBundle(jobId: nil, manifest: try StorageCLI.requireKey(key, manifest),
                                                               to: URL(fileURLWithPath: directory))
            bar.finish()
            if json { try StorageCLI.printJSON(report); return }
            StorageCLI.printLine("\(report.target): \(report.files) files (\(report.bytes) bytes); downloaded \(report.downloadedFiles) (\(report.downloadedBytes) bytes), from cache \(report.cachedFiles)")
        }
    }
}

/// `helios bundle rm PREFIX-URI --job ID`
struct BundleRmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a bundle: its manifest and the files no other bundle uses.")
    @Argument(help: "Prefix URI or key the bundle was pushed under.") var prefix: String
    @Option(help: "Job id of the bundle.") var job: String
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let (prefix, job, json) = (prefix, job, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(prefix)
            let report = try await AssetBundles(store: store, prefix: key).deleteAssetBundle(jobId: job)
            if json { try StorageCLI.printJSON(report); return }
            StorageCLI.printLine("deleted \(report.manifestKey): \(report.deletedObjects) file objects removed, \(report.keptShared) kept (used by other bundles)")
        }
    }
}
