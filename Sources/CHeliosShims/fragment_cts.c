/* What a fragmented MP4's track runs say about each track's start: see helios_isobmff_fragment_tracks in
 * CHeliosShims.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "CHeliosShims.h"
#include "index_io.h"

/* A movie or movie fragment box larger than this is not read. */
enum { MAX_BOX_BYTES = 64 << 20 };

typedef struct {
    int fd;
    const int32_t *track_ids;
    helios_fragment_track *tracks;
    int count;
    int64_t *trex_durations; /* per track: trex's default sample duration, -1 when none */
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

static int track_of(const cts_walk *walk, int32_t id) {
    for (int k = 0; k < walk->count; k++) if (walk->track_ids[k] == id) return k;
    return -1;
}

/* A track fragment: the first sample of a track's first one gives its duration and composition offset; the most
 * negative composition offset among all its runs, the shift. */
static void visit_traf(cts_walk *walk, const uint8_t *p, const uint8_t *end) {
    const uint8_t *type, *payload;
    size_t length;
    int track = -1;
    int64_t default_duration = -1;
    for (const uint8_t *q = p; (q = next_child(q, end, &type, &payload, &length));) {
        if (memcmp(type, "tfhd", 4) == 0 && length >= 8) {
            uint32_t flags = be32(payload) & 0xffffff;
            track = track_of(walk, (int32_t)be32(payload + 4));
            if (track >= 0) default_duration = walk->trex_durations[track];
            size_t at = 8 + (flags & 0x1 ? 8 : 0) + (flags & 0x2 ? 4 : 0);
            if (track >= 0 && (flags & 0x8) && at + 4 <= length) default_duration = be32(payload + at);
        } else if (memcmp(type, "trun", 4) == 0 && track >= 0 && length >= 8) {
            helios_fragment_track *info = &walk->tracks[track];
            uint32_t flags = be32(payload) & 0xffffff, entries = be32(payload + 4);
            size_t offset = 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
            size_t stride = 4 * ((flags & 0x100 ? 1 : 0) + (flags & 0x200 ? 1 : 0) + (flags & 0x400 ? 1 : 0) + (flags & 0x800 ? 1 : 0));
            info->declared_samples += entries;
            for (uint32_t i = 0; i < entries && offset + stride <= length; i++, offset += stride) {
                /* Read as signed whatever the box's version, as libavformat reads it. */
                int32_t cts = flags & 0x800 ? (int32_t)be32(payload + offset + stride - 4) : 0;
                if (!info->samples_seen) {
                    info->first_duration = flags & 0x100 ? be32(payload + offset) : default_duration;
                    info->first_composition = cts;
                    info->samples_seen = 1;
                }
                if (cts < 0 && -(int64_t)cts > info->composition_shift) info->composition_shift = -(int64_t)cts;
                if (stride == 0) break;
            }
        }
    }
}

/* A trak: its track_ID (tkhd) and whether its edts holds an elst with entries. */
static void visit_trak(cts_walk *walk, const uint8_t *p, const uint8_t *end) {
    const uint8_t *type, *payload, *inner, *inner_payload;
    size_t length, inner_length;
    int32_t id = -1;
    int edits = 0;
    for (const uint8_t *q = p; (q = next_child(q, end, &type, &payload, &length));) {
        if (memcmp(type, "tkhd", 4) == 0 && length >= 24) {
            id = (int32_t)be32(payload + (payload[0] == 1 ? 20 : 12));
        } else if (memcmp(type, "edts", 4) == 0) {
            for (const uint8_t *r = payload; (r = next_child(r, payload + length, &inner, &inner_payload, &inner_length));) {
                if (memcmp(inner, "elst", 4) == 0 && inner_length >= 8 && be32(inner_payload + 4) > 0) edits = 1;
            }
        }
    }
    int track = track_of(walk, id);
    if (track >= 0) walk->tracks[track].has_edit_list = edits;
}

/* The movie's traks (edit lists) and trex boxes (each track's default sample duration). */
static void visit_moov(cts_walk *walk, const uint8_t *p, const uint8_t *end) {
    const uint8_t *type, *payload, *inner, *inner_payload;
    size_t length, inner_length;
    for (const uint8_t *q = p; (q = next_child(q, end, &type, &payload, &length));) {
        if (memcmp(type, "trak", 4) == 0) {
            visit_trak(walk, payload, payload + length);
            continue;
        }
        if (memcmp(type, "mvex", 4) != 0) continue;
        for (const uint8_t *r = payload; (r = next_child(r, payload + length, &inner, &inner_payload, &inner_length));) {
            if (memcmp(inner, "trex", 4) != 0 || inner_length < 16) continue;
            int track = track_of(walk, (int32_t)be32(inner_payload + 4));
            if (track >= 0) walk->trex_durations[track] = be32(inner_payload + 12);
        }
    }
}

static int visit_top_level(void *ctx, const uint8_t *type, int64_t payload, int64_t end) {
    cts_walk *walk = ctx;
    int moof = memcmp(type, "moof", 4) == 0, moov = memcmp(type, "moov", 4) == 0;
    if (!moof && !moov) return 0;
    int64_t length = end - payload;
    if (length <= 0 || length > MAX_BOX_BYTES) return 0;
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
    if (moov) {
        visit_moov(walk, bytes, bytes + length);
    } else {
        const uint8_t *child_type, *child, *limit = bytes + length;
        size_t child_length;
        for (const uint8_t *q = bytes; (q = next_child(q, limit, &child_type, &child, &child_length));) {
            if (memcmp(child_type, "traf", 4) == 0) visit_traf(walk, child, child + child_length);
        }
    }
    free(bytes);
    return 0;
}

int helios_isobmff_fragment_tracks(const char *path, const int32_t *track_ids, helios_fragment_track *tracks, int count) {
    for (int k = 0; k < count; k++) tracks[k] = (helios_fragment_track){0, -1, 0, 0, 0, 0};
    int64_t *trex = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
    if (!trex) return -1;
    for (int k = 0; k < count; k++) trex[k] = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(trex);
        return -1;
    }
    struct stat info;
    cts_walk walk = {fd, track_ids, tracks, count, trex, 0};
    if (fstat(fd, &info) == 0) {
        helios_walk_top_level_boxes(fd, info.st_size, visit_top_level, &walk);
    } else {
        walk.failed = 1;
    }
    close(fd);
    free(trex);
    return walk.failed ? -1 : 0;
}
