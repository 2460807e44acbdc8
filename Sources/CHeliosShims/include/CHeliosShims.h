#ifndef CHELIOS_SHIMS_H
#define CHELIOS_SHIMS_H
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/avutil.h>

/// Values behind FFmpeg macros that Swift cannot import.
static inline int helios_averror(int e) { return AVERROR(e); }
static inline int helios_averror_eof(void) { return AVERROR_EOF; }
static inline int helios_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int helios_averror_exit(void) { return AVERROR_EXIT; }
static inline int helios_averror_bug(void) { return AVERROR_BUG; }
/// An AVIOContext seek callback's answer for a context at `pos` in a file of `size` bytes: the new position, the size
/// for AVSEEK_SIZE, or AVERROR(EINVAL).
static inline int64_t helios_seek_target(int64_t offset, int whence, int64_t pos, int64_t size) {
    int64_t target;
    if (whence & AVSEEK_SIZE) return size;
    switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: target = offset; break;
    case SEEK_CUR: target = pos + offset; break;
    case SEEK_END: target = size + offset; break;
    default: return AVERROR(EINVAL);
    }
    return target < 0 ? AVERROR(EINVAL) : target;
}
static inline int helios_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int64_t helios_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational helios_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int helios_pkt_flag_key(void) { return AV_PKT_FLAG_KEY; }
static inline int helios_pkt_flag_discard(void) { return AV_PKT_FLAG_DISCARD; }
static inline int helios_pkt_flag_corrupt(void) { return AV_PKT_FLAG_CORRUPT; }
static inline uint32_t helios_mktag(char a, char b, char c, char d) { return MKTAG(a, b, c, d); }
static inline int helios_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int helios_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }
static inline int helios_averror_patchwelcome(void) { return AVERROR_PATCHWELCOME; }

/// Writes the message for an FFmpeg error code into buf (what av_err2str does).
void helios_strerror(int code, char *buf, size_t size);

/// Installs an av_log callback that forwards formatted lines to `sink` (NULL restores the default). `context` is the
/// object that logged (an AVFormatContext, AVCodecContext, AVIOContext ...), so a caller can tell whose line it is.
typedef void (*helios_log_sink)(void *context, int level, const char *line);
void helios_set_log_sink(helios_log_sink sink);
/// Starts writeback of a file's dirty pages without waiting (Linux sync_file_range), so a final fsync finds
/// little left to write. Returns 0, or -1 with errno set (callers may ignore failure: fsync still follows).
int helios_start_writeback(int fd);

/// `helios_start_writeback` of the file at `path` on a thread of its own: `helios_writeback_request` asks for it and
/// returns at once (requests made while one runs are served by one more pass), so the writer does not spend its own
/// time queueing the pages' I/O (tens of milliseconds per few hundred megabytes). `helios_writeback_close` lets the
/// pass under way finish, stops the thread and closes the file. NULL (errno set) if the file cannot be opened; without a
/// thread, requests run in the caller.
typedef struct helios_writeback helios_writeback;
helios_writeback *helios_writeback_open(const char *path);
void helios_writeback_request(helios_writeback *writeback);
void helios_writeback_close(helios_writeback *writeback);

/// Returns freed heap pages to the system (glibc's malloc_trim; a no-op elsewhere).
void helios_release_free_memory(void);
/// Caps the heap arenas glibc creates for threads (mallopt M_ARENA_MAX; a no-op elsewhere). For `main` only.
void helios_limit_malloc_arenas(int count);
/// Serves allocations of `bytes` or more with their own mappings, returned to the system when freed (mallopt
/// M_MMAP_THRESHOLD; a no-op elsewhere). Setting it stops glibc from raising the threshold each time such a block is
/// freed, after which the next ones came from the heap and left holes there. For `main` only.
void helios_fix_mmap_threshold(size_t bytes);
/// Makes `exit` flush stdio and end the process without the teardown after it: the destructors of the hundred or so
/// shared libraries libavcodec loads, which fault in a page or more of each (about 2 MB of resident memory at the
/// moment a job ends, its peak). Nothing of ours waits for that teardown: files are closed and synced before, and
/// SQLite recovers its write-ahead log at the next open either way. Skipped when `LLVM_PROFILE_FILE` is set (the
/// coverage runtime writes at exit) or `HELIOS_FULL_EXIT` is (heaptrack and other tools that report at exit). For
/// `main` only.
void helios_skip_teardown_at_exit(void);
/// Opens an unnamed file in `directory` for writing (Linux O_TMPFILE), to be given a name with linkat once complete.
/// Returns the descriptor, or -1 with errno set where the filesystem or system cannot (callers then use a named file).
int helios_open_tmpfile(const char *directory, unsigned int mode);

/// Opens `path` (an ISO BMFF file: MP4, MOV) for reading through an AVIOContext that, once
/// `helios_index_io_skip_media_data(pb, 1)`, answers reads inside the payload of any top-level `mdat` box without
/// touching the disk (the bytes handed back are left as they are: the caller promises not to look at them), while
/// every other byte (the boxes the demuxer parses, the sample tables) is read as usual, and reads end at the file's
/// real end: packets keep their sizes, timestamps and flags, and a truncated file reads short at the same byte.
/// Set it as the AVFormatContext's pb before avformat_open_input. NULL when the file cannot be opened.
AVIOContext *helios_index_io_open(const char *path);

/// 1 when the ISO BMFF file at `path` has a top-level `moof` box (fragmented MP4: sample tables arrive while reading,
/// and sample durations may be left to libavformat's parsers), 0 when its top-level boxes hold none, -1 when it
/// cannot be opened.
int helios_isobmff_fragmented(const char *path);
/// What the track runs of a fragmented ISO BMFF file say about one track, in its timescale.
typedef struct {
    /// The ticks libavformat's mov demuxer adds to every presentation timestamp of the track, so that no frame
    /// presents before it decodes: the most negative composition offset of any of its runs, as a positive number,
    /// else 0 (CMAF writes signed offsets, and its first frame presents at its decode time).
    int64_t composition_shift;
    /// The first sample's duration as the file states it (its run, else its fragment's or the movie's default;
    /// libavformat may report another), -1 when unknown.
    int64_t first_duration;
    /// The first sample's composition offset (0 when its run has none).
    int64_t first_composition;
    /// Whether any of its samples was found.
    int samples_seen;
    /// Whether its trak has an edit list with entries (which libavformat applies).
    int has_edit_list;
    /// How many samples its track runs declare, over every `moof` the file holds whole.
    int64_t declared_samples;
} helios_fragment_track;
/// For a fragmented ISO BMFF file: fills `tracks` for each of the `count` tracks `track_ids` (tkhd track_ID, an
/// AVStream's id), reading the `moov` and every `moof` box. 0, or -1 when the file cannot be read (what was found
/// so far is filled in).
int helios_isobmff_fragment_tracks(const char *path, const int32_t *track_ids, helios_fragment_track *tracks, int count);
void helios_index_io_skip_media_data(AVIOContext *pb, int skip);
/// For an H.264 (hevc 0) or HEVC (hevc 1) stream in length-prefixed framing (avcC/hvcC), marks what libavformat's
/// parser reads of each sample to be read from disk all the same: every NAL unit's length and header, non-slice NAL
/// units whole (SEI, parameter sets), and a slice's first 96 and last 16 bytes. The parser then derives the same key
/// flags as from the whole file. Uses the stream's index entries (the sample tables). 0, or -1 (nothing usable).
int helios_index_io_read_nal_headers(AVIOContext *pb, AVStream *st, int hevc);
/// For a walked Matroska file: marks the first `head` and last `tail` bytes of each frame of stream `st` to be read
/// from disk all the same (what a frame check or parser looks at: a VP9 frame's header and superframe index, an Opus
/// packet's TOC). 0, or -1 (not a walked Matroska stream, or out of memory).
int helios_index_io_read_frame_ends(AVIOContext *pb, AVStream *st, int head, int tail);
/// For a Matroska file (EBML) opened with `helios_index_io_open`, whose demuxer made `stream_count` streams: walks its
/// structure, reading element and block headers (and each frame's first and last bytes) but no frame, so that
/// `helios_index_io_skip_media_data(pb, 1)` then answers reads of frame data (each block's bytes after its header,
/// unless laced) without the disk. Only where the file's Cues make the walk trustworthy: a finished file (known sizes,
/// every element where Matroska puts it, nothing but Cues, clusters and headers at the top level, no attachments), no
/// track whose frames are encoded (ContentEncodings), one stream per track entry (streams map to tracks in entry
/// order), and every cue pointing at a cluster the walk found and, with a relative position, at a block of its track.
/// Returns the frame data regions found (> 0; 0 for a file not opened as Matroska), or a negative reason the file must
/// be read as usual: -1 no Cues, -2 an element not where expected or cut short, -3 an encoded track, -4 a cue the
/// clusters contradict, -5 out of memory, -6 not one stream per track, -7 (only with `only_if_it_pays`) a file under
/// 1 MiB, frames too small for skipping them to save reads (under 8 times what the walk read), or more than 65,536
/// blocks (the walk keeps about 250 bytes per block; a plain read needs none). Walks once; later
/// calls return the same count (0 after a failure).
int helios_index_io_index_matroska(AVIOContext *pb, int stream_count, int only_if_it_pays);
/// 1 when `helios_index_io_index_matroska` walked the file to the end and found every element where Matroska puts
/// it (no frame outside its place, see `helios_matroska_lost_frame`), else 0. Never walks.
int helios_index_io_matroska_walked(AVIOContext *pb);
/// An element of a Matroska cluster that holds a frame no reader reads (`helios_matroska_lost_frame`): its offset, ID
/// and size in bytes, and `kind` 1 (a Block, BlockVirtual or EncryptedBlock directly in a cluster, outside any
/// BlockGroup), 2 (an element a cluster or BlockGroup cannot hold, where a block was: a damaged block header) or 3 (a
/// BlockGroup without exactly one Block).
typedef struct {
    int64_t offset;
    uint32_t id;
    int64_t bytes;
    int kind;
} helios_matroska_lost;
/// Walks the clusters of the Matroska file at `path` (element headers only, no frame) for a frame that libavformat's
/// demuxer skips without a word: it skips any element it does not expect where it finds it, so a bit flip in a
/// SimpleBlock's ID (0xA3 to 0xA1, say) drops that frame silently. Returns 1 with `found` set when such an element
/// is found, 0 when none is (or where the structure cannot be followed: an element cut short or running past its
/// parent, a chained segment; the demuxer's own errors tell of those), -1 when the file cannot be read.
int helios_matroska_lost_frame(const char *path, helios_matroska_lost *found);
/// The mdat payloads found (0: nothing would be skipped), and the bytes read from disk since skipping last changed
/// (with, for Matroska, what its walk read).
int helios_index_io_region_count(AVIOContext *pb);
int64_t helios_index_io_bytes_read(AVIOContext *pb);
/// Whether the walk of the top-level boxes at open found a `moof` (see `helios_isobmff_fragmented`).
int helios_index_io_fragmented(AVIOContext *pb);
/// Frees the context, its buffer and descriptor, and sets *pb to NULL.
void helios_index_io_close(AVIOContext **pb);

/// Sample mode, for a remux that copies payloads file to file: marks the samples of `st` (its index entries) to be
/// left unread. Returns how many, or -1 (a fragmented file: its samples are not all known at open). Then `helios_index_io_begin_sample_skipping` makes every read skip exactly those ranges and read every
/// other byte (boxes, sample tables, the other streams' samples).
int helios_index_io_skip_samples(AVIOContext *pb, AVStream *st);
void helios_index_io_begin_sample_skipping(AVIOContext *pb);
/// 1 when the byte range [pos, pos + size) overlaps a sample left unread (in sample mode).
int helios_index_io_overlaps_skipped(AVIOContext *pb, int64_t pos, int64_t size);
/// The descriptor the context reads (owned by it).
int helios_index_io_fd(AVIOContext *pb);

/// Why a copying output context failed (`helios_copy_io_failure`).
enum {
    /// A registered payload reached the file other than whole and in order (the muxer changed or dropped it).
    HELIOS_COPY_IO_NOT_VERBATIM = 1,
    /// A payload's source file ended before the payload did (it shrank since it was probed).
    HELIOS_COPY_IO_SOURCE_SHORT = 2,
};

/// Opens `path` for writing (created or truncated) through an AVIOContext that writes each payload registered with
/// `helios_copy_io_register` by copying its bytes from their source file inside the kernel (copy_file_range, or pread
/// and pwrite where the files do not allow it), and every other byte as given. Seekable. Payloads must reach the
/// context by `avio_write` of the registered address (the mov muxer's way with H.264/HEVC in length-prefixed form);
/// anything else fails the write with AVERROR_BUG. NULL (errno set) when the file cannot be opened.
AVIOContext *helios_copy_io_open(const char *path);
/// Adds a source file, open as `fd` (duplicated: the caller keeps and closes its own), for payloads registered
/// later. Returns its number, or a negative AVERROR. `helios_copy_io_release_source` says no more payloads will come
/// from it: it is closed once those registered are written (the muxer may hold packets back to interleave them).
int helios_copy_io_add_source(AVIOContext *pb, int fd);
void helios_copy_io_release_source(AVIOContext *pb, int file);
/// Registers the `size` bytes at `data` (a packet about to be muxed) as the bytes at `pos` in source `file`.
int helios_copy_io_register(AVIOContext *pb, const uint8_t *data, int size, int file, int64_t pos);
/// Registered bytes not written yet (0 once every payload reached the file), and bytes copied file to file.
int64_t helios_copy_io_unwritten(AVIOContext *pb);
int64_t helios_copy_io_copied(AVIOContext *pb);
/// 0, or the `HELIOS_COPY_IO_*` reason a write failed.
int helios_copy_io_failure(AVIOContext *pb);
/// 0, or the first write or copy that failed (a negative AVERROR). Once one failed, every later write, seek and
/// flush returns it: bytes are lost, even where the muxer ignored the failure (its seek back to a box's size).
int helios_copy_io_error(AVIOContext *pb);
/// Writes out every byte and copy held back; 0 or the first write error (then see `helios_copy_io_failure`).
int helios_copy_io_flush(AVIOContext *pb);
/// Asks `writeback` (NULL: none) for the output's writeback every `stride` bytes (> 0) that payload copies write, copying
/// a stride at a time. The caller keeps `writeback` alive until it sets NULL here or closes the context.
void helios_copy_io_set_writeback(AVIOContext *pb, helios_writeback *writeback, int64_t stride);
/// Flushes, closes the file and frees the context; sets *pb to NULL. Returns 0 or the first write error.
int helios_copy_io_close(AVIOContext **pb);

#endif
