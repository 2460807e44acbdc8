/* The composition shift libavformat's mov demuxer applies to a fragmented MP4's tracks: see
 * helios_isobmff_composition_shifts in CHeliosShims.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "CHeliosShims.h"
#include "index_io.h"

/* A movie fragment box larger than this is not read (its tracks keep the shift found so far). */
enum { MAX_MOOF_BYTES = 64 << 20 };

typedef struct {
    int fd;
    const int32_t *track_ids;
    int64_t *shifts;
    int count;
    int failed;
} cts_walk;

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Each child box of [p, end): its type, payload and payload length; returns the next child, or NULL at the end or at a
 * box that does not fit. */
static const uint8_t *next_child(const uint8_t *p, const uint8_t *end, const uint8_t **type, const uint8_t **payload,
                                 size_t *length) {
    if (end - p < 8) return NULL;
    uint32_t size = be32(p);
    if (size < 8 || size > (size_t)(end - p)) return NULL;
    *type = p + 4;
    *payload = p + 8;
    *length = size - 8;
    return p + size;
}

/* A track fragment: the most negative composition offset among its runs raises its track's shift. */
static void visit_traf(cts_walk *walk, const uint8_t *p, const uint8_t *end) {
    const uint8_t *type, *payload;
    size_t length;
    int track = -1;
    for (const uint8_t *q = p; (q = next_child(q, end, &type, &payload, &length));) {
        if (memcmp(type, "tfhd", 4) == 0 && length >= 8) {
            int32_t id = (int32_t)be32(payload + 4);
            for (int k = 0; k < walk->count; k++) if (walk->track_ids[k] == id) track = k;
        } else if (memcmp(type, "trun", 4) == 0 && track >= 0 && length >= 8) {
            uint32_t flags = be32(payload) & 0xffffff, entries = be32(payload + 4);
            if (!(flags & 0x800)) continue;
            size_t offset = 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
            size_t stride = 4 * ((flags & 0x100 ? 1 : 0) + (flags & 0x200 ? 1 : 0) + (flags & 0x400 ? 1 : 0) + 1);
            size_t cts_at = stride - 4;
            for (uint32_t i = 0; i < entries && offset + stride <= length; i++, offset += stride) {
                /* Read as signed whatever the box's version, as libavformat reads it. */
                int32_t cts = (int32_t)be32(payload + offset + cts_at);
                if (cts < 0 && -(int64_t)cts > walk->shifts[track]) walk->shifts[track] = -(int64_t)cts;
            }
        }
    }
}

static int visit_top_level(void *ctx, const uint8_t *type, int64_t payload, int64_t end) {
    cts_walk *walk = ctx;
    if (memcmp(type, "moof", 4) != 0) return 0;
    int64_t length = end - payload;
    if (length <= 0 || length > MAX_MOOF_BYTES) return 0;
    uint8_t *bytes = malloc((size_t)length);
    if (!bytes) {
        walk->failed = 1;
        return 1;
    }
    if (pread(walk->fd, bytes, (size_t)length, payload) != length) {
        free(bytes);
        walk->failed = 1;
        return 1;
    }
    const uint8_t *child_type, *child, *limit = bytes + length;
    size_t child_length;
    for (const uint8_t *q = bytes; (q = next_child(q, limit, &child_type, &child, &child_length));) {
        if (memcmp(child_type, "traf", 4) == 0) visit_traf(walk, child, child + child_length);
    }
    free(bytes);
    return 0;
}

int helios_isobmff_composition_shifts(const char *path, const int32_t *track_ids, int64_t *shifts, int count) {
    for (int k = 0; k < count; k++) shifts[k] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat info;
    cts_walk walk = {fd, track_ids, shifts, count, 0};
    if (fstat(fd, &info) == 0) {
        helios_walk_top_level_boxes(fd, info.st_size, visit_top_level, &walk);
    } else {
        walk.failed = 1;
    }
    close(fd);
    return walk.failed ? -1 : 0;
}
