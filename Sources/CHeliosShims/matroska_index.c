/* The index-only I/O context's walk of a Matroska file (see helios_index_io_index_matroska in CHeliosShims.h). */
#define _GNU_SOURCE
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "CHeliosShims.h"
#include "ebml.h"
#include "growth.h"
#include "index_io.h"

enum {
    ID_EBML = 0x1A45DFA3, ID_SEGMENT = 0x18538067, ID_VOID = 0xEC, ID_CRC32 = 0xBF,
    /* Segment children */
    ID_SEEK_HEAD = 0x114D9B74, ID_INFO = 0x1549A966, ID_TRACKS = 0x1654AE6B, ID_CUES = 0x1C53BB6B, ID_CLUSTER = 0x1F43B675,
    ID_TAGS = 0x1254C367, ID_CHAPTERS = 0x1043A770,
    ID_TRACK_ENTRY = 0xAE, ID_TRACK_NUMBER = 0xD7, ID_CONTENT_ENCODINGS = 0x6D80,
    /* Cluster children */
    ID_TIMESTAMP = 0xE7, ID_SILENT_TRACKS = 0x5854, ID_POSITION = 0xA7, ID_PREV_SIZE = 0xAB, ID_SIMPLE_BLOCK = 0xA3,
    ID_BLOCK_GROUP = 0xA0,
    /* BlockGroup children */
    ID_BLOCK = 0xA1, ID_BLOCK_VIRTUAL = 0xA2, ID_BLOCK_ADDITIONS = 0x75A1, ID_BLOCK_DURATION = 0x9B, ID_REFERENCE_PRIORITY = 0xFA,
    ID_REFERENCE_BLOCK = 0xFB, ID_CODEC_STATE = 0xA4, ID_DISCARD_PADDING = 0x75A2, ID_SLICES = 0x8E,
    /* Cues */
    ID_CUE_POINT = 0xBB, ID_CUE_TRACK_POSITIONS = 0xB7, ID_CUE_TRACK = 0xF7, ID_CUE_CLUSTER_POSITION = 0xF1,
    ID_CUE_RELATIVE_POSITION = 0xF0,
};

/* Why a walk gives up; the file is then scanned. */
enum {
    NO_CUES = -1, UNEXPECTED_STRUCTURE = -2, ENCODED_TRACK = -3, CUES_DISAGREE = -4, OUT_OF_MEMORY = -5,
    TRACKS_NOT_STREAMS = -6, NOT_WORTH_IT = -7
};

/* Reads element headers through a window, in as few reads as it can without reading large frames: where the walk goes
 * on close to the window's end (headers, cues, small frames) the next read doubles, up to 64 KiB; after a jump (over a
 * large frame) it reads the start of the next block, and the small frame that often follows it (interleaved audio),
 * and the next header. Each read starts a little before where it is needed, for the end of the frame before. */
enum { WINDOW_BYTES = 65536, HEAD_BYTES = 256, BEHIND_BYTES = 32, SMALL_ELEMENT = 4096 };
typedef struct {
    helios_index_io *io;
    uint8_t bytes[WINDOW_BYTES];
    int64_t at;
    int length;
    int64_t small_element; /* the size of the last small block element seen (0: none yet) */
    int only_if_it_pays;
    int64_t skippable; /* frame bytes found so far */
} window;

/* Up to `n` bytes at `pos` (fewer at the file's end; 0 past it), pointed to by *p. */
static int peek(window *w, int64_t pos, int n, const uint8_t **p) {
    if (pos >= w->io->size || pos < 0) return 0;
    int64_t held = w->at + w->length - pos;
    if (pos < w->at || held < n && w->at + w->length < w->io->size) {
        int64_t from = pos > BEHIND_BYTES ? pos - BEHIND_BYTES : 0;
        int64_t beyond = from - (w->at + w->length);
        size_t want = beyond >= 0 && beyond < SMALL_ELEMENT && w->length
            ? (size_t)(w->length * 2 < WINDOW_BYTES ? w->length * 2 : WINDOW_BYTES)
            : (size_t)(BEHIND_BYTES + HEAD_BYTES + w->small_element);
        if (want < (size_t)(pos - from + n)) want = (size_t)(pos - from + n);
        if (want > WINDOW_BYTES) want = WINDOW_BYTES;
        ssize_t got;
        do { got = pread(w->io->fd, w->bytes, want, from); } while (got < 0 && errno == EINTR);
        if (got <= pos - from) return 0;
        w->io->walk_bytes_read += got;
        w->at = from;
        w->length = (int)got;
        held = w->at + w->length - pos;
    }
    *p = w->bytes + (pos - w->at);
    return held < n ? (int)held : n;
}

typedef struct {
    uint32_t id;
    int64_t start, data, end;
} element;

/* The element at `pos`, which must end by `limit` and have a known size. 0, or UNEXPECTED_STRUCTURE. */
static int read_element(window *w, int64_t pos, int64_t limit, element *e) {
    const uint8_t *p;
    int avail = peek(w, pos, 12, &p);
    uint64_t id, size;
    int unknown;
    int id_length = helios_ebml_vint(p, avail, 4, 1, &id, NULL);
    int size_length = id_length ? helios_ebml_vint(p + id_length, avail - id_length, 8, 0, &size, &unknown) : 0;
    if (!size_length || unknown) return UNEXPECTED_STRUCTURE;
    e->id = (uint32_t)id;
    e->start = pos;
    e->data = pos + id_length + size_length;
    if (size > (uint64_t)(limit - e->data)) return UNEXPECTED_STRUCTURE;
    e->end = e->data + (int64_t)size;
    return 0;
}

/* The unsigned integer an element holds (at most 8 bytes). */
static int read_uint(window *w, const element *e, uint64_t *value) {
    int64_t length = e->end - e->data;
    const uint8_t *p;
    if (length > 8 || peek(w, e->data, (int)length, &p) < length) return UNEXPECTED_STRUCTURE;
    *value = 0;
    for (int i = 0; i < length; i++) *value = *value << 8 | p[i];
    return 0;
}

/* Records the block whose Block or SimpleBlock element is `e` (`container` is the element a cue points at), and keeps
 * its first bytes: the demuxer reads its header from them, and the NAL unit walk the start of its frame. */
static int add_block(window *w, const element *e, int64_t container) {
    const uint8_t *p;
    helios_index_io *io = w->io;
    if (e->end - e->start < SMALL_ELEMENT) w->small_element = e->end - e->start;
    /* From a little before the element (the end of the frame before, which the parser reads) */
    int64_t from = e->start > BEHIND_BYTES ? e->start - BEHIND_BYTES : 0;
    int kept = peek(w, from, (int)(e->end - from < WALKED_BYTES ? e->end - from : WALKED_BYTES), &p);
    struct walked *head = helios_index_io_next_walked(io);
    if (!head) return OUT_OF_MEMORY;
    head->start = from;
    head->length = kept;
    memcpy(head->bytes, p, (size_t)kept);
    io->walked_by_matroska = ++io->walked_count;
    int avail = peek(w, e->data, 12, &p);
    uint64_t track;
    int track_length = helios_ebml_vint(p, avail, 8, 0, &track, NULL);
    if (!track_length || avail < track_length + 3 || e->data + track_length + 3 > e->end) return UNEXPECTED_STRUCTURE;
    if (helios_grow((void **)&io->blocks, &io->block_capacity, io->block_count, sizeof(struct matroska_block), 64) < 0) {
        return OUT_OF_MEMORY;
    }
    int laced = (p[track_length + 2] & 0x06) != 0;
    struct matroska_block *b = &io->blocks[io->block_count++];
    b->element = container;
    b->payload = laced ? e->end : e->data + track_length + 3;
    b->end = e->end;
    b->track = track;
    /* Every 256 blocks: frames this small would cost more reads to skip than to read; stop walking. Past MAX_BLOCKS
     * (what the walk keeps per block, about 250 bytes, would pass 16 MB), a plain read costs less memory. */
    w->skippable += b->end - b->payload;
    if (w->only_if_it_pays && io->block_count % 256 == 0
        && (w->skippable < PAYING_RATIO * io->walk_bytes_read || io->block_count > MAX_BLOCKS)) return NOT_WORTH_IT;
    return 0;
}

static int is_one_of(uint32_t id, const uint32_t *ids, size_t count) {
    for (size_t i = 0; i < count; i++) if (ids[i] == id) return 1;
    return 0;
}
#define ONE_OF(id, ...) is_one_of(id, (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* Every child of the master element `parent`, in order, to `visit` (which returns 0 to go on). */
typedef int (*child_visitor)(window *w, const element *child, void *context);

static int walk_children(window *w, const element *parent, child_visitor visit, void *context) {
    for (int64_t pos = parent->data; pos < parent->end;) {
        element child;
        int result = read_element(w, pos, parent->end, &child);
        if (result == 0) result = visit(w, &child, context);
        if (result < 0) return result;
        pos = child.end;
    }
    return 0;
}

static int visit_block_group_child(window *w, const element *e, void *group) {
    if (e->id == ID_BLOCK) return add_block(w, e, ((const element *)group)->start);
    return ONE_OF(e->id, ID_BLOCK_VIRTUAL, ID_BLOCK_ADDITIONS, ID_BLOCK_DURATION, ID_REFERENCE_PRIORITY, ID_REFERENCE_BLOCK,
                  ID_CODEC_STATE, ID_DISCARD_PADDING, ID_SLICES, ID_VOID, ID_CRC32) ? 0 : UNEXPECTED_STRUCTURE;
}

static int visit_cluster_child(window *w, const element *e, void *context) {
    (void)context;
    if (e->id == ID_SIMPLE_BLOCK) return add_block(w, e, e->start);
    if (e->id == ID_BLOCK_GROUP) {
        /* One Block per group: a group without one lost its frame (helios_matroska_lost_frame names it). */
        int before = w->io->block_count;
        int result = walk_children(w, e, visit_block_group_child, (void *)e);
        return result < 0 ? result : w->io->block_count == before + 1 ? 0 : UNEXPECTED_STRUCTURE;
    }
    return ONE_OF(e->id, ID_TIMESTAMP, ID_SILENT_TRACKS, ID_POSITION, ID_PREV_SIZE, ID_VOID, ID_CRC32) ? 0 : UNEXPECTED_STRUCTURE;
}

/* A track whose frames are compressed or encrypted (ContentEncodings) is read whole: the demuxer transforms them. */
static int visit_track_entry_child(window *w, const element *e, void *number) {
    if (e->id == ID_CONTENT_ENCODINGS) return ENCODED_TRACK;
    return e->id == ID_TRACK_NUMBER ? read_uint(w, e, number) : 0;
}

/* Each track's number, in the order of its entry: the order of the demuxer's streams, when it made one of each. */
static int visit_tracks_child(window *w, const element *e, void *context) {
    if (e->id != ID_TRACK_ENTRY) return 0;
    uint64_t number = 0;
    int result = walk_children(w, e, visit_track_entry_child, &number);
    if (result < 0) return result;
    helios_index_io *io = w->io;
    if (number == 0) return UNEXPECTED_STRUCTURE;
    if (helios_grow((void **)&io->track_numbers, &io->track_capacity, io->track_count, sizeof(uint64_t), 4) < 0) {
        return OUT_OF_MEMORY;
    }
    io->track_numbers[io->track_count++] = number;
    (void)context;
    return 0;
}

typedef struct {
    int64_t segment_data;
    int64_t *clusters; /* pairs: element start, data start, in file order */
    int cluster_count;
    int cluster_capacity;
    int cue_points;
    uint64_t track, cluster, relative;
    int has_track, has_cluster, has_relative;
} walk_state;

static int visit_cue_position_child(window *w, const element *e, void *context) {
    walk_state *s = context;
    switch (e->id) {
    case ID_CUE_TRACK: s->has_track = 1; return read_uint(w, e, &s->track);
    case ID_CUE_CLUSTER_POSITION: s->has_cluster = 1; return read_uint(w, e, &s->cluster);
    case ID_CUE_RELATIVE_POSITION: s->has_relative = 1; return read_uint(w, e, &s->relative);
    default: return 0;
    }
}

/* A cue must point at a cluster the walk found and, with a relative position, at a block of its track there. */
static int check_cue(window *w, walk_state *s) {
    if (!s->has_track || !s->has_cluster) return CUES_DISAGREE;
    int64_t cluster = s->segment_data + (int64_t)s->cluster;
    int lo = 0, hi = s->cluster_count;
    while (lo < hi) { int mid = (lo + hi) / 2; if (s->clusters[2 * mid] < cluster) lo = mid + 1; else hi = mid; }
    if (lo == s->cluster_count || s->clusters[2 * lo] != cluster) return CUES_DISAGREE;
    if (!s->has_relative) return 0;
    int64_t element = s->clusters[2 * lo + 1] + (int64_t)s->relative;
    const helios_index_io *io = w->io;
    int b = 0, top = io->block_count;
    while (b < top) { int mid = (b + top) / 2; if (io->blocks[mid].element < element) b = mid + 1; else top = mid; }
    /* Several blocks may share an element start only as one BlockGroup; any of them may be the cue's track. */
    for (; b < io->block_count && io->blocks[b].element == element; b++) if (io->blocks[b].track == s->track) return 0;
    return CUES_DISAGREE;
}

static int visit_cue_point_child(window *w, const element *e, void *context) {
    walk_state *s = context;
    if (e->id != ID_CUE_TRACK_POSITIONS) return 0;
    s->has_track = s->has_cluster = s->has_relative = 0;
    int result = walk_children(w, e, visit_cue_position_child, s);
    return result < 0 ? result : check_cue(w, s);
}

static int visit_cues_child(window *w, const element *e, void *context) {
    if (e->id != ID_CUE_POINT) return e->id == ID_VOID || e->id == ID_CRC32 ? 0 : UNEXPECTED_STRUCTURE;
    ((walk_state *)context)->cue_points++;
    return walk_children(w, e, visit_cue_point_child, context);
}

int helios_matroska_walk(helios_index_io *io, int stream_count, int only_if_it_pays) {
    window *w = calloc(1, sizeof(window));
    if (!w) return OUT_OF_MEMORY;
    w->io = io;
    w->only_if_it_pays = only_if_it_pays;
    walk_state s = {0};
    element header, segment, cues = {0};
    int result = read_element(w, 0, io->size, &header);
    if (result == 0 && header.id != ID_EBML) result = UNEXPECTED_STRUCTURE;
    if (result == 0) result = read_element(w, header.end, io->size, &segment);
    if (result == 0 && segment.id != ID_SEGMENT) result = UNEXPECTED_STRUCTURE;
    s.segment_data = segment.data;
    for (int64_t pos = segment.data; result == 0 && pos < segment.end;) {
        element e;
        if ((result = read_element(w, pos, segment.end, &e)) < 0) break;
        if (e.id == ID_CLUSTER) {
            if (helios_grow((void **)&s.clusters, &s.cluster_capacity, s.cluster_count, 2 * sizeof(int64_t), 16) < 0) {
                result = OUT_OF_MEMORY;
                break;
            }
            s.clusters[2 * s.cluster_count] = e.start;
            s.clusters[2 * s.cluster_count + 1] = e.data;
            s.cluster_count++;
            result = walk_children(w, &e, visit_cluster_child, NULL);
        } else if (e.id == ID_TRACKS) {
            result = walk_children(w, &e, visit_tracks_child, NULL);
        } else if (e.id == ID_CUES) {
            if (cues.id) result = UNEXPECTED_STRUCTURE; /* one index, not two that may disagree */
            cues = e;
        } else if (!ONE_OF(e.id, ID_SEEK_HEAD, ID_INFO, ID_TAGS, ID_CHAPTERS, ID_VOID, ID_CRC32)) {
            /* Not Attachments either: the demuxer makes streams of some, after the tracks'. */
            result = UNEXPECTED_STRUCTURE;
        }
        pos = e.end;
    }
    if (result == 0 && io->track_count != stream_count) result = TRACKS_NOT_STREAMS;
    if (result == 0 && !cues.id) result = NO_CUES;
    if (result == 0) result = walk_children(w, &cues, visit_cues_child, &s);
    if (result == 0 && s.cue_points == 0) result = NO_CUES;
    for (int i = 0; result == 0 && i < io->block_count; i++) {
        if (helios_index_io_add_region(io, io->blocks[i].payload, io->blocks[i].end) < 0) result = OUT_OF_MEMORY;
    }
    if (result == 0 && only_if_it_pays && w->skippable < PAYING_RATIO * io->walk_bytes_read) result = NOT_WORTH_IT;
    av_free(s.clusters);
    free(w);
    return result < 0 ? result : io->count;
}
