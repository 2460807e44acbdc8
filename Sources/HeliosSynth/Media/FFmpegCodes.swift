import HeliosMedia

/// FFmpeg error tags that arrive as macros (FFERRTAG), computed here instead of adding shims.
enum FFCode {
    static func errorTag(_ a: UInt8, _ b: Character, _ c: Character, _ d: Character) -> Int32 {
        let tag = UInt32(a) | UInt32(b.asciiValue!) << 8 | UInt32(c.asciiValue!) << 16 | UInt32(d.asciiValue!) << 24
        return -Int32(bitPattern: tag)
    }
    /// AVERROR_ENCODER_NOT_FOUND
    static let encoderNotFound = errorTag(0xF8, "E", "N", "C")
    /// AVERROR_DECODER_NOT_FOUND
    static let decoderNotFound = errorTag(0xF8, "D", "E", "C")
}
