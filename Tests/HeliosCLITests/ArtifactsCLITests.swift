import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `helios artifacts` and `helios bundle` as a user runs them: the real binary against a local store in a temp
/// HELIOS_HOME, checked by exit code, output and the files it leaves.
@Suite("helios artifacts and bundle CLI", .serialized, .timeLimit(.minutes(6)))
struct ArtifactsCLITests {
    static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("helios").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("helios").path
    }

    /// A temp HELIOS_HOME and scratch directory.
    struct Home {
        let dir: URL
        init() throws { dir = try makeTemporaryDirectory() }
        var home: URL { dir.appendingPathComponent("home") }
        var objects: URL { home.appendingPathComponent("artifacts/objects") }
        func file(_ name: String) -> URL { dir.appendingPathComponent(name) }
        func remove() { try? FileManager.default.removeItem(at: dir) }

        func environment(_ extra: [String]) -> [String] {
            ["-u", "HELIOS_STORAGE", "-u", "HELIOS_ALLOW_CLOUD_DEFAULT", "HELIOS_HOME=\(home.path)"] + extra
        }

        func run(_ args: [String], env: [String] = []) async throws -> Shell.Result {
            try await Shell.run("/usr/bin/env", environment(env) + [ArtifactsCLITests.binary] + args)
        }
    }

    func write(_ url: URL, _ bytes: Int, seed: UInt8 = 1) throws {
        var state = UInt32(seed)
        let data = Data((0..<bytes).map { _ in state = state &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: state >> 24) })
        try data.write(to: url)
    }

    @Test("put, get, url, ls and rm with their outputs and exit codes")
    func objectCommands() async throws {
        let h = try Home()
        defer { h.remove() }
        try write(h.file("in.mp4"), 300_000)
        let put = try await h.run(["artifacts", "put", h.file("in.mp4").path, "acme/r1/chunks/c0.mp4"])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout == "file://\(h.objects.path)/acme/r1/chunks/c0.mp4\n")
        // The stored bytes are the file's (sha256sum as the oracle), and get writes them back.
        let oracle = try await Shell.run("sha256sum", [h.file("in.mp4").path]).stdout.prefix(64)
        let json = try await h.run(["artifacts", "put", h.file("in.mp4").path, "acme/r1/chunks/c1.mp4", "--json", "--meta", "Owner=ann"])
        let meta = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(meta?["sha256"] as? String == String(oracle) && meta?["contentType"] as? String == "video/mp4")
        #expect((meta?["metadata"] as? [String: String]) == ["owner": "ann"])
        let get = try await h.run(["artifacts", "get", put.stdout.trimmingCharacters(in: .whitespacesAndNewlines), h.file("out.mp4").path])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try Data(contentsOf: h.file("out.mp4")) == Data(contentsOf: h.file("in.mp4")))
        // Create-only: exit 4, object unchanged.
        try write(h.file("other"), 10, seed: 2)
        let again = try await h.run(["artifacts", "put", h.file("other").path, "acme/r1/chunks/c0.mp4", "--if-absent"])
        #expect(again.status == 4 && again.stderr.contains("acme/r1/chunks/c0.mp4") && again.stderr.contains("already exists"), "\(again.stderr)")
        // Listing, streamed as a JSON array or as lines.
        let ls = try await h.run(["artifacts", "ls", "acme", "--json"])
        let items = try JSONSerialization.jsonObject(with: Data(ls.stdout.utf8)) as? [[String: Any]]
        #expect(items?.compactMap { $0["key"] as? String } == ["acme/r1/chunks/c0.mp4", "acme/r1/chunks/c1.mp4"])
        let lines = try await h.run(["artifacts", "ls", "acme/r1"])
        #expect(lines.stdout.split(separator: "\n").count == 2 && lines.stdout.hasPrefix("300000\t"))
        let empty = try await h.run(["artifacts", "ls", "nothing/here", "--json"])
        #expect(empty.status == 0 && empty.stdout == "[]\n")
        // URLs.
        let url = try await h.run(["artifacts", "url", "acme/r1/chunks/c0.mp4", "--expires", "60", "--method", "PUT"])
        #expect(url.stdout == "file://\(h.objects.path)/acme/r1/chunks/c0.mp4\n")
        let tooLong = try await h.run(["artifacts", "url", "acme/r1/chunks/c0.mp4", "--expires", "604801"])
        #expect(tooLong.status == 2 && tooLong.stderr.contains("604800"), "\(tooLong.stderr)")
        // Delete, then not found (exit 3, naming the key).
        let rm = try await h.run(["artifacts", "rm", "acme/r1/chunks/c0.mp4"])
        #expect(rm.status == 0 && rm.stdout.hasPrefix("deleted "))
        let gone = try await h.run(["artifacts", "get", "acme/r1/chunks/c0.mp4", h.file("gone").path])
        #expect(gone.status == 3 && gone.stderr.contains("acme/r1/chunks/c0.mp4"), "\(gone.stderr)")
        #expect(!FileManager.default.fileExists(atPath: h.file("gone").path))
        // A symlink planted in the store is refused (exit 9), for reads and writes alike.
        try FileManager.default.createSymbolicLink(at: h.objects.appendingPathComponent("etc"), withDestinationURL: URL(fileURLWithPath: "/etc"))
        let escape = try await h.run(["artifacts", "get", "etc/hostname", h.file("hostname").path])
        #expect(escape.status == 9 && escape.stderr.contains("symbolic link"), "\(escape.stderr)")
        let plant = try await h.run(["artifacts", "put", h.file("other").path, "etc/planted"])
        #expect(plant.status == 9 && !FileManager.default.fileExists(atPath: "/etc/planted"), "\(plant.stderr)")
    }

    @Test("bad input gets exit 2 with a message naming it; S3 as the default needs the opt-in")
    func invalidInput() async throws {
        let h = try Home()
        defer { h.remove() }
        try write(h.file("f"), 10)
        let cases: [([String], [String], String)] = [
            (["artifacts", "put", h.file("missing").path, "k"], [], "missing"),
            (["artifacts", "put", h.file("f").path, "a/../b"], [], "a/../b"),
            (["artifacts", "put", h.file("f").path, "gs://b/k"], [], "unknown scheme"),
            (["artifacts", "put", h.file("f").path, "file:///etc/k"], [], "outside the local store"),
            (["artifacts", "ls", "x"], ["HELIOS_STORAGE=s3://renders/prod"], "HELIOS_ALLOW_CLOUD_DEFAULT=true"),
            (["bundle", "push", h.dir.appendingPathComponent("nodir").path, "bundles"], [], "nodir"),
        ]
        for (args, env, mention) in cases {
            let result = try await h.run(args, env: env)
            #expect(result.status == 2, "\(args): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(mention), "\(args): \(result.stderr)")
        }
        let usage = try await h.run(["artifacts", "put"])
        #expect(usage.status == 64)
    }

    @Test("N processes racing put --if-absent on one key: exactly one winner each time")
    func createOnlyRaceAcrossProcesses() async throws {
        let h = try Home()
        defer { h.remove() }
        for writer in 0..<8 { try write(h.file("in\(writer)"), 100_000, seed: UInt8(writer + 1)) }
        for trial in 0..<5 {
            let statuses = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
                for writer in 0..<8 {
                    group.addTask { (writer, try await h.run(["artifacts", "put", h.file("in\(writer)").path, "race/\(trial)", "--if-absent"]).status) }
                }
                return try await group.reduce(into: [(Int, Int32)]()) { $0.append($1) }
            }
            let winners = statuses.filter { $0.1 == 0 }
            #expect(winners.count == 1, "trial \(trial): \(statuses)")
            #expect(statuses.allSatisfy { $0.1 == 0 || $0.1 == 4 }, "\(statuses)")
            if let winner = winners.first {
                let stored = try Data(contentsOf: h.objects.appendingPathComponent("race/\(trial)"))
                #expect(stored == (try Data(contentsOf: h.file("in\(winner.0)"))))
            }
        }
    }

    @Test("usage and cleanup over a prefix")
    func usageAndCleanup() async throws {
        let h = try Home()
        defer { h.remove() }
        try write(h.file("a"), 1_000)
        for name in ["t1/r/chunks/c0.mp4", "t1/r/chunks/c1.mp4", "t1/r/assets/x.png", "t2/r/chunks/c0.mp4"] {
            #expect(try await h.run(["artifacts", "put", h.file("a").path, name]).status == 0)
        }
        let usage = try await h.run(["artifacts", "usage", "t1", "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(usage.stdout.utf8)) as? [String: Any]
        #expect((parsed?["total"] as? [String: Any])?["objects"] as? Int == 3)
        #expect((parsed?["total"] as? [String: Any])?["bytes"] as? Int == 3_000)
        #expect(((parsed?["byContentType"] as? [String: Any])?["video/mp4"] as? [String: Any])?["objects"] as? Int == 2)
        #expect(((parsed?["byKeyType"] as? [String: Any])?["assets"] as? [String: Any])?["bytes"] as? Int == 1_000)
        // Age two objects by two hours; cleanup of t1 older than an hour removes only those.
        let old = Date(timeIntervalSinceNow: -7200)
        for name in ["t1/r/chunks/c0.mp4", "t2/r/chunks/c0.mp4"] {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: h.objects.appendingPathComponent(name).path)
        }
        let cleanup = try await h.run(["artifacts", "cleanup", "t1", "--older-than", "3600"])
        #expect(cleanup.status == 0 && cleanup.stdout.contains("deleted 1 objects (1000 bytes), kept 2"), "\(cleanup.stdout)\(cleanup.stderr)")
        let left = try await h.run(["artifacts", "ls", ""])
        let uris: [String] = left.stdout.split(separator: "\n").map { line in String(line.split(separator: "\t").last ?? "") }
        let expected: [String] = ["t1/r/assets/x.png", "t1/r/chunks/c1.mp4", "t2/r/chunks/c0.mp4"].map { "file://\(h.objects.path)/\($0)" }
        #expect(uris == expected)
    }

    @Test("bundle push twice uploads the contents once; pull twice downloads them once")
    func bundlePushPull() async throws {
        let h = try Home()
        defer { h.remove() }
        let tree = h.file("assets")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try write(tree.appendingPathComponent("sub/a.bin"), 500_000)
        try write(tree.appendingPathComponent("b.json"), 1_000, seed: 3)
        try Data().write(to: tree.appendingPathComponent("empty"))
        let push = try await h.run(["bundle", "push", tree.path, "tenant/bundles", "--job", "job7"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stdout == "file://\(h.objects.path)/tenant/bundles/jobs/job7/manifest.json\n")
        #expect(push.stderr.contains("uploaded 3 (501000 bytes)"), "\(push.stderr)")
        let again = try await h.run(["bundle", "push", tree.path, "tenant/bundles", "--job", "job7", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        #expect(report?["uploadedBytes"] as? Int == 0 && report?["skippedBytes"] as? Int == 501_000)
        let manifest = push.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pull = try await h.run(["bundle", "pull", manifest, h.file("out1").path, "--json"])
        let first = try JSONSerialization.jsonObject(with: Data(pull.stdout.utf8)) as? [String: Any]
        #expect(first?["downloadedFiles"] as? Int == 3, "\(pull.stdout)\(pull.stderr)")
        let second = try await h.run(["bundle", "pull", manifest, h.file("out2").path, "--json"])
        let cached = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        #expect(cached?["downloadedFiles"] as? Int == 0 && cached?["cachedFiles"] as? Int == 3 && cached?["manifestFetched"] as? Bool == false)
        for out in ["out1", "out2"] {
            for file in ["sub/a.bin", "b.json", "empty"] {
                #expect(try Data(contentsOf: h.file(out).appendingPathComponent(file)) == Data(contentsOf: tree.appendingPathComponent(file)))
            }
        }
        let notEmpty = try await h.run(["bundle", "pull", manifest, h.file("out1").path])
        #expect(notEmpty.status == 4 && notEmpty.stderr.contains("not empty"))
        let rm = try await h.run(["bundle", "rm", "tenant/bundles", "--job", "job7"])
        #expect(rm.status == 0 && rm.stdout.contains("3 file objects removed"), "\(rm.stdout)\(rm.stderr)")
        #expect(try await h.run(["artifacts", "ls", "tenant", "--json"]).stdout == "[]\n")
    }

    @Test("unreadable files give a clear error naming the file (run as an unprivileged user)")
    func permissionErrors() async throws {
        // Root reads anything, so as root the commands run as nobody; as any other user chmod alone suffices.
        let unprivileged = getuid() == 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []
        let h = try Home()
        defer { h.remove() }
        chmod(h.dir.path, 0o777)
        let tree = h.file("assets")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try write(tree.appendingPathComponent("ok.bin"), 10)
        try write(tree.appendingPathComponent("secret.bin"), 10)
        chmod(tree.path, 0o755)
        chmod(tree.appendingPathComponent("ok.bin").path, 0o644)
        chmod(tree.appendingPathComponent("secret.bin").path, 0o000)
        let result = try await Shell.run("/usr/bin/env", h.environment([]) + unprivileged + [ArtifactsCLITests.binary, "bundle", "push", tree.path, "b"])
        #expect(result.status == 7, "\(result.stderr)")
        #expect(result.stderr.contains("secret.bin") && result.stderr.contains("Permission denied"), "\(result.stderr)")
        // Pulling into a directory the user cannot write: exit 7 naming it, nothing created.
        chmod(tree.appendingPathComponent("secret.bin").path, 0o644)
        let push = try await h.run(["bundle", "push", tree.path, "b"])
        #expect(push.status == 0, "\(push.stderr)")
        chmod(h.home.path, 0o777)
        for sub in ["artifacts", "artifacts/objects", "artifacts/meta", "artifacts/tmp", "artifacts/locks"] {
            chmod(h.home.appendingPathComponent(sub).path, 0o777)
        }
        let locked = h.file("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        chmod(locked.path, 0o555)
        let manifest = push.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pull = try await Shell.run("/usr/bin/env", h.environment(["HELIOS_BUNDLE_CACHE_MAX_BYTES=0"]) + unprivileged
                                       + [ArtifactsCLITests.binary, "bundle", "pull", manifest, locked.appendingPathComponent("out").path])
        #expect(pull.status == 7, "\(pull.stderr)")
        #expect(pull.stderr.contains(locked.path) && pull.stderr.contains("Permission denied"), "\(pull.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: locked.path).isEmpty)
    }

    @Test("a terminal gets a byte progress bar up to 100%; a pipe gets none")
    func progressBar() async throws {
        let h = try Home()
        defer { h.remove() }
        try Data(repeating: 0x5a, count: 8 << 20).write(to: h.file("big"))
        let command = (h.environment([]).map { "'\($0)'" } + ["'\(ArtifactsCLITests.binary)'", "artifacts", "put", "'\(h.file("big").path)'", "big.bin"])
            .joined(separator: " ")
        let terminal = try await Shell.run("script", ["-qec", "/usr/bin/env " + command, "/dev/null"])
        #expect(terminal.status == 0, "\(terminal.stdout)")
        #expect(terminal.stdout.contains("uploading [##############################] 8.0 MiB/8.0 MiB 100%"), "\(terminal.stdout.debugDescription)")
        let piped = try await h.run(["artifacts", "put", h.file("big").path, "big2.bin"])
        #expect(piped.status == 0 && !piped.stderr.contains("[#"))
    }

    @Test("usage and cleanup count the objects they walk on a terminal; ls does when its listing goes to a file; pipes get nothing")
    func listingProgress() async throws {
        let h = try Home()
        defer { h.remove() }
        try Data(repeating: 1, count: 2048).write(to: h.file("obj"))
        for index in 0..<3 { #expect(try await h.run(["artifacts", "put", h.file("obj").path, "walk/o\(index).bin"]).status == 0) }
        func onTerminal(_ args: [String]) async throws -> Shell.Result {
            let command = (h.environment([]).map { "'\($0)'" } + ["'\(ArtifactsCLITests.binary)'"] + args.map { "'\($0)'" }).joined(separator: " ")
            return try await Shell.run("script", ["-qec", "/usr/bin/env " + command, "/dev/null"])
        }
        let usage = try await onTerminal(["artifacts", "usage", "walk"])
        #expect(usage.status == 0 && usage.stdout.contains("\rcounting 3 objects, 6.0 KiB"), "\(usage.stdout.debugDescription)")
        #expect(usage.stdout.contains("total: 3 objects"))
        let listed = h.file("listing.txt").path
        let lsCommand = (h.environment([]).map { "'\($0)'" } + ["'\(ArtifactsCLITests.binary)'", "artifacts", "ls", "walk"]).joined(separator: " ")
        let ls = try await Shell.run("script", ["-qec", "/usr/bin/env \(lsCommand) > '\(listed)'", "/dev/null"])
        #expect(ls.status == 0 && ls.stdout.contains("\rlisting 3 objects"), "\(ls.stdout.debugDescription)")
        #expect(try String(contentsOfFile: listed, encoding: .utf8).split(separator: "\n").count == 3)
        let cleanup = try await onTerminal(["artifacts", "cleanup", "walk", "--older-than", "0"])
        #expect(cleanup.status == 0 && cleanup.stdout.contains("\rexamining 3 objects"), "\(cleanup.stdout.debugDescription)")
        let piped = try await h.run(["artifacts", "usage", "walk"])
        #expect(piped.status == 0 && !piped.stderr.contains("counting"))
    }

    /// Starts `helios` with `args` and returns the process once `ready` holds (a hang guard of a minute).
    func start(_ h: Home, _ args: [String], until ready: () throws -> Bool) async throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = h.environment([]) + [ArtifactsCLITests.binary] + args
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date(timeIntervalSinceNow: 60)
        while process.isRunning, try !ready(), Date() < deadline { try await Task.sleep(for: .milliseconds(2)) }
        return process
    }

    /// The signal races the transfer, so each attempt checks the invariant whichever way it went (nothing partial:
    /// either the whole result or nothing), and the test needs one attempt where the signal landed mid-transfer.
    @Test("a writer killed with SIGKILL mid-put leaves no object, and its temp file is swept")
    func crashMidPut() async throws {
        let h = try Home()
        defer { h.remove() }
        let big = h.file("big")
        try Data(repeating: 0x5a, count: 48 << 20).write(to: big)
        #expect(try await h.run(["artifacts", "ls", ""]).status == 0)  // creates the store
        let tmp = h.home.appendingPathComponent("artifacts/tmp")
        var crashed = 0
        for attempt in 0..<5 where crashed == 0 {
            let key = "crash/big\(attempt).bin"
            let process = try await start(h, ["artifacts", "put", big.path, key]) {
                try !FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let object = h.objects.appendingPathComponent(key)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: tmp.path)
            if FileManager.default.fileExists(atPath: object.path) {
                #expect(try Data(contentsOf: object).count == 48 << 20, "a committed object is whole")
                continue
            }
            crashed += 1
            #expect(leftovers.count == 1)
            // The dead writer's lock is gone; once the file is older than a minute, the next command sweeps it.
            for name in leftovers {
                try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: tmp.appendingPathComponent(name).path)
            }
            let ls = try await h.run(["artifacts", "ls", "crash", "--json"])
            #expect(ls.status == 0 && !ls.stdout.contains(key))
            #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
        }
        #expect(crashed == 1, "no attempt was killed mid-write")
    }

    @Test("SIGINT during get exits 130 and leaves nothing at the destination")
    func interruptedGet() async throws {
        let h = try Home()
        defer { h.remove() }
        try Data(repeating: 0x5a, count: 48 << 20).write(to: h.file("big"))
        #expect(try await h.run(["artifacts", "put", h.file("big").path, "big.bin"]).status == 0)
        var interrupted = 0
        for attempt in 0..<5 where interrupted == 0 {
            let out = h.file("out\(attempt)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let process = try await start(h, ["artifacts", "get", "big.bin", out.appendingPathComponent("big.bin").path]) {
                try !FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty
            }
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            let left = try FileManager.default.contentsOfDirectory(atPath: out.path)
            if process.terminationStatus == 130 {
                interrupted += 1
                #expect(left.isEmpty, "\(left)")
            } else {
                #expect(process.terminationStatus == 0 && left == ["big.bin"])
                #expect(try Data(contentsOf: out.appendingPathComponent("big.bin")).count == 48 << 20)
            }
        }
        #expect(interrupted == 1, "no attempt was interrupted mid-download")
    }
}
