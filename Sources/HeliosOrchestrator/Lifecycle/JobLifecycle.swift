import Foundation

/// The job's states and transitions, as one pure function: the current state, lease and an event in; the next
/// state, lease and the actions to perform out. No I/O: the caller gathers the facts (`OwnerLiveness`, the time),
/// applies the transition atomically in the repository and then performs the actions.
///
/// A lease *holds* while it has not expired and its holder is not known to be dead. A held job can only be
/// stopped by asking its holder (`signalHolder`); a job whose lease does not hold is taken over or stopped
/// directly, after its previous holder's processes are swept.
public enum JobLifecycle {
    /// Something that happens to a job.
    public enum Event: Sendable, Hashable {
        /// A runner wants to run the job with this new lease.
        case claim(JobLease)
        /// The holder renews its lease.
        case heartbeat(token: String, expiresAt: Date)
        /// The holder moves the running job to `stitching`.
        case stitch(token: String)
        /// The holder's run ended in `state` (completed, failed, paused or cancelled).
        case finish(token: String, state: JobState, error: String?)
        /// Anyone asks the job to pause or cancel.
        case stop(ControlRequest)
    }

    /// What the caller does after the transition is stored.
    public enum Action: Sendable, Hashable {
        /// Run the job's unfinished chunks (the caller now holds the lease).
        case run
        /// Kill the processes of this former holder (only possible on its host).
        case sweep(JobLease)
        /// The holder is alive: store the request, it stops by itself within its poll interval.
        case signalHolder(ControlRequest)
        /// Drop a stale pause/cancel request.
        case clearControl
    }

    /// Why an event is refused.
    public enum Rejection: Error, Sendable, Hashable {
        /// Another runner holds the job.
        case held(JobLease)
        /// The job's state does not allow the event.
        case invalidState(JobState, action: String)
        /// The caller's lease was taken over or removed; it must stop without writing.
        case leaseLost(current: JobLease?)
    }

    /// The job after an event.
    public struct Transition: Sendable, Hashable {
        public var state: JobState
        public var lease: JobLease?
        /// The job's new `error` text; nil leaves it unchanged, `.some(nil)` clears it.
        public var error: String??
        public var actions: [Action]
    }

    /// Whether `lease` keeps others out at `now`.
    public static func holds(_ lease: JobLease?, now: Date, liveness: OwnerLiveness) -> Bool {
        guard let lease else { return false }
        return lease.expiresAt > now && liveness != .dead
    }

    /// The `.stitch` event from the two facts it depends on, the state and the lease holder's token (all a store
    /// that keeps them apart from the status needs): `stitching`, or nil when `token` no longer holds the job.
    public static func stitched(state: JobState, holder: String?, token: String) -> JobState? {
        holder == token && state.isActive ? .stitching : nil
    }

    /// The next state, lease and actions for `event`, or why it is refused.
    public static func apply(_ event: Event, state: JobState, lease: JobLease?, now: Date,
                             liveness: OwnerLiveness) -> Result<Transition, Rejection> {
        let held = holds(lease, now: now, liveness: liveness)
        switch event {
        case .claim(let new):
            if state == .completed || state == .cancelled { return .failure(.invalidState(state, action: "run")) }
            if held, let lease { return .failure(.held(lease)) }
            var actions: [Action] = []
            if let lease { actions.append(.sweep(lease)) }
            actions += [.clearControl, .run]
            return .success(Transition(state: .running, lease: new, error: .some(nil), actions: actions))

        case .heartbeat(let token, let expiresAt):
            guard let lease, lease.token == token, state.isActive else { return .failure(.leaseLost(current: lease)) }
            var renewed = lease
            renewed.heartbeatAt = now
            renewed.expiresAt = expiresAt
            return .success(Transition(state: state, lease: renewed, error: nil, actions: []))

        case .stitch(let token):
            guard let next = stitched(state: state, holder: lease?.token, token: token) else { return .failure(.leaseLost(current: lease)) }
            return .success(Transition(state: next, lease: lease, error: nil, actions: []))

        case .finish(let token, let final, let error):
            guard let lease, lease.token == token, state.isActive else { return .failure(.leaseLost(current: lease)) }
            guard final.isTerminal || final == .paused else { return .failure(.invalidState(final, action: "finish a run as")) }
            return .success(Transition(state: final, lease: nil, error: .some(error), actions: []))

        case .stop(let request):
            if held, state.isActive {
                return .success(Transition(state: state, lease: lease, error: nil, actions: [.signalHolder(request)]))
            }
            let next: JobState
            switch (request, state) {
            case (.pause, .pending), (.pause, .running), (.pause, .stitching), (.pause, .failed): next = .paused
            case (.cancel, .pending), (.cancel, .running), (.cancel, .stitching), (.cancel, .paused), (.cancel, .failed): next = .cancelled
            case (.pause, .paused): return .success(Transition(state: .paused, lease: lease, error: nil, actions: []))
            default: return .failure(.invalidState(state, action: request.rawValue))
            }
            // The job is not held: whatever its last holder left running is stopped here.
            let actions: [Action] = (lease.map { [.sweep($0)] } ?? []) + [.clearControl]
            return .success(Transition(state: next, lease: nil, error: .some(request == .pause ? "paused by request" : "cancelled by request"),
                                       actions: actions))
        }
    }
}

extension JobStatus {
    /// Applies `transition` (state, lease, error) to this status.
    mutating func adopt(_ transition: JobLifecycle.Transition, now: Date) {
        state = transition.state
        lease = transition.lease
        if let error = transition.error { self.error = error }
        updatedAt = now
    }
}
