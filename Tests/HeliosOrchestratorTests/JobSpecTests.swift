import Foundation
import HeliosOrchestrator
import Testing

@Suite("Job specs, planning and command splitting")
struct JobSpecTests {
    @Test func validationListsEveryProblemAtOnce() throws {
        let spec = JobSpec(
            id: "bad/id", metadata: JobMetadata(totalFrames: 100, fps: 25, width: 64, height: 64),
            chunks: [
                RenderJobChunk(id: "a", startFrame: 0, frameCount: 30, outputFile: "a.mp4", command: "render a"),
                RenderJobChunk(id: "a", startFrame: 20, frameCount: 20, outputFile: "../escape.mp4", command: "render b"),
                RenderJobChunk(id: "c", startFrame: 50, frameCount: 20, outputFile: "/abs/c.mp4", command: "   "),
            ])
        let error = try #require(throws: OrchestratorError.self) { try spec.validate() }
        guard case .invalidSpec(let id, let problems) = error else { Issue.record("wrong error \(error)"); return }
        #expect(id == "bad/id")
        let text = problems.joined(separator: "\n")
        #expect(text.contains("job id 'bad/id'"))
        #expect(text.contains("chunk 'a': duplicate chunk id"))
        #expect(text.contains("'../escape.mp4' must not contain '..'"))
        #expect(text.contains("'/abs/c.mp4' must be relative"))
        #expect(text.contains("chunk 'c': command is empty"))
        #expect(text.contains("frames 20..<30 overlap"))
        #expect(text.contains("frames 40..<50 are not covered"))
        #expect(text.contains("frames 70..<100 are not covered"))
        #expect(problems.count == 8)
    }

    @Test func unparsableCommandAndMissingFileAreReportedByName() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let spec = makeSpec(id: "q", chunks: 2) { $0 == 1 ? "render 'unterminated" : "render" }
        #expect(spec.problems() == ["chunk 'c1': command cannot be parsed: unterminated ' quote"])
        let missing = try #require(throws: OrchestratorError.self) { _ = try JobSpec.load(from: dir.url.appendingPathComponent("none.json")) }
        #expect("\(missing)".hasPrefix(dir.path("none.json") + ": "))
        try Data("{\"id\": \"x\"}".utf8).write(to: dir.url.appendingPathComponent("partial.json"))
        let error = try #require(throws: OrchestratorError.self) { _ = try JobSpec.load(from: dir.url.appendingPathComponent("partial.json")) }
        #expect("\(error)".contains("partial.json: not a job spec: missing key"))
    }

    @Test func specJSONRoundTripsWithStableKeys() throws {
        let spec = makeSpec(id: "round", chunks: 3, mergeCommand: "cat {inputs}") { "render \($0)" }
        let data = try JobSpec.makeEncoder().encode(spec)
        #expect(try JobSpec.makeDecoder().decode(JobSpec.self, from: data) == spec)
        #expect(try JobSpec.makeEncoder().encode(spec) == data)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"totalFrames\" : 3"))
        #expect(text.contains("\"outputFile\" : \"out/c0.bin\""))
    }

    /// A chunk keeps its output path and command in one string: every pair reads back as given, whatever it holds
    /// (a path with digits and colons, an empty one, non-ASCII text, a NUL), distinct pairs stay distinct, each can be
    /// changed alone, and the JSON is a chunk's five members as before.
    @Test func outputPathAndCommandReadBackAsGiven() throws {
        let pairs = [("out/c0.bin", "render 0"), ("12:3:x.mp4", "4:cp a b"), ("", ""), ("", "render"), ("a.mp4", ""),
                     ("vidéo/🎬 1.mov", "rendre «1»"), ("nul\u{0}.mp4", "cmd\u{0}arg"), ("a", "bc"), ("ab", "c")]
        var seen = Set<RenderJobChunk>()
        for (outputFile, command) in pairs {
            var chunk = RenderJobChunk(id: "c", startFrame: 0, frameCount: 1, outputFile: outputFile, command: command)
            #expect(chunk.outputFile == outputFile && chunk.command == command)
            #expect(seen.insert(chunk).inserted, "\(outputFile) | \(command)")
            let json = try JobSpec.makeEncoder(pretty: false).encode(chunk)
            let members = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
            #expect(Set(members.keys) == ["id", "startFrame", "frameCount", "outputFile", "command"])
            #expect(members["outputFile"] as? String == outputFile && members["command"] as? String == command)
            #expect(try JobSpec.makeDecoder().decode(RenderJobChunk.self, from: json) == chunk)
            chunk.command = "other 7"
            #expect(chunk.outputFile == outputFile && chunk.command == "other 7")
            chunk.outputFile = "7:z"
            #expect(chunk.outputFile == "7:z" && chunk.command == "other 7")
        }
    }

    /// A job holds its decoded spec to its end: its chunks sit in an array of their own size, not the doubled room
    /// decoding grew it to (9,000 chunks grow to room for 12,288 or more). The allocator may round any array up (glibc
    /// to 16 bytes, jemalloc, which the test bundle links, to its size classes), so the bound is the room an array
    /// made for exactly that many chunks gets.
    @Test func decodedChunksTakeTheirOwnRoom() throws {
        let spec = makeSpec(id: "room", chunks: 9_000) { "render \($0)" }
        let decoded = try JobSpec.makeDecoder().decode(JobSpec.self, from: JobSpec.makeEncoder().encode(spec))
        #expect(decoded == spec)
        let exact = [RenderJobChunk](unsafeUninitializedCapacity: spec.chunks.count) { _, count in count = 0 }
        #expect(decoded.chunks.capacity <= exact.capacity, "\(decoded.chunks.capacity), exact \(exact.capacity)")
        #expect(exact.capacity < 12_288)
    }

    @Test func plannerCutsContiguousChunksAndFillsTemplates() throws {
        let spec = try JobPlanner(id: "plan", totalFrames: 250, fps: 25, width: 1920, height: 1080, split: .framesPerChunk(100),
                                  commandTemplate: "render --from {start} --count {count} --to {end} --chunk {chunk} -o {output}",
                                  outputPattern: "parts/part-{chunk}.mp4").plan()
        #expect(spec.chunks.map(\.startFrame) == [0, 100, 200])
        #expect(spec.chunks.map(\.frameCount) == [100, 100, 50])
        #expect(spec.chunks[2].command == "render --from 200 --count 50 --to 249 --chunk 2 -o parts/part-2.mp4")
        #expect(spec.metadata.duration == 10)
        #expect(spec.metadata.width == 1920)

        let even = try JobPlanner(id: "even", totalFrames: 10, fps: 30, width: 8, height: 8, split: .chunkCount(12 - 9),
                                  commandTemplate: "r {start}", outputPattern: "c{chunk}.mkv").plan()
        #expect(even.chunks.map(\.frameCount) == [4, 3, 3])
        let many = try JobPlanner(id: "many", totalFrames: 12, fps: 30, width: 8, height: 8, split: .chunkCount(12),
                                  commandTemplate: "r", outputPattern: "c{chunk}.ts").plan()
        #expect(many.chunks.first?.outputFile == "c00.ts")
        #expect(many.chunks.last?.id == "chunk-11")

        #expect(throws: OrchestratorError.invalidSpec(jobId: "z", problems: [
            "total frames must be positive (is 0)", "chunk size must be positive (is 0)",
            "output pattern 'same.mp4' must contain {chunk} or {start} so chunk outputs differ",
        ])) {
            _ = try JobPlanner(id: "z", totalFrames: 0, fps: 1, width: 1, height: 1, split: .framesPerChunk(0),
                               commandTemplate: "r", outputPattern: "same.mp4").plan()
        }
    }

    @Test func plannerCutsChunksOfGivenUnevenSizes() throws {
        let spec = try JobPlanner(id: "uneven", totalFrames: 14, fps: 30, width: 8, height: 8, split: .chunkSizes([5, 1, 7, 1]),
                                  commandTemplate: "r --start {start} --count {count} -o {output}", outputPattern: "c{chunk}.mkv").plan()
        #expect(spec.chunks.map(\.startFrame) == [0, 5, 6, 13])
        #expect(spec.chunks.map(\.frameCount) == [5, 1, 7, 1])
        #expect(spec.chunks[3].command == "r --start 13 --count 1 -o c3.mkv")

        func problems(_ sizes: [Int], total: Int) -> [String] {
            do {
                _ = try JobPlanner(id: "bad", totalFrames: total, fps: 30, width: 8, height: 8, split: .chunkSizes(sizes),
                                   commandTemplate: "r", outputPattern: "c{chunk}.mkv").plan()
                return []
            } catch OrchestratorError.invalidSpec(_, let problems) {
                return problems
            } catch {
                return ["\(error)"]
            }
        }
        #expect(problems([], total: 3) == ["chunk sizes are empty"])
        #expect(problems([2, 0, 1], total: 3) == ["chunk size at position 1 must be positive and at most 1000000000000 (is 0)"])
        #expect(problems([2, 2], total: 3) == ["chunk sizes add up to 4, not the total frames 3"])
        // Sizes that would overflow the sum are refused one by one, not added (a wrapped sum could even match).
        #expect(problems([Int.max, 2], total: 3) == ["chunk size at position 0 must be positive and at most 1000000000000 (is \(Int.max))"])
        #expect(problems([Int.max, Int.max, 2], total: 0) == ["total frames must be positive (is 0)",
                                                               "chunk size at position 0 must be positive and at most 1000000000000 (is \(Int.max))"])
    }

    @Test func commandLinesSplitLikeAShellWithoutExpanding() throws {
        #expect(try CommandLineSplitter.split(#"ffmpeg -i "my file.mov" -vf 'scale=1:2' a\ b"#) == ["ffmpeg", "-i", "my file.mov", "-vf", "scale=1:2", "a b"])
        #expect(try CommandLineSplitter.split(#"echo *.mp4 $HOME "\$x \"q\"" ''"#) == ["echo", "*.mp4", "$HOME", "$x \"q\"", ""])
        #expect(throws: CommandLineSplitter.SplitError.unterminatedQuote("\"")) { try CommandLineSplitter.split("a \"b") }
        #expect(throws: CommandLineSplitter.SplitError.trailingBackslash) { try CommandLineSplitter.split("a \\") }
        for arg in ["plain", "with space", "it's", "", "$x*"] {
            #expect(try CommandLineSplitter.split("cmd " + CommandLineSplitter.quote(arg)) == ["cmd", arg])
        }
    }
}
