/* Internal to CHeliosShims: the state of the index-only I/O context (index_io.c), shared with its Matroska walk
 * (matroska_index.c). */
#ifndef HELIOS_INDEX_IO_H
#define HELIOS_INDEX_IO_H
#include <stdint.h>

typedef struct {
    int fd;
    int64_t size;
    int64_t pos;
    int skipping;
    int64_t *regions; /* pairs [start, end) of mdat payloads, in file order */
    int count;
    int capacity;
    int64_t bytes_read;
    int64_t bytes_skipped;
    int64_t *reads; /* pairs [start, end) inside regions that are read all the same (NAL unit headers), sorted */
    int read_count;
    int read_capacity;
    int reads_sorted;
    int fragmented; /* a top-level moof: sample tables arrive while reading, after the walk */
    int64_t walk_bytes_read; /* what the Matroska walk read */
    int matroska; /* an EBML file (2 once walked): its regions come from helios_index_io_index_matroska, not from mdat boxes */
    struct matroska_block *blocks; /* Matroska: every block the walk found, in file order */
    int block_count;
    int block_capacity;
    uint64_t *track_numbers; /* Matroska: the number of the track of each stream, by stream index */
    int track_count;
    int track_capacity;
    int64_t *skips; /* pairs [start, end) of samples whose payload is not read (sample mode), sorted once skipping */
    int skip_count;
    int skip_capacity;
    struct walked *walked; /* the bytes the NAL unit walk read, in file order, to answer the parser's reads of them */
    int walked_count;
    int walked_by_matroska; /* the first entries, in file order: each block's start, from the Matroska walk */
    int walked_capacity;
} helios_index_io;

/* Bytes the NAL unit walk read at the start of a NAL unit: its length, header and (for a slice) the start of the
 * slice header the parser reads next, so that read takes no system call (about 9 us each here). */
/* What a walked entry holds at most; what the NAL unit walk reads at each unit; the last bytes of a slice the parser
 * reads (its trailing bits), which the walk of the unit after it reads along; how far before that unit the tail of
 * the stream's previous sample may end (other streams' samples between) and still come in the same read. */
enum { WALKED_BYTES = 192, NAL_WALK_BYTES = 112, TAIL_BYTES = 16, NEARBY_TAIL_BYTES = 4096 };
struct walked {
    int64_t start;
    int length;
    uint8_t bytes[WALKED_BYTES];
};

/* A Matroska block: where its element (SimpleBlock, or the BlockGroup holding it) starts, where its frame data starts
 * (after the block header; equal to `end` for a laced block, whose lace sizes the demuxer reads) and ends, its track. */
struct matroska_block {
    int64_t element;
    int64_t payload;
    int64_t end;
    uint64_t track;
};

/* Adds [start, end) to the regions whose bytes are not read (after the last one). 0, or -1 out of memory. */
int helios_index_io_add_region(helios_index_io *io, int64_t start, int64_t end);
/* Walks the Matroska file's clusters into io->blocks and io->regions (see helios_index_io_index_matroska). */
int helios_matroska_walk(helios_index_io *io, int stream_count, int only_if_it_pays);
/* A Matroska walk pays when the frame bytes it lets the probe skip are this many times what it read. */
enum { PAYING_RATIO = 8 };
/* The most blocks a walk keeps (with only_if_it_pays): about 250 bytes each. */
enum { MAX_BLOCKS = 1 << 16 };
/* Room for one more walked entry (io->walked[io->walked_count]), or NULL out of memory. */
struct walked *helios_index_io_next_walked(helios_index_io *io);
/* Calls visit(ctx, type, payload start, box end) for each top-level box of the ISO BMFF file open as fd, in order, until
 * a box does not parse (a truncated box is visited with its end clamped to the file, then the walk stops) or visit
 * returns nonzero. */
typedef int (*box_visitor)(void *ctx, const uint8_t *type, int64_t payload, int64_t end);
void helios_walk_top_level_boxes(int fd, int64_t file_size, box_visitor visit, void *ctx);

#endif
