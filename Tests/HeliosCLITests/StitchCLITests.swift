import Foundation
import Testing

/// `helios-stitch` as a user runs it: exit codes, messages, and no output left behind on failure.
@Suite("helios-stitch CLI", .serialized)
struct StitchCLITests {
    static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("helios-stitch").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("helios-stitch").path
    }

    func stitch(_ args: [String]) async throws -> Shell.Result {
        try await Shell.run(Self.binary, args)
    }

    func good() async throws -> [String] { try await FixtureCache.shared.files("mp4-h264-aac").map(\.path) }

    /// Runs a failing stitch and checks the exit code, that stderr names `mentions`, and that no output appeared.
    func expectFailure(_ inputs: [String], code: Int32, mentions: [String], output: String? = nil,
                       extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = output ?? dir.appendingPathComponent("out.mp4").path
        let result = try await stitch(inputs + ["-o", out] + extra)
        #expect(result.status == code, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        for text in mentions {
            #expect(result.stderr.contains(text), "stderr lacks \(text): \(result.stderr)", sourceLocation: sourceLocation)
        }
        if output == nil {
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [], "files left behind", sourceLocation: sourceLocation)
        }
    }

    func bad(_ set: String) async throws -> String { try await FixtureCache.shared.files(set)[0].path }

    /// The summary's rate keeps its digits for a small, fast output instead of rounding it to "0 MB/s".
    @Test func summaryStatesTheRateOfASmallOutput() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await stitch(try await good() + ["-o", dir.appendingPathComponent("out.mp4").path])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require((result.stdout + result.stderr).split(separator: "\n").first { $0.hasPrefix("wrote ") })
        #expect(line.range(of: #" \(([1-9][0-9]+|[1-9]\.[0-9]|0\.[0-9][0-9]) MB/s\)$"#, options: .regularExpression) != nil, "\(line)")
    }

    @Test func missingFile() async throws {
        let inputs = try await good()
        try await expectFailure([inputs[0], "/nonexistent/chunk.mp4"], code: 3, mentions: ["/nonexistent/chunk.mp4", "no such file"])
    }

    @Test func zeroByteFile() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.mp4").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        try await expectFailure([try await good()[0], empty], code: 3, mentions: [empty, "empty"])
    }

    @Test func nonMediaFile() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.mp4").path
        try Data("these are not video frames\n".utf8).write(to: URL(fileURLWithPath: text))
        try await expectFailure([try await good()[0], text], code: 3, mentions: [text, "not a media file"])
    }

    @Test func truncatedChunk() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = try await good()
        let data = try Data(contentsOf: URL(fileURLWithPath: inputs[1]))
        let cut = dir.appendingPathComponent("cut.mp4").path
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        try await expectFailure([inputs[0], cut], code: 3, mentions: [cut])
    }

    @Test func differentResolution() async throws {
        let b = try await bad("bad-resolution")
        try await expectFailure([try await good()[0], b], code: 1, mentions: [b, "width is 192 but input 1 has 160", "codec-mismatch"])
    }

    @Test func differentCodec() async throws {
        let b = try await bad("bad-codec")
        try await expectFailure([try await good()[0], b], code: 1, mentions: [b, "codec is mpeg4 but input 1 has h264"])
    }

    @Test func differentSampleRate() async throws {
        let b = try await bad("bad-samplerate")
        try await expectFailure([try await good()[0], b], code: 1, mentions: [b, "sample rate is 44100 but input 1 has 48000"])
    }

    /// A chunk without the sound track the others have gets a silent one (`SilentChunkTests`), first or later; other
    /// layouts are refused.
    @Test func differentStreamLayout() async throws {
        let b = try await bad("bad-layout"), a = try await good()[0]
        let audioOnly = try await FixtureCache.shared.files("m4a-audio-only")[0].path
        try await expectFailure([a, audioOnly], code: 1, mentions: [audioOnly, "has streams [audio] but input 1 has [video, audio]"], output: nil)
        for (inputs, silent) in [([a, b], 2), ([b, a], 1)] {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let result = try await stitch(inputs + ["-o", dir.appendingPathComponent("out.mp4").path])
            #expect(result.status == 0, "\(result.stderr)")
            #expect((result.stdout + result.stderr).contains("warning: input \(silent) (\(b)), stream 1: has no sound track"), "\(result.stdout)")
        }
    }

    @Test func differentFrameRate() async throws {
        let b = try await bad("bad-fps")
        try await expectFailure([try await good()[0], b], code: 1, mentions: [b, "frame duration"])
    }

    @Test func notStartingOnKeyframe() async throws {
        let b = try await bad("bad-nokeyframe")
        try await expectFailure([try await good()[0], b], code: 1, mentions: [b, "not a keyframe"])
    }

    @Test func shortAudioIsDiscontinuousUnlessLenient() async throws {
        let b = try await bad("bad-short-audio")
        let inputs = try await good()
        // Every error is about timing: the CLI says --lenient would stitch them.
        try await expectFailure([inputs[0], b, inputs[2]], code: 1, mentions: [b, "shorter than video", "discontinuity", "hint: every error is about timing; --lenient"])
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.mp4").path
        let lenient = try await stitch([inputs[0], b, inputs[2], "-o", out, "--lenient"])
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stdout.contains("warning:"))
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test func lenientNeverAcceptsCodecMismatch() async throws {
        let b = try await bad("bad-resolution")
        try await expectFailure([try await good()[0], b], code: 1, mentions: ["width"], extra: ["--lenient"])
        // No hint where --lenient would not help.
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await stitch([try await good()[0], b, "-o", dir.appendingPathComponent("out.mp4").path])
        #expect(result.status == 1 && !result.stderr.contains("hint:"), "\(result.stderr)")
    }

    @Test func outputEqualToInput() async throws {
        let inputs = try await good()
        let before = try Data(contentsOf: URL(fileURLWithPath: inputs[0]))
        try await expectFailure(inputs, code: 2, mentions: ["is also an input"], output: inputs[0], extra: ["--force"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: inputs[0])) == before)
    }

    @Test func unwritableOutputDirectory() async throws {
        try await expectFailure(try await good(), code: 3, mentions: ["/proc/helios-out.mp4"], output: "/proc/helios-out.mp4")
        try await expectFailure(try await good(), code: 3, mentions: ["does not exist"], output: "/nonexistent-dir/out.mp4")
    }

    @Test func existingOutputNeedsForce() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.mp4").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: out))
        let refused = try await stitch(try await good() + ["-o", out])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--force"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data("old".utf8))
        let forced = try await stitch(try await good() + ["-o", out, "--force", "--quiet"])
        #expect(forced.status == 0)
        #expect(forced.stdout.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)).count > 1000)
    }

    @Test func usageErrors() async throws {
        #expect(try await stitch([]).status == 2)
        #expect(try await stitch([try await good()[0]]).status == 2)  // no -o
        #expect(try await stitch(["--bogus"]).status == 2)
        // A fresh directory: a file some other program left at a fixed path would be refused as existing instead.
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let unknown = try await stitch(try await good() + ["-o", dir.appendingPathComponent("x.unknownext").path])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("--format"))
    }

    @Test func checkWritesNothingAndJSONParses() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.mp4").path
        let checked = try await stitch(try await good() + ["-o", out, "--check", "--json"])
        #expect(checked.status == 0)
        #expect(!FileManager.default.fileExists(atPath: out))
        let json = try JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as? [String: Any]
        #expect((json?["inputs"] as? [Any])?.count == 3)
        #expect(json?["output"] == nil)

        let b = try await bad("bad-resolution")
        let invalid = try await stitch([try await good()[0], b, "--check", "--json"])
        #expect(invalid.status == 1)
        let report = try JSONSerialization.jsonObject(with: Data(invalid.stdout.utf8)) as? [String: Any]
        let issues = report?["issues"] as? [[String: Any]]
        #expect(issues?.contains { $0["code"] as? String == "codec-mismatch" && $0["inputIndex"] as? Int == 1 } == true)
    }

    @Test func listFileAndJSONReport() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("chunks.txt")
        try (["# chunks in order"] + (try await good())).joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.mp4").path
        let result = try await stitch(["--list", list.path, "-o", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let output = json?["output"] as? [String: Any]
        #expect(output?["videoFrames"] as? Int == 90)
        let size = try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int
        #expect(output?["bytes"] as? Int == size)
        #expect(output?["audioMode"] as? String == "copy", "copy is the default")
        #expect(output?["exactAudio"] == nil)
        #expect(output?["synced"] as? Bool == true, "fsync before rename is the default")
    }

    @Test("--no-sync still writes a whole file under its name, says so in the report, and leaves no temp file")
    func noSync() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.mp4")
        let result = try await stitch(try await good() + ["-o", out.path, "--json", "--no-sync"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let output = json?["output"] as? [String: Any]
        #expect(output?["synced"] as? Bool == false)
        #expect(output?["videoFrames"] as? Int == 90)
        #expect(try await Oracle.frameHashes(out).count == 90)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.mp4"])
    }

    @Test("--list of 1,000 and of 10,000 one-frame chunks stitches every frame (counted by ffprobe decoding the output), its peak memory grows by less than 1.5 KiB an input, and does not depend on the output's name")
    func manyInputs() async throws {
        var peaks: [Int] = []
        // The 10,000 twice, into names of different lengths: under glibc, where each input's few long-lived small
        // allocations landed among a probe's freed buffers moved with them (this debug build without jemalloc peaked at
        // 61,888 and 85,036 KiB for these two names; with it 57,872 and 57,624). helios-stitch allocates with jemalloc.
        for (set, name) in [("mp4-tiny-1000", "out.mp4"), ("mp4-tiny-10000", "out.mp4"), ("mp4-tiny-10000", "a-longer-name-for-the-same-output-x.mp4")] {
            let chunks = try await FixtureCache.shared.files(set)
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let list = dir.appendingPathComponent("chunks.txt"), out = dir.appendingPathComponent(name)
            let rss = dir.appendingPathComponent("peak.rss")
            try chunks.map(\.path).joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
            let result = try await Shell.run("/usr/bin/time", ["-f", "%M", "-o", rss.path, Self.binary, "--list", list.path, "-o", out.path, "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect((json?["output"] as? [String: Any])?["videoFrames"] as? Int == chunks.count)
            let streams = try await Oracle.streams(out)
            #expect(streams.first?["nb_read_frames"] == "\(chunks.count)")
            #expect(abs((Double(streams.first?["duration"] ?? "") ?? 0) - Double(chunks.count) / 30) < 0.001)
            peaks.append(try #require(Int(String(decoding: try Data(contentsOf: rss), as: UTF8.self).split(separator: "\n").last ?? "")))
        }
        // What the stitch holds for each input (its probe, normalized form, placements, boundaries): 0.5 KiB an input
        // in this debug build (alike chunks share one copy of their probes' fields).
        let perInput = Double(peaks[1] - peaks[0]) * 1024 / 9000
        print("helios-stitch memory: peak \(peaks[0]) KiB at 1,000 inputs, \(peaks[1]) and \(peaks[2]) KiB at 10,000; \(Int(perInput)) bytes an input")
        #expect(perInput < 1536)
        #expect(abs(peaks[2] - peaks[1]) < 2048, "10,000 inputs peaked at \(peaks[1]) and \(peaks[2]) KiB with only the output's name changed")
    }

    @Test("--faststart into MPEG-TS says it had no index to move; into Matroska it moves the Cues, saying nothing")
    func faststartWithoutIndex() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ts = try await FixtureCache.shared.files("ts-h264-aac").map(\.path)
        let result = try await stitch(ts + ["-o", dir.appendingPathComponent("out.ts").path, "--faststart"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: --faststart left mpegts as it is: it has no index to move to the front"), "\(result.stderr)")
        let quiet = try await stitch(ts + ["-o", dir.appendingPathComponent("quiet.ts").path, "--faststart", "--quiet"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        let mkv = try await FixtureCache.shared.files("mkv-h264-opus").map(\.path)
        let moved = try await stitch(mkv + ["-o", dir.appendingPathComponent("out.mkv").path, "--faststart", "--json"])
        #expect(moved.status == 0 && !moved.stderr.contains("warning"), "\(moved.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(moved.stdout.utf8)) as? [String: Any]
        #expect((json?["output"] as? [String: Any])?["faststart"] as? String == "rewritten")
    }

    @Test("--version names helios-stitch, its version and the libavformat it runs with, and exits 0")
    func version() async throws {
        let result = try await stitch(["--version"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.wholeMatch(of: /helios-stitch \d+\.\d+\.\d+ \(libavformat \d+\.\d+\.\d+\)/) != nil, "\(line)")
    }

    @Test("--audio exact re-encodes the audio and says so in the JSON report; --audio takes copy or exact only")
    func audioExactFlag() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.mp4").path
        let result = try await stitch(try await good() + ["-o", out, "--json", "--audio", "exact"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let output = json?["output"] as? [String: Any]
        #expect(output?["audioMode"] as? String == "exact")
        let exact = (output?["exactAudio"] as? [[String: Any]])?.first
        #expect(exact?["encoder"] as? String == "aac")
        #expect(exact?["samples"] as? Int == 90 * 1600)
        #expect(output?["decodedAudioDriftSamples"] as? Int == 0)
        // The MP4 track lasts exactly the video (its edit list), by ffprobe.
        let timing = try await Oracle.timing(URL(fileURLWithPath: out))
        #expect(timing.first { $0.kind == "audio" }?.statedDuration == 3.0)

        let refused = try await stitch(try await good() + ["-o", dir.appendingPathComponent("x.mp4").path, "--audio", "resample"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--audio"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.mp4").path))

        // A codec it does not re-encode is refused up front, naming the input and stream.
        let ac3 = try await bad("bad-ac3-audio")
        try await expectFailure([ac3], code: 2, mentions: ["--audio exact", "chunk000.mp4", "stream 1", "ac3"], extra: ["--audio", "exact"])
    }
}
