import ArgumentParser
import Foundation
import HeliosMedia
import HeliosOrchestrator
import HeliosStorage

/// `helios job plan`
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Cut a timeline into chunks and write a job spec.",
        discussion: "Command placeholders: {start} {count} {end} (inclusive) {output} {chunk}. Output pattern: {chunk} {start} {end}.")

    @Option(help: "Job id ([A-Za-z0-9._-]).") var id: String
    @Option(help: "Total frames.") var frames: Int
    @Option(help: "Frames per second.") var fps: Double
    @Option(help: "Width in pixels.") var width: Int
    @Option(help: "Height in pixels.") var height: Int
    @Option(help: "Frames per chunk.") var chunkSize: Int?
    @Option(help: "Number of chunks (alternative to --chunk-size).") var chunks: Int?
    @Option(help: "Command template run for each chunk, without a shell.") var command: String
    @Option(help: "Chunk output path pattern, relative to the job directory.") var outputPattern = "chunks/chunk-{chunk}.mp4"
    @Option(help: "Merge command ({inputs}, {list}, {output}); default: the native stitcher.") var mergeCommand: String?
    @Option(help: "Assets URL recorded in the spec.") var assetsUrl: String?
    @Option(name: [.short, .long], help: "Write the spec here instead of stdout.") var out: String?

    func validate() throws {
        if (chunkSize == nil) == (chunks == nil) { throw ValidationError("give exactly one of --chunk-size and --chunks") }
    }

    func run() async throws {
        try await withExitCodes {
            let split: JobPlanner.Split = chunkSize.map { .framesPerChunk($0) } ?? .chunkCount(chunks ?? 1)
            let spec = try JobPlanner(id: id, totalFrames: frames, fps: fps, width: width, height: height, split: split,
                                      commandTemplate: command, outputPattern: outputPattern, mergeCommand: mergeCommand,
                                      assetsUrl: assetsUrl).plan()
            let data = try JobSpec.makeEncoder().encode(spec) + Data("\n".utf8)
            if let out {
                try data.write(to: URL(fileURLWithPath: out), options: .atomic)
                printError("wrote \(out): job \(spec.id), \(spec.chunks.count) chunks")
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }
}

/// `helios job status ID`
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a job's state and progress.")
    @Argument(help: "Job id.") var id: String
    @Flag(help: "Print the full status as JSON.") var json = false
    @Flag(help: "Print the native stitcher's report of the merge instead (as JSON with --json).") var report = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await withExitCodes {
            let manager = try store.manager()
            let status = try await manager.get(id)
            if report {
                guard let text = try await manager.report(id) else {
                    printError("error: job \(id) has no stitch report (\(status.state.rawValue); reports exist once the native stitcher merged it)")
                    throw ExitCode(HeliosExit.wrongState)
                }
                if json {
                    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print(try JSONDecoder().decode(StitchReport.self, from: Data(text.utf8))
                        .summary(progressive: status.metrics.mergeProgressive == true))
                }
            } else if json {
                print(String(decoding: try JobSpec.makeEncoder().encode(status), as: UTF8.self))
            } else {
                print(status.summary)
            }
        }
    }
}

/// `helios job list`
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the stored jobs; unreadable records are reported (exit 7).")
    @Flag(help: "Print JSON: an array of {id, state, progress, completedChunks, totalChunks, updatedAt}.") var json = false
    @OptionGroup var store: StoreOptions

    struct Row: Codable { var id: String; var state: JobState; var progress: Double; var completedChunks: Int; var totalChunks: Int; var updatedAt: Date }

    func run() async throws {
        try await withExitCodes {
            let listing = try await store.manager().list()
            if json {
                let rows = listing.jobs.map { Row(id: $0.id, state: $0.state, progress: $0.progress, completedChunks: $0.completedChunks, totalChunks: $0.totalChunks, updatedAt: $0.updatedAt) }
                print(String(decoding: try JobSpec.makeEncoder().encode(rows), as: UTF8.self))
            } else {
                let idWidth = max(2, listing.jobs.map(\.id.count).max() ?? 0)
                print("ID".padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  STATE       CHUNKS      UPDATED")
                for job in listing.jobs {
                    let chunks = "\(job.completedChunks)/\(job.totalChunks)"
                    print(job.id.padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  "
                          + job.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                          + chunks.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                          + InternetDate.format(job.updatedAt))
                }
            }
            for problem in listing.problems { printError("warning: \(problem)") }
            if !listing.problems.isEmpty { throw ExitCode(HeliosExit.storeError) }
        }
    }
}

/// `helios job pause ID`
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause a job; a running job stops within a second, keeping completed chunks.")
    @Argument(help: "Job id.") var id: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await requestStop("pause", id: id, store: store) { try await $0.pause($1) }
    }
}

/// `helios job cancel ID`
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job; a running job stops within a second.")
    @Argument(help: "Job id.") var id: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await requestStop("cancel", id: id, store: store) { try await $0.cancel($1) }
    }
}

/// Stores a pause or cancel request through `request` and says what happens next: a running job stops within a
/// second (its runner polls for requests); any other is already where the request leaves it.
private func requestStop(_ verb: String, id: String, store: StoreOptions,
                         _ request: (JobManager, String) async throws -> JobStatus) async throws {
    try await withExitCodes {
        let status = try await request(try store.manager(), id)
        print(status.state.isActive ? "\(verb) requested; job \(id) stops within a second" : "job \(id) is \(status.state.rawValue)")
    }
}

/// `helios job delete ID`
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Remove a job that is not running from the store (files on disk are kept).")
    @Argument(help: "Job id.") var id: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await withExitCodes {
            try await store.manager().delete(id)
            print("deleted job \(id)")
        }
    }
}
