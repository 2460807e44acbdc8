#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include "CHeliosShims.h"
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

void helios_release_free_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void helios_limit_malloc_arenas(int count) {
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, count);
#endif
}

void helios_fix_mmap_threshold(size_t bytes) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, (int)bytes);
#endif
}

#ifdef __GLIBC__
static void helios_exit_now(int status, void *unused) {
    (void)unused;
    fflush(NULL);
    _exit(status);
}
#endif

void helios_skip_teardown_at_exit(void) {
#ifdef __GLIBC__
    if (getenv("LLVM_PROFILE_FILE") != NULL || getenv("HELIOS_FULL_EXIT") != NULL) return;
    on_exit(helios_exit_now, NULL);
#endif
}

void helios_strerror(int code, char *buf, size_t size) {
    if (av_strerror(code, buf, size) < 0) {
        snprintf(buf, size, "FFmpeg error %d", code);
    }
}

static helios_log_sink current_sink = NULL;

static void helios_log_callback(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > av_log_get_level() || current_sink == NULL) return;
    char line[1024];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
    current_sink(avcl, level, line);
}

void helios_set_log_sink(helios_log_sink sink) {
    current_sink = sink;
    if (sink) av_log_set_callback(helios_log_callback);
    else av_log_set_callback(av_log_default_callback);
}

int helios_start_writeback(int fd) {
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    return 0;
#endif
}

int helios_open_tmpfile(const char *directory, unsigned int mode) {
#ifdef O_TMPFILE
    return open(directory, O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)mode);
#else
    (void)directory; (void)mode;
    errno = EOPNOTSUPP;
    return -1;
#endif
}
