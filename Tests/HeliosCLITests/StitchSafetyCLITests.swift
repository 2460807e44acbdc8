import Foundation
import Testing

/// Nothing lost, nothing left: damaged chunks, outputs that must never be replaced, inputs named twice, killed and
/// hung-up runs, and errors as JSON.
@Suite("helios-stitch safety", .serialized, .timeLimit(.minutes(6)))
struct StitchSafetyCLITests {
    func stitch(_ args: [String]) async throws -> Shell.Result { try await Shell.run(StitchCLITests.binary, args) }
    func good(_ set: String = "mp4-h264-aac") async throws -> [String] { try await FixtureCache.shared.files(set).map(\.path) }

    /// A copy of chunk 2 of `set` in `dir` with `damage` applied.
    func damaged(_ set: String, in dir: URL, _ damage: (inout [UInt8]) -> Void) async throws -> String {
        let source = try await FixtureCache.shared.files(set)[1]
        var bytes = [UInt8](try Data(contentsOf: source))
        damage(&bytes)
        let path = dir.appendingPathComponent("damaged.\(source.pathExtension)")
        try Data(bytes).write(to: path)
        return path.path
    }

    @Test("a truncated or block-damaged WebM/Matroska chunk is an error naming the input and the frames lost",
          arguments: ["webm-vp9-opus", "mkv-av1-opus"])
    func damagedMatroska(set: String) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let inputs = try await good(set)
        let truncated = try await damaged(set, in: dir) { $0.removeLast($0.count * 3 / 10) }
        let cut = try await stitch([inputs[0], truncated, inputs[2], "-o", out + "/all.\(set.hasPrefix("webm") ? "webm" : "mkv")"])
        #expect(cut.status == 3, "\(cut.stderr)")
        #expect(cut.stderr.contains("input 2 (\(truncated))"), "\(cut.stderr)")
        #expect(cut.stderr.contains("frames could not be read"), "\(cut.stderr)")
        // Without --verbose, stderr holds our error and nothing of FFmpeg's log.
        #expect(cut.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("helios-stitch: error:") }, "\(cut.stderr)")
        // 4 KiB zeroed in the middle: block headers lost, the demuxer resyncs at the next cluster (18 frames skipped).
        let zeroed = try await damaged(set, in: dir) { bytes in
            let start = bytes.count / 2
            for i in start..<(start + 4096) { bytes[i] = 0 }
        }
        let hole = try await stitch([inputs[0], zeroed, "-o", out + "/two.\(set.hasPrefix("webm") ? "webm" : "mkv")"])
        #expect(hole.status == 3, "\(hole.stderr)")
        #expect(hole.stderr.contains("input 2 (\(zeroed))"), "\(hole.stderr)")
        #expect(hole.stderr.contains("frames could not be read") || hole.stderr.contains("corrupt"), "\(hole.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
    }

    @Test("--force never replaces a device or a FIFO, nor a hard link to an input")
    func outputsNeverReplaced() async throws {
        let inputs = try await good()
        let null = try await stitch(inputs + ["-o", "/dev/null", "--force"])
        #expect(null.status == 2)
        #expect(null.stderr.contains("/dev/null is a character device, not a regular file"), "\(null.stderr)")
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR)

        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe.mp4").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let piped = try await stitch(inputs + ["-o", fifo, "--force"])
        #expect(piped.status == 2)
        #expect(piped.stderr.contains("is a FIFO"), "\(piped.stderr)")

        let copy = dir.appendingPathComponent("chunk.mp4").path, link = dir.appendingPathComponent("link.mp4").path
        try FileManager.default.copyItem(atPath: inputs[0], toPath: copy)
        #expect(Glibc.link(copy, link) == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        let linked = try await stitch([copy, inputs[1], "-o", link, "--force"])
        #expect(linked.status == 2)
        #expect(linked.stderr.contains("is also an input"), "\(linked.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["pipe.mp4", "chunk.mp4", "link.mp4"])
    }

    @Test("the same input twice is refused, also through a hard link, unless --allow-repeat")
    func repeatedInput() async throws {
        let inputs = try await good()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let link = dir.appendingPathComponent("again.mp4").path
        try FileManager.default.copyItem(atPath: inputs[0], toPath: dir.appendingPathComponent("first.mp4").path)
        #expect(Glibc.link(dir.appendingPathComponent("first.mp4").path, link) == 0)
        let out = dir.appendingPathComponent("out.mp4").path
        let twice = try await stitch([dir.appendingPathComponent("first.mp4").path, inputs[1], link, "-o", out])
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("input 3 (\(link)) is the same file as input 1"), "\(twice.stderr)")
        #expect(twice.stderr.contains("--allow-repeat"))
        #expect(!FileManager.default.fileExists(atPath: out))
        let allowed = try await stitch([inputs[0], inputs[1], inputs[0], "-o", out, "--allow-repeat", "--json"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(allowed.stdout.utf8)) as? [String: Any]
        #expect((report?["output"] as? [String: Any])?["videoFrames"] as? Int == 90)
    }

    @Test("inputs that are FIFOs or devices are named as such, not as empty files")
    func nonRegularInputs() async throws {
        let inputs = try await good()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("chunk.mp4").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let out = dir.appendingPathComponent("out.mp4").path
        let piped = try await stitch([inputs[0], fifo, "-o", out])
        #expect(piped.status == 3)
        #expect(piped.stderr.contains("\(fifo): is a FIFO, not a regular file"), "\(piped.stderr)")
        let device = try await stitch([inputs[0], "/dev/zero", "-o", out])
        #expect(device.status == 3)
        #expect(device.stderr.contains("/dev/zero: is a character device"), "\(device.stderr)")
        #expect(!device.stderr.contains("empty"))
    }

    @Test("--json prints every error as JSON on stdout: code, message, exit code, path")
    func jsonErrors() async throws {
        let inputs = try await good()
        let missing = try await stitch([inputs[0], "/nonexistent/chunk.mp4", "-o", "/tmp/never-written.mp4", "--json"])
        #expect(missing.status == 3)
        let error = (try JSONSerialization.jsonObject(with: Data(missing.stdout.utf8)) as? [String: Any])?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "unreadable-input")
        #expect(error?["exitCode"] as? Int == 3)
        #expect(error?["path"] as? String == "/nonexistent/chunk.mp4")
        #expect((error?["message"] as? String)?.contains("no such file") == true)
        let usage = try await stitch(["--json"])
        #expect(usage.status == 2)
        let usageError = (try JSONSerialization.jsonObject(with: Data(usage.stdout.utf8)) as? [String: Any])?["error"] as? [String: Any]
        #expect(usageError?["code"] as? String == "usage")
    }

    /// Starts a stitch of 1,000 one-frame chunks and returns once it writes its output (it holds a descriptor on a
    /// file in `dir`, named or not): the gate that makes a signal land mid-write without guessing at timings.
    static func startWriting(into dir: URL) async throws -> Process {
        let inputs = try await FixtureCache.shared.files("mp4-tiny-1000").map(\.path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: StitchCLITests.binary)
        process.arguments = inputs + ["-o", dir.appendingPathComponent("out.mp4").path, "--quiet"]
        let log = dir.deletingLastPathComponent().appendingPathComponent("\(dir.lastPathComponent).stderr")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        // Polled on a thread of its own (the test's cooperative pool may be busy for longer than the write takes),
        // and the stitch is stopped the moment it holds its output, so the window cannot close before the signal;
        // `deliver(_:to:)` sends the signal and lets it run again.
        let pid = process.processIdentifier
        let prefix = dir.path + "/"
        let seen = try await onOwnThread { () -> Bool in
            let fds = "/proc/\(pid)/fd"
            for _ in 0..<60_000 where process.isRunning {
                let targets = ((try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? [])
                    .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fds)/\($0)") }
                if targets.contains(where: { $0.hasPrefix(prefix) }) {
                    kill(pid, SIGSTOP)
                    return true
                }
                usleep(1000)
            }
            return false
        }
        if seen { return process }
        process.waitUntilExit()
        Issue.record("the stitch never opened its output; it exited \(process.terminationStatus): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        return process
    }

    /// Sends `signal` to a stitch `startWriting` stopped, then lets it continue to handle it.
    static func deliver(_ signal: Int32, to process: Process) {
        kill(process.processIdentifier, signal)
        kill(process.processIdentifier, SIGCONT)
    }

    @Test("SIGKILL mid-write leaves no file beside the output (unnamed temp file)")
    func killLeavesNothing() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = try await Self.startWriting(into: dir)
        Self.deliver(SIGKILL, to: process)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test("SIGHUP cancels like SIGINT: exit 130, nothing left")
    func hangupCancels() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = try await Self.startWriting(into: dir)
        Self.deliver(SIGHUP, to: process)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 130)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test("a run removes the named temp files that dead writers of this host left beside its output, never a live or remote writer's")
    func staleTempsRemoved() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = finished.processIdentifier, live = getpid()
        var buffer = [CChar](repeating: 0, count: 256)
        _ = gethostname(&buffer, 255)
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let stale = ".out.helios-\(dead)-12345@\(host).tmp.mp4", running = ".out.helios-\(live)-777@\(host).tmp.mp4"
        let other = ".other.helios-\(dead)-1@\(host).tmp.mp4", elsewhere = ".out.helios-\(dead)-9@another-host.tmp.mp4"
        for name in [stale, running, other, elsewhere] { try Data("partial".utf8).write(to: dir.appendingPathComponent(name)) }
        let result = try await stitch(try await good() + ["-o", dir.appendingPathComponent("out.mp4").path, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["out.mp4", running, other, elsewhere])
    }

    @Test("a write the file system refuses (the file size limit `ulimit -f` sets, as a full disk would) is exit 3 naming the output and why; the output --force was to replace is kept as it was, and nothing else is left",
          arguments: [["mp4"], ["mp4", "--faststart"], ["mkv"], ["ts"]])
    func refusedWrite(output: [String]) async throws {
        let inputs = try await good()
        let before = try inputs.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("final.\(output[0])")
        let previous = Data("the render of yesterday\n".utf8)
        try previous.write(to: target)
        // 100 KiB: below the ~170 KB the three chunks stitch into. SIGXFSZ ignored, so the write fails with EFBIG.
        let words = ([StitchCLITests.binary] + inputs + ["-o", target.path, "--force"] + output.dropFirst()).map { "'\($0)'" }
        let run = try await Shell.run("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f 100; exec \(words.joined(separator: " "))"])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("cannot write \(target.path)") && run.stderr.contains("File too large"), "\(run.stderr)")
        #expect(try Data(contentsOf: target) == previous, "the earlier output was replaced or changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [target.lastPathComponent])
        #expect(try inputs.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == before)
        // With room, the same command replaces it.
        let again = try await stitch(inputs + ["-o", target.path, "--force"] + output.dropFirst())
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Data(contentsOf: target).count > 100 * 1024)
    }

    @Test("a silent chunk's stand-in the file system refuses is exit 3 naming the chunk and why, not the layout the chunk would be refused for without it")
    func refusedStandIn() async throws {
        let inputs = try await good("silent-mp4")  // chunk 2 has no sound: it is read from a stand-in with silence
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("final.mp4")
        // 4 KiB: less than the 26 KB chunk the stand-in copies.
        let words = ([StitchCLITests.binary] + inputs + ["-o", target.path]).map { "'\($0)'" }
        let run = try await Shell.run("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f 4; exec \(words.joined(separator: " "))"])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("cannot write \(dir.path): the stand-in for \(inputs[1]) (its packets beside silence) could not be written there: ")
                && run.stderr.contains("File too large"), "\(run.stderr)")
        #expect(!run.stderr.contains("has streams"), "\(run.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }
}

/// Names as bytes: a file name that is not valid UTF-8 is still the file the user named.
@Suite("helios-stitch file names that are not UTF-8", .serialized)
struct NonUTF8NameCLITests {
    /// Runs the CLI through /bin/sh so the arguments reach it as raw bytes (Foundation's Process takes Strings).
    func stitchRaw(_ script: String, in dir: URL) async throws -> Shell.Result {
        try await Shell.run("/bin/sh", ["-c", script], in: dir)
    }

    @Test("an input named with invalid UTF-8 is read (argument and --list); such an output name is refused")
    func invalidUTF8Names() async throws {
        let inputs = try await FixtureCache.shared.files("mp4-h264-aac").map(\.path)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try await Shell.run("/bin/sh", ["-c", "cp '\(inputs[1])' \"$(printf 'c\\377.mp4')\""], in: dir)
        #expect(copy.status == 0)
        let binary = StitchCLITests.binary
        let stitched = try await stitchRaw("'\(binary)' '\(inputs[0])' \"$(printf 'c\\377.mp4')\" -o out.mp4 --json", in: dir)
        #expect(stitched.status == 0, "\(stitched.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(stitched.stdout.utf8)) as? [String: Any]
        #expect((report?["output"] as? [String: Any])?["videoFrames"] as? Int == 60)
        // The report names the file as given, with U+FFFD for the byte that is not UTF-8.
        #expect(((report?["inputs"] as? [[String: Any]])?[1]["path"] as? String) == "c\u{FFFD}.mp4")

        let listed = try await stitchRaw("printf '%s\\nc\\377.mp4\\n' '\(inputs[0])' > list.txt && '\(binary)' --list list.txt -o listed.mp4 --quiet", in: dir)
        #expect(listed.status == 0, "\(listed.stderr)")

        let refused = try await stitchRaw("'\(binary)' '\(inputs[0])' '\(inputs[1])' -o \"$(printf 'o\\376.mp4')\"", in: dir)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("not valid UTF-8"), "\(refused.stderr)")
        let missing = try await stitchRaw("'\(binary)' '\(inputs[0])' \"$(printf 'gone\\377.mp4')\" -o never.mp4", in: dir)
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("gone\u{FFFD}.mp4: no such file"), "\(missing.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names.filter { !$0.hasPrefix("c") }.sorted() == ["list.txt", "listed.mp4", "out.mp4"])
    }
}

/// Permission problems are named as such, not as a missing file.
@Suite("helios-stitch permission messages", .serialized)
struct PermissionCLITests {
    @Test("an input behind a directory that cannot be searched is 'permission denied', not 'no such file'")
    func unsearchableDirectory() async throws {
        let inputs = try await FixtureCache.shared.files("mp4-h264-aac").map(\.path)
        let dir = try makeTemporaryDirectory()
        defer {
            chmod(dir.appendingPathComponent("locked").path, 0o700)
            try? FileManager.default.removeItem(at: dir)
        }
        let locked = dir.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
        let hidden = locked.appendingPathComponent("chunk.mp4").path
        try FileManager.default.copyItem(atPath: inputs[1], toPath: hidden)
        #expect(chmod(dir.path, 0o755) == 0)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        #expect(chmod(out.path, 0o777) == 0)
        let args = [inputs[0], hidden, "-o", out.appendingPathComponent("x.mp4").path]
        let result: Shell.Result
        if getuid() == 0 {
            // Root searches any directory: run as nobody, for whom the directory is closed.
            #expect(chmod(locked.path, 0o700) == 0)
            result = try await Shell.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", StitchCLITests.binary] + args)
        } else {
            #expect(chmod(locked.path, 0o000) == 0)
            result = try await Shell.run(StitchCLITests.binary, args)
        }
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("\(hidden): permission denied"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == [])
    }
}
