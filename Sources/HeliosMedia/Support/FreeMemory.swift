import CHeliosShims

/// Hands the free pages of the heap back to the system (glibc's `malloc_trim`; nothing elsewhere). glibc keeps what a
/// process frees for its next allocations; after a stitch let go of megabytes, what the caller does next (a job's
/// last status write) would otherwise stand on top of them in the process's peak memory. It walks the whole heap
/// (about a millisecond at 10,000 inputs): for the end of large steps, not for loops.
package func releaseFreeMemory() {
    helios_release_free_memory()
}
