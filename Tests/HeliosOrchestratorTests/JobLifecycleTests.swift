import Foundation
import HeliosOrchestrator
import Testing

/// The job state machine, without processes or storage: events in, transitions and actions out.
@Suite("Job lifecycle state machine")
struct JobLifecycleTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    func lease(_ token: String, host: String = "h1", expiresIn seconds: TimeInterval = 30) -> JobLease {
        JobLease(token: token, pid: 42, startTime: 7, host: host, acquiredAt: t0, heartbeatAt: t0, expiresAt: t0 + seconds)
    }

    func apply(_ event: JobLifecycle.Event, _ state: JobState, _ current: JobLease?, liveness: OwnerLiveness = .alive,
               at offset: TimeInterval = 0) -> Result<JobLifecycle.Transition, JobLifecycle.Rejection> {
        JobLifecycle.apply(event, state: state, lease: current, now: t0 + offset, liveness: liveness)
    }

    @Test func claimingAnIdleJobStartsItUnderTheNewLease() throws {
        for state in [JobState.pending, .paused, .failed] {
            let next = try apply(.claim(lease("a")), state, nil).get()
            #expect(next.state == .running && next.lease == lease("a"))
            #expect(next.actions == [.clearControl, .run])
            #expect(next.error == .some(nil))
        }
    }

    @Test func aHeldJobRefusesEveryOtherClaimant() {
        let holder = lease("a")
        for state in [JobState.running, .stitching] {
            for liveness in [OwnerLiveness.alive, .unknown] {
                #expect(apply(.claim(lease("b")), state, holder, liveness: liveness, at: 29) == .failure(.held(holder)))
            }
        }
    }

    @Test func anExpiredOrDeadHolderIsTakenOverAfterItsProcessesAreSwept() throws {
        let holder = lease("a", host: "elsewhere")
        // Another host: only expiry tells.
        let expired = try apply(.claim(lease("b")), .running, holder, liveness: .unknown, at: 31).get()
        #expect(expired.lease?.token == "b" && expired.state == .running)
        #expect(expired.actions == [.sweep(holder), .clearControl, .run])
        // Same host, the process is gone: no need to wait for expiry.
        let dead = try apply(.claim(lease("b")), .stitching, holder, liveness: .dead, at: 1).get()
        #expect(dead.actions == [.sweep(holder), .clearControl, .run])
    }

    @Test func finishedJobsCannotBeClaimed() {
        for state in [JobState.completed, .cancelled] {
            #expect(apply(.claim(lease("a")), state, nil) == .failure(.invalidState(state, action: "run")))
        }
    }

    @Test func onlyTheHolderMayRenewStitchOrFinish() throws {
        let holder = lease("a")
        let renewed = try apply(.heartbeat(token: "a", expiresAt: t0 + 40), .running, holder, at: 10).get()
        #expect(renewed.lease?.expiresAt == t0 + 40 && renewed.lease?.heartbeatAt == t0 + 10 && renewed.state == .running)
        #expect(apply(.heartbeat(token: "b", expiresAt: t0 + 40), .running, holder) == .failure(.leaseLost(current: holder)))
        #expect(apply(.heartbeat(token: "a", expiresAt: t0 + 40), .paused, nil) == .failure(.leaseLost(current: nil)))
        #expect(try apply(.stitch(token: "a"), .running, holder).get().state == .stitching)
        #expect(apply(.stitch(token: "b"), .running, holder) == .failure(.leaseLost(current: holder)))
        let done = try apply(.finish(token: "a", state: .completed, error: nil), .stitching, holder).get()
        #expect(done.state == .completed && done.lease == nil)
        #expect(apply(.finish(token: "b", state: .failed, error: "x"), .running, holder) == .failure(.leaseLost(current: holder)))
        #expect(apply(.finish(token: "a", state: .running, error: nil), .running, holder) == .failure(.invalidState(.running, action: "finish a run as")))
    }

    @Test func stoppingAskesALiveHolderButStopsAnOrphanedJobItself() throws {
        let holder = lease("a")
        let asked = try apply(.stop(.cancel), .running, holder, liveness: .alive).get()
        #expect(asked.state == .running && asked.lease == holder && asked.actions == [.signalHolder(.cancel)])
        // Dead holder: cancelled here, its processes swept, its lease dropped.
        let cancelled = try apply(.stop(.cancel), .running, holder, liveness: .dead).get()
        #expect(cancelled.state == .cancelled && cancelled.lease == nil)
        #expect(cancelled.actions == [.sweep(holder), .clearControl])
        let paused = try apply(.stop(.pause), .stitching, holder, liveness: .unknown, at: 60).get()
        #expect(paused.state == .paused && paused.actions == [.sweep(holder), .clearControl])
        #expect(try apply(.stop(.pause), .pending, nil).get().actions == [.clearControl])
        #expect(try apply(.stop(.pause), .paused, nil).get().actions.isEmpty)
        #expect(apply(.stop(.cancel), .completed, nil) == .failure(.invalidState(.completed, action: "cancel")))
        #expect(apply(.stop(.pause), .cancelled, nil) == .failure(.invalidState(.cancelled, action: "pause")))
    }

    /// Whatever the state, lease and liveness: after one claim succeeds, a second claim at the same instant
    /// succeeds only if the first holder is known dead. Exclusive ownership as a property of the pure function.
    @Test func twoClaimsNeverBothHoldTheJob() throws {
        let states = JobState.allCases
        let leases: [JobLease?] = [nil, lease("old"), lease("old", expiresIn: -1)]
        for state in states {
            for existing in leases {
                for liveness in [OwnerLiveness.alive, .dead, .unknown] {
                    guard case .success(let first) = apply(.claim(lease("a")), state, existing, liveness: liveness) else { continue }
                    // The first claimant is this very moment's live runner.
                    let second = apply(.claim(lease("b")), first.state, first.lease, liveness: .alive)
                    #expect(second == .failure(.held(lease("a"))), "state \(state), lease \(String(describing: existing)), \(liveness)")
                }
            }
        }
    }
}
