#ifndef C_HELIOS_SYNTH_HEAP_H
#define C_HELIOS_SYNTH_HEAP_H

/// Whether jemalloc, when it is the process's allocator, was told to fill memory with a fixed pattern (its
/// `malloc_conf`, read once at start-up): 1 if this process's `malloc_conf` asks for it.
int helios_synth_heap_junk_requested(void);

#endif
