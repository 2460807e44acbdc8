import Foundation
import HeliosMedia
import HeliosOrchestrator
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension E2E {
    /// `helios job run` merging progressively with the real incremental stitcher: chunks rendered by `helios-synth`
    /// child processes, held by gate files so that they complete in a known (out-of-timeline) order, the output
    /// checked frame by frame by SynthVerifier, and the runner killed with SIGKILL mid-job.
    @Suite("Progressive job merge", .timeLimit(.minutes(6)))
    struct ProgressiveJobE2ETests {
        static let pipeline = PipelineCase(label: "6 chunks, H.264+AAC, MP4", totalFrames: 24, split: .chunkSizes([5, 3, 4, 1, 6, 5]),
                                           video: .h264, audio: .aac, container: "mp4")

        /// A planned job whose chunk `i` runs `wrap(i, render command)` in a shell, written to `spec.json`.
        static func writeSpec(_ c: PipelineCase, in dir: URL, id: String,
                              wrap: (Int, String) -> String = { $1 }) throws -> JobSpec {
            var spec = try JobPlanner(id: id, totalFrames: c.totalFrames, fps: Double(c.fps), width: c.width, height: c.height,
                                      split: c.split, commandTemplate: SynthPipeline.commandTemplate(c),
                                      outputPattern: "chunks/chunk-{chunk}.\(c.container)").plan()
            for i in spec.chunks.indices {
                spec.chunks[i].command = "/bin/sh -c " + CommandLineSplitter.quote(wrap(i, spec.chunks[i].command))
            }
            try JobSpec.makeEncoder().encode(spec).write(to: dir.appendingPathComponent("spec.json"))
            return spec
        }

        /// A shell line that blocks until `name` exists in the job directory.
        static func waitFor(_ name: String) -> String { "while [ ! -e \(name) ]; do sleep 0.02; done; " }

        static func repository(_ store: URL) throws -> SQLiteJobRepository {
            try SQLiteJobRepository(path: store.appendingPathComponent("jobs.sqlite").path)
        }

        /// `helios job status ID --json` as an object.
        static func statusJSON(_ id: String, store: URL) async throws -> [String: Any] {
            let status = try await Tool.checked(Tool.product("helios"), ["job", "status", id, "--store", store.path, "--json"])
            return try #require(try JSONSerialization.jsonObject(with: status.stdout) as? [String: Any])
        }

        /// The stitch report the job recorded, as a pipeline run the SynthVerifier checks can take.
        static func pipelineRun(_ c: PipelineCase, spec: JobSpec, dir: URL, output: URL, store: URL) async throws -> PipelineRun {
            let json = try await Tool.checked(Tool.product("helios"), ["job", "status", spec.id, "--store", store.path, "--report", "--json"])
            let report = try JSONDecoder().decode(StitchReport.self, from: json.stdout)
            return PipelineRun(pipelineCase: c, directory: dir, spec: spec, chunks: spec.chunks.map { dir.appendingPathComponent($0.outputFile) },
                               output: output, report: report)
        }

        /// Names in `directory`, hidden ones included.
        static func entries(_ directory: URL) -> Set<String> {
            Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        }

        @Test("chunks completing out of order are merged progressively into exactly the planned frames; status shows the tail")
        func outOfOrder() async throws {
            let work = try WorkDirectory("progressive")
            defer { work.remove() }
            let c = Self.pipeline
            // Chunk 0 waits for the gate the test opens once chunks 1 and 2 are recorded: it completes after them.
            let spec = try Self.writeSpec(c, in: work.url, id: "prog") { i, render in i == 0 ? Self.waitFor("gate-first") + render : render }
            let store = work.file("store")
            let output = work.file("out/final.mp4")
            try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
            let run = Task {
                try await Tool.run(Tool.product("helios"), ["job", "run", "spec.json", "--store", store.path, "--output", output.path,
                                                            "--concurrency", "3", "--quiet"], in: work.url)
            }
            let recorded = await pollUntil {
                ((try? await Self.repository(store).load("prog"))?.completedChunkIds ?? []).filter { $0 != spec.chunks[0].id }.count >= 2
            }
            try Data().write(to: work.file("gate-first"))
            let result = try await run.value
            try #require(recorded && result.status == 0, "\(result.stderr)")

            let status = try await Self.repository(store).load("prog")
            #expect(status.state == .completed)
            #expect(status.completedChunkIds.first != spec.chunks[0].id, "chunk 0 completed after others: \(status.completedChunkIds)")
            #expect(Self.entries(output.deletingLastPathComponent()) == ["final.mp4"], "nothing but the output beside it")
            try await Self.pipelineRun(c, spec: spec, dir: work.url, output: output, store: store).verifyFrames()

            let json = try await Self.statusJSON("prog", store: store)
            let metrics = try #require(json["metrics"] as? [String: Any])
            let tail = try #require(metrics["mergeTailMs"] as? Double, "status --json has mergeTailMs: \(metrics)")
            #expect(tail >= 0)
            #expect(metrics["mergeProgressive"] as? Bool == true)
            let human = try await Tool.checked(Tool.product("helios"), ["job", "status", "prog", "--store", store.path])
            #expect(human.text.contains("merge tail: ") && human.text.contains("(progressive)"), "\(human.text)")
        }

        @Test("a chunk that does not fit fails the job with the batch stitch's message before the later chunks run")
        func misfit() async throws {
            let work = try WorkDirectory("progressive-misfit")
            defer { work.remove() }
            let c = Self.pipeline
            // Chunk 2's sound is rendered at another sample rate (its picture is the spec's, so the chunk itself is
            // accepted); one chunk at a time, so chunk 3 starts (and blocks forever) when chunk 2 completes, and chunks
            // 4 and 5 can only start if the merge failure is missed.
            let spec = try Self.writeSpec(c, in: work.url, id: "misfit") { i, render in
                switch i {
                case 2: render.replacingOccurrences(of: "--size \(c.width)x\(c.height)", with: "--size \(c.width)x\(c.height) --sample-rate 44100")
                case 3...: "touch started-\(i); sleep 100000"
                default: render
                }
            }
            #expect(spec.chunks[2].command.contains("--sample-rate 44100"))
            let store = work.file("store")
            let output = work.file("final.mp4")
            let result = try await Tool.run(Tool.product("helios"), ["job", "run", "spec.json", "--store", store.path, "--output", output.path,
                                                                     "--concurrency", "1", "--quiet"], in: work.url)
            #expect(result.status != 0)
            let status = try await Self.repository(store).load("misfit")
            #expect(status.state == .failed)
            #expect(status.completedChunkIds == spec.chunks.prefix(3).map(\.id))
            #expect(!FileManager.default.fileExists(atPath: work.file("started-4").path), "chunk 4 ran after the merge failed")
            #expect(!FileManager.default.fileExists(atPath: work.file("started-5").path), "chunk 5 ran after the merge failed")
            #expect(!FileManager.default.fileExists(atPath: output.path))

            // The same three chunk files stitched in one batch: the job's error carries its message.
            let uris = spec.chunks.prefix(3).compactMap { status.chunkOutputs?[$0.id]?.uri }
            try #require(uris.count == 3, "three recorded chunk outputs")
            let inputs = uris.compactMap(URL.init(string:)).map { URL(fileURLWithPath: $0.path) }
            let batch = work.file("batch.mp4")
            do {
                _ = try await NativeStitcher(options: StitchOptions(force: true)).stitch(inputs, to: batch)
                Issue.record("the batch stitch accepted a chunk of another sample rate")
            } catch let batchError as StitchError {
                let message = "\(batchError)"
                let jobError = try #require(status.error)
                #expect(jobError.contains("merge failed"), "\(jobError)")
                #expect(jobError.contains(message), "job error:\n\(jobError)\nbatch stitch:\n\(message)")
            }
        }

        @Test("kill -9 of the runner mid-job, then resume: the merge starts again, the output is exact, no temp file is left")
        func killAndResume() async throws {
            let work = try WorkDirectory("progressive-kill")
            defer { work.remove() }
            let c = Self.pipeline
            let spec = try Self.writeSpec(c, in: work.url, id: "killed") { i, render in i >= 3 ? Self.waitFor("gate-go") + render : render }
            let store = work.file("store")
            let outDir = work.file("out")
            try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
            let output = outDir.appendingPathComponent("final.mp4")

            let runner = Process()
            runner.executableURL = URL(fileURLWithPath: Tool.product("helios"))
            runner.arguments = ["job", "run", "spec.json", "--store", store.path, "--output", output.path, "--concurrency", "2", "--quiet"]
            runner.currentDirectoryURL = work.url
            runner.standardOutput = FileHandle.nullDevice
            runner.standardError = FileHandle.nullDevice
            try runner.run()
            defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
            // Chunks 0-2 completed (and appended while chunks 3 and 4 wait for the gate).
            try #require(await pollUntil { (try? await Self.repository(store).load("killed"))?.completedChunks == 3 })
            kill(runner.processIdentifier, SIGKILL)
            #expect(await pollUntil { !runner.isRunning })
            #expect(Self.entries(outDir).isEmpty, "the killed run left \(Self.entries(outDir)) in the output directory")

            try Data().write(to: work.file("gate-go"))
            let resumed = try await Tool.run(Tool.product("helios"), ["job", "resume", "killed", "--store", store.path, "--quiet"], in: work.url)
            try #require(resumed.status == 0, "\(resumed.stderr)")
            let status = try await Self.repository(store).load("killed")
            #expect(status.state == .completed && status.metrics.mergeProgressive == true)
            #expect(Self.entries(outDir) == ["final.mp4"], "nothing but the output in its directory: \(Self.entries(outDir))")
            #expect(!Self.entries(work.url).contains { $0.hasPrefix(".") }, "no hidden staging left in the job directory: \(Self.entries(work.url))")
            try await Self.pipelineRun(c, spec: spec, dir: work.url, output: output, store: store).verifyFrames()
        }
    }
}
