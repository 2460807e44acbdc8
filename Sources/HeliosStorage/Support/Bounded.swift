/// Runs `body` over `items` with at most `limit` in flight, returning results in the items' order.
/// The first error cancels the rest and is rethrown (as a `StorageError`).
func boundedMap<Item: Sendable, Output: Sendable>(
    _ items: [Item], limit: Int, _ body: @escaping @Sendable (Item) async throws(StorageError) -> Output
) async throws(StorageError) -> [Output] {
    do {
        return try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            var results = [Output?](repeating: nil, count: items.count)
            var next = 0
            func add() {
                let index = next, item = items[index]
                group.addTask { (index, try await body(item)) }
                next += 1
            }
            while next < min(max(1, limit), items.count) { add() }
            while let (index, output) = try await group.next() {
                results[index] = output
                if next < items.count { add() }
            }
            return results.map { $0! }
        }
    } catch let error as StorageError {
        throw error
    } catch is CancellationError {
        throw StorageError(.cancelled, "cancelled")
    } catch {
        throw StorageError(.io, "\(error)", underlying: error)
    }
}
