/* Index-only reading of ISO BMFF (MP4/MOV) and Matroska files: see helios_index_io_open in CHeliosShims.h (the
 * Matroska walk is in matroska_index.c). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include "CHeliosShims.h"
#include "growth.h"
#include "index_io.h"
#include <unistd.h>
#include <sys/stat.h>
#include <string.h>
#include <libavutil/mem.h>

static int64_t read_be(const uint8_t *p, int n) {
    int64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

int helios_index_io_add_region(helios_index_io *io, int64_t start, int64_t end) {
    if (start >= end) return 0;
    if (helios_grow((void **)&io->regions, &io->capacity, io->count, 2 * sizeof(int64_t), 8) < 0) return -1;
    io->regions[2 * io->count] = start;
    io->regions[2 * io->count + 1] = end;
    io->count++;
    return 0;
}

void helios_walk_top_level_boxes(int fd, int64_t file_size, box_visitor visit, void *ctx) {
    int64_t pos = 0;
    uint8_t header[16];
    while (pos + 8 <= file_size) {
        if (pread(fd, header, 16, pos) < 8) return;
        int64_t size = read_be(header, 4), length = 8;
        if (size == 1) {
            if (pos + 16 > file_size) return;
            size = read_be(header + 8, 8);
            length = 16;
        } else if (size == 0) {
            size = file_size - pos;
        }
        if (size < length) return;
        int64_t end = size > file_size - pos ? file_size : pos + size;
        if (visit(ctx, header + 4, pos + length, end)) return;
        if (size > file_size - pos) return;
        pos += size;
    }
}

static int note_media_data(void *ctx, const uint8_t *type, int64_t payload, int64_t end) {
    helios_index_io *io = ctx;
    if (memcmp(type, "moof", 4) == 0) io->fragmented = 1;
    if (memcmp(type, "mdat", 4) == 0 && helios_index_io_add_region(io, payload, end) < 0) return 1;
    return 0;
}

/* Records every mdat's payload. Stops at the first box that does not parse (its bytes, and everything after, are then
 * read from disk as usual). */
static void find_media_data(helios_index_io *io) { helios_walk_top_level_boxes(io->fd, io->size, note_media_data, io); }

static int note_fragment(void *ctx, const uint8_t *type, int64_t payload, int64_t end) {
    (void)payload;
    (void)end;
    if (memcmp(type, "moof", 4) != 0) return 0;
    *(int *)ctx = 1;
    return 1;
}

int helios_isobmff_fragmented(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat info;
    int found = -1;
    if (fstat(fd, &info) == 0) {
        found = 0;
        helios_walk_top_level_boxes(fd, info.st_size, note_fragment, &found);
    }
    close(fd);
    return found;
}

static int add_read(helios_index_io *io, int64_t start, int64_t end) {
    if (start >= end) return 0;
    if (helios_grow((void **)&io->reads, &io->read_capacity, io->read_count, 2 * sizeof(int64_t), 64) < 0) return -1;
    io->reads[2 * io->read_count] = start;
    io->reads[2 * io->read_count + 1] = end;
    io->read_count++;
    io->reads_sorted = 0;
    return 0;
}

static int compare_ranges(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct walked *helios_index_io_next_walked(helios_index_io *io) {
    if (helios_grow((void **)&io->walked, &io->walked_capacity, io->walked_count, sizeof(struct walked), 64) < 0) return NULL;
    return &io->walked[io->walked_count];
}

/* The `want` bytes at `at` when the entry of the first `count` walked entries (in file order) that starts last at or
 * before `at` holds them all, else NULL. */
static const uint8_t *walked_bytes(const helios_index_io *io, int count, int64_t at, int64_t want) {
    int lo = 0, hi = count;
    while (lo < hi) { int mid = (lo + hi) / 2; if (io->walked[mid].start <= at) lo = mid + 1; else hi = mid; }
    if (lo == 0) return NULL;
    const struct walked *w = &io->walked[lo - 1];
    return at + want <= w->start + w->length ? w->bytes + (at - w->start) : NULL;
}

/* Keeps the `length` bytes at `bytes`, the file's from `start`, for walked_copy. The entry, or NULL out of memory. */
static struct walked *keep_walked(helios_index_io *io, int64_t start, const uint8_t *bytes, int64_t length) {
    struct walked *w = helios_index_io_next_walked(io);
    if (!w) return NULL;
    w->start = start;
    w->length = (int)(length < WALKED_BYTES ? length : WALKED_BYTES);
    memcpy(w->bytes, bytes, (size_t)w->length);
    io->walked_count++;
    return w;
}

/* The `want` bytes at `pos` (the start of a NAL unit), kept for walked_copy with the TAIL_BYTES before them: the end
 * of the sample or unit before, whose last bytes the parser reads too. Where the stream's previous sample ended a
 * little before `pos` (audio interleaved between them), that sample's tail comes in the same read. Already kept by
 * the Matroska walk, nothing is read. NULL when fewer than `least` bytes could be read (or out of memory). */
static const uint8_t *nal_head(helios_index_io *io, int64_t pos, int64_t want, int64_t least, int64_t previous_end) {
    const uint8_t *kept = walked_bytes(io, io->walked_by_matroska, pos, want);
    if (kept) return kept;
    int64_t gap = previous_end >= TAIL_BYTES ? pos - previous_end : -1;
    int64_t from = gap > TAIL_BYTES && gap <= NEARBY_TAIL_BYTES ? previous_end - TAIL_BYTES
                 : pos < TAIL_BYTES                               ? 0
                                                                  : pos - TAIL_BYTES;
    uint8_t span[NEARBY_TAIL_BYTES + TAIL_BYTES + NAL_WALK_BYTES];
    ssize_t got = pread(io->fd, span, (size_t)(pos - from + want), from);
    if (got < pos - from + least) return NULL;
    if (from < pos - TAIL_BYTES && !keep_walked(io, from, span, TAIL_BYTES)) return NULL;
    int64_t behind = pos - from < TAIL_BYTES ? pos - from : TAIL_BYTES;
    struct walked *w = keep_walked(io, pos - behind, span + (pos - behind - from), got - (pos - behind - from));
    return w ? w->bytes + behind : NULL;
}

/* Marks what the parser reads of the length-prefixed NAL units in the sample [pos, end) (see
 * helios_index_io_read_nal_headers), keeping the first bytes of each unit for walked_copy; `previous_end` is where the
 * stream's sample before it ended (-1: none). 0, or -1 out of memory. */
static int walk_nal_units(helios_index_io *io, int64_t pos, int64_t end, int length_size, int hevc, int64_t previous_end) {
    if (end > io->size) end = io->size;
    while (pos + length_size < end) {
        /* The length and header, and as much of the slice header after them as the walk can keep. */
        int64_t want = end - pos < NAL_WALK_BYTES ? end - pos : NAL_WALK_BYTES;
        if (want < length_size + 2) want = length_size + 2;
        const uint8_t *head = nal_head(io, pos, want, length_size + 1, previous_end);
        previous_end = -1; /* only the sample's first unit follows the previous sample */
        if (!head) return add_read(io, pos, end);
        int64_t nal = read_be(head, length_size);
        int type = hevc ? (head[length_size] >> 1) & 0x3f : head[length_size] & 0x1f;
        int64_t nal_end = pos + length_size + nal;
        if (nal <= 0 || nal_end > end) return add_read(io, pos, end);
        int vcl = hevc ? type < 32 : (type >= 1 && type <= 5);
        if (vcl) {
            /* A slice: its header (what the parser reads) and its last bytes (trailing bits) */
            int64_t head_end = pos + length_size + 96 < nal_end ? pos + length_size + 96 : nal_end;
            if (add_read(io, pos, head_end) < 0) return -1;
            if (add_read(io, nal_end - TAIL_BYTES > head_end ? nal_end - TAIL_BYTES : head_end, nal_end) < 0) return -1;
        } else if (add_read(io, pos, nal_end) < 0) {
            return -1;
        }
        pos = nal_end;
    }
    return pos < end ? add_read(io, pos, end) : 0;
}

/* The track of a walked Matroska file's stream `st` in *track: the demuxer made one stream per track, in the order of
 * the track entries (the walk checked the count). 0, or -1 for a stream the walk does not know. */
static int stream_track(const helios_index_io *io, const AVStream *st, uint64_t *track) {
    if (!io->matroska || st->index < 0 || st->index >= io->track_count) return -1;
    *track = io->track_numbers[st->index];
    return 0;
}

/* The next block of `track` from *cursor on whose frame is left unread (not laced), advancing *cursor; NULL after
 * the last. */
static const struct matroska_block *next_frame(const helios_index_io *io, uint64_t track, int *cursor) {
    while (*cursor < io->block_count) {
        const struct matroska_block *b = &io->blocks[(*cursor)++];
        if (b->track == track && b->payload < b->end) return b;
    }
    return NULL;
}

int helios_index_io_read_frame_ends(AVIOContext *pb, AVStream *st, int head, int tail) {
    helios_index_io *io = pb->opaque;
    uint64_t track;
    if (stream_track(io, st, &track) < 0) return -1;
    int cursor = 0;
    for (const struct matroska_block *b; (b = next_frame(io, track, &cursor));) {
        if (add_read(io, b->payload, b->payload + head < b->end ? b->payload + head : b->end) < 0) return -1;
        if (add_read(io, b->end - tail > b->payload ? b->end - tail : b->payload, b->end) < 0) return -1;
    }
    return 0;
}

int helios_index_io_read_nal_headers(AVIOContext *pb, AVStream *st, int hevc) {
    helios_index_io *io = pb->opaque;
    const AVCodecParameters *par = st->codecpar;
    int length_size;
    if (!hevc && par->extradata_size >= 7 && par->extradata[0] == 1) length_size = (par->extradata[4] & 3) + 1;
    else if (hevc && par->extradata_size >= 23 && par->extradata[0] == 1) length_size = (par->extradata[21] & 3) + 1;
    else return -1; /* Annex B or unknown framing: not walked */
    if (io->fragmented) return -1;
    if (length_size != 4 && length_size != 2 && length_size != 1) return -1;
    if (io->matroska) {
        uint64_t track;
        if (stream_track(io, st, &track) < 0) return -1;
        int cursor = 0;
        for (const struct matroska_block *b; (b = next_frame(io, track, &cursor));) {
            if (walk_nal_units(io, b->payload, b->end, length_size, hevc, -1) < 0) return -1;
        }
        return 0;
    }
    int entries = avformat_index_get_entries_count(st);
    int64_t previous_end = -1;
    for (int i = 0; i < entries; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (!e || walk_nal_units(io, e->pos, e->pos + e->size, length_size, hevc, previous_end) < 0) return -1;
        previous_end = e->pos + e->size;
    }
    return 0;
}

/* The index of the first of `count` sorted [start, end) pairs that ends after `at` (`count` when none does). */
static int first_range_ending_after(const int64_t *pairs, int count, int64_t at) {
    int lo = 0, hi = count;
    while (lo < hi) { int mid = (lo + hi) / 2; if (pairs[2 * mid + 1] <= at) lo = mid + 1; else hi = mid; }
    return lo;
}

/* The end of the region holding `pos`, or -1; else (in *next) the start of the next region after it. */
static int64_t region_end(const helios_index_io *io, int64_t pos, int64_t *next) {
    int k = first_range_ending_after(io->regions, io->count, pos);
    *next = k < io->count ? io->regions[2 * k] : INT64_MAX;
    return k < io->count && io->regions[2 * k] <= pos ? io->regions[2 * k + 1] : -1;
}

/* Sample mode: of the bytes from `at`, how many are a skipped sample's (left unread), or 0 with *want cut to the
 * bytes up to the next skipped sample (read for real). */
static int64_t sample_span(helios_index_io *io, int64_t at, int64_t *want) {
    int k = first_range_ending_after(io->skips, io->skip_count, at);
    if (k < io->skip_count && io->skips[2 * k] <= at) return io->skips[2 * k + 1] - at < *want ? io->skips[2 * k + 1] - at : *want;
    if (k < io->skip_count && io->skips[2 * k] - at < *want) *want = io->skips[2 * k] - at;
    return 0;
}

/* Media data mode: of the bytes from `at`, how many lie in media data of the streams being indexed outside the
 * ranges read all the same (left unread), or 0 with *want cut to the bytes that are read for real. */
static int64_t media_data_span(helios_index_io *io, int64_t at, int64_t *want) {
    int64_t next = INT64_MAX;
    int64_t end = io->skipping ? region_end(io, at, &next) : -1;
    if (end > at) {
        /* Media data: its bytes are never looked at, so they are not read, except the ranges read all the same
         * (NAL unit headers the codec's parser looks at). */
        if (end - at < *want) *want = end - at;
        if (!io->reads_sorted && io->read_count) {
            qsort(io->reads, (size_t)io->read_count, 2 * sizeof(int64_t), compare_ranges);
            io->reads_sorted = 1;
        }
        int lo = first_range_ending_after(io->reads, io->read_count, at);
        int64_t real_start = lo < io->read_count ? io->reads[2 * lo] : INT64_MAX;
        if (real_start > at) return real_start - at < *want ? real_start - at : *want;
        /* at lies inside a range read for real: read up to its end */
        if (io->reads[2 * lo + 1] - at < *want) *want = io->reads[2 * lo + 1] - at;
        return 0;
    }
    if (next - at < *want) *want = next - at;
    return 0;
}

/* Copies the `want` bytes at `at` from what the NAL unit walk read, when it read them all; else 0. */
static ssize_t walked_copy(const helios_index_io *io, uint8_t *buf, int64_t want, int64_t at) {
    if (io->skipping != 1) return 0;
    const uint8_t *bytes = walked_bytes(io, io->walked_count, at, want); /* all sorted by now */
    if (!bytes) return 0;
    memcpy(buf, bytes, (size_t)want);
    return (ssize_t)want;
}

static int index_io_read(void *opaque, uint8_t *buf, int size) {
    helios_index_io *io = opaque;
    if (io->pos >= io->size) return AVERROR_EOF;
    if (size > io->size - io->pos) size = (int)(io->size - io->pos);
    int done = 0;
    while (done < size) {
        int64_t at = io->pos + done, want = size - done;
        int64_t skipped = io->skipping == 2 ? sample_span(io, at, &want) : media_data_span(io, at, &want);
        if (skipped > 0) {
            io->bytes_skipped += skipped;
            done += (int)skipped;
            continue;
        }
        ssize_t got = walked_copy(io, buf + done, want, at);
        if (got == 0) got = pread(io->fd, buf + done, (size_t)want, at);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (done) break;
            return AVERROR(errno);
        }
        if (got == 0) break;
        io->bytes_read += got;
        done += (int)got;
    }
    io->pos += done;
    return done ? done : AVERROR_EOF;
}

static int64_t index_io_seek(void *opaque, int64_t offset, int whence) {
    helios_index_io *io = opaque;
    int64_t target = helios_seek_target(offset, whence, io->pos, io->size);
    if (target >= 0 && !(whence & AVSEEK_SIZE)) io->pos = target;
    return target;
}

AVIOContext *helios_index_io_open(const char *path) {
    helios_index_io *io = av_mallocz(sizeof(*io));
    if (!io) return NULL;
    io->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (io->fd < 0 || fstat(io->fd, &info) != 0) goto fail;
    io->size = info.st_size;
    uint8_t magic[4];
    io->matroska = pread(io->fd, magic, 4, 0) == 4 && read_be(magic, 4) == 0x1A45DFA3;
    if (!io->matroska) find_media_data(io);
    /* 4 KiB, not libavformat's 32 KiB: one such buffer per input, freed between heap-lived probe results, grew the
     * heap by about 30 KB per input over 10,000 inputs (glibc keeps the holes); the media data is not read through it. */
    const int buffer_size = 4096;
    uint8_t *buffer = av_malloc(buffer_size);
    if (!buffer) goto fail;
    AVIOContext *pb = avio_alloc_context(buffer, buffer_size, 0, io, index_io_read, NULL, index_io_seek);
    if (!pb) { av_free(buffer); goto fail; }
    return pb;
fail:
    if (io->fd >= 0) close(io->fd);
    av_free(io->regions);
    av_free(io);
    return NULL;
}

static int compare_walked(const void *a, const void *b) {
    int64_t x = ((const struct walked *)a)->start, y = ((const struct walked *)b)->start;
    return x < y ? -1 : x > y;
}

void helios_index_io_skip_media_data(AVIOContext *pb, int skip) {
    helios_index_io *io = pb->opaque;
    /* In file order for walked_copy's search (several walked streams interleave). */
    if (skip == 1) qsort(io->walked, (size_t)io->walked_count, sizeof(struct walked), compare_walked);
    io->skipping = skip;
    io->bytes_read = 0;
}

int helios_index_io_index_matroska(AVIOContext *pb, int stream_count, int only_if_it_pays) {
    helios_index_io *io = pb->opaque;
    if (!io->matroska) return 0;
    /* A small file is read in a few reads anyway: walking it first adds reads. */
    if (only_if_it_pays && io->size < (1 << 20)) return -7;
    if (io->matroska == 1) {
        io->matroska = 2; /* walked once */
        int walked = helios_matroska_walk(io, stream_count, only_if_it_pays);
        if (walked < 0) {
            io->count = 0;
            io->block_count = 0;
            io->walked_count = io->walked_by_matroska = 0;
            return walked;
        }
    }
    return io->count;
}

int helios_index_io_matroska_walked(AVIOContext *pb) {
    const helios_index_io *io = pb->opaque;
    return io->matroska == 2 && io->block_count > 0;
}

int helios_index_io_region_count(AVIOContext *pb) { return ((helios_index_io *)pb->opaque)->count; }

int64_t helios_index_io_bytes_read(AVIOContext *pb) {
    const helios_index_io *io = pb->opaque;
    return io->bytes_read + io->walk_bytes_read;
}

int helios_index_io_fragmented(AVIOContext *pb) { return ((helios_index_io *)pb->opaque)->fragmented; }

int helios_index_io_skip_samples(AVIOContext *pb, AVStream *st) {
    helios_index_io *io = pb->opaque;
    if (io->fragmented) return -1;
    int entries = avformat_index_get_entries_count(st), added = 0;
    for (int i = 0; i < entries; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (!e || e->size <= 0 || e->pos < 0 || e->pos + e->size > io->size) continue;
        if (helios_grow((void **)&io->skips, &io->skip_capacity, io->skip_count, 2 * sizeof(int64_t), 256) < 0) return -1;
        io->skips[2 * io->skip_count] = e->pos;
        io->skips[2 * io->skip_count + 1] = e->pos + e->size;
        io->skip_count++;
        added++;
    }
    return added;
}

void helios_index_io_begin_sample_skipping(AVIOContext *pb) {
    helios_index_io *io = pb->opaque;
    qsort(io->skips, (size_t)io->skip_count, 2 * sizeof(int64_t), compare_ranges);
    /* Overlapping ranges (samples sharing bytes: a damaged index) merge into one. */
    int merged = 0;
    for (int i = 0; i < io->skip_count; i++) {
        if (merged > 0 && io->skips[2 * i] <= io->skips[2 * merged - 1]) {
            if (io->skips[2 * i + 1] > io->skips[2 * merged - 1]) io->skips[2 * merged - 1] = io->skips[2 * i + 1];
        } else {
            io->skips[2 * merged] = io->skips[2 * i];
            io->skips[2 * merged + 1] = io->skips[2 * i + 1];
            merged++;
        }
    }
    io->skip_count = merged;
    io->skipping = 2;
    io->bytes_read = 0;
}

int helios_index_io_overlaps_skipped(AVIOContext *pb, int64_t pos, int64_t size) {
    helios_index_io *io = pb->opaque;
    if (io->skipping != 2 || pos < 0 || size <= 0) return 0;
    int k = first_range_ending_after(io->skips, io->skip_count, pos);
    return k < io->skip_count && io->skips[2 * k] < pos + size;
}

int helios_index_io_fd(AVIOContext *pb) { return ((helios_index_io *)pb->opaque)->fd; }

void helios_index_io_close(AVIOContext **pb) {
    if (!pb || !*pb) return;
    helios_index_io *io = (*pb)->opaque;
    close(io->fd);
    av_free(io->regions);
    av_free(io->reads);
    av_free(io->skips);
    av_free(io->walked);
    av_free(io->blocks);
    av_free(io->track_numbers);
    av_free(io);
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
}
