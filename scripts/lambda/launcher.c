/*
 * The Lambda package's launcher: `bootstrap` (what Lambda runs) and every wrapper in ROOT/bin are copies of this
 * one static program. It starts the packaged executable of the same name through the packaged dynamic loader, so
 * nothing is loaded from the host (no FFmpeg, Swift or C library of the machine is used):
 *
 *   ROOT/bootstrap ARGS...        -> ROOT/lib/ld-linux-x86-64.so.2 ... ROOT/libexec/helios-worker lambda ARGS...
 *                                    with ROOT/bin put first on PATH, so chunk commands find the packaged tools
 *   ROOT/bin/NAME ARGS...         -> ROOT/lib/ld-linux-x86-64.so.2 ... ROOT/libexec/NAME ARGS...
 *
 * ROOT is found from /proc/self/exe, so the package works wherever it is unpacked (Lambda: /var/task).
 * Built by scripts/lambda-package.sh with `gcc -static -Os`. Exit 127 if it cannot start the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fail(const char *what, const char *path) {
    fprintf(stderr, "helios launcher: %s %s: %s\n", what, path, strerror(errno));
    _exit(127);
}

/* buffer = a + b + c, or fail: a truncated path must never name some other file. */
static void join(char *buffer, size_t size, const char *a, const char *b, const char *c) {
    int written = snprintf(buffer, size, "%s%s%s", a, b, c);
    if (written < 0 || (size_t)written >= size) { errno = ENAMETOOLONG; fail("path too long under", a); }
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

    int is_bootstrap = strcmp(name, "bootstrap") == 0;
    const char *tool = is_bootstrap ? "helios-worker" : name;
    if (!is_bootstrap) {
        /* A wrapper lives in ROOT/bin. */
        char *parent = strrchr(self, '/');
        if (parent == NULL || strcmp(parent, "/bin") != 0) { errno = EINVAL; fail("a wrapper must be in ROOT/bin, not", self); }
        *parent = '\0';
    }
    const char *root = self;

    char loader[PATH_MAX], libraries[PATH_MAX], program[PATH_MAX];
    join(loader, sizeof loader, root, "/lib/ld-linux-x86-64.so.2", "");
    join(libraries, sizeof libraries, root, "/lib", "");
    join(program, sizeof program, root, "/libexec/", tool);
    if (access(program, X_OK) != 0) fail("cannot execute", program);

    if (is_bootstrap) {
        const char *old = getenv("PATH");
        size_t size = strlen(root) + strlen(old ? old : "") + 64;
        char *path = malloc(size);
        if (path == NULL) fail("out of memory for", "PATH");
        snprintf(path, size, "%s/bin:%s", root, old && *old ? old : "/usr/local/bin:/usr/bin:/bin");
        setenv("PATH", path, 1);
    }

    /* loader --inhibit-cache --library-path LIB --argv0 TOOL PROGRAM [lambda] ARGS... NULL */
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
    if (is_bootstrap) args[n++] = "lambda";
    for (int i = 1; i < argc; i++) args[n++] = argv[i];
    args[n] = NULL;
    execv(loader, args);
    fail("cannot execute", loader);
    return 127;
}
