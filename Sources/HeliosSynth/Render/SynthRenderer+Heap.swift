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
    /// Runs once; costs a memset per malloc/free.
    static let fixHeapContent: Void = {
        #if canImport(Glibc)
        // <malloc.h> is not part of the Glibc module: look mallopt up at run time. M_PERTURB is -6.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        if let symbol = dlsym(nil, "mallopt") {
            _ = unsafeBitCast(symbol, to: Mallopt.self)(-6, 0x5A)
        }
        #endif
    }()
}
