/// Decode timestamps for a video stream whose container stores only presentation timestamps (Matroska and WebM
/// keep one timestamp per block), derived the way FFmpeg's own demuxer and muxers do: from the stream's reorder
/// delay. A pure value, fed the packets' pts in decode order.
///
/// With a reorder delay of `d` frames, packet `j` (decode order) decodes at the `(j - d)`-th smallest pts of the
/// stream: every packet after it presents later than that, so the value is known once `j + 1` packets are read
/// (a min-buffer of at most `d + 1` entries). The first `d` packets decode one frame apart before the first
/// presented frame. The result increases strictly wherever the pts are distinct, and `pts >= dts` holds for every
/// packet by the definition of `d`.
public struct DtsDeriver: Sendable, Hashable {
    /// Reorder delay in frames.
    public let delay: Int
    /// The smallest pts of the stream (its first presented frame).
    public let firstPts: Int64
    /// One frame, in the stream's ticks.
    public let frameDuration: Int64
    private var pending: [Int64] = []  // sorted ascending, at most delay + 1 entries
    private var index = 0

    public init(delay: Int, firstPts: Int64, frameDuration: Int64) {
        self.delay = max(delay, 0)
        self.firstPts = firstPts
        self.frameDuration = frameDuration
    }

    /// The dts of the next packet in decode order, whose pts is `pts`.
    public mutating func next(pts: Int64) -> Int64 {
        let at = pending.firstIndex { $0 > pts } ?? pending.count
        pending.insert(pts, at: at)
        defer { index += 1 }
        if index < delay { return firstPts - Int64(delay - index) * frameDuration }
        return pending.removeFirst()
    }

    /// The smallest reorder delay, in frames, for which every packet presents no earlier than it decodes:
    /// the largest distance by which a packet's decode position runs ahead of its presentation rank.
    public static func reorderDelay(ptsInDecodeOrder pts: [Int64]) -> Int {
        guard pts.count > 1 else { return 0 }
        let ranks = pts.indices.sorted { (pts[$0], $0) < (pts[$1], $1) }
        var delay = 0
        for (rank, position) in ranks.enumerated() { delay = max(delay, position - rank) }
        return delay
    }
}
