import ArgumentParser
import Foundation
import HeliosStorage

/// `helios artifacts …`
struct ArtifactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts",
        abstract: "Put, get, list and delete objects in the artifact store.",
        discussion: """
            URIs: s3://bucket/key, file:///path (inside the local store's objects directory), or a bare key in \
            the default store (HELIOS_STORAGE; default: the local store at $HELIOS_HOME/artifacts). \
            Exit codes: 0 success; 1 transfer failed (hash mismatch, server or network error); 2 invalid input \
            (file, URI, key, option or configuration); 3 object not found; 4 already exists (--if-absent); \
            7 storage I/O error; 9 refused (credentials, permission, scope, or a symlink in the store); \
            64 command-line usage error; 130 interrupted.
            """,
        subcommands: [PutCommand.self, GetCommand.self, URLCommand.self, LsCommand.self, RmCommand.self,
                      UsageCommand.self, CleanupCommand.self]
    )
}

/// `helios artifacts put FILE URI`
struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Store a file; prints its URI.")
    @Argument(help: "Local file to upload.") var file: String
    @Argument(help: "Destination URI or key.") var uri: String
    @Flag(help: "Create only: fail (exit 4) if the object exists.") var ifAbsent = false
    @Option(help: "Content type (default: from the key's extension).") var contentType: String?
    @Option(name: .customLong("meta"), help: ArgumentHelp("User metadata NAME=VALUE (repeatable).", valueName: "NAME=VALUE"))
    var meta: [String] = []
    @Flag(help: "Print the object's metadata as JSON.") var json = false

    func run() async throws {
        let (file, uri, ifAbsent, contentType, meta, json) = (file, uri, ifAbsent, contentType, meta, json)
        try await StorageCLI.run {
            let source = try StorageCLI.inputFile(file)
            var metadata: [String: String] = [:]
            for pair in meta {
                guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else { throw ValidationError("--meta \(pair): expected NAME=VALUE") }
                metadata[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            let (store, key) = try StorageCLI.factory().resolve(uri)
            let bar = ByteProgressBar(label: "uploading")
            let options = PutOptions(contentType: contentType, metadata: metadata, ifAbsent: ifAbsent) { bar.update($0.bytes, $0.total) }
            let stored = try await store.put(file: source, to: try StorageCLI.requireKey(key, uri), options: options)
            bar.finish()
            if json { try StorageCLI.printJSON(stored) } else { StorageCLI.printLine(stored.uri) }
        }
    }
}

/// `helios artifacts get URI FILE`
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Download an object to a file (verified, then renamed into place).")
    @Argument(help: "Source URI or key.") var uri: String
    @Argument(help: "Local file to write.") var file: String
    @Flag(help: "Print the object's metadata as JSON.") var json = false

    func run() async throws {
        let (uri, file, json) = (uri, file, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(uri)
            let bar = ByteProgressBar(label: "downloading")
            let got = try await store.download(try StorageCLI.requireKey(key, uri), to: URL(fileURLWithPath: file)) { bar.update($0.bytes, $0.total) }
            bar.finish()
            if json { try StorageCLI.printJSON(got) } else { StorageCLI.printLine("\(file): \(got.size) bytes, sha256 \(got.sha256 ?? "unknown")") }
        }
    }
}

/// `helios artifacts url URI`
struct URLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "url", abstract: "Print a URL for an object (presigned on S3, file:// locally).")
    @Argument(help: "Object URI or key.") var uri: String
    @Option(help: "Expiry in seconds (1 to 604800).") var expires = 3600
    @Option(help: "GET or PUT.") var method = "GET"
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let (uri, expires, methodName, json) = (uri, expires, method, json)
        try await StorageCLI.run {
            guard let method = URLMethod(rawValue: methodName.uppercased()) else { throw ValidationError("--method \(methodName): use GET or PUT") }
            let (store, key) = try StorageCLI.factory().resolve(uri)
            let url = try store.url(for: try StorageCLI.requireKey(key, uri), expiresIn: expires, method: method)
            if json {
                struct Output: Encodable { var url: String; var method: String; var expiresIn: Int }
                try StorageCLI.printJSON(Output(url: url.absoluteString, method: method.rawValue, expiresIn: expires))
            } else {
                StorageCLI.printLine(url.absoluteString)
            }
        }
    }
}

/// `helios artifacts ls PREFIX-URI`
struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List objects under a prefix, in key order (streamed page by page).")
    @Argument(help: "Prefix URI or key (empty: the whole default store).") var prefix: String = ""
    @Flag(help: "Only objects directly under the prefix.") var nonRecursive = false
    @Flag(help: "Print a JSON array of metadata.") var json = false

    func run() async throws {
        let (prefix, recursive, json) = (prefix, !nonRecursive, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(prefix)
            let encoder = StorageCLI.encoder()
            var first = true
            if json { FileHandle.standardOutput.write(Data("[".utf8)) }
            try await ListingProgressLine(label: "listing", printsToStdout: true).around {
                for try await item in store.list(prefix: key, recursive: recursive) {
                    if json {
                        FileHandle.standardOutput.write(Data((first ? "\n" : ",\n").utf8) + (try encoder.encode(item)))
                    } else {
                        let date = item.lastModified.map(InternetDate.format) ?? "-"
                        StorageCLI.printLine("\(item.size)\t\(date)\t\(item.uri)")
                    }
                    first = false
                }
            }
            if json { FileHandle.standardOutput.write(Data(((first ? "" : "\n") + "]\n").utf8)) }
        }
    }
}

/// `helios artifacts rm URI`
struct RmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an object (a missing object is not an error).")
    @Argument(help: "Object URI or key.") var uri: String
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let (uri, json) = (uri, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(uri)
            let objectKey = try StorageCLI.requireKey(key, uri)
            let existed = try await store.delete(objectKey)
            if json {
                struct Output: Encodable { var uri: String; var existed: Bool }
                try StorageCLI.printJSON(Output(uri: store.uri(for: objectKey), existed: existed))
            } else {
                StorageCLI.printLine(existed ? "deleted \(store.uri(for: objectKey))" : "\(store.uri(for: objectKey)) did not exist")
            }
        }
    }
}
