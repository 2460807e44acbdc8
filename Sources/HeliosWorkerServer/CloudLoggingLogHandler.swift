import Foundation
import Logging

/// Log lines as Cloud Logging reads them from a container's stdout: one JSON object per line with `severity`,
/// `message`, `time` (RFC 3339), `logger` and the metadata as fields.
public struct CloudLoggingLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let label: String
    let sink: CloudLoggingSink

    public init(label: String, level: Logger.Level = .info, sink: CloudLoggingSink = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: Any] = [:]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged { fields[key] = Self.json(value) }
        if let error = event.error { fields["error"] = "\(error)" }
        fields["severity"] = Self.severity(event.level)
        fields["message"] = event.message.description
        fields["logger"] = label
        fields["time"] = Date().formatted(.iso8601.year().month().day().timeSeparator(.colon).time(includingFractionalSeconds: true))
        sink.write(fields)
    }

    /// Cloud Logging's LogSeverity names.
    static func severity(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let entries): entries.mapValues(json)
        }
    }
}

/// Where JSON log lines go: whole lines, one writer at a time.
public final class CloudLoggingSink: @unchecked Sendable {
    public static let standardOutput = CloudLoggingSink(handle: .standardOutput)
    let handle: FileHandle
    let lock = NSLock()

    public init(handle: FileHandle) { self.handle = handle }

    func write(_ fields: [String: Any]) {
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        lock.withLock { try? handle.write(contentsOf: line) }
    }
}
