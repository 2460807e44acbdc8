#if canImport(Glibc)
import Glibc
#elseif canImport(Foundation)
import Foundation
#endif

/// Blocking work (libavformat I/O, fsync) on an OS thread of its own, so hours of it never hold one of the few
/// threads Swift concurrency shares; libdispatch's global queues share their workers with the task executor.
///
/// On Linux this is a detached pthread, which keeps the stitcher free of Foundation's `Thread` (and with it of
/// libFoundation and ICU, about 6 MB of resident pages in `helios-stitch`).
package enum DedicatedThread {
    /// Starts `body` on a new detached thread and returns at once.
    package static func start(_ body: @escaping @Sendable () -> Void) {
        #if canImport(Glibc)
        // Out of threads: run here rather than lose the work (the caller waits for it either way).
        if spawn(body, detached: true) == nil { body() }
        #else
        Thread { body() }.start()
        #endif
    }

    /// Runs `helper` on a new thread while `body` runs on this one, and returns once both are done (both, here, if no
    /// thread can be made).
    package static func alongside(_ helper: @escaping @Sendable () -> Void, _ body: () -> Void) {
        #if canImport(Glibc)
        let thread = spawn(helper, detached: false)
        body()
        if let thread { pthread_join(thread, nil) } else { helper() }
        #else
        let done = DispatchSemaphore(value: 0)
        Thread { helper(); done.signal() }.start()
        body()
        done.wait()
        #endif
    }

    #if canImport(Glibc)
    /// Starts `body` on a new pthread, detached or to be joined; nil, with `body` not run, when no thread can be made.
    private static func spawn(_ body: @escaping @Sendable () -> Void, detached: Bool) -> pthread_t? {
        final class Start { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
        let start = Unmanaged.passRetained(Start(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        var thread = pthread_t()
        guard pthread_create(&thread, &attributes, { raw in
            Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, start) == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            return nil
        }
        return thread
    }
    #endif

    /// Runs `body` on a thread of its own and returns its result to the awaiting task.
    package static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            start { continuation.resume(returning: Result { () throws(E) -> T in try body() }) }
        }
        return try result.get()
    }
}
