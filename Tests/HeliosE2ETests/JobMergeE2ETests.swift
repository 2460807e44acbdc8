import Foundation
import HeliosMedia
import Testing

extension E2E {
    /// The whole pipeline through the CLIs: `helios job plan` → `helios job run` (local workers rendering real
    /// media with ffmpeg) → the in-process native stitcher → ffprobe as an independent check.
    @Suite("Job pipeline end to end")
    struct JobMergeE2ETests {
        @Test("chunks rendered by local workers merge through the native stitcher into exactly the planned frames")
        func renderAndStitch() async throws {
            let work = try WorkDirectory("job-merge")
            let dir = work.url
            defer { work.remove() }
            let helios = Tool.product("helios")
            let command = "ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=160x96:rate=25 "
                + "-vf trim=start_frame={start},setpts=PTS-STARTPTS -frames:v {count} "
                + "-c:v libx264 -threads 1 -preset ultrafast -g 25 -pix_fmt yuv420p {output}"
            let plan = try await Tool.run(helios, ["job", "plan", "--id", "e2e", "--frames", "100", "--fps", "25", "--width", "160", "--height", "96",
                                                   "--chunk-size", "25", "--command", command, "--output-pattern", "chunks/part-{chunk}.mp4",
                                                   "-o", "spec.json"], in: dir)
            #expect(plan.status == 0, "\(plan.stderr)")
            let store = dir.appendingPathComponent("store").path
            let output = dir.appendingPathComponent("final.mp4").path
            let result = try await Tool.run(helios, ["job", "run", "spec.json", "--store", store, "--output", output, "--concurrency", "2"], in: dir)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try await FFmpegOracle.videoStream(URL(fileURLWithPath: output)) == "100")
            let decode = try await Tool.run("/usr/bin/ffmpeg", ["-nostdin", "-v", "warning", "-i", output, "-f", "null", "-"], in: dir)
            #expect(decode.stderr.isEmpty, "decode warnings: \(decode.stderr)")
            let status = try await Tool.run(helios, ["job", "status", "e2e", "--store", store, "--json"], in: dir)
            #expect(status.text.contains("\"completed\""), "\(status.text)")
            // The report is kept apart: the status, read on every poll, does not grow with it.
            #expect(!status.text.contains("reportJSON"), "\(status.text)")

            let report = try await Tool.run(helios, ["job", "status", "e2e", "--store", store, "--report"], in: dir)
            #expect(report.status == 0, "\(report.stderr)")
            #expect(report.text.hasPrefix("stitch: 4 inputs, 4.000 s"), "\(report.text)")
            #expect(report.text.contains("findings: none") && report.text.contains("100 frames"), "\(report.text)")
            // Merged while the chunks rendered: the time is the job's, so no rate of the stitch is claimed from it.
            #expect(report.text.contains("as its chunks completed, over ") && !report.text.contains("MB/s"), "\(report.text)")
            let json = try await Tool.run(helios, ["job", "status", "e2e", "--store", store, "--report", "--json"], in: dir)
            let decoded = try JSONDecoder().decode(StitchReport.self, from: json.stdout)
            #expect(decoded.inputs.count == 4 && decoded.output?.videoFrames == 100)
        }

        @Test("a chunk that keeps failing: each retry names what its command said, and the summary counts what completed")
        func failingChunk() async throws {
            let work = try WorkDirectory("job-failing-chunk")
            defer { work.remove() }
            let helios = Tool.product("helios")
            let command = "/bin/sh -c 'echo rendering {chunk}; if [ {chunk} = 1 ]; then echo \"renderer: out of GPU memory at frame {start}\" >&2; exit 3; fi; echo x > {output}'"
            try await Tool.planJob("failing", frames: 3, fps: 25, width: 64, height: 48, chunk: 1, command: command,
                                   pattern: "c{chunk}.txt", in: work.url)
            let run = try await Tool.run(helios, ["job", "run", "spec.json", "--store", work.file("store").path, "--no-merge",
                                                  "--output-check", "nonempty", "--concurrency", "3", "--retries", "1"], in: work.url)
            #expect(run.status != 0)
            // The retry line carries the command's stderr, which follows "stderr:" on a line of its own in the error.
            let retry = try #require(run.stderr.split(separator: "\n").first { $0.contains("retrying in") }, "\(run.stderr)")
            #expect(retry.contains("attempt 1 failed") && retry.contains("stderr: renderer: out of GPU memory at frame 1"), "\(retry)")
            #expect(retry.range(of: #"retrying in \d+\.\d\d s:"#, options: .regularExpression) != nil, "\(retry)")
            // Chunks 0 and 2 complete while chunk 1 waits for its retry (unless a slow machine cancels one first).
            #expect(run.text.contains("2 attempts for 2 completed chunks") || run.text.contains("1 attempt for 1 completed chunk"), "\(run.text)")
            #expect(run.text.contains("chunk 'chunk-1' failed after 2 attempts"), "\(run.text)\(run.stderr)")
        }

        @Test("a renderer that renders one frame too few fails its chunk at once, naming both counts; --output-check nonempty lets it through")
        func shortChunk() async throws {
            let work = try WorkDirectory("job-short-chunk")
            defer { work.remove() }
            let helios = Tool.product("helios")
            // Chunk 2 rounds its cut down a frame, as `-t` of a duration that is not a whole number of frames may.
            let command = "/bin/sh -c 'n={count}; [ {chunk} = 2 ] && n=$((n - 1)); ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=160x96:rate=25 "
                + "-vf trim=start_frame={start},setpts=PTS-STARTPTS -frames:v $n -c:v libx264 -threads 1 -preset ultrafast -g 25 -pix_fmt yuv420p {output}'"
            try await Tool.planJob("short", frames: 100, fps: 25, width: 160, height: 96, chunk: 25, command: command,
                                   pattern: "chunks/part-{chunk}.mp4", in: work.url)
            let run = try await Tool.run(helios, ["job", "run", "spec.json", "--store", work.file("store").path, "--concurrency", "1",
                                                  "--retries", "2", "--output", work.file("final.mp4").path], in: work.url)
            #expect(run.status != 0)
            let text = run.text + run.stderr
            #expect(text.contains("holds 24 video frames, but chunk chunk-2 is 25 frames (frames 50 to 74 of the composition)"), "\(text)")
            #expect(text.contains("chunk 'chunk-2' failed after 1 attempt") && !text.contains("retrying"), "\(text)")
            #expect(!FileManager.default.fileExists(atPath: work.file("final.mp4").path))

            // Checking only that each output exists, the job completes: 99 frames.
            let lenient = try await Tool.run(helios, ["job", "run", "spec.json", "--store", work.file("store2").path, "--output-check", "nonempty",
                                                      "--output", work.file("final.mp4").path, "--quiet"], in: work.url)
            #expect(lenient.status == 0, "\(lenient.stderr)")
            #expect(try await FFmpegOracle.videoStream(work.file("final.mp4")) == "99")
        }

        @Test("a renderer at another rate or size than the spec's fails its chunk at once, naming both; HELIOS_WIDTH, HELIOS_HEIGHT and HELIOS_FPS give the spec's")
        func chunkAtAnotherRateOrSize() async throws {
            let work = try WorkDirectory("job-chunk-format")
            defer { work.remove() }
            let helios = Tool.product("helios")
            // Chunk 1 renders at 24 fps, as a renderer with its own default rate would; the others follow the spec.
            let render = "-vf trim=start_frame={start},setpts=PTS-STARTPTS -frames:v {count} -c:v libx264 -threads 1 -preset ultrafast -pix_fmt yuv420p {output}"
            let command = "/bin/sh -c 'r=$HELIOS_FPS; [ {chunk} = 1 ] && r=24; ffmpeg -nostdin -y -v error -f lavfi "
                + "-i testsrc2=size=${HELIOS_WIDTH}x${HELIOS_HEIGHT}:rate=$r \(render)'"
            try await Tool.planJob("rate", frames: 30, fps: 25, width: 160, height: 96, chunk: 10, command: command,
                                   pattern: "chunks/part-{chunk}.mkv", in: work.url)
            let run = try await Tool.run(helios, ["job", "run", "spec.json", "--store", work.file("store").path, "--concurrency", "1",
                                                  "--retries", "2", "--output", work.file("final.mkv").path], in: work.url)
            #expect(run.status == 1)
            var text = run.text + run.stderr
            #expect(text.contains("part-1.mkv holds video at 24 fps (its 10 frames last 0.416 s), but the job is 25 fps"), "\(text)")
            #expect(text.contains("chunk 'chunk-1' failed after 1 attempt") && !text.contains("retrying"), "\(text)")
            #expect(!FileManager.default.fileExists(atPath: work.file("final.mkv").path))

            // A renderer that ignores the spec's size.
            let fixed = "/bin/sh -c 'ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=320x180:rate=$HELIOS_FPS \(render)'"
            try await Tool.planJob("size", frames: 20, fps: 25, width: 160, height: 96, chunk: 10, command: fixed,
                                   pattern: "chunks/size-{chunk}.mp4", spec: "size.json", in: work.url)
            let sized = try await Tool.run(helios, ["job", "run", "size.json", "--store", work.file("store").path, "--concurrency", "1",
                                                    "--output", work.file("size.mp4").path], in: work.url)
            text = sized.text + sized.stderr
            #expect(sized.status == 1)
            #expect(text.contains("holds 320x180 video, but the job is 160x96"), "\(text)")

            // Rendered as the spec says, through the variables: the job completes with every frame.
            let good = "/bin/sh -c 'ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=${HELIOS_WIDTH}x${HELIOS_HEIGHT}:rate=$HELIOS_FPS \(render)'"
            try await Tool.planJob("good", frames: 30, fps: 25, width: 160, height: 96, chunk: 10, command: good,
                                   pattern: "chunks/good-{chunk}.mkv", spec: "good.json", in: work.url)
            let done = try await Tool.run(helios, ["job", "run", "good.json", "--store", work.file("store").path, "--quiet",
                                                   "--output", work.file("good.mkv").path], in: work.url)
            #expect(done.status == 0, "\(done.stderr)")
            #expect(try await FFmpegOracle.videoStream(work.file("good.mkv"), "nb_read_frames,width,height,r_frame_rate") == "160,96,25/1,30")
        }

        @Test("a merge the file system refuses (the file size limit, as a full disk would) fails the job naming the output and why, leaves nothing, and resume merges without rendering again")
        func refusedMergeWrite() async throws {
            let work = try WorkDirectory("job-refused-write")
            defer { work.remove() }
            let helios = Tool.product("helios")
            // About 200 KB a chunk; each run of a chunk's command leaves a line in runs-N.
            let command = "/bin/sh -c 'echo run >> runs-{chunk}; ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=320x240:rate=30 "
                + "-vf trim=start_frame={start},setpts=PTS-STARTPTS -frames:v {count} -c:v libx264 -threads 1 -preset ultrafast -pix_fmt yuv420p {output}'"
            try await Tool.planJob("full", frames: 180, fps: 30, width: 320, height: 240, chunk: 60, command: command,
                                   pattern: "chunks/c-{chunk}.mp4", in: work.url)
            let store = work.file("store").path
            let output = work.file("out/final.mp4")
            try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
            // 400 KiB: room for each chunk and the job store, not for the ~600 KB output. SIGXFSZ is ignored, so
            // writes past it fail with EFBIG, as they would with ENOSPC on a full disk.
            let words = [helios, "job", "run", "spec.json", "--store", store, "--output", output.path, "--concurrency", "1"].map { "'\($0)'" }
            let run = try await Tool.run("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f 400; exec \(words.joined(separator: " "))"], in: work.url)
            #expect(run.status == 1)
            let text = run.text + run.stderr
            #expect(text.contains("merge failed: cannot write \(output.path)") && text.contains("File too large"), "\(text)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path) == [], "a partial output was left")

            let resumed = try await Tool.run(helios, ["job", "resume", "full", "--store", store, "--quiet"], in: work.url)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            for k in 0..<3 {
                #expect(try String(contentsOf: work.file("runs-\(k)"), encoding: .utf8) == "run\n", "chunk \(k) was rendered again")
            }
            #expect(try await FFmpegOracle.videoStream(output) == "180")
        }

        @Test("a job store the file system refuses mid-job stops the runner with exit 7 saying a write failed, keeps what it recorded, and resume finishes the job")
        func refusedStoreWrite() async throws {
            let work = try WorkDirectory("job-refused-store")
            defer { work.remove() }
            let helios = Tool.product("helios")
            let made = try await Tool.run("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-frames:v", "1",
                                                              "-c:v", "libx264", "-pix_fmt", "yuv420p", work.file("one.mp4").path])
            try #require(made.status == 0)
            try await Tool.planJob("store", frames: 200, fps: 30, width: 64, height: 48, chunk: 1, command: "cp \(work.file("one.mp4").path) {output}",
                                   pattern: "chunks/c-{chunk}.mp4", in: work.url)
            let store = work.file("store").path
            // 400 KiB: room for the database and its first chunks' records, not for the write-ahead log of 200.
            let words = [helios, "job", "run", "spec.json", "--store", store, "--output", "final.mp4", "--quiet"].map { "'\($0)'" }
            let run = try await Tool.run("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f 400; exec \(words.joined(separator: " "))"], in: work.url)
            #expect(run.status == 7, "\(run.stderr)")
            #expect(run.stderr.contains("job store: \(store)/jobs.sqlite: a write to it failed (") && run.stderr.contains("free on its file system)"),
                    "\(run.stderr)")
            // What it recorded before the failure is there, whole.
            let status = try await Tool.run(helios, ["job", "status", "store", "--store", store, "--json"], in: work.url)
            #expect(status.status == 0, "\(status.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: status.stdout) as? [String: Any])
            let completed = (json["completedChunkIds"] as? [String])?.count ?? -1
            #expect(completed >= 0 && completed < 200, "\(completed) chunks recorded")
            #expect(!FileManager.default.fileExists(atPath: work.file("final.mp4").path))

            let resumed = try await Tool.run(helios, ["job", "resume", "store", "--store", store, "--quiet"], in: work.url)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try await FFmpegOracle.videoStream(work.file("final.mp4")) == "200")
        }

        @Test("status --report of a job that was not merged says so")
        func noReport() async throws {
            let work = try WorkDirectory("job-no-merge")
            defer { work.remove() }
            let helios = Tool.product("helios")
            let store = work.file("store").path
            _ = try await Tool.checked(helios, ["job", "plan", "--id", "nomerge", "--frames", "2", "--fps", "25", "--width", "64", "--height", "48",
                                                "--chunks", "1", "--command", "/bin/sh -c 'echo x > {output}'", "--output-pattern", "c{chunk}.txt",
                                                "-o", "spec.json"], in: work.url)
            _ = try await Tool.checked(helios, ["job", "run", "spec.json", "--store", store, "--no-merge", "--output-check", "nonempty", "--quiet"],
                                       in: work.url)
            let report = try await Tool.run(helios, ["job", "status", "nomerge", "--store", store, "--report"], in: work.url)
            #expect(report.status == 4, "wrong state: \(report.text)\(report.stderr)")
            #expect(report.stderr.contains("has no stitch report"), "\(report.stderr)")
        }
    }
}
