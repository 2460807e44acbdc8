import ArgumentParser
import Foundation
import HeliosMedia
import HeliosOrchestrator
import HeliosRuntime

/// Options shared by `run` and `resume`.
struct ExecutionOptions: ParsableArguments {
    @Option(help: "Chunks rendered at once.")
    var concurrency: Int?

    @Option(help: "Retries per chunk after its first attempt.")
    var retries: Int?

    @Option(help: ArgumentHelp("Kill a chunk attempt after this many seconds.", valueName: "SECONDS"))
    var timeout: Double?

    @Option(help: ArgumentHelp("Merged output file (default: JOBDIR/ID.EXT).", valueName: "OUT"))
    var output: String?

    @Flag(help: "Skip the merge step: the chunk outputs are the result.")
    var noMerge = false

    @Option(help: "How chunk outputs are checked: media (they must probe as media, their video holding the chunk's frames at the spec's size and frame rate) or nonempty (any non-empty file).")
    var outputCheck: OutputCheck?

    @Flag(help: "No progress output.")
    var quiet = false

    @Option(help: ArgumentHelp("Where chunks run: local[@N] (processes here, the default), lambda:FUNCTION[@N] (AWS Lambda, N invokes in flight) or cloudrun:URL[@N] (a Cloud Run service running helios-worker serve). Repeat it to spread one job over several pools, each with its own N (default 4); a retry may go to another pool.", valueName: "POOL"))
    var workers: [String] = []

    @Option(help: ArgumentHelp("Store remote workers read the spec from and write chunk outputs to: s3://BUCKET/PREFIX or a file:// URI (default: the default store, HELIOS_STORAGE).", valueName: "URI"))
    var storage: String?

    @Option(help: "How the merge places audio: copy (packets copied, the default) or exact (decoded, cut to each chunk's video sample-exactly, encoded once; see helios-stitch --audio).")
    var audio: AudioMode?

    enum OutputCheck: String, ExpressibleByArgument, CaseIterable { case media, nonempty }

    func settings(previous: RunSettings?) throws -> RunSettings {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let retries, retries < 0 { throw ValidationError("--retries must not be negative") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        let poolConcurrency: Int?
        do { poolConcurrency = try WorkerPool.concurrency(of: workers, explicit: workers.count > 1 ? nil : concurrency) } catch {
            throw ValidationError("\(error)")
        }
        if workers.count > 1, concurrency != nil { throw ValidationError("--concurrency applies to one pool; give each --workers its own @N") }
        let settings = RunSettings(
            concurrency: poolConcurrency ?? concurrency ?? previous?.concurrency ?? 4,
            maxAttempts: retries.map { $0 + 1 } ?? previous?.maxAttempts ?? 3,
            chunkTimeoutSeconds: timeout ?? previous?.chunkTimeoutSeconds,
            merge: noMerge ? false : (previous?.merge ?? true),
            outputPath: output.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? previous?.outputPath,
            outputCheck: outputCheck?.rawValue ?? previous?.outputCheck ?? OutputCheck.media.rawValue,
            workers: workers.isEmpty ? previous?.workers : workers.joined(separator: " "),
            storage: storage ?? previous?.storage,
            audio: audio?.rawValue ?? previous?.audio)
        // Up to seven descriptors a chunk: a login session's soft limit of 1,024 stopped 400 at once.
        let local: Int
        do {
            local = try WorkerPool.localConcurrency(of: settings.workers?.split(separator: " ").map(String.init) ?? [], total: settings.concurrency)
        } catch { throw ValidationError("\(error)") }
        if let shortfall = OpenFileLimit.ensure(local: local, remote: settings.concurrency - local) { throw ValidationError(shortfall) }
        return settings
    }

    /// The job's worker adapter and merge publication. The spec they are made from is let go on return: the run
    /// reads its own copy, and this one would otherwise stay in memory until the run ends.
    private static func workers(_ manager: JobManager, id: String, settings: RunSettings) async throws
        -> (any WorkerAdapter, MergePublication?) {
        let spec = try await manager.get(id).spec
        return (try WorkerPool.adapter(for: settings, job: spec), try WorkerPool.publication(for: settings, job: spec))
    }

    /// Runs the job in the foreground with a progress display; exits with the code of its final state.
    static func runForeground(_ manager: JobManager, id: String, settings: RunSettings, quiet: Bool) async throws {
        let validator: any ChunkOutputValidator = settings.outputCheck == OutputCheck.nonempty.rawValue ? NonEmptyFileValidator() : MediaProbeValidator()
        let output = settings.outputPath.map { URL(fileURLWithPath: $0) }
        let (worker, publication) = try await workers(manager, id: id, settings: settings)
        let executor = JobExecutor(
            worker: worker,
            validator: validator,
            retryPolicy: RetryPolicy(maxAttempts: settings.maxAttempts),
            concurrency: settings.concurrency,
            chunkTimeout: settings.chunkTimeoutSeconds.map { .milliseconds(Int64($0 * 1000)) })
        let options = RunOptions(
            executor: executor,
            merger: NativeStitchMerger(options: StitchOptions(force: true, audio: settings.audio.flatMap(AudioMode.init(rawValue:)) ?? .copy),
                                       publication: publication),
            mergeEnabled: settings.merge,
            output: output)
        // Descendants of chunk commands that escape with setsid and lose their parent are reparented to this
        // runner (not to init), so they are still found and killed when the run ends.
        ProcessTree.becomeSubreaper()
        let (events, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .bufferingNewest(256))
        // Ctrl-C is caught from before the run starts, so no interrupt can kill the runner without pausing the job.
        let relay = InterruptRelay()
        let interrupts = InterruptHandler { relay.interrupt() }
        let reporter = Task { await ProgressReporter(quiet: quiet).consume(events) }
        let run = Task { try await manager.run(id, options: options, runSettings: settings, events: continuation) }
        relay.attach { run.cancel() }
        let result = await run.result
        // This process runs one job: whatever of its chunks is still alive now (whatever its session, group or
        // environment) has escaped, and is killed.
        await ProcessTree.killAllDescendants()
        await reporter.value
        withExtendedLifetime(interrupts) {}
        let status = try result.get()
        print(status.summary)
        let exit = HeliosExit.forState(status.state)
        if exit != .success { throw exit }
    }
}

/// `helios job run SPEC.json`
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job in the foreground (submitting it first; an unfinished job with the same spec is resumed).")

    @Argument(help: "Job spec JSON file.")
    var spec: String

    @Option(help: ArgumentHelp("Directory the chunk commands run in and write to (default: the spec's directory).", valueName: "DIR"))
    var workdir: String?

    @Option(help: "Merge with this command instead of the native stitcher ({inputs}, {list}, {output}).")
    var mergeCommand: String?

    @OptionGroup var execution: ExecutionOptions
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await withExitCodes {
            let manager = try store.manager()
            let (id, previous) = try await submit(to: manager)
            let settings = try execution.settings(previous: previous)
            try await ExecutionOptions.runForeground(manager, id: id, settings: settings, quiet: execution.quiet)
        }
    }

    /// Submits the spec file's job, or finds it submitted before with the same spec. Returns its id and the
    /// settings of an earlier run. The spec read from the file is let go here: the run works from the stored
    /// copy, and a second copy of every chunk would stay in memory for the whole run (1 MB per 4,000 chunks).
    private func submit(to manager: JobManager) async throws -> (id: String, previous: RunSettings?) {
        let specURL = URL(fileURLWithPath: spec)
        var jobSpec = try JobSpec.load(from: specURL)
        if let mergeCommand { jobSpec.mergeCommand = mergeCommand }
        let directory = workdir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? specURL.deletingLastPathComponent()
        do {
            let settings = try execution.settings(previous: nil)
            try await manager.submit(jobSpec, jobDirectory: directory, runSettings: settings)
            return (jobSpec.id, nil)
        } catch OrchestratorError.jobExists {
            // Submitted before, or by a runner started at the same moment: the claim in `run` decides who runs it.
            let existing = try await manager.get(jobSpec.id)
            guard existing.spec == jobSpec else {
                throw ValidationError("job '\(jobSpec.id)' already exists in the store with a different spec; delete it or change the id")
            }
            if !execution.quiet { printError("job \(jobSpec.id) exists (\(existing.state.rawValue)); resuming it") }
            return (jobSpec.id, existing.runSettings)
        }
    }
}

/// `helios job resume ID`
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a paused, failed or interrupted job in the foreground; completed chunks are not re-run.")

    @Argument(help: "Job id.")
    var id: String

    @OptionGroup var execution: ExecutionOptions
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await withExitCodes {
            let manager = try store.manager()
            let status = try await manager.get(id)
            let settings = try execution.settings(previous: status.runSettings)
            try await ExecutionOptions.runForeground(manager, id: id, settings: settings, quiet: execution.quiet)
        }
    }
}

/// `helios job submit SPEC.json`
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", abstract: "Validate a spec and store it as a pending job.")

    @Argument(help: "Job spec JSON file.")
    var spec: String

    @Option(help: ArgumentHelp("Directory the chunk commands will run in (default: the spec's directory).", valueName: "DIR"))
    var workdir: String?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await withExitCodes {
            let specURL = URL(fileURLWithPath: spec)
            let jobSpec = try JobSpec.load(from: specURL)
            let directory = workdir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? specURL.deletingLastPathComponent()
            let status = try await store.manager().submit(jobSpec, jobDirectory: directory)
            print("submitted job \(status.id) (\(status.totalChunks) chunks); run it with: helios job resume \(status.id)")
        }
    }
}
extension AudioMode: ExpressibleByArgument {}
