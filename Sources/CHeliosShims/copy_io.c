/* An output AVIOContext that writes registered packet payloads by copying them from their source file in the kernel
 * (copy_file_range), and every other byte as usual. See helios_copy_io_open in CHeliosShims.h. */
#define _GNU_SOURCE
#include "CHeliosShims.h"
#include "growth.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libavutil/mem.h>

typedef struct {
    const uint8_t *data; /* the packet's payload as the muxer will hand it over */
    int size;
    int done;            /* bytes of it written so far */
    int file;            /* the source file holding the real bytes (an index into files) */
    int64_t pos;         /* where they start in it */
} copy_source;

typedef struct {
    int fd;              /* a duplicate of the caller's descriptor, or -1 once closed */
    int refs;            /* payloads registered and not written, plus the held-back copy when it reads this file */
    int released;        /* the caller is done registering from it */
} copy_file;

typedef struct {
    int fd;
    int64_t pos;         /* where the next byte goes (after the pending ones) */
    int64_t end;         /* the file's size as written so far */
    uint8_t *pending;    /* small writes gathered into one, from pending_at */
    int pending_len;
    int pending_cap;
    int64_t pending_at;
    copy_source *sources;
    int count;
    int capacity;
    copy_file *files;
    int file_count;
    int file_capacity;
    int run_file;        /* a copy not made yet: run_len bytes at run_from in files[run_file], to go at run_at */
    int64_t run_from;
    int64_t run_at;
    int64_t run_len;
    int64_t copied;
    int failure;
    int kernel_copy;     /* copy_file_range works between these files (else pread + pwrite) */
    uint8_t *bounce;
    helios_writeback *writeback; /* asked to write back every `stride` bytes copied (not owned; may be NULL) */
    int64_t stride;
    int64_t unrequested; /* bytes copied since the last request */
    int error;           /* the first write or copy that failed: every later call returns it, as bytes were lost */
} helios_copy_io;

enum { PENDING_CAPACITY = 1 << 18, BOUNCE_CAPACITY = 1 << 20 };

/* Counts `n` bytes copied; every stride of them, asks for their writeback. */
static void copied_bytes(helios_copy_io *io, int64_t n) {
    if (!io->writeback) return;
    io->unrequested += n;
    if (io->unrequested >= io->stride) {
        io->unrequested = 0;
        helios_writeback_request(io->writeback);
    }
}

static int write_all(int fd, const uint8_t *buf, int64_t size, int64_t at) {
    while (size > 0) {
        ssize_t n = pwrite(fd, buf, (size_t)size, at);
        if (n < 0) {
            if (errno == EINTR) continue;
            return AVERROR(errno);
        }
        buf += n;
        size -= n;
        at += n;
    }
    return 0;
}

/* Keeps the first failure: the bytes it concerned are gone, so the file can never be whole. A muxer ignores some
 * failures (the mov muxer does not check the seek back that writes a box's size, which flushes what was held
 * back), and the file system may refuse one write and take a later one (a write below the file size limit after
 * one above it): without this, such a file was finished, synced and renamed into place short of its data. */
static int failed(helios_copy_io *io, int ret) {
    if (ret < 0 && !io->error) io->error = ret;
    return io->error ? io->error : ret;
}

static int flush_pending(helios_copy_io *io) {
    if (!io->pending_len) return 0;
    int ret = write_all(io->fd, io->pending, io->pending_len, io->pending_at);
    io->pending_len = 0;
    return failed(io, ret);
}

static void note_end(helios_copy_io *io) {
    if (io->pos > io->end) io->end = io->pos;
}

/* Copies `size` bytes at `from` in `source` to `at`. */
static int copy_range(helios_copy_io *io, int source, int64_t from, int64_t at, int64_t size) {
    while (size > 0) {
        if (io->kernel_copy) {
            loff_t in = from, out = at;
            /* With a writeback to feed, one stride at a time: the disk writes the first strides of an input while the
             * rest is copied, and the final fsync waits for the last stride only, not for the whole last input. */
            int64_t piece = io->writeback && size > io->stride ? io->stride : size;
            ssize_t n = copy_file_range(source, &in, io->fd, &out, (size_t)piece, 0);
            if (n > 0) {
                from += n;
                at += n;
                size -= n;
                copied_bytes(io, n);
                continue;
            }
            if (n == 0) { io->failure = HELIOS_COPY_IO_SOURCE_SHORT; return AVERROR(EIO); }
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) return AVERROR(errno);
            io->kernel_copy = 0;
        }
        if (!io->bounce && !(io->bounce = av_malloc(BOUNCE_CAPACITY))) return AVERROR(ENOMEM);
        ssize_t n = pread(source, io->bounce, size < BOUNCE_CAPACITY ? (size_t)size : BOUNCE_CAPACITY, from);
        if (n < 0) {
            if (errno == EINTR) continue;
            return AVERROR(errno);
        }
        if (n == 0) { io->failure = HELIOS_COPY_IO_SOURCE_SHORT; return AVERROR(EIO); }
        int ret = write_all(io->fd, io->bounce, n, at);
        if (ret < 0) return ret;
        from += n;
        at += n;
        size -= n;
        copied_bytes(io, n);
    }
    return 0;
}

void helios_copy_io_set_writeback(AVIOContext *pb, helios_writeback *writeback, int64_t stride) {
    helios_copy_io *io = pb->opaque;
    io->writeback = stride > 0 ? writeback : NULL;
    io->stride = stride;
    io->unrequested = 0;
}

static void unref_file(helios_copy_io *io, int file) {
    copy_file *f = &io->files[file];
    if (--f->refs == 0 && f->released && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

/* Makes the copy held back (consecutive payloads consecutive in their file, as a whole input's media data usually
 * is, go in one call). */
static int flush_run(helios_copy_io *io) {
    if (!io->run_len) return 0;
    int64_t len = io->run_len;
    io->run_len = 0;
    int ret = copy_range(io, io->files[io->run_file].fd, io->run_from, io->run_at, len);
    unref_file(io, io->run_file);
    return failed(io, ret);
}

static int flush_all(helios_copy_io *io) {
    int ret = flush_run(io);
    return ret < 0 ? ret : flush_pending(io);
}

#if LIBAVFORMAT_VERSION_MAJOR >= 61
static int copy_io_write(void *opaque, const uint8_t *buf, int size) {
#else
static int copy_io_write(void *opaque, uint8_t *buf, int size) {
#endif
    helios_copy_io *io = opaque;
    if (io->error) return io->error;
    for (int i = io->count - 1; i >= 0; i--) {
        copy_source *src = &io->sources[i];
        if (buf < src->data || buf >= src->data + src->size) continue;
        /* A registered payload: written in order, as given, or the muxer changed it (and the copy would be wrong). */
        if (buf != src->data + src->done || size > src->size - src->done) {
            io->failure = HELIOS_COPY_IO_NOT_VERBATIM;
            return AVERROR_BUG;
        }
        int64_t from = src->pos + src->done;
        if (!(io->run_len && io->run_file == src->file && io->run_from + io->run_len == from && io->run_at + io->run_len == io->pos)) {
            int ret = flush_all(io);
            if (ret < 0) return ret;
            io->files[src->file].refs++;
            io->run_file = src->file;
            io->run_from = from;
            io->run_at = io->pos;
        }
        io->run_len += size;
        io->pos += size;
        note_end(io);
        io->copied += size;
        src->done += size;
        if (src->done == src->size) {
            int file = src->file;
            io->sources[i] = io->sources[--io->count];
            unref_file(io, file);
        }
        return size;
    }
    if (io->pending_len + size > io->pending_cap) {
        int ret = flush_pending(io);
        if (ret < 0) return ret;
    }
    if (size >= io->pending_cap) {
        int ret = failed(io, write_all(io->fd, buf, size, io->pos));
        if (ret < 0) return ret;
    } else {
        if (!io->pending_len) io->pending_at = io->pos;
        memcpy(io->pending + io->pending_len, buf, (size_t)size);
        io->pending_len += size;
    }
    io->pos += size;
    note_end(io);
    return size;
}

static int64_t copy_io_seek(void *opaque, int64_t offset, int whence) {
    helios_copy_io *io = opaque;
    int64_t target = helios_seek_target(offset, whence, io->pos, io->end);
    if (target < 0 || whence & AVSEEK_SIZE) return target;
    if (io->error) return io->error;
    int ret = flush_all(io);
    if (ret < 0) return ret;
    io->pos = target;
    return target;
}

AVIOContext *helios_copy_io_open(const char *path) {
    helios_copy_io *io = av_mallocz(sizeof(*io));
    if (!io) return NULL;
    io->kernel_copy = 1;
    io->pending_cap = PENDING_CAPACITY;
    /* No O_TRUNC on an empty file (a stitch's fresh temp file): on ext4 a truncation marks the inode so that its
     * close writes every dirty page back in the closing process (auto_da_alloc), which made a --no-sync stitch pay
     * for the writeback that cat leaves to the kernel's flusher. A file with data is still truncated. */
    io->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    struct stat st;
    if (io->fd >= 0 && fstat(io->fd, &st) == 0 && st.st_size > 0 && ftruncate(io->fd, 0) != 0) {
        close(io->fd);
        io->fd = -1;
    }
    io->pending = av_malloc(PENDING_CAPACITY);
    const int buffer_size = 1 << 16;
    uint8_t *buffer = av_malloc(buffer_size);
    AVIOContext *pb = NULL;
    if (io->fd >= 0 && io->pending && buffer) pb = avio_alloc_context(buffer, buffer_size, 1, io, NULL, copy_io_write, copy_io_seek);
    if (!pb) {
        int saved = errno;
        if (io->fd >= 0) close(io->fd);
        av_free(io->pending);
        av_free(buffer);
        av_free(io);
        errno = saved;
        return NULL;
    }
    /* avio_write hands the muxer's buffer to copy_io_write as it is, so a payload arrives at the address it was
     * registered with; the context's own buffer still gathers the small writes of boxes and headers. */
    pb->direct = 1;
    pb->seekable = AVIO_SEEKABLE_NORMAL;
    return pb;
}

int helios_copy_io_add_source(AVIOContext *pb, int fd) {
    helios_copy_io *io = pb->opaque;
    if (helios_grow((void **)&io->files, &io->file_capacity, io->file_count, sizeof(copy_file), 16) < 0) return AVERROR(ENOMEM);
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return AVERROR(errno);
    io->files[io->file_count] = (copy_file){ .fd = copy, .refs = 0, .released = 0 };
    return io->file_count++;
}

void helios_copy_io_release_source(AVIOContext *pb, int file) {
    helios_copy_io *io = pb->opaque;
    if (file < 0 || file >= io->file_count) return;
    copy_file *f = &io->files[file];
    f->released = 1;
    if (f->refs == 0 && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

int helios_copy_io_register(AVIOContext *pb, const uint8_t *data, int size, int file, int64_t pos) {
    helios_copy_io *io = pb->opaque;
    if (size <= 0) return 0;
    if (file < 0 || file >= io->file_count || io->files[file].fd < 0) return AVERROR(EBADF);
    for (int i = 0; i < io->count; i++) {
        if (data < io->sources[i].data + io->sources[i].size && io->sources[i].data < data + size) {
            io->failure = HELIOS_COPY_IO_NOT_VERBATIM; /* an earlier payload was never written: the muxer dropped it */
            return AVERROR_BUG;
        }
    }
    if (helios_grow((void **)&io->sources, &io->capacity, io->count, sizeof(copy_source), 16) < 0) return AVERROR(ENOMEM);
    io->sources[io->count++] = (copy_source){ .data = data, .size = size, .done = 0, .file = file, .pos = pos };
    io->files[file].refs++;
    return 0;
}

int64_t helios_copy_io_unwritten(AVIOContext *pb) {
    helios_copy_io *io = pb->opaque;
    int64_t left = 0;
    for (int i = 0; i < io->count; i++) left += io->sources[i].size - io->sources[i].done;
    return left;
}

int64_t helios_copy_io_copied(AVIOContext *pb) { return ((helios_copy_io *)pb->opaque)->copied; }

int helios_copy_io_failure(AVIOContext *pb) { return ((helios_copy_io *)pb->opaque)->failure; }

int helios_copy_io_error(AVIOContext *pb) { return ((helios_copy_io *)pb->opaque)->error; }

int helios_copy_io_flush(AVIOContext *pb) {
    avio_flush(pb);
    if (pb->error) return pb->error;
    return failed(pb->opaque, flush_all(pb->opaque));
}

int helios_copy_io_close(AVIOContext **pb) {
    if (!pb || !*pb) return 0;
    helios_copy_io *io = (*pb)->opaque;
    int ret = 0;
    if (!(*pb)->error) {
        avio_flush(*pb);
        ret = (*pb)->error;
        if (ret >= 0) ret = failed(io, flush_all(io));
    } else {
        ret = (*pb)->error;
    }
    if (close(io->fd) != 0 && ret >= 0) ret = AVERROR(errno);
    for (int i = 0; i < io->file_count; i++) if (io->files[i].fd >= 0) close(io->files[i].fd);
    av_free(io->files);
    av_free(io->pending);
    av_free(io->bounce);
    av_free(io->sources);
    av_free(io);
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
    return ret;
}
