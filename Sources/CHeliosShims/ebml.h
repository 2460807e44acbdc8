/* Internal to CHeliosShims: EBML's variable-length integers, for the Matroska walks (matroska_index.c, matroska_audit.c). */
#ifndef HELIOS_EBML_H
#define HELIOS_EBML_H
#include <stdint.h>

/* An EBML variable-length integer of at most `max` bytes from the `avail` at p: its length (0 when invalid or cut
 * short), its value in *value (with the length marker for element IDs), and in *unknown whether all value bits are
 * set (an element of unknown size). */
static inline int helios_ebml_vint(const uint8_t *p, int avail, int max, int keep_marker, uint64_t *value, int *unknown) {
    if (avail < 1 || p[0] == 0) return 0;
    int length = __builtin_clz((unsigned)p[0]) - 23;
    if (length > max || length > avail) return 0;
    uint8_t bits = (uint8_t)(0xFF >> length);
    uint64_t v = keep_marker ? p[0] : p[0] & bits;
    int ones = (p[0] & bits) == bits;
    for (int i = 1; i < length; i++) {
        v = v << 8 | p[i];
        ones &= p[i] == 0xFF;
    }
    *value = v;
    if (unknown) *unknown = ones;
    return length;
}
#endif
