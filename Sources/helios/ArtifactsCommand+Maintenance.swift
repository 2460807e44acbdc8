import ArgumentParser
import Foundation
import HeliosStorage

/// `helios artifacts usage PREFIX-URI`
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "usage", abstract: "Object count and bytes under a prefix, in total and by type.")
    @Argument(help: "Prefix URI or key (e.g. a tenant).") var prefix: String = ""
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let (prefix, json) = (prefix, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(prefix)
            let usage = try await ListingProgressLine(label: "counting").around { try await StorageMaintenance.usage(of: store, prefix: key) }
            if json { try StorageCLI.printJSON(usage); return }
            StorageCLI.printLine("total: \(usage.total.objects) objects, \(usage.total.bytes) bytes (\(ByteProgressBar.size(usage.total.bytes)))")
            for (type, tally) in usage.byContentType.sorted(by: { $0.key < $1.key }) {
                StorageCLI.printLine("  \(type): \(tally.objects) objects, \(tally.bytes) bytes")
            }
            let keyTypes = usage.byKeyType.filter { $0.key != "other" }
            if !keyTypes.isEmpty {
                StorageCLI.printLine("by key type ({tenant}/{run}/{type}/{file}):")
                for (type, tally) in usage.byKeyType.sorted(by: { $0.key < $1.key }) {
                    StorageCLI.printLine("  \(type): \(tally.objects) objects, \(tally.bytes) bytes")
                }
            }
        }
    }
}

/// `helios artifacts cleanup PREFIX-URI --older-than SECONDS`
struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cleanup", abstract: "Delete objects under a prefix last modified more than SECONDS ago.")
    @Argument(help: "Prefix URI or key.") var prefix: String
    @Option(help: "Age in seconds.") var olderThan: Int
    @Flag(help: "Print as JSON.") var json = false

    func validate() throws {
        if olderThan < 0 { throw ValidationError("--older-than must be 0 or more seconds") }
    }

    func run() async throws {
        let (prefix, olderThan, json) = (prefix, olderThan, json)
        try await StorageCLI.run {
            let (store, key) = try StorageCLI.factory().resolve(prefix)
            guard key != nil || !prefix.isEmpty else { throw ValidationError("cleanup needs a prefix") }
            let report = try await ListingProgressLine(label: "examining").around {
                try await StorageMaintenance.cleanup(of: store, prefix: key, olderThan: Date(timeIntervalSinceNow: -TimeInterval(olderThan)))
            }
            if json { try StorageCLI.printJSON(report); return }
            StorageCLI.printLine("deleted \(report.deletedObjects) objects (\(report.deletedBytes) bytes), kept \(report.keptObjects)"
                + (report.abortedUploads > 0 ? ", aborted \(report.abortedUploads) incomplete uploads" : ""))
        }
    }
}
