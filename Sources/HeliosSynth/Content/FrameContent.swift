/// An 8-bit planar YUV 4:2:0 picture held in Swift arrays.
public struct YUVImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var y: [UInt8]
    public var u: [UInt8]
    public var v: [UInt8]

    public var chromaWidth: Int { (width + 1) / 2 }
    public var chromaHeight: Int { (height + 1) / 2 }

    public init(width: Int, height: Int, luma: UInt8 = 16, u: UInt8 = 128, v: UInt8 = 128) {
        self.width = width
        self.height = height
        y = [UInt8](repeating: luma, count: width * height)
        self.u = [UInt8](repeating: u, count: ((width + 1) / 2) * ((height + 1) / 2))
        self.v = [UInt8](repeating: v, count: ((width + 1) / 2) * ((height + 1) / 2))
    }

    /// Fills a luma rectangle (clipped to the picture).
    public mutating func fillLuma(x: Int, y top: Int, width w: Int, height h: Int, value: UInt8) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, top), y1 = min(height, top + h)
        guard x0 < x1, y0 < y1 else { return }
        let w = width
        y.withUnsafeMutableBufferPointer { buffer in
            for row in y0..<y1 {
                UnsafeMutableBufferPointer(rebasing: buffer[(row * w + x0)..<(row * w + x1)]).update(repeating: value)
            }
        }
    }

    /// Fills the chroma samples covering a luma rectangle.
    public mutating func fillChroma(x: Int, y top: Int, width w: Int, height h: Int, u cu: UInt8, v cv: UInt8) {
        let cw = chromaWidth
        let x0 = max(0, x / 2), x1 = min(cw, (x + w + 1) / 2), y0 = max(0, top / 2), y1 = min(chromaHeight, (top + h + 1) / 2)
        guard x0 < x1, y0 < y1 else { return }
        u.withUnsafeMutableBufferPointer { buffer in
            for row in y0..<y1 { UnsafeMutableBufferPointer(rebasing: buffer[(row * cw + x0)..<(row * cw + x1)]).update(repeating: cu) }
        }
        v.withUnsafeMutableBufferPointer { buffer in
            for row in y0..<y1 { UnsafeMutableBufferPointer(rebasing: buffer[(row * cw + x0)..<(row * cw + x1)]).update(repeating: cv) }
        }
    }
}

/// The synthetic picture: a pure function of the global frame index and the size.
public enum FrameContent {
    /// Renders frame `index`: the block code at the top, the index as large digits in the middle and a
    /// moving bar and square at the bottom over a background whose colour drifts with the index.
    public static func image(index: Int, width: Int, height: Int) -> YUVImage {
        let hue = index % 64
        var img = YUVImage(width: width, height: height, luma: 60,
                           u: UInt8(96 + hue), v: UInt8(160 - hue))
        // Block code on a neutral band.
        let band = BlockCode.band(width: width, height: height)
        img.fillChroma(x: band.x, y: band.y, width: band.width, height: band.height, u: 128, v: 128)
        for (i, bit) in BlockCode.cells(for: index).enumerated() {
            let c = BlockCode.cell(i, width: width, height: height)
            img.fillLuma(x: c.x, y: c.y, width: c.width, height: c.height, value: bit ? BlockCode.white : BlockCode.black)
        }
        // Moving pattern along the bottom: a bar sweeping right and a square sweeping left.
        let stripHeight = max(4, height / 8)
        let stripTop = height - stripHeight - max(1, height / 48)
        let step = max(2, width / 60)
        let barWidth = max(2, width / 24)
        let barX = (index * step) % width
        img.fillLuma(x: barX, y: stripTop, width: barWidth, height: stripHeight, value: 200)
        img.fillChroma(x: barX, y: stripTop, width: barWidth, height: stripHeight, u: 60, v: 200)
        let squareX = width - 1 - (index * step * 2) % width
        img.fillLuma(x: squareX - stripHeight, y: stripTop, width: stripHeight, height: stripHeight, value: 120)
        img.fillChroma(x: squareX - stripHeight, y: stripTop, width: stripHeight, height: stripHeight, u: 200, v: 80)
        // The index as digits between the code band and the strip.
        let top = band.y + band.height + max(2, height / 24)
        drawNumber(index, into: &img, top: top, bottom: stripTop - max(2, height / 24))
        return img
    }

    static func drawNumber(_ value: Int, into img: inout YUVImage, top: Int, bottom: Int) {
        let digits = Array(String(value)).map { Int(String($0))! }
        let availableHeight = bottom - top
        let scale = max(1, min(img.width * 9 / 10 / (6 * digits.count), availableHeight / 7))
        let totalWidth = (6 * digits.count - 1) * scale
        var x = (img.width - totalWidth) / 2
        let y = top + (availableHeight - 7 * scale) / 2
        for d in digits {
            for (row, bits) in font[d].enumerated() {
                for col in 0..<5 where bits >> (4 - col) & 1 == 1 {
                    img.fillLuma(x: x + col * scale, y: y + row * scale, width: scale, height: scale, value: 235)
                }
            }
            x += 6 * scale
        }
    }

    /// 5x7 bitmap digits, one byte per row, bit 4 leftmost.
    static let font: [[UInt8]] = [
        [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], // 0
        [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E], // 1
        [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], // 2
        [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E], // 3
        [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], // 4
        [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E], // 5
        [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], // 6
        [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
        [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], // 8
        [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C], // 9
    ]
}
