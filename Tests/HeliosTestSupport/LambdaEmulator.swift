import Foundation

/// AWS's Lambda Runtime Interface Emulator (RIE) on 127.0.0.1, running one runtime command: the real peer for the
/// Lambda runtime loop and the Lambda adapter. It takes one invoke at a time, so tests start one per concurrent slot.
///
/// The binary comes from `scripts/fetch-lambda-rie.sh` (the aws-sam-cli wheel on PyPI), fetched on first use.
public final class LambdaEmulator: @unchecked Sendable {
    /// The invoke endpoint: `POST \(invokeURL)` with the event as body.
    public let invokeURL: URL
    public let port: Int
    public let runtimeAPIPort: Int
    private let process: Process
    public let log: URL

    /// Starts RIE running `command arguments` as the function's bootstrap, with `environment` added.
    /// `timeout` becomes `AWS_LAMBDA_FUNCTION_TIMEOUT`. With `root`, the command is a path inside that directory and
    /// runs in a chroot of it, in a mount namespace of its own (`unshare --mount`) where the host's /dev, /proc and
    /// /tmp are bind-mounted: nothing else of the host (no /usr, no FFmpeg, no Swift) is visible to it. RIE itself
    /// stays outside. This needs root; where `unshare` or `chroot` cannot run, the runtime exits with their error,
    /// which RIE reports on the first invoke (nothing is skipped).
    public init(command: String, arguments: [String] = [], environment: [String: String] = [:], timeout: Int = 60,
                root: URL? = nil) async throws {
        let binary = try await Self.binary()
        let ports = try loopbackPorts(2)
        port = ports[0]
        runtimeAPIPort = ports[1]
        invokeURL = URL(string: "http://127.0.0.1:\(port)/2015-03-31/functions/function/invocations")!
        log = FileManager.default.temporaryDirectory.appendingPathComponent("helios-rie-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process = Process()
        process.executableURL = binary
        process.arguments = ["--runtime-interface-emulator-address", "127.0.0.1:\(port)",
                             "--runtime-api-address", "127.0.0.1:\(runtimeAPIPort)"]
            + (root.map { Self.chrooted($0) } ?? []) + [command] + arguments
        var env = ProcessInfo.processInfo.environment
        env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = String(timeout)
        env["AWS_LAMBDA_FUNCTION_NAME"] = "function"
        env["AWS_REGION"] = env["AWS_REGION"] ?? "us-east-1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try await waitUntilListening(port: port, process: process, log: log)
    }

    /// The command prefix that runs what follows it inside a chroot of `root` with /dev, /proc and /tmp bound.
    /// unshare's private propagation keeps the bind mounts out of the host's namespace; they vanish with the process.
    public static func chrooted(_ root: URL) -> [String] {
        let script = """
            set -eu
            root=$1; shift
            tools=/usr/sbin:/usr/bin:/sbin:/bin
            mount=$(PATH=$tools command -v mount); chroot=$(PATH=$tools command -v chroot)
            mkdir -p "$root/dev" "$root/proc" "$root/tmp"
            "$mount" --rbind /dev "$root/dev"
            "$mount" --rbind /proc "$root/proc"
            "$mount" --bind /tmp "$root/tmp"
            exec "$chroot" "$root" "$@"
            """
        return ["/usr/bin/unshare", "--mount", "--propagation", "private", "--fork", "/bin/sh", "-c", script, "helios-chroot", root.path]
    }

    /// Kills RIE and every process under it (the runtime and its chunk commands) as a crashed instance
    /// (`ProcessTreeReader.crash`: no chunk command's exit reaches a runtime still able to report it).
    public func stop() {
        guard process.isRunning else { return }
        ProcessTreeReader.crash(process.processIdentifier)
        process.waitUntilExit()
    }

    deinit { stop() }

    /// What RIE and the runtime printed.
    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// The emulator binary, fetched once per machine into Fixtures/.generated/tools.
    public static func binary() async throws -> URL {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = package.appendingPathComponent("Fixtures/.generated/tools/aws-lambda-rie")
        if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        let result = try await Shell.run(package.appendingPathComponent("scripts/fetch-lambda-rie.sh").path, [binary.path])
        guard result.status == 0 else { throw ShellError(message: "fetching the Lambda emulator failed: \(result.stderr)") }
        return binary
    }
}

/// `count` distinct free TCP ports on 127.0.0.1 (bound with port 0 by the kernel, then released).
public func loopbackPorts(_ count: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { sockets.forEach { close($0) } }
    var ports: [Int] = []
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ShellError(message: "socket() failed: errno \(errno)") }
        sockets.append(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw ShellError(message: "bind() on 127.0.0.1 failed: errno \(errno)") }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}

/// Waits until something accepts connections on 127.0.0.1:`port`, failing if `process` exits first.
public func waitUntilListening(port: Int, process: Process, log: URL, seconds: Double = 120) async throws {
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        guard process.isRunning else {
            throw ShellError(message: "server exited before listening on \(port): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        close(fd)
        if connected { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw ShellError(message: "nothing listened on 127.0.0.1:\(port) after \(seconds) s")
}

/// The directory holding the package's built executables (`helios`, `helios-worker`, `helios-synth`, ...), found
/// next to the running test binary.
public func builtProductsDirectory() -> URL {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("helios-synth").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir
}

/// Runs the built `helios` CLI with `environment` added to this process's (through env(1)).
public func runHelios(_ arguments: [String], environment: [String: String]) async throws -> Shell.Result {
    let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    return try await Shell.run("/usr/bin/env", assignments + [builtProductsDirectory().appendingPathComponent("helios").path] + arguments)
}

/// Writes `spec` as JSON to `home`/job/spec.json, creating the directory, and returns the file.
public func writeJobSpec(_ spec: some Encodable, under home: URL) throws -> URL {
    let directory = home.appendingPathComponent("job")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let file = directory.appendingPathComponent("spec.json")
    try JSONEncoder().encode(spec).write(to: file)
    return file
}
