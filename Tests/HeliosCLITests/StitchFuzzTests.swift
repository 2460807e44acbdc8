import Foundation
import Testing

/// Mutated chunks through `helios-stitch`: bit flips, truncations, zeroed blocks and damaged headers in MP4, MOV,
/// Matroska (AV1, and H.264 from ffmpeg and mkvmerge), WebM, MPEG-TS and CMAF chunks, FLAC audio and timecode tracks. Every case must end in exactly one of two ways: a clean error (exit 1 or 3,
/// a message, no file left in the output directory), or an output whose video frame count, by ffprobe, equals the
/// frames ffprobe counts in the inputs and the count the report gives. Inputs are never modified, nothing crashes.
///
/// The suite runs `HELIOS_FUZZ_CASES` cases (default 250) from `HELIOS_FUZZ_SEED` (default fixed); `make fuzz`
/// runs thousands with a seed of its own.
@Suite("helios-stitch on mutated chunks", .serialized, .timeLimit(.minutes(30)))
struct StitchFuzzTests {
    static let sets: [(name: String, ext: String)] = [
        ("mp4-h264-aac", "mp4"), ("mov-h264-pcm", "mov"), ("mkv-av1-opus", "mkv"), ("webm-vp9-opus", "webm"), ("ts-h264-aac", "ts"),
        // Matroska that index-only probing walks (H.264 with B-frames and AAC; mkvmerge's laces the AAC).
        ("matrix-mkv-h264-bf3-b", "mkv"), ("mkvmerge-h264-bf3-a", "mkv"),
        // FLAC (headers compared by field, the output's rewritten) and MOV with timecode tracks (left out by the demuxer).
        ("lossless-mkv-ffv1-flac-bf0-a", "mkv"), ("lossless-mp4-h264-flac-bf3-c", "mp4"), ("timecode-mov", "mov"),
        // Segments of one stream (continuations), and chunks with a subtitle track or a display matrix.
        ("segments-ts-h264-bf3", "ts"), ("segments-mkv-h264-bf2", "mkv"), ("subtitles-mp4", "mp4"), ("sidedata-rotation", "mp4"),
        // AVI as ffmpeg writes it (its index, not its header, counts the packets), and an MPEG program stream whose
        // small frames carry no pts (filled in from the next reference frame's dts).
        ("realworld-avi-mpeg4-mp3", "avi"), ("realworld-ps-mpeg2-mp2", "mpg"),
        // Data streams beside picture and sound, left out: MPEG-TS private data, a DVD's navigation stream.
        ("datastream-ts", "ts"), ("vob-mpeg2-ac3", "vob"),
        // GStreamer's splitmuxsink segments (nanosecond timestamps rounded to 90 kHz).
        ("splitmux-ts", "ts"),
        // CMAF: track runs with signed composition offsets, read for the shift libavformat adds (HEVC: 1-frame chunks).
        ("matrix-cmaf-hevc-bf3-a", "mp4"),
        // A silent chunk without a sound track, between chunks with one: remuxed beside a silent track (`SilentTrack`).
        ("silent-mp4", "mp4"),
        // A soundtrack that ends inside chunk 2 (silence after it, `SilentTrack.shortTails`), then empty sound tracks.
        ("shorttrack-mkv", "mkv"),
    ]

    static let parallel = 3
    static var cases: Int { Int(ProcessInfo.processInfo.environment["HELIOS_FUZZ_CASES"] ?? "") ?? 250 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["HELIOS_FUZZ_SEED"] ?? "") ?? 20_261_202 }
    /// The binary under test: this build's, or `HELIOS_STITCH_BINARY` (`make fuzz` uses the release build).
    static var binary: String { ProcessInfo.processInfo.environment["HELIOS_STITCH_BINARY"] ?? StitchCLITests.binary }

    @Test("every mutated chunk ends in a clean error or an output holding exactly the inputs' frames")
    func mutatedChunks() async throws {
        var chunkSets: [[URL]] = []
        var goodFrames: [[Int]] = []
        for set in Self.sets {
            let files = try await FixtureCache.shared.files(set.name)
            chunkSets.append(files)
            var counts: [Int] = []
            for file in files { counts.append(try #require(try await Self.videoPackets(file))) }
            goodFrames.append(counts)
        }
        let originals = try chunkSets.map { try $0.map { try Data(contentsOf: $0) } }
        var rng = SplitMix64(seed: Self.seed)
        var plans = (0..<Self.cases).map { n in FuzzCase.random(number: n, sets: chunkSets.map(\.count), rng: &rng) }
        // HELIOS_FUZZ_ONLY=355,994 reruns those cases of the seed (their files are kept when HELIOS_FUZZ_KEEP names a directory).
        if let only = ProcessInfo.processInfo.environment["HELIOS_FUZZ_ONLY"] {
            let wanted = Set(only.split(separator: ",").compactMap { Int($0) })
            plans = plans.filter { wanted.contains($0.number) }
        }

        let work = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var outcomes: [FuzzOutcome] = []
        // A few at a time: each case is mostly waiting for child processes.
        try await withThrowingTaskGroup(of: FuzzOutcome.self) { group in
            var next = 0
            func add() {
                let plan = plans[next]
                let set = Self.sets[plan.set]
                let chunks = chunkSets[plan.set], good = goodFrames[plan.set], original = originals[plan.set][plan.victim]
                group.addTask { try await Self.run(plan, ext: set.ext, chunks: chunks, good: good, original: original, work: work) }
                next += 1
            }
            for _ in 0..<min(Self.parallel, plans.count) { add() }
            while let outcome = try await group.next() {
                outcomes.append(outcome)
                if next < plans.count { add() }
            }
        }
        #expect(try chunkSets.map { try $0.map { try Data(contentsOf: $0) } } == originals, "fixture chunks modified")
        let failures = outcomes.compactMap(\.failure)
        #expect(failures.isEmpty, "\(failures.count) of \(outcomes.count) cases failed (seed \(Self.seed)):\n\(failures.prefix(12).joined(separator: "\n"))")
        // The figures, for the log: outcomes per container and mutation.
        var table: [String: [String: Int]] = [:]
        for outcome in outcomes { table["\(Self.sets[outcome.plan.set].name) \(outcome.plan.mutation.kind)", default: [:]][outcome.kind, default: 0] += 1 }
        let lines = table.keys.sorted().map { key in "  \(key): " + table[key]!.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
        print("fuzz: \(outcomes.count) cases, seed \(Self.seed), \(failures.count) failures\n" + lines.joined(separator: "\n"))
    }

    /// One case: the set's chunks with one of them replaced by a mutated copy, stitched into a fresh directory.
    static func run(_ plan: FuzzCase, ext: String, chunks: [URL], good: [Int], original: Data, work: URL) async throws -> FuzzOutcome {
        let dir = work.appendingPathComponent("case\(plan.number)")
        let inputsDir = dir.appendingPathComponent("in"), outDir = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: inputsDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        defer {
            if let keep = ProcessInfo.processInfo.environment["HELIOS_FUZZ_KEEP"] {
                try? FileManager.default.copyItem(at: dir, to: URL(fileURLWithPath: keep).appendingPathComponent(dir.lastPathComponent))
            }
            try? FileManager.default.removeItem(at: dir)
        }
        let mutated = plan.mutation.apply(to: original)
        let victim = inputsDir.appendingPathComponent("mutated.\(ext)")
        try mutated.write(to: victim)
        var inputs = chunks
        inputs[plan.victim] = victim
        let out = outDir.appendingPathComponent("out.\(ext)")
        // Every other case copies MP4/MOV payloads in the kernel, walks Matroska block headers and probes the inputs
        // after the first two at a time whatever the inputs' size (by default only from 1 MiB).
        let copy = plan.number % 2 == 0 ? ["--kernel-copy-minimum", "0", "--walk-every-matroska", "--concurrent-probe-minimum", "0"] : []
        let result = try await Shell.run(Self.binary, inputs.map(\.path) + ["-o", out.path, "--json"] + copy)
        var outcome = FuzzOutcome(plan: plan, kind: "exit \(result.status)")
        func fail(_ why: String) { outcome.failure = "case \(plan.number) \(plan.mutation) of chunk \(plan.victim + 1) (\(ext)): \(why)" }
        if (try? Data(contentsOf: victim)) != mutated { fail("the mutated input was modified") }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: outDir.path)) ?? []
        switch result.status {
        case 1, 3:
            if !left.isEmpty { fail("exit \(result.status) left \(left)") }
            if !result.stderr.contains("error:") { fail("exit \(result.status) without a message: \(result.stderr)") }
        case 0:
            outcome.kind = "stitched"
            guard left == ["out.\(ext)"] else { fail("left \(left)"); break }
            guard var damaged = try await videoPackets(victim) else { fail("stitched an input ffprobe cannot count"); break }
            var expected = good
            expected[plan.victim] = damaged
            let written = try await videoPackets(out)
            // ffprobe and ffmpeg's stream copy can disagree on a damaged file (ffprobe seeks to the end for the
            // duration, and in an MPEG-TS whose last packets are zeroed loses the last video PES that ffmpeg copies):
            // either independent count will do.
            if written != expected.reduce(0, +), let copied = try await copiedVideoPackets(victim), copied != damaged {
                damaged = copied
                expected[plan.victim] = copied
            }
            let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
                .flatMap { $0["output"] as? [String: Any] }?["videoFrames"] as? Int
            if written != expected.reduce(0, +) { fail("output holds \(written.map(String.init) ?? "?") frames, inputs \(expected)") }
            if report != written { fail("report says \(report.map(String.init) ?? "nothing"), output holds \(written.map(String.init) ?? "?")") }
            // Frames lost to the damage must be an error, where the container can tell (MPEG-TS cannot).
            if ext != "ts", damaged < good[plan.victim] {
                fail("stitched with \(damaged) of \(good[plan.victim]) frames of the damaged chunk")
            }
        default:
            fail("exit \(result.status): \(result.stderr.suffix(400))")
        }
        return outcome
    }

    /// Video packets ffmpeg's stream copy reads from the first video stream; nil when it cannot read the file.
    static func copiedVideoPackets(_ url: URL) async throws -> Int? {
        let result = try await Shell.run("ffmpeg", ["-nostdin", "-v", "quiet", "-i", url.path, "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"])
        guard result.status == 0 else { return nil }
        return result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
    }

    /// Video packets ffprobe reads from the first video stream; nil when it cannot read the file.
    static func videoPackets(_ url: URL) async throws -> Int? {
        let result = try await Shell.run("ffprobe", ["-v", "quiet", "-count_packets", "-select_streams", "v:0",
                                                     "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", url.path])
        // MPEG-TS repeats the stream under its program: the first line is the stream's.
        // A damaged file may add an empty field after the count ("30,").
        return result.stdout.split(separator: "\n").first.flatMap { line in
            line.split(separator: ",", omittingEmptySubsequences: false).first.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
    }
}

/// What one case did; `failure` says why it broke the contract.
struct FuzzOutcome: Sendable {
    var plan: FuzzCase
    var kind: String
    var failure: String?
}

/// One generated case: which set, which chunk, what damage.
struct FuzzCase: Sendable {
    var number: Int
    var set: Int
    var victim: Int
    var mutation: Mutation

    static func random(number: Int, sets: [Int], rng: inout SplitMix64) -> FuzzCase {
        let set = Int(rng.next() % UInt64(sets.count))
        let victim = Int(rng.next() % UInt64(sets[set]))
        return FuzzCase(number: number, set: set, victim: victim, mutation: Mutation.random(rng: &rng))
    }
}

/// Damage to a file, described by fractions of its size so one description fits any chunk.
struct Mutation: Sendable, CustomStringConvertible {
    enum Kind: String, Sendable { case flips, truncation, zeroedBlock, header }
    var kind: Kind
    /// Positions in [0, 1) of the file (flips, truncation, block start) or of its first 512 bytes (header).
    var positions: [Double]
    var bits: [UInt8]
    var length: Int

    static func random(rng: inout SplitMix64) -> Mutation {
        let kinds: [Kind] = [.flips, .truncation, .zeroedBlock, .header]
        let kind = kinds[Int(rng.next() % 4)]
        let count = kind == .flips ? 1 + Int(rng.next() % 8) : kind == .header ? 1 + Int(rng.next() % 4) : 1
        let positions = (0..<count).map { _ in rng.unit() }
        let bits = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) | 1 }
        return Mutation(kind: kind, positions: positions, bits: bits, length: 16 << Int(rng.next() % 6))
    }

    func apply(to data: Data) -> Data {
        var bytes = [UInt8](data)
        guard !bytes.isEmpty else { return data }
        func at(_ p: Double, in size: Int) -> Int { min(Int(p * Double(size)), size - 1) }
        switch kind {
        case .flips:
            for (p, b) in zip(positions, bits) { bytes[at(p, in: bytes.count)] ^= 1 << (b % 8) }
        case .truncation:
            bytes.removeLast(bytes.count - at(positions[0], in: bytes.count))
        case .zeroedBlock:
            let start = at(positions[0], in: bytes.count)
            for i in start..<min(start + length, bytes.count) { bytes[i] = 0 }
        case .header:
            for (p, b) in zip(positions, bits) { bytes[at(p, in: min(512, bytes.count))] = b }
        }
        return Data(bytes)
    }

    var description: String {
        switch kind {
        case .flips: "\(positions.count) bit flip(s) at \(positions.map { String(format: "%.4f", $0) })"
        case .truncation: String(format: "truncation at %.4f", positions[0])
        case .zeroedBlock: String(format: "%d zeroed bytes at %.4f", length, positions[0])
        case .header: "\(positions.count) header byte(s) replaced at \(positions.map { String(format: "%.3f", $0) })"
        }
    }
}

/// A small seeded generator (SplitMix64): the same seed gives the same cases on every machine.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
