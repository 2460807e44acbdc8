import HeliosStorage

/// A SHA-256 as a job holds one for each chunk to its end: 32 bytes when it is 64 lower-case hex digits (what every
/// store and worker writes), its text otherwise. As a string each took 112 bytes of heap beside the record.
struct CompactDigest: Hashable, Sendable, Codable {
    private enum Storage: Hashable, Sendable {
        case words(UInt64, UInt64, UInt64, UInt64)
        case text(String)
    }

    private let storage: Storage

    init(_ text: String) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0), count = 0
        for byte in text.utf8 {
            guard count < 64, let nibble = Self.nibble(byte) else {
                count = .max
                break
            }
            switch count / 16 {
            case 0: words.0 = words.0 << 4 | nibble
            case 1: words.1 = words.1 << 4 | nibble
            case 2: words.2 = words.2 << 4 | nibble
            default: words.3 = words.3 << 4 | nibble
            }
            count += 1
        }
        // 64 digits and nothing after them: a 65th byte ends the loop with `count` at `.max`.
        storage = count == 64 ? .words(words.0, words.1, words.2, words.3) : .text(text)
    }

    /// The value of a lower-case hex digit.
    private static func nibble(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
        default: nil
        }
    }

    /// The digest as it was given.
    var text: String {
        switch storage {
        case .text(let text): text
        case .words(let a, let b, let c, let d):
            withUnsafeBytes(of: (a.bigEndian, b.bigEndian, c.bigEndian, d.bigEndian)) { POSIX.hex($0) }
        }
    }

    /// Encoded as its text.
    init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
