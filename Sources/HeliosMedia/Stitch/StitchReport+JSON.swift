#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StitchReport {
    /// The report as JSON with sorted keys: the same bytes as `JSONEncoder` with `formatting` plus `.sortedKeys`
    /// gives for the whole report, written a slice of inputs (boundaries, issues) at a time.
    ///
    /// `JSONEncoder` builds a tree of the whole value before it writes a byte, about 4 KB per input: 40 MB at once
    /// for a report of 10,000 inputs, the peak of a 10,000-chunk job. Here the tree holds one slice of
    /// ``defaultSliceLength`` elements at a time, and the peak is the text itself.
    public func encodedJSON(formatting: JSONEncoder.OutputFormatting = []) throws -> Data {
        try encodedJSON(formatting: formatting, sliceLength: Self.defaultSliceLength)
    }

    /// ``encodedJSON(formatting:)`` with `sliceLength` elements per `JSONEncoder` call (tests use short slices).
    func encodedJSON(formatting: JSONEncoder.OutputFormatting, sliceLength: Int) throws -> Data {
        var text = Data()
        try writeJSON(formatting: formatting, sliceLength: sliceLength, flushingAt: nil) { text = $0 }
        return text
    }

    /// The bytes ``encodedJSON(formatting:)`` gives, handed to `write` in pieces of about 64 KiB, each ending
    /// between two elements (so each piece is whole UTF-8): a caller printing the report holds one piece, not the
    /// text of a report of 10,000 inputs (12 MB) and its copies.
    public func writeJSON(formatting: JSONEncoder.OutputFormatting = [], to write: (Data) throws -> Void) throws {
        try writeJSON(formatting: formatting, sliceLength: Self.defaultSliceLength, flushingAt: 1 << 16, to: write)
    }

    /// `flushingAt` nil: one piece, the whole text (its room reserved from the first slice).
    func writeJSON(formatting: JSONEncoder.OutputFormatting, sliceLength: Int, flushingAt: Int?,
                   to write: (Data) throws -> Void) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting.union(.sortedKeys)
        try withoutActuallyEscaping(write) { write in
            var writer = SlicedJSONObjectWriter(encoder: encoder, pretty: formatting.contains(.prettyPrinted), sliceLength: sliceLength,
                                                flushingAt: flushingAt, write: write)
            // In the order `.sortedKeys` puts them; `StitchReportJSONTests` checks this list against the type's members.
            try writer.member("boundaries", array: boundaries)
            try writer.member("inputs", array: inputs)
            try writer.member("issues", array: issues)
            if let output { try writer.member("output", value: output) }
            try writer.finish()
        }
    }

    /// Elements encoded per `JSONEncoder` call by ``encodedJSON(formatting:)``.
    static let defaultSliceLength = 256
}

/// Writes one JSON object member by member, in the layout `JSONEncoder` uses (compact, or pretty with two spaces
/// per level), encoding a long array's elements a slice at a time. A newline byte only ever separates tokens (JSON
/// escapes the ones inside strings), so a nested value is re-indented by inserting spaces after its newlines.
struct SlicedJSONObjectWriter {
    let encoder: JSONEncoder
    let pretty: Bool
    /// Elements encoded per `JSONEncoder` call (at least 1).
    let sliceLength: Int
    /// Hand the text to `write` whenever this much is held (after a whole slice); nil: only at the end.
    let flushingAt: Int?
    let write: (Data) throws -> Void
    private var data = Data([UInt8(ascii: "{")])
    private var members = 0

    init(encoder: JSONEncoder, pretty: Bool, sliceLength: Int, flushingAt: Int?, write: @escaping (Data) throws -> Void) {
        self.encoder = encoder
        self.pretty = pretty
        self.sliceLength = max(1, sliceLength)
        self.flushingAt = flushingAt
        self.write = write
    }

    /// Appends `"name": value`.
    mutating func member(_ name: String, value: some Encodable) throws {
        key(name)
        appendNested(try encoder.encode(value))
    }

    /// Appends `"name": [elements]`, encoding ``sliceLength`` elements per call.
    mutating func member<Element: Encodable>(_ name: String, array: [Element]) throws {
        let length = sliceLength
        guard array.count > length else { return try member(name, value: array) }
        key(name)
        data.append(UInt8(ascii: "["))
        for start in stride(from: 0, to: array.count, by: length) {
            // "[a,b]" or "[\n  a,\n  b\n]": the elements are what lies between the brackets (in pretty form, from
            // the newline after "[" to the one before "]").
            let slice = try encoder.encode(Array(array[start..<min(start + length, array.count)]))
            // Room for the whole array as its first slice predicts it, with an eighth to spare: growing by doubling
            // overshot by up to the text's size and copied it each time (a 10,000-input report is 7 MB).
            if start == 0, flushingAt == nil { data.reserveCapacity(data.count + slice.count * (array.count / length + 1) * 9 / 8) }
            if start > 0 { data.append(UInt8(ascii: ",")) }
            appendNested(slice.dropFirst().dropLast(pretty ? 2 : 1))
            if let flushingAt, data.count >= flushingAt {
                try write(data)
                data.removeAll(keepingCapacity: true)
            }
        }
        data.append(contentsOf: pretty ? Array("\n  ]".utf8) : [UInt8(ascii: "]")])
    }

    /// Closes the object and hands what is left of its text to `write`.
    mutating func finish() throws {
        data.append(contentsOf: pretty ? Array("\n}".utf8) : [UInt8(ascii: "}")])
        try write(data)
        data = Data()
    }

    private mutating func key(_ name: String) {
        if members > 0 { data.append(UInt8(ascii: ",")) }
        members += 1
        data.append(contentsOf: pretty ? Array("\n  \"\(name)\" : ".utf8) : Array("\"\(name)\":".utf8))
    }

    /// Appends a value encoded at the top level as one nested a level down: in pretty form, two more spaces
    /// after each newline that does not start an empty line (an empty array or object is "[\n\n]").
    private mutating func appendNested(_ text: Data) {
        guard pretty else { return data.append(text) }
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            data.append(byte)
            index += 1
            if byte == UInt8(ascii: "\n"), index < text.endIndex, text[index] != UInt8(ascii: "\n") {
                data.append(contentsOf: [UInt8(ascii: " "), UInt8(ascii: " ")])
            }
        }
    }
}
