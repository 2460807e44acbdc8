extension Array {
    /// Makes room for exactly `total` elements when they would more than double the array (inputs arriving as one
    /// batch), instead of growing by doubling: at 10,000 inputs the slack of a doubled array is a third of it, and
    /// each doubling holds both buffers at once. Growth one element at a time keeps its amortized doubling
    /// (reserving exactly each time would copy the array on every step).
    mutating func reserveForBatch(upTo total: Int) {
        if total > capacity, total - count > count { reserveCapacity(total) }
    }
}
