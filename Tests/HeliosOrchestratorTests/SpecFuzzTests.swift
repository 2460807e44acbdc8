import Foundation
import HeliosOrchestrator
import Testing

/// A small deterministic generator (SplitMix64): every failure is reproducible from the printed seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededGenerator {
    /// Integers where arithmetic breaks: the 64-bit edges, the orchestrator's limits and their neighbours, small values.
    mutating func edgyInt() -> Int {
        let edges = [Int.min, Int.min + 1, -1, 0, 1, 2, 3, 7, 1000, JobSpec.maximumFrames - 1, JobSpec.maximumFrames,
                     JobSpec.maximumFrames + 1, JobSpec.maximumChunks, JobSpec.maximumChunks + 1, Int.max / 2, Int.max - 1, Int.max]
        switch Int.random(in: 0..<4, using: &self) {
        case 0: return Int.random(in: Int.min...Int.max, using: &self)
        case 1: return Int.random(in: -5...50, using: &self)
        default: return edges.randomElement(using: &self)!
        }
    }

    mutating func pick<T>(_ values: [T]) -> T { values.randomElement(using: &self)! }

    /// An output path made of fragments that normalise, alias, escape or are invalid.
    mutating func outputPath() -> String {
        let parts = ["chunks", "a.mp4", "", ".", "..", "out", "b.bin", "~", "/", "x\u{0}y", "c d"]
        return (0..<Int.random(in: 1...4, using: &self)).map { _ in pick(parts) }.joined(separator: pick(["/", "//", "/./"]))
    }

    /// A valid spec with 0-3 random perturbations: absurd numbers, gaps, duplicate or empty ids, aliasing or
    /// escaping paths, unparsable commands, bad metadata. A quarter come out unperturbed (valid).
    mutating func spec() -> JobSpec {
        let count = Int.random(in: 1...6, using: &self)
        var spec = JobSpec(id: "job", metadata: JobMetadata(totalFrames: count * 3, fps: 25, width: 16, height: 16),
                           chunks: (0..<count).map { RenderJobChunk(id: "c\($0)", startFrame: $0 * 3, frameCount: 3, outputFile: "out/c\($0).bin", command: "render \($0)") })
        for _ in 0..<Int.random(in: 0...3, using: &self) {
            let i = Int.random(in: 0..<count, using: &self)
            switch Int.random(in: 0..<10, using: &self) {
            case 0: spec.chunks[i].startFrame = edgyInt()
            case 1: spec.chunks[i].frameCount = edgyInt()
            case 2: spec.metadata.totalFrames = edgyInt()
            case 3: spec.chunks[i].id = pick(["", "c0", "\(i)", spec.chunks[count - 1].id])
            case 4: spec.chunks[i].outputFile = outputPath()
            case 5: spec.chunks[i].command = pick(["", "'open", "a\\", "sh -c 'x'", "  "])
            case 6: spec.metadata.fps = pick([0, -1, .nan, .infinity, 1e300, 29.97])
            case 7: spec.metadata.width = edgyInt(); spec.metadata.height = pick([16, edgyInt()])
            case 8: spec.id = pick(["", "..", "j/k", String(repeating: "x", count: 129), "ok.1", "7"])
            default:  // a frame count grown by one: the last chunk or the total has to follow
                spec.chunks[i].frameCount &+= 1
                if Int.random(in: 0..<2, using: &self) == 0 { spec.metadata.totalFrames &+= 1 }
            }
        }
        return spec
    }
}

@Suite("Spec decoder, validator and planner under generated input")
struct SpecFuzzTests {
    static let seed: UInt64 = 0x4865_6C69_6F73  // fixed: the suite is deterministic; change it to explore
    static let iterations = 3000

    /// Validation never traps, and a spec it accepts really is sound: frames tile 0..<totalFrames, ids are unique,
    /// outputs are distinct files in normal form, numbers are within the limits.
    @Test func validationIsTotalAndAcceptedSpecsAreSound() throws {
        var rng = SeededGenerator(seed: Self.seed)
        var accepted = 0
        for iteration in 0..<Self.iterations {
            let spec = rng.spec()
            let problems = spec.problems()
            guard problems.isEmpty else { continue }
            accepted += 1
            let context = "seed \(Self.seed) iteration \(iteration): \(spec)"
            #expect(Set(spec.chunks.map(\.id)).count == spec.chunks.count, "\(context)")
            let outputs = spec.chunks.map { try? OutputPath.normalize($0.outputFile).get() }
            #expect(!outputs.contains(nil) && Set(outputs).count == outputs.count, "\(context)")
            var next = 0
            for chunk in spec.chunks {
                #expect(chunk.startFrame == next && chunk.frameCount > 0 && chunk.frameCount <= JobSpec.maximumFrames, "\(context)")
                next = chunk.startFrame + chunk.frameCount
            }
            #expect(next == spec.metadata.totalFrames && next <= JobSpec.maximumFrames, "\(context)")
        }
        #expect(accepted > 0, "the generator never produced a valid spec: it tests nothing")
        print("spec fuzz: \(Self.iterations) generated specs validated, \(accepted) accepted and checked sound")
    }

    /// The decoder on mutated JSON (numbers beyond 64 bits, fractions, wrong types, truncation, random bytes)
    /// either throws a decoding error or yields a spec that validates without trapping; and every accepted spec
    /// survives the stable JSON round trip unchanged.
    @Test func decodingMutatedJSONNeverTraps() throws {
        var rng = SeededGenerator(seed: Self.seed ^ 0xD1CE)
        let numbers = ["9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e400", "-0", "1.5", "0.0", "null",
                       "\"7\"", "true", "[]", "{}", "99999999999999999999999999"]
        var decoded = 0
        for _ in 0..<Self.iterations {
            // Non-finite frame rates cannot be written as JSON; their specs are the validator's business above.
            guard let encoded = try? JobSpec.makeEncoder(pretty: false).encode(rng.spec()) else { continue }
            var text = String(decoding: encoded, as: UTF8.self)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0:  // replace a number (or the value after a key) with an awkward token
                    let keys = ["\"startFrame\":", "\"frameCount\":", "\"totalFrames\":", "\"id\":", "\"width\":", "\"fps\":"]
                    let key = rng.pick(keys)
                    if let range = text.range(of: key) {
                        let rest = text[range.upperBound...]
                        let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
                        text.replaceSubrange(range.upperBound..<end, with: rng.pick(numbers))
                    }
                case 1:  // truncate
                    text = String(text.prefix(Int.random(in: 0...text.count, using: &rng)))
                case 2:  // flip a byte
                    var bytes = Array(text.utf8)
                    if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                    text = String(decoding: bytes, as: UTF8.self)
                default:  // a numeric chunk id, as the original TypeScript specs have
                    text = text.replacingOccurrences(of: "\"id\":\"c0\"", with: "\"id\":\(rng.edgyInt())")
                }
            }
            guard let spec = try? JobSpec.makeDecoder().decode(JobSpec.self, from: Data(text.utf8)) else { continue }
            decoded += 1
            _ = spec.problems()
            let again = try JobSpec.makeDecoder().decode(JobSpec.self, from: JobSpec.makeEncoder().encode(spec))
            #expect(again == spec, "round trip changed \(text)")
        }
        #expect(decoded > 0)
        print("spec fuzz: \(Self.iterations) mutated JSON documents, \(decoded) decoded, none trapped")
    }

    /// The planner on any parameters either refuses with `invalidSpec` or returns a spec that validates, with at
    /// most `maximumChunks` chunks; it never traps or tries to build billions of chunks.
    @Test func plannerIsTotal() throws {
        var rng = SeededGenerator(seed: Self.seed ^ 0x9A11)
        var planned = 0
        for _ in 0..<600 {
            let total = rng.pick([rng.edgyInt(), Int.random(in: 1...5000, using: &rng)])
            let split: JobPlanner.Split
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: split = .framesPerChunk(rng.pick([rng.edgyInt(), Int.random(in: 1...500, using: &rng), total]))
            case 1: split = .chunkCount(rng.pick([rng.edgyInt(), Int.random(in: 1...50, using: &rng)]))
            default: split = .chunkSizes((0..<Int.random(in: 0...5, using: &rng)).map { _ in rng.pick([rng.edgyInt(), Int.random(in: 1...100, using: &rng)]) })
            }
            let planner = JobPlanner(id: "p", totalFrames: total, fps: 25, width: 16, height: 16, split: split, commandTemplate: "render {start} {count} {output}")
            do {
                let spec = try planner.plan()
                planned += 1
                #expect(spec.problems().isEmpty && spec.chunks.count <= JobSpec.maximumChunks)
                #expect(spec.chunks.reduce(0) { $0 + $1.frameCount } == total)
            } catch let error as OrchestratorError {
                guard case .invalidSpec = error else { Issue.record("unexpected \(error) for \(total) \(split)"); continue }
            }
        }
        #expect(planned > 0)
        print("planner fuzz: 600 parameter sets, \(planned) planned, the rest refused as invalid")
    }
}
