/* Frames a Matroska demuxer skips without a word (see helios_matroska_lost_frame in CHeliosShims.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "CHeliosShims.h"
#include "ebml.h"

enum {
    ID_EBML = 0x1A45DFA3, ID_SEGMENT = 0x18538067, ID_VOID = 0xEC, ID_CRC32 = 0xBF,
    ID_SEEK_HEAD = 0x114D9B74, ID_INFO = 0x1549A966, ID_TRACKS = 0x1654AE6B, ID_CUES = 0x1C53BB6B, ID_CLUSTER = 0x1F43B675,
    ID_TAGS = 0x1254C367, ID_CHAPTERS = 0x1043A770, ID_ATTACHMENTS = 0x1941A469,
    ID_TIMESTAMP = 0xE7, ID_SILENT_TRACKS = 0x5854, ID_POSITION = 0xA7, ID_PREV_SIZE = 0xAB, ID_SIMPLE_BLOCK = 0xA3,
    ID_BLOCK_GROUP = 0xA0, ID_ENCRYPTED_BLOCK = 0xAF,
    ID_BLOCK = 0xA1, ID_BLOCK_VIRTUAL = 0xA2, ID_BLOCK_ADDITIONS = 0x75A1, ID_BLOCK_DURATION = 0x9B, ID_REFERENCE_PRIORITY = 0xFA,
    ID_REFERENCE_BLOCK = 0xFB, ID_REFERENCE_VIRTUAL = 0xFD, ID_CODEC_STATE = 0xA4, ID_DISCARD_PADDING = 0x75A2,
    ID_SLICES = 0x8E,
};

enum { NO_VERDICT = 0, LOST = 1, BUFFER_BYTES = 65536, FIRST_READ = 4096 };

typedef struct {
    int fd;
    int64_t size;
    int64_t at;
    int length;
    uint8_t bytes[BUFFER_BYTES];
} reader;

typedef struct {
    uint32_t id;
    int unknown_size;
    int64_t start, data, end; /* end: the file's size for an element of unknown size */
} element;

/* Up to 12 bytes at `pos` (an element's header), pointed to by *p; how many. */
static int header_bytes(reader *r, int64_t pos, const uint8_t **p) {
    if (pos < 0 || pos >= r->size) return 0;
    if (pos < r->at || pos + 12 > r->at + r->length) {
        /* A read just past the last one (small frames, headers) doubles, up to the buffer; after a jump over a large
         * frame it starts small again: only the headers are wanted. */
        int64_t beyond = pos - (r->at + r->length);
        size_t want = beyond >= 0 && beyond < FIRST_READ && r->length ? (size_t)r->length * 2 : FIRST_READ;
        if (want > BUFFER_BYTES) want = BUFFER_BYTES;
        ssize_t got;
        do { got = pread(r->fd, r->bytes, want, pos); } while (got < 0 && errno == EINTR);
        if (got <= 0) return 0;
        r->at = pos;
        r->length = (int)got;
    }
    *p = r->bytes + (pos - r->at);
    int64_t held = r->at + r->length - pos;
    return held < 12 ? (int)held : 12;
}

/* The element at `pos`; 0, or -1 where no element can be read there. */
static int read_element(reader *r, int64_t pos, element *e) {
    const uint8_t *p;
    int avail = header_bytes(r, pos, &p);
    uint64_t id, size;
    int unknown;
    int id_length = helios_ebml_vint(p, avail, 4, 1, &id, NULL);
    int size_length = id_length ? helios_ebml_vint(p + id_length, avail - id_length, 8, 0, &size, &unknown) : 0;
    if (!size_length) return -1;
    e->id = (uint32_t)id;
    e->start = pos;
    e->data = pos + id_length + size_length;
    e->unknown_size = unknown;
    if (unknown) {
        e->end = r->size;
    } else {
        if (size > (uint64_t)(r->size - e->data)) return -1;
        e->end = e->data + (int64_t)size;
    }
    return 0;
}

static int is_segment_child(uint32_t id) {
    return id == ID_SEEK_HEAD || id == ID_INFO || id == ID_TRACKS || id == ID_CUES || id == ID_CLUSTER || id == ID_TAGS
        || id == ID_CHAPTERS || id == ID_ATTACHMENTS || id == ID_EBML || id == ID_SEGMENT;
}

static int is_block_group_child(uint32_t id) {
    return id == ID_BLOCK || id == ID_BLOCK_VIRTUAL || id == ID_BLOCK_ADDITIONS || id == ID_BLOCK_DURATION
        || id == ID_REFERENCE_PRIORITY || id == ID_REFERENCE_BLOCK || id == ID_REFERENCE_VIRTUAL || id == ID_CODEC_STATE
        || id == ID_DISCARD_PADDING || id == ID_SLICES || id == ID_VOID || id == ID_CRC32;
}

static int lost(const element *e, int kind, helios_matroska_lost *found) {
    found->offset = e->start;
    found->id = e->id;
    found->bytes = e->end - e->start;
    found->kind = kind;
    return LOST;
}

/* A BlockGroup holds one Block and what describes it; LOST where its frame cannot be read. */
static int audit_block_group(reader *r, const element *group, helios_matroska_lost *found) {
    int blocks = 0;
    for (int64_t pos = group->data; pos < group->end;) {
        element e;
        if (read_element(r, pos, &e) < 0 || e.unknown_size || e.end > group->end) return NO_VERDICT;
        if (e.id == ID_BLOCK) blocks++;
        else if (e.id == ID_SIMPLE_BLOCK || !is_block_group_child(e.id)) return lost(&e, 2, found);
        pos = e.end;
    }
    return blocks == 1 ? NO_VERDICT : lost(group, 3, found);
}

/* The children of a cluster. For one of unknown size, *end is set where it ends (the next element of the segment). */
static int audit_cluster(reader *r, const element *cluster, int64_t *end, helios_matroska_lost *found) {
    for (int64_t pos = cluster->data; pos < cluster->end;) {
        element e;
        if (read_element(r, pos, &e) < 0) return NO_VERDICT;
        if (cluster->unknown_size && is_segment_child(e.id)) {
            *end = pos;
            return NO_VERDICT;
        }
        if (e.unknown_size || e.end > cluster->end) return NO_VERDICT;
        switch (e.id) {
        case ID_TIMESTAMP: case ID_SILENT_TRACKS: case ID_POSITION: case ID_PREV_SIZE: case ID_SIMPLE_BLOCK: case ID_VOID:
        case ID_CRC32:
            break;
        case ID_BLOCK_GROUP: {
            int verdict = audit_block_group(r, &e, found);
            if (verdict != NO_VERDICT) return verdict;
            break;
        }
        case ID_BLOCK: case ID_BLOCK_VIRTUAL: case ID_ENCRYPTED_BLOCK:
            return lost(&e, 1, found);
        default:
            return lost(&e, 2, found);
        }
        pos = e.end;
    }
    *end = cluster->end;
    return NO_VERDICT;
}

int helios_matroska_lost_frame(const char *path, helios_matroska_lost *found) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    reader *r = fstat(fd, &st) == 0 ? calloc(1, sizeof(reader)) : NULL;
    if (!r) {
        close(fd);
        return -1;
    }
    r->fd = fd;
    r->size = st.st_size;
    int verdict = NO_VERDICT;
    element header, segment;
    if (read_element(r, 0, &header) == 0 && header.id == ID_EBML && !header.unknown_size
        && read_element(r, header.end, &segment) == 0 && segment.id == ID_SEGMENT) {
        int64_t segment_end = segment.end < r->size ? segment.end : r->size;
        for (int64_t pos = segment.data; pos < segment_end;) {
            element e;
            if (read_element(r, pos, &e) < 0) break;
            if (e.id == ID_CLUSTER) {
                int64_t end = e.end;
                verdict = audit_cluster(r, &e, &end, found);
                if (verdict != NO_VERDICT || end <= pos) break;
                pos = end;
            } else {
                /* A chained segment, or an element whose end cannot be known: no verdict from here on. */
                if (e.unknown_size || e.id == ID_EBML || e.id == ID_SEGMENT) break;
                pos = e.end;
            }
        }
    }
    free(r);
    close(fd);
    return verdict;
}
