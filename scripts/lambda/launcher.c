/*
 * The Lambda package's launcher: `bootstrap` (what Lambda runs) and every wrapper in ROOT/bin are copies of this
 * one static program. It starts the packaged executable of the same name through the packaged dynamic loader, so
 * nothing is loaded from the host (no FFmpeg, Swift or C library of the machine is used):
 *
 *   ROOT/bootstrap ARGS...        -> ROOT/lib/ld-linux-x86-64.so.2 ... ROOT/libexec/helios-worker lambda ARGS...
 *                                    with ROOT/bin put first on PATH, so chunk commands find the packaged tools
 *   ROOT/bootstrap-serve ARGS...  -> the same, running `helios-worker serve ARGS...` (the container's entry point)
 *   ROOT/bin/NAME ARGS...         -> ROOT/lib/ld-linux-x86-64.so.2 ... ROOT/libexec/NAME ARGS...
 *
 * ROOT is found from /proc/self/exe, so the package works wherever it is unpacked (Lambda: /var/task).
 *
 * Compressed libraries. Lambda refuses a zip whose unpacked size is over 250 MB, and the Swift runtime plus FFmpeg's
 * dependency closure is larger, so the packager may move the largest libraries to ROOT/libz/NAME.zst and write
 * their content hash to ROOT/libz/ID. The launcher then unpacks them once per instance into
 * $HELIOS_LIBRARY_CACHE/helios-libs-ID (default /tmp/helios-libs-ID) and puts that directory before ROOT/lib on the
 * loader's library path. The directory is built under a temporary name and renamed into place, so concurrent
 * launchers never see half of it; an existing one is used only if it belongs to this user and nobody else can
 * write to it (a shared /tmp must not let another user plant libraries).
 *
 * Built by scripts/lambda-package.sh with `gcc -static -Os ... -lzstd`. Exit 127 if it cannot start the program.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static void fail(const char *what, const char *path) {
    fprintf(stderr, "helios launcher: %s %s: %s\n", what, path, strerror(errno));
    _exit(127);
}

/* buffer = a + b + c, or fail: a truncated path must never name some other file. */
static void join(char *buffer, size_t size, const char *a, const char *b, const char *c) {
    int written = snprintf(buffer, size, "%s%s%s", a, b, c);
    if (written < 0 || (size_t)written >= size) { errno = ENAMETOOLONG; fail("path too long under", a); }
}

/* A cache directory is trusted only if it is a real directory of ours that nobody else can write to. */
static int trusted(const char *path) {
    struct stat info;
    if (lstat(path, &info) != 0) return 0;
    if (!S_ISDIR(info.st_mode) || info.st_uid != geteuid() || (info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        errno = EPERM;
        fail("refusing a library cache not owned by this user or writable by others:", path);
    }
    return 1;
}

/* Decompresses the zstd file `source` into `target` (created, mode 0755). */
static void unpack(const char *source, const char *target) {
    int in = open(source, O_RDONLY | O_CLOEXEC);
    if (in < 0) fail("cannot open", source);
    int out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    if (out < 0) fail("cannot create", target);
    ZSTD_DCtx *context = ZSTD_createDCtx();
    size_t in_size = ZSTD_DStreamInSize(), out_size = ZSTD_DStreamOutSize();
    char *in_buffer = malloc(in_size), *out_buffer = malloc(out_size);
    if (context == NULL || in_buffer == NULL || out_buffer == NULL) fail("out of memory unpacking", source);
    size_t pending = 0; /* nonzero while a frame is incomplete */
    ssize_t got;
    while ((got = read(in, in_buffer, in_size)) != 0) {
        if (got < 0) { if (errno == EINTR) continue; fail("cannot read", source); }
        ZSTD_inBuffer input = { in_buffer, (size_t)got, 0 };
        while (input.pos < input.size) {
            ZSTD_outBuffer output = { out_buffer, out_size, 0 };
            pending = ZSTD_decompressStream(context, &output, &input);
            if (ZSTD_isError(pending)) {
                fprintf(stderr, "helios launcher: %s is damaged: %s\n", source, ZSTD_getErrorName(pending));
                _exit(127);
            }
            for (size_t done = 0; done < output.pos;) {
                ssize_t wrote = write(out, out_buffer + done, output.pos - done);
                if (wrote < 0) { if (errno == EINTR) continue; fail("cannot write", target); }
                done += (size_t)wrote;
            }
        }
    }
    if (pending != 0) { fprintf(stderr, "helios launcher: %s is truncated\n", source); _exit(127); }
    if (close(out) != 0) fail("cannot write", target);
    close(in);
    ZSTD_freeDCtx(context);
    free(in_buffer);
    free(out_buffer);
}

/* Returns the directory holding ROOT/libz's libraries unpacked, building it on first use; NULL if there is no libz. */
static const char *unpacked_libraries(const char *root, char *cache, size_t size) {
    char libz[PATH_MAX], id_path[PATH_MAX], id[129];
    join(libz, sizeof libz, root, "/libz", "");
    join(id_path, sizeof id_path, libz, "/ID", "");
    int id_file = open(id_path, O_RDONLY | O_CLOEXEC);
    if (id_file < 0) {
        if (errno == ENOENT) return NULL;
        fail("cannot open", id_path);
    }
    ssize_t length = read(id_file, id, sizeof id - 1);
    close(id_file);
    if (length <= 0) { errno = EINVAL; fail("empty", id_path); }
    id[length] = '\0';
    id[strcspn(id, "\n")] = '\0';
    for (const char *c = id; *c; c++) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) { errno = EINVAL; fail("not a hex id:", id_path); }
    }

    const char *base = getenv("HELIOS_LIBRARY_CACHE");
    if (base == NULL || *base == '\0') base = "/tmp";
    join(cache, size, base, "/helios-libs-", id);
    if (trusted(cache)) return cache;

    char staging[PATH_MAX];
    join(staging, sizeof staging, cache, ".XXXXXX", "");
    if (mkdtemp(staging) == NULL) fail("cannot create", staging);
    DIR *listing = opendir(libz);
    if (listing == NULL) fail("cannot list", libz);
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        size_t name_length = strlen(entry->d_name);
        if (name_length <= 4 || strcmp(entry->d_name + name_length - 4, ".zst") != 0) continue;
        char source[PATH_MAX], target[PATH_MAX];
        join(source, sizeof source, libz, "/", entry->d_name);
        join(target, sizeof target, staging, "/", entry->d_name);
        target[strlen(target) - 4] = '\0';
        unpack(source, target);
    }
    closedir(listing);
    if (chmod(staging, 0755) != 0) fail("cannot set the mode of", staging);
    if (rename(staging, cache) != 0) {
        /* Another launcher finished first: use its directory and drop ours. */
        if (errno != EEXIST && errno != ENOTEMPTY) fail("cannot rename into place", cache);
        DIR *ours = opendir(staging);
        if (ours != NULL) {
            while ((entry = readdir(ours)) != NULL) {
                if (entry->d_name[0] == '.') continue;
                char path[PATH_MAX];
                join(path, sizeof path, staging, "/", entry->d_name);
                unlink(path);
            }
            closedir(ours);
        }
        rmdir(staging);
        if (!trusted(cache)) fail("cannot find", cache);
    }
    return cache;
}

int main(int argc, char **argv) {
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length < 0) fail("cannot read", "/proc/self/exe");
    self[length] = '\0';

    char *slash = strrchr(self, '/');
    if (slash == NULL) { errno = EINVAL; fail("unexpected path", self); }
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", slash + 1);
    *slash = '\0'; /* self is now the launcher's directory ("" for "/") */

    const char *subcommand = NULL;
    if (strcmp(name, "bootstrap") == 0) subcommand = "lambda";
    else if (strcmp(name, "bootstrap-serve") == 0) subcommand = "serve";
    const char *tool = subcommand ? "helios-worker" : name;
    if (subcommand == NULL) {
        /* A wrapper lives in ROOT/bin. */
        char *parent = strrchr(self, '/');
        if (parent == NULL || strcmp(parent, "/bin") != 0) { errno = EINVAL; fail("a wrapper must be in ROOT/bin, not", self); }
        *parent = '\0';
    }
    const char *root = self;

    char loader[PATH_MAX], libraries[2 * PATH_MAX + 1], program[PATH_MAX], cache[PATH_MAX];
    join(loader, sizeof loader, root, "/lib/ld-linux-x86-64.so.2", "");
    join(program, sizeof program, root, "/libexec/", tool);
    if (access(program, X_OK) != 0) fail("cannot execute", program);
    const char *unpacked = unpacked_libraries(root, cache, sizeof cache);
    int written = unpacked ? snprintf(libraries, sizeof libraries, "%s:%s/lib", unpacked, root)
                           : snprintf(libraries, sizeof libraries, "%s/lib", root);
    if (written < 0 || (size_t)written >= sizeof libraries) { errno = ENAMETOOLONG; fail("path too long under", root); }

    if (subcommand != NULL) {
        const char *old = getenv("PATH");
        size_t size = strlen(root) + strlen(old ? old : "") + 64;
        char *path = malloc(size);
        if (path == NULL) fail("out of memory for", "PATH");
        snprintf(path, size, "%s/bin:%s", root, old && *old ? old : "/usr/local/bin:/usr/bin:/bin");
        setenv("PATH", path, 1);
    }

    /* loader --inhibit-cache --library-path LIBS --argv0 TOOL PROGRAM [lambda|serve] ARGS... NULL */
    char **args = calloc((size_t)argc + 9, sizeof *args);
    if (args == NULL) fail("out of memory for", "arguments");
    int n = 0;
    args[n++] = loader;
    args[n++] = "--inhibit-cache";
    args[n++] = "--library-path";
    args[n++] = libraries;
    args[n++] = "--argv0";
    args[n++] = (char *)tool;
    args[n++] = program;
    if (subcommand != NULL) args[n++] = (char *)subcommand;
    for (int i = 1; i < argc; i++) args[n++] = argv[i];
    args[n] = NULL;
    execv(loader, args);
    fail("cannot execute", loader);
    return 127;
}
