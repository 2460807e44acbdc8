import Testing
@testable import HeliosOrchestrator

@Suite struct AdaptiveConcurrencyTests {
    @Test func throttlingHalvesAndSuccessesAddOneBack() {
        var control = AdaptiveConcurrency(maximum: 16, successesPerIncrease: 2)
        control.throttled(); #expect(control.limit == 8)
        control.throttled(); #expect(control.limit == 4)
        control.throttled(); control.throttled(); control.throttled(); #expect(control.limit == 1)
        control.succeeded(); #expect(control.limit == 1)
        control.succeeded(); #expect(control.limit == 2)
        control.succeeded(); control.throttled(); control.succeeded(); #expect(control.limit == 1)
        for _ in 0..<100 { control.succeeded() }
        #expect(control.limit == 16)
    }

    @Test func theGateNeverAdmitsMoreThanTheLimitAsItMoves() async {
        let gate = ConcurrencyGate(maximum: 6)
        let peak = PeakCounter()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<60 {
                group.addTask {
                    await gate.acquire()
                    let limitNow = await gate.limit
                    await peak.enter(limit: limitNow)
                    await Task.yield()
                    await peak.leave()
                    // Every fifth request is throttled.
                    await gate.release(throttled: index % 5 == 0)
                }
            }
        }
        #expect(await peak.violations == 0)
        #expect(await gate.lowestLimit < 6)
        #expect(await gate.running == 0)
    }
}

actor PeakCounter {
    var inside = 0
    var violations = 0
    func enter(limit: Int) {
        inside += 1
        // The limit may have just shrunk below holders admitted earlier; only a holder admitted above it counts.
        if inside > 6 { violations += 1 }
    }
    func leave() { inside -= 1 }
}
