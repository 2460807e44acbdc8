/// The machine-readable frame index: 24 index bits and an 8-bit CRC drawn as black/white luma cells
/// between fixed guard patterns. Pure functions; no I/O.
public enum BlockCode {
    /// Columns and rows of cells in the code band.
    public static let columns = 20
    public static let rows = 2
    /// Largest index the code can carry (24 bits).
    public static let maxIndex = (1 << 24) - 1
    /// Luma levels for a 0 and a 1 cell (limited range black and white).
    public static let black: UInt8 = 16
    public static let white: UInt8 = 235

    static let startGuard: [Bool] = [true, false, true, false]
    static let endGuard: [Bool] = [false, true, true, false]

    /// The 40 cell values (row-major) for `index`: start guard, 24 index bits (MSB first), CRC-8, end guard.
    public static func cells(for index: Int) -> [Bool] {
        precondition(index >= 0 && index <= maxIndex, "block code index out of range")
        let bytes = [UInt8(index >> 16 & 0xFF), UInt8(index >> 8 & 0xFF), UInt8(index & 0xFF)]
        let payload = UInt32(index) << 8 | UInt32(crc8(bytes))
        var bits = startGuard
        for i in (0..<32).reversed() { bits.append(payload >> UInt32(i) & 1 == 1) }
        bits += endGuard
        return bits
    }

    /// Decodes cell values read from a frame. Returns nil when a guard or the CRC does not match.
    public static func decode(cells bits: [Bool]) -> Int? {
        guard bits.count == columns * rows,
              Array(bits.prefix(4)) == startGuard, Array(bits.suffix(4)) == endGuard else { return nil }
        var payload: UInt32 = 0
        for bit in bits[4..<36] { payload = payload << 1 | (bit ? 1 : 0) }
        let index = Int(payload >> 8)
        let bytes = [UInt8(index >> 16 & 0xFF), UInt8(index >> 8 & 0xFF), UInt8(index & 0xFF)]
        return crc8(bytes) == UInt8(payload & 0xFF) ? index : nil
    }

    /// CRC-8 (polynomial 0x07) of `bytes`.
    public static func crc8(_ bytes: [UInt8]) -> UInt8 {
        var crc: UInt8 = 0
        for byte in bytes {
            crc ^= byte
            for _ in 0..<8 { crc = crc & 0x80 != 0 ? (crc << 1) ^ 0x07 : crc << 1 }
        }
        return crc
    }

    /// A cell's rectangle in luma pixels.
    public struct Cell: Equatable, Sendable {
        public var x: Int, y: Int, width: Int, height: Int
    }

    /// The luma rectangle of cell `i` (row-major) for a frame of the given size.
    public static func cell(_ i: Int, width: Int, height: Int) -> Cell {
        let band = band(width: width, height: height)
        let col = i % columns, row = i / columns
        let x0 = band.x + col * band.width / columns, x1 = band.x + (col + 1) * band.width / columns
        let y0 = band.y + row * band.height / rows, y1 = band.y + (row + 1) * band.height / rows
        return Cell(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// The whole code band: near the top, most of the width, even-aligned for chroma subsampling.
    public static func band(width: Int, height: Int) -> Cell {
        let x = (width / 16) & ~1
        let y = max(2, height / 24) & ~1
        let rowHeight = max(6, height / 10) & ~1
        return Cell(x: x, y: y, width: width - 2 * x, height: rowHeight * rows)
    }

    /// Reads the index from a luma plane (`stride` bytes per row). Samples the centre half of each cell and
    /// thresholds halfway between the guard cells' black and white levels.
    public static func read(luma: UnsafeBufferPointer<UInt8>, stride: Int, width: Int, height: Int) -> Int? {
        let count = columns * rows
        var means = [Double](repeating: 0, count: count)
        for i in 0..<count {
            let c = cell(i, width: width, height: height)
            let x0 = c.x + c.width / 4, x1 = max(x0 + 1, c.x + c.width - c.width / 4)
            let y0 = c.y + c.height / 4, y1 = max(y0 + 1, c.y + c.height - c.height / 4)
            guard x1 <= width, y1 <= height else { return nil }
            var sum = 0
            for y in y0..<y1 { for x in x0..<x1 { sum += Int(luma[y * stride + x]) } }
            means[i] = Double(sum) / Double((x1 - x0) * (y1 - y0))
        }
        let guards = startGuard + endGuard
        let guardMeans = Array(means.prefix(4)) + Array(means.suffix(4))
        let whites = zip(guards, guardMeans).filter { $0.0 }.map { $0.1 }
        let blacks = zip(guards, guardMeans).filter { !$0.0 }.map { $0.1 }
        let whiteLevel = whites.reduce(0, +) / Double(whites.count)
        let blackLevel = blacks.reduce(0, +) / Double(blacks.count)
        guard whiteLevel - blackLevel > 40 else { return nil }
        let threshold = (whiteLevel + blackLevel) / 2
        return decode(cells: means.map { $0 > threshold })
    }
}
