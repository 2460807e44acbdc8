import Foundation

extension Oracle {
    /// The top-level boxes of an MP4/MOV file in file order, as ffprobe's mov demuxer reports them parsing it
    /// (`-v trace`), e.g. ["ftyp", "moov", "free", "mdat"].
    public static func topLevelBoxes(_ url: URL) async throws -> [String] {
        let result = try await Shell.run("ffprobe", ["-v", "trace", "-i", url.path])
        guard result.status == 0 else { throw ShellError(message: "ffprobe \(url.path): \(result.stderr.suffix(500))") }
        return result.stderr.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("parent:'root'"), let open = line.range(of: "type:'") else { return nil }
            return String(line[open.upperBound...].prefix(4))
        }
    }

    /// One stream's timing as ffprobe reads it back.
    public struct StreamTiming: Sendable {
        public var kind: String
        /// The container's stated stream duration in seconds, where it states one (MP4, MOV, MPEG-TS).
        public var statedDuration: Double?
        /// ffprobe's average frame rate, e.g. "30/1" ("0/0" for audio).
        public var averageFrameRate: String
        /// Presentation span of the packets not marked for discard: the latest pts + duration minus the earliest pts,
    /// in seconds.
        public var packetSpan: Double
        public var packets: Int
    }

    /// Every stream's timing, from ffprobe's stream entries and its packet list.
    public static func timing(_ url: URL) async throws -> [StreamTiming] {
        // An MPEG program stream puts a pts on the first frame of each pack only: ffprobe fills in the others (genpts),
        // as a player's demuxer does, so that every frame counts (other files have them all: nothing changes).
        let result = try await Shell.run("ffprobe", ["-v", "error", "-fflags", "+genpts", "-show_entries",
                                                     "stream=index,codec_type,duration,avg_frame_rate:packet=stream_index,pts_time,duration_time,flags",
                                                     "-of", "json", url.path])
        guard result.status == 0 else { throw ShellError(message: "ffprobe \(url.path): \(result.stderr)") }
        struct Packet: Decodable { var stream_index: Int; var pts_time: String?; var duration_time: String?; var flags: String? }
        struct Probe: Decodable { var streams: [[String: JSONValue]]; var packets: [Packet]? }
        let probe = try JSONDecoder().decode(Probe.self, from: Data(result.stdout.utf8))
        var spans: [Int: (start: Double, end: Double, count: Int)] = [:]
        for packet in probe.packets ?? [] {
            // Packets marked for discard (AAC priming before an edit list) do not present.
            guard let pts = packet.pts_time.flatMap(Double.init), packet.flags?.contains("D") != true else { continue }
            let index = packet.stream_index
            let end = pts + (packet.duration_time.flatMap(Double.init) ?? 0)
            let span = spans[index] ?? (pts, end, 0)
            spans[index] = (min(span.start, pts), max(span.end, end), span.count + 1)
        }
        return probe.streams.enumerated().map { position, stream in
            let index = stream["index"].flatMap { Int($0.text) } ?? position
            let span = spans[index] ?? (0, 0, 0)
            return StreamTiming(kind: stream["codec_type"]?.text ?? "?", statedDuration: stream["duration"].flatMap { Double($0.text) },
                                averageFrameRate: stream["avg_frame_rate"]?.text ?? "", packetSpan: span.end - span.start, packets: span.count)
        }
    }
}
