/* Internal to CHeliosShims: growth of the C arrays the I/O contexts keep. */
#ifndef HELIOS_GROWTH_H
#define HELIOS_GROWTH_H
#include <libavutil/mem.h>

/* Makes room for one more element in *array (*capacity elements of `element` bytes, `count` used), doubling from
 * `initial`. 0, or -1 when memory runs out (the array is left as it was). */
static inline int helios_grow(void **array, int *capacity, int count, size_t element, int initial) {
    if (count < *capacity) return 0;
    int bigger = *capacity ? *capacity * 2 : initial;
    void *grown = av_realloc_array(*array, (size_t)bigger, element);
    if (!grown) return -1;
    *array = grown;
    *capacity = bigger;
    return 0;
}
#endif
