import ArgumentParser
import CHeliosShims
import Foundation
import Logging

/// Entry point: sets up logging (level from `HELIOS_LOG_LEVEL`: trace, debug, info, ...; default warning) then runs the CLI.
@main
enum HeliosMain {
    static func main() async {
        // glibc gives each thread that allocates an arena of its own (up to 8 per core); a job runner's threads
        // (event loops, the cooperative pool, one per stitch call) then keep freed memory apart. Two arenas: a
        // 2,000-chunk job's runner peaked at 89-93 MB instead of 103 MB (its own VmHWM), in the same time.
        helios_limit_malloc_arenas(2)
        // glibc maps blocks of 128 KiB or more apart from the heap, but raises that bar to the size of each such block
        // freed: a job's growing arrays and dictionaries (a 10,000-chunk job's are 0.5-2 MB) then came from the heap
        // as they grew and left their old storage there as holes. Fixed at 128 KiB: that job peaked at 62.3-62.4 MiB
        // instead of 64.0-64.7 (`/usr/bin/time`, interleaved runs), in the same time (27-30 s).
        helios_fix_mmap_threshold(128 * 1024)
        helios_skip_teardown_at_exit()
        let level = ProcessInfo.processInfo.environment["HELIOS_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        await Helios.main()
    }
}

/// `helios`: plans, runs and manages distributed render jobs.
struct Helios: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helios",
        abstract: "Render orchestration: plan, run and manage chunked render jobs; artifact storage and asset bundles.",
        subcommands: [JobCommand.self, ArtifactsCommand.self, BundleCommand.self]
    )
}

/// `helios job …`
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Plan, run and manage render jobs.",
        discussion: """
            Exit codes: 0 success; 1 job failed; 2 invalid spec or input file; 3 job not found; \
            4 job is in the wrong state for the command; 5 job paused (pause request or Ctrl-C); \
            6 job cancelled; 7 job store error (unreadable or corrupt record); \
            8 job is running in another process (or another runner took it over); 64 command-line usage error.
            """,
        subcommands: [
            PlanCommand.self, RunCommand.self, SubmitCommand.self, StatusCommand.self, ListCommand.self,
            PauseCommand.self, ResumeCommand.self, CancelCommand.self, DeleteCommand.self,
        ]
    )
}
