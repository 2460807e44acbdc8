import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// Inputs after the first are probed two at a time (`ConcurrentProbes`, for inputs of 1 MiB or more; forced here on
/// the small fixtures): a stitch must come out exactly as with one probe at a time, and a bad input among many must
/// fail it with the error a sequential probe reports first.
@Suite("Inputs probed two at a time")
struct ConcurrentProbeTests {
    /// A stitch's outcome: the output's bytes and the report without its timings, or the error.
    enum Outcome: Equatable {
        case stitched(Data, inputs: [InputSummary], boundaries: [BoundaryReport], issues: [StitchIssue])
        case failed(String)
    }

    static func stitch(_ inputs: [URL], concurrently: Bool, into dir: URL, allowRepeat: Bool = false) async -> Outcome {
        var options = StitchOptions(allowRepeat: allowRepeat)
        options.concurrentProbeMinimumInputBytes = concurrently ? 0 : nil
        let output = dir.appendingPathComponent((concurrently ? "concurrent." : "sequential.") + inputs[0].pathExtension)
        defer { try? FileManager.default.removeItem(at: output) }
        do {
            let report = try await NativeStitcher(options: options).stitch(inputs, to: output)
            return .stitched(try Data(contentsOf: output), inputs: report.inputs, boundaries: report.boundaries, issues: report.issues)
        } catch {
            return .failed("\(error)")
        }
    }

    @Test("the same output bytes, inputs, boundaries and issues (or the same error) as one probe at a time",
          arguments: ProbeModeTests.sets)
    func sameOutcome(set: String) async throws {
        let chunks = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The set twice over, so that both threads probe several inputs.
        let inputs = chunks + chunks.dropFirst()
        let sequential = await Self.stitch(inputs, concurrently: false, into: dir, allowRepeat: true)
        let concurrent = await Self.stitch(inputs, concurrently: true, into: dir, allowRepeat: true)
        #expect(concurrent == sequential)
        // The sets a stitch must take (the rest are probe fixtures, some meant to be refused).
        if ChunkMatrixTests.sets.contains(set), case .failed(let error) = sequential { Issue.record("\(set): \(error)") }
    }

    @Test("a damaged, missing or repeated input among many: the same first error, naming the same input")
    func sameFirstError() async throws {
        let chunks = try await FixtureCache.shared.files("mp4-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let damaged = try ProbeModeTests.damagedCopies(of: chunks[1], into: dir)
        let cut = try #require(damaged.first { $0.lastPathComponent.contains("cut50") })
        let flipped = damaged.filter { $0.lastPathComponent.contains("flip") }
        let missing = dir.appendingPathComponent("missing.mp4")
        let sets: [(String, [URL])] = [
            ("a cut input after good ones, another later", [chunks[0], chunks[1], chunks[2], cut] + flipped),
            ("a repeated input before a cut one", [chunks[0], chunks[1], chunks[1], cut]),
            ("a missing input before a cut one", [chunks[0], chunks[1], missing, cut]),
            ("a cut input before a missing one", [chunks[0], cut, chunks[1], missing]),
            ("only damaged copies after input 1", [chunks[0]] + damaged),
        ]
        for (name, inputs) in sets {
            let sequential = await Self.stitch(inputs, concurrently: false, into: dir)
            let concurrent = await Self.stitch(inputs, concurrently: true, into: dir)
            guard case .failed(let error) = sequential else { Issue.record("\(name): expected a failure"); continue }
            #expect(concurrent == sequential, "\(name): sequential \(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix("concurrent") })
    }

    @Test("only inputs of the minimum size go two at a time, on two cores, and none with no minimum")
    func gate() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("big.mp4"), small = dir.appendingPathComponent("small.mp4")
        try Data(count: 1 << 20).write(to: big)
        try Data(count: 1000).write(to: small)
        #expect(ConcurrentProbes.enabled(minimumBytes: 1 << 20) == (sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2))
        #expect(!ConcurrentProbes.enabled(minimumBytes: nil))
        #expect(ConcurrentProbes.isLarge(big, minimumBytes: 1 << 20))
        #expect(!ConcurrentProbes.isLarge(small, minimumBytes: 1 << 20))
        #expect(!ConcurrentProbes.isLarge(dir.appendingPathComponent("missing.mp4"), minimumBytes: 1 << 20))
        #expect(ConcurrentProbes.isLarge(small, minimumBytes: 0))
        #expect(!ConcurrentProbes.isLarge(big, minimumBytes: nil))
    }
}
