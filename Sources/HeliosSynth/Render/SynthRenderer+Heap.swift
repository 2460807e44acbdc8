import CHeliosSynthHeap
#if canImport(Glibc)
import Glibc
#endif

extension SynthRenderer {
    /// Makes the content of freshly allocated heap memory a fixed pattern, process-wide (glibc's M_PERTURB).
    ///
    /// libx264's SIMD code reads a few bytes past the end of its own picture buffers (valgrind: "invalid read of
    /// size 16 ... 219,508 bytes inside a block of size 219,520"). Those bytes are whatever the heap held before,
    /// so when other work shares the process (parallel tests, an orchestrator) the same chunk could encode to
    /// different, still valid, bytes. With a fixed perturb pattern the stale bytes are always the same.
    /// Separate processes were already reproducible; this makes renders inside one busy process reproducible too.
    /// Runs once; costs a memset per malloc/free. A process whose allocator is jemalloc (the test bundle, which links
    /// helios-stitch's) is fixed at start-up instead, by the `malloc_conf` that `CHeliosSynthHeap` defines.
    static let fixHeapContent: Void = {
        assert(helios_synth_heap_junk_requested() == 1, "CHeliosSynthHeap's malloc_conf asks jemalloc for junk filling")
        #if canImport(Glibc)
        // <malloc.h> is not part of the Glibc module: look mallopt up at run time. M_PERTURB is -6.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        if let symbol = dlsym(nil, "mallopt") {
            _ = unsafeBitCast(symbol, to: Mallopt.self)(-6, 0x5A)
        }
        #endif
    }()
}
