// The synthetic renderer's fixed heap content under jemalloc (glibc gets M_PERTURB from `SynthRenderer.fixHeapContent`).
//
// libx264's SIMD code reads a few bytes past the end of its own picture buffers, so a lossy H.264 encode depends on
// whatever those bytes held before. glibc leaves them as its chunk headers or zeroed pages, and M_PERTURB fixes them;
// jemalloc rounds the buffer up to a size class whose spare tail holds stale data, and has no run-time switch for
// it. jemalloc reads this symbol (the executable's `malloc_conf`) once, before the first allocation: with `junk`,
// new memory is filled with 0xa5 and freed memory with 0x5a, so renders inside one process are reproducible again.
// Only processes that link both jemalloc and the renderer read it (the test bundle, which links helios-stitch's
// allocator); glibc ignores it.
#include <string.h>
#include "CHeliosSynthHeap.h"

__attribute__((used, visibility("default"))) const char *malloc_conf = "junk:true";

int helios_synth_heap_junk_requested(void) {
    return malloc_conf != NULL && strstr(malloc_conf, "junk:true") != NULL;
}
