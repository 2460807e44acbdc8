/// `ProbedInput.normalized` one step at a time: each input is normalized once when it arrives, and every input
/// again only when the most common frame duration changes.
///
/// Inputs that normalize to themselves (most: chunks on their frame grid that do not continue each other) are not
/// copied: while every input so far did, `normalize` returns the caller's array itself, and the normalizer keeps no
/// second array of them (10,000 inputs: 0.6 MB). The first input that changes makes it keep its own.
public struct InputNormalizer: Sendable {
    /// Frame durations (input 1's master ticks) of the inputs long enough to show theirs, by count.
    private var counts: [Int64: Int] = [:]
    private var seen = 0
    /// An input without input 1's master stream: no input is put back on a frame grid.
    private var unnormalizable = false
    /// The frame duration the inputs so far were normalized with (nil: none).
    private var frame: Int64?
    /// How many inputs are normalized, and their normalized forms: empty while each is the input itself (`isOwn`).
    private var count = 0
    private var normalized: [ProbedInput] = []
    private var isOwn = true

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
        /// Input `i`'s normalized form as it stands.
        func form(_ i: Int) -> ProbedInput { isOwn ? inputs[i] : normalized[i] }
        /// Normalizes input `count`: put back on the frame grid, then taken as the continuation of the input before
        /// it if it is one; returns the index of the input before it when that one changed too (its last audio packet
        /// unstretched: see `ProbedInput.carriesAfterReset`).
        func appendNext() -> Int? {
            let i = count
            var input = majority.map { inputs[i].normalizingLeadingStretch(master: master, frame: $0, timeBase: timeBase) } ?? inputs[i]
            var trimmed: ProbedInput?
            if i > 0, case let previous = form(i - 1), let continuation = input.continuation(of: previous) {
                let unhiding = continuation == .afterResetHidden
                input = input.continuing(unhiding: unhiding)
                if unhiding, case let ended = previous.endingUnstretched(), ended != previous { trimmed = ended }
            }
            count += 1
            if isOwn, trimmed == nil, input == inputs[i] { return nil }
            if isOwn {
                normalized = Array(inputs.prefix(i))
                normalized.reserveForBatch(upTo: inputs.count)
                isOwn = false
            }
            if let trimmed { normalized[i - 1] = trimmed }
            // What normalizing changed is made anew for each input: alike inputs share it again.
            if i > 0, input != inputs[i] { input = input.sharingStorage(with: normalized[i - 1]) }
            normalized.append(input)
            return trimmed == nil ? nil : i - 1
        }
        var changedFrom: Int?
        if majority != frame {
            let old = (0..<count).map(form)
            (count, normalized, isOwn) = (0, [], true)
            while count < old.count { _ = appendNext() }
            changedFrom = old.indices.first { old[$0] != form($0) }
            frame = majority
        }
        if !isOwn { normalized.reserveForBatch(upTo: inputs.count) }
        while count < inputs.count {
            if let changed = appendNext() { changedFrom = min(changedFrom ?? changed, changed) }
        }
        return (isOwn ? inputs : normalized, changedFrom)
    }
}
