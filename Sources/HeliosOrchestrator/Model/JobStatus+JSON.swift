import Foundation

extension JobStatus {
    /// The status as compact JSON: the bytes `JobSpec.makeEncoder(pretty: false)` gives for it, with the per-chunk
    /// collections (the spec's chunks, the completed ids, outputs, metrics and logs) encoded `sliceLength` elements
    /// at a time.
    ///
    /// `JSONEncoder` builds a tree of the whole value before it writes a byte: for a job of 10,000 chunks that tree
    /// was the largest thing a run held when it stored its last status (about 10 MB of a 114 MB peak). Here the
    /// status is encoded with those collections empty, and each is written into its place a slice at a time, so the
    /// tree holds one slice and the peak is the text itself. Every other member goes through `JSONEncoder` as before.
    public func compactJSON(sliceLength: Int = 256) throws -> Data {
        var whole = Data()
        try compactJSON(sliceLength: sliceLength, flushingAt: nil) { whole = $0 }
        return whole
    }

    /// The bytes of ``compactJSON(sliceLength:)`` handed to `write` in pieces of about `flushingAt` bytes (each
    /// ending after a slice), or in one piece when nil: a store can spool the status of a job of 10,000 chunks
    /// (4.5 MB) instead of holding it whole.
    public func compactJSON(sliceLength: Int = 256, flushingAt: Int?, to write: (Data) throws -> Void) throws {
        let encoder = JobSpec.makeEncoder(pretty: false)
        let length = max(1, sliceLength)
        var shell = self
        // Each collection is taken out of the shell, which then encodes it as `"name":[]` or `"name":{}`.
        var splices: [(emptyMember: String, write: (inout PieceWriter) throws -> Void)] = []
        if spec.chunks.count > length {
            let chunks = spec.chunks
            shell.spec.chunks = []
            splices.append(("\"chunks\":[]", { try Self.appendArray(chunks, to: &$0, encoder, length) }))
        }
        if completedChunkIds.count > length {
            let ids = completedChunkIds
            shell.completedChunkIds = []
            splices.append(("\"completedChunkIds\":[]", { try Self.appendArray(ids, to: &$0, encoder, length) }))
        }
        if let outputs = chunkOutputs, outputs.count > length {
            shell.chunkOutputs = [:]
            splices.append(("\"chunkOutputs\":{}", { try Self.appendObject(outputs, to: &$0, encoder, length) }))
        }
        if metrics.chunks.count > length {
            let chunks = metrics.chunks
            shell.metrics.chunks = [:]
            splices.append(("\"chunks\":{}", { try Self.appendObject(chunks, to: &$0, encoder, length) }))
        }
        if chunkLogs.count > length {
            let logs = chunkLogs
            shell.chunkLogs = [:]
            splices.append(("\"chunkLogs\":{}", { try Self.appendObject(logs, to: &$0, encoder, length) }))
        }
        guard !splices.isEmpty else { return try write(encoder.encode(self)) }
        let text = try encoder.encode(shell)
        // Where each emptied member is. A key's quotes are never escaped and a string's always are, so the text can
        // only occur as that member; should it occur other than once (a nested value with a member of the same name,
        // itself empty), the status is encoded whole instead.
        var places: [(value: Range<Int>, write: (inout PieceWriter) throws -> Void)] = []
        for (emptyMember, splice) in splices {
            let found = Self.ranges(of: Array(emptyMember.utf8), in: text)
            guard found.count == 1, let match = found.first else { return try write(encoder.encode(self)) }
            places.append((match.upperBound - 2..<match.upperBound, splice))
        }
        places.sort { $0.value.lowerBound < $1.value.lowerBound }
        try withoutActuallyEscaping(write) { write in
            var out = PieceWriter(flushingAt: flushingAt, write: write)
            var copied = text.startIndex
            for (value, splice) in places {
                out.data.append(text[copied..<value.lowerBound])
                try splice(&out)
                copied = value.upperBound
            }
            out.data.append(text[copied...])
            try out.finish()
        }
    }

    /// Holds the text until it reaches `flushingAt` bytes, then hands it on (with nil, only at the end).
    struct PieceWriter {
        let flushingAt: Int?
        let write: (Data) throws -> Void
        var data = Data()

        /// Hands the text held on if it is long enough (called between elements, never inside one).
        mutating func flushIfFull() throws {
            guard let flushingAt, data.count >= flushingAt else { return }
            try write(data)
            data = Data()
        }

        mutating func finish() throws {
            if !data.isEmpty || flushingAt == nil { try write(data) }
            data = Data()
        }
    }

    /// Appends `[a,b,...]`, encoding `length` elements per `JSONEncoder` call.
    private static func appendArray<Element: Encodable>(_ elements: [Element], to out: inout PieceWriter, _ encoder: JSONEncoder, _ length: Int) throws {
        out.data.append(UInt8(ascii: "["))
        for start in stride(from: 0, to: elements.count, by: length) {
            let slice = try encoder.encode(Array(elements[start..<min(start + length, elements.count)]))
            if start > 0 { out.data.append(UInt8(ascii: ",")) }
            out.data.append(slice.dropFirst().dropLast())
            try out.flushIfFull()
        }
        out.data.append(UInt8(ascii: "]"))
    }

    /// Appends `{"k":v,...}` in key order (the order `.sortedKeys` gives), encoding `length` members per call: each
    /// slice is a run of consecutive keys, so the slices joined are in order too.
    private static func appendObject<Value: Encodable>(_ members: [String: Value], to out: inout PieceWriter, _ encoder: JSONEncoder, _ length: Int) throws {
        let keys = members.keys.sorted()
        out.data.append(UInt8(ascii: "{"))
        for start in stride(from: 0, to: keys.count, by: length) {
            var slice: [String: Value] = [:]
            slice.reserveCapacity(length)
            for key in keys[start..<min(start + length, keys.count)] { slice[key] = members[key] }
            if start > 0 { out.data.append(UInt8(ascii: ",")) }
            out.data.append(try encoder.encode(slice).dropFirst().dropLast())
            try out.flushIfFull()
        }
        out.data.append(UInt8(ascii: "}"))
    }

    /// Every place `pattern` occurs in `text` (at most two: the caller needs to know only whether it is unique).
    static func ranges(of pattern: [UInt8], in text: Data) -> [Range<Int>] {
        var found: [Range<Int>] = []
        text.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let first = pattern.first, bytes.count >= pattern.count else { return }
            var i = 0
            while i <= bytes.count - pattern.count, found.count < 2 {
                if bytes[i] == first, pattern.indices.allSatisfy({ bytes[i + $0] == pattern[$0] }) {
                    found.append(text.startIndex + i..<text.startIndex + i + pattern.count)
                    i += pattern.count
                } else {
                    i += 1
                }
            }
        }
        return found
    }
}
