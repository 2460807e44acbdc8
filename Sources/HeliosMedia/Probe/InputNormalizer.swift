/// `ProbedInput.normalized` one step at a time: each input is normalized once when it arrives, and every input
/// again only when the most common frame duration changes.
public struct InputNormalizer: Sendable {
    /// Frame durations (input 1's master ticks) of the inputs long enough to show theirs, by count.
    private var counts: [Int64: Int] = [:]
    private var seen = 0
    /// An input without input 1's master stream: no input is put back on a frame grid.
    private var unnormalizable = false
    /// The frame duration the inputs so far were normalized with (nil: none), and those inputs.
    private var frame: Int64?
    private var normalized: [ProbedInput] = []

    public init() {}

    /// The inputs normalized. `inputs` must extend the previous call's. `changedFrom` is the first input whose
    /// normalized form differs from what an earlier call returned for it (the most common frame duration changed).
    public mutating func normalize(_ inputs: [ProbedInput]) -> (inputs: [ProbedInput], changedFrom: Int?) {
        guard let master = inputs.first?.masterStreamIndex else { return (inputs, nil) }
        if inputs.count < seen { self = InputNormalizer() }
        let timeBase = inputs[0].streams[master].timeBase
        while seen < inputs.count {
            let input = inputs[seen]
            seen += 1
            guard input.streams.count > master else { unnormalizable = true; continue }
            let stream = input.streams[master]
            if stream.signature.kind == .video && stream.packetCount > 2 {
                counts[Ticks.rescale(stream.typicalPacketDuration, from: stream.timeBase, to: timeBase), default: 0] += 1
            }
        }
        let majority = unnormalizable ? nil : counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key
        /// Appends input `i` put back on the frame grid, then taken as the continuation of the input before it if it is
        /// one; returns the index of the input before it when that one changed too (its last audio packet unstretched:
        /// see `ProbedInput.carriesAfterReset`).
        func appendNormalized(_ i: Int) -> Int? {
            var input = majority.map { inputs[i].normalizingLeadingStretch(master: master, frame: $0, timeBase: timeBase) } ?? inputs[i]
            var changed: Int?
            if let previous = normalized.last, let continuation = input.continuation(of: previous) {
                let unhiding = continuation == .afterResetHidden
                input = input.continuing(unhiding: unhiding)
                if unhiding, case let trimmed = previous.endingUnstretched(), trimmed != previous {
                    normalized[normalized.count - 1] = trimmed
                    changed = normalized.count - 1
                }
            }
            // What normalizing changed is made anew for each input: alike inputs share it again.
            if let previous = normalized.last, input != inputs[i] { input = input.sharingStorage(with: previous) }
            normalized.append(input)
            return changed
        }
        var changedFrom: Int?
        if majority != frame {
            let old = normalized
            normalized = []
            for i in old.indices { _ = appendNormalized(i) }
            changedFrom = old.indices.first { old[$0] != normalized[$0] }
            frame = majority
        }
        normalized.reserveForBatch(upTo: inputs.count)
        while normalized.count < inputs.count {
            if let changed = appendNormalized(normalized.count) { changedFrom = min(changedFrom ?? changed, changed) }
        }
        return (normalized, changedFrom)
    }
}
