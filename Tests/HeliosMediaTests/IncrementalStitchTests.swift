import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// An `IncrementalStitch` fed one input at a time must write, while the inputs arrive, every input but the last, and
/// `finish()` must commit exactly the bytes and report a batch stitch of the same inputs gives; an input that does not
/// fit must be refused when it arrives, with the batch stitch's issues, and nothing left behind.
@Suite("Incremental stitch: input by input equals the batch", .serialized)
struct IncrementalStitchTests {
    /// What stitching gave: the output's bytes and report, or the error.
    enum Outcome {
        case stitched(Data, StitchReport)
        case failed(StitchError)
    }

    static func batch(_ files: [URL], into output: URL, options: StitchOptions = StitchOptions()) -> Outcome {
        do {
            let report = try NativeStitcher(options: options).stitchSync(files, to: output)
            return .stitched(try Data(contentsOf: output), report)
        } catch let error as StitchError { return .failed(error) } catch { return .failed(.usage("\(error)")) }
    }

    /// Appends the files one by one; after each append (from the second on) every input before it is written.
    static func incremental(_ files: [URL], into output: URL, options: StitchOptions = StitchOptions(),
                            expectedInputs: Int? = nil) -> (Outcome, restarts: Int, written: [Int]) {
        var written: [Int] = []
        var restarts = 0
        do {
            let stitch = try IncrementalStitch(output: output, options: options, expectedInputs: expectedInputs)
            for file in files {
                try stitch.append(file)
                written.append(stitch.inputsWritten)
                restarts = stitch.restarts
            }
            let report = try stitch.finish()
            restarts = stitch.restarts
            return (.stitched(try Data(contentsOf: output), report), restarts, written)
        } catch let error as StitchError { return (.failed(error), restarts, written) } catch { return (.failed(.usage("\(error)")), restarts, written) }
    }

    /// The error issues of an `.invalidInputs` failure.
    static func errors(_ error: StitchError) -> [StitchIssue]? {
        guard case .invalidInputs(let report) = error else { return nil }
        return report.issues.filter { $0.severity == .error }
    }

    /// The report without its wall time and output path.
    static func timeless(_ report: StitchReport) -> StitchReport {
        var report = report
        report.output?.path = ""
        report.output?.elapsedSeconds = 0
        report.output?.megabytesPerSecond = 0
        return report
    }

    @Test("the same bytes and report as a batch stitch, inputs written as they arrive", arguments: ProbeModeTests.sets)
    func sameAsBatch(set: String) async throws {
        let files = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ext = files[0].pathExtension == "m4a" ? "m4a" : files[0].pathExtension
        let batchOutput = dir.appendingPathComponent("batch.\(ext)"), stepOutput = dir.appendingPathComponent("steps.\(ext)")
        let batch = Self.batch(files, into: batchOutput)
        let (steps, restarts, written) = Self.incremental(files, into: stepOutput)
        switch (batch, steps) {
        case (.stitched(let a, let reportA), .stitched(let b, let reportB)):
            #expect(a == b, "\(set): \(a.count) bytes batch, \(b.count) input by input (\(restarts) restarts)")
            #expect(Self.timeless(reportA) == Self.timeless(reportB))
            // From the second append on, everything but the newest input is in the output already, unless a timing
            // issue that a later input clears held the writes back (a stretched 2-frame fragmented chunk before the
            // first chunk long enough to show the frame duration).
            let held = set == "matrix-fmp4-h264-bf3-c" || set == "matrix-fmp4-hevc-bf0-c"
            #expect(held ? zip(written, files.indices).allSatisfy { $0 <= $1 } && written.last == files.count - 1
                         : written == Array(files.indices), "\(set): inputs written after each append \(written)")
        case (.failed(let a), .failed(let b)):
            if let batchErrors = Self.errors(a) {
                // Refused when the input that does not fit arrives: its issues are the batch stitch's.
                let stepErrors = try #require(Self.errors(b), "\(set): batch \(a), input by input \(b)")
                #expect(!stepErrors.isEmpty && stepErrors.allSatisfy(batchErrors.contains), "\(set): \(stepErrors) vs \(batchErrors)")
            } else {
                #expect("\(a)" == "\(b)")
            }
            #expect(!FileManager.default.fileExists(atPath: stepOutput.path))
        default:
            Issue.record("\(set): batch \(batch), input by input \(steps)")
        }
        // Nothing but the outputs in the directory: the partial output never had a name.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names.allSatisfy { $0 == batchOutput.lastPathComponent || $0 == stepOutput.lastPathComponent }, "\(names)")
    }

    @Test("chunks rendered alike share their probes' storage, each keeping its own byte counts; written rows let go; the batch's bytes")
    func alikeChunksShareProbes() async throws {
        let files = try await FixtureCache.shared.files("mp4-h264-aac-10")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let stitch = try IncrementalStitch(output: dir.appendingPathComponent("steps.mp4"), expectedInputs: files.count)
        for file in files { try stitch.append(file) }
        let probed = stitch.probed
        // Ten 30-frame chunks of other pictures and sound: the same timings, other sizes.
        #expect(Set(probed.map { $0.streams[0].payloadBytes }).count == files.count)
        for k in 1..<probed.count {
            for s in probed[k].streams.indices {
                #expect(probed[k].streams[s].sharesStorage(with: probed[0].streams[s]), "input \(k + 1) stream \(s)")
            }
        }
        // Each equals its own probe, made apart from the others.
        var reference: ProbeReference?
        for (k, file) in files.enumerated() {
            let alone = try MediaProbe.probe(file, reference: &reference)
            #expect(probed[k] == alone && !alone.streams[0].sharesStorage(with: probed[k].streams[0]), "input \(k + 1)")
        }
        // The rows of the inputs written before the last step are let go of.
        #expect(stitch.inputsWritten == files.count - 1 && stitch.builder?.releasedRows == files.count - 2)
        let report = try stitch.finish()
        guard case .stitched(let bytes, let batchReport) = Self.batch(files, into: dir.appendingPathComponent("batch.mp4")) else {
            Issue.record("the batch stitch failed")
            return
        }
        #expect(try Data(contentsOf: dir.appendingPathComponent("steps.mp4")) == bytes)
        #expect(Self.timeless(report) == Self.timeless(batchReport))
    }

    @Test("a later chunk with a longer B-frame delay writes the output again, to the batch's bytes")
    func restartsWhenTheDecodeDelayGrows() async throws {
        // Two 1-frame chunks (no B-frame delay) are written before a 2-frame chunk and a 5-frame one raise the delay.
        let files = try await FixtureCache.shared.files("matrix-mp4-h264-bf3-c")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        guard case .stitched(let a, _) = Self.batch(files, into: dir.appendingPathComponent("a.mp4")) else {
            Issue.record("batch stitch failed")
            return
        }
        let (steps, restarts, _) = Self.incremental(files, into: dir.appendingPathComponent("b.mp4"))
        guard case .stitched(let b, let report) = steps else {
            Issue.record("incremental stitch failed: \(steps)")
            return
        }
        #expect(restarts >= 1)
        #expect(a == b)
        #expect(report.output?.videoFrames == Int64(ChunkMatrixTests.splits["c"]!.reduce(0, +)))
        let frames = try await Oracle.frameHashes(dir.appendingPathComponent("b.mp4"))
        #expect(frames.count == ChunkMatrixTests.splits["c"]!.reduce(0, +))
    }

    @Test("faststart with the expected input count reserves the index while writing; too few expected falls back to the rewrite")
    func faststart() async throws {
        let files = try await FixtureCache.shared.files("matrix-mp4-h264-bf3-a")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = StitchOptions()
        options.faststart = true
        guard case .stitched(_, let batch) = Self.batch(files, into: dir.appendingPathComponent("batch.mp4"), options: options) else {
            Issue.record("batch stitch failed")
            return
        }
        for (expected, method) in [(files.count, FaststartMethod.reserved), (1, .reserved)] {
            let output = dir.appendingPathComponent("expected-\(expected).mp4")
            let (outcome, _, written) = Self.incremental(files, into: output, options: options, expectedInputs: expected)
            guard case .stitched(_, let report) = outcome else {
                Issue.record("expected \(expected): \(outcome)")
                continue
            }
            #expect(written.last == files.count - 1, "written while appending: \(written)")
            // Sized when the first inputs open the output: with the count known, the reservation holds the index.
            #expect(expected == files.count ? report.output?.faststart == method
                                            : report.output?.faststart == method || report.output?.faststart == .rewritten)
            #expect(report.output?.videoFrames == batch.output?.videoFrames)
            #expect(try await Oracle.frameHashes(output) == Oracle.frameHashes(dir.appendingPathComponent("batch.mp4")))
            // The index is at the front either way.
            let head = try FileHandle(forReadingFrom: output).read(upToCount: 64) ?? Data()
            #expect(head.range(of: Data("moov".utf8)) != nil || head.range(of: Data("free".utf8)) == nil)
        }
        // Too small a reservation for everything: written while appending, then rewritten at finish.
        options.reservedIndexBytes = 64
        let output = dir.appendingPathComponent("tiny.mp4")
        let (outcome, _, written) = Self.incremental(files, into: output, options: options, expectedInputs: files.count)
        guard case .stitched(_, let report) = outcome else {
            Issue.record("tiny reservation: \(outcome)")
            return
        }
        #expect(written.last == files.count - 1)
        #expect(report.output?.faststart == .rewritten)
        #expect(try await Oracle.frameHashes(output) == Oracle.frameHashes(dir.appendingPathComponent("batch.mp4")))
    }

    @Test("cancel stops the next append; finish and append after discard are refused; no output is left")
    func cancelAndDiscard() async throws {
        let files = try await FixtureCache.shared.files("matrix-mp4-h264-bf0-a")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4")
        let stitch = try IncrementalStitch(output: output)
        try stitch.append(contentsOf: Array(files.prefix(2)))
        #expect(stitch.inputsWritten == 1)
        stitch.cancel()
        #expect { try stitch.append(files[2]) } throws: { error in
            if case .cancelled = error as? StitchError { return true } else { return false }
        }
        stitch.discard()
        #expect(throws: StitchError.self) { try stitch.finish() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // An output that is one of the inputs is refused when that input arrives.
        let copy = dir.appendingPathComponent("a.mp4")
        try FileManager.default.copyItem(at: files[0], to: copy)
        var options = StitchOptions()
        options.force = true
        let clash = try IncrementalStitch(output: copy, options: options)
        #expect { try clash.append(copy) } throws: { error in
            if case .outputIsInput(let path) = error as? StitchError { return path == copy.path } else { return false }
        }
    }

    /// After the durable point the stitch refuses more inputs and still reports.
    @Test("inputs given as paths (URLs made as needed) stitch to the same bytes as URLs")
    func pathsEqualURLs() async throws {
        let files = try await FixtureCache.shared.files("mp4-h264-aac")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let byURL = dir.appendingPathComponent("urls.mp4"), byPath = dir.appendingPathComponent("paths.mp4")
        let fromURLs = try await NativeStitcher().stitch(files, to: byURL)
        let fromPaths = try await NativeStitcher().stitch(paths: files.map(\.path), to: byPath)
        #expect(try Data(contentsOf: byURL) == Data(contentsOf: byPath))
        #expect(fromPaths.inputs == fromURLs.inputs && fromPaths.boundaries == fromURLs.boundaries)
        let committed = dir.appendingPathComponent("committed.mp4")
        let stitch = try IncrementalStitch(output: committed)
        try stitch.append(contentsOf: files)
        try stitch.commit()
        #expect(stitch.inputCount == files.count)
        #expect(throws: StitchError.self) { try stitch.append(files[0]) }
        #expect(try stitch.finish().inputs == fromURLs.inputs)
        #expect(try Data(contentsOf: committed) == Data(contentsOf: byURL))
    }
}
