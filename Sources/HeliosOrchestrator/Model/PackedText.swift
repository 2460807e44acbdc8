/// A fixed number of strings, some optional, kept in one `String`: a header of `<UTF-8 length>:` (or `-:` for nil)
/// for each, then their texts. Per-chunk values a job holds to its end (a chunk's output path and command, an output
/// record's URI, worker and chunk id) then take one allocation instead of one each, and 16 bytes of their struct
/// instead of 16 a string. For a given number of parts, any strings and only they give the same packing, so comparing
/// and hashing the packing compares the strings.
struct PackedText: Hashable, Sendable {
    private let text: String

    init(_ parts: [String?]) {
        var text = ""
        for part in parts { text += part.map { "\($0.utf8.count):" } ?? "-:" }
        for part in parts { if let part { text += part } }
        self.text = text
    }

    /// Part `index` of the `count` that were packed.
    func part(_ index: Int, of count: Int) -> String? {
        let utf8 = text.utf8
        var position = utf8.startIndex
        var offset = 0
        var wanted: (offset: Int, length: Int)?
        for field in 0..<count {
            guard let colon = utf8[position...].firstIndex(of: UInt8(ascii: ":")) else { return nil }
            let length = Int(Substring(utf8[position..<colon]))
            if field == index { wanted = length.map { (offset, $0) } }
            offset += length ?? 0
            position = utf8.index(after: colon)
        }
        guard let wanted else { return nil }
        let start = utf8.index(position, offsetBy: wanted.offset)
        return String(Substring(utf8[start..<utf8.index(start, offsetBy: wanted.length)]))
    }
}
