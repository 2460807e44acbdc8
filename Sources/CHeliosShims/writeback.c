/* A file's early writeback on a thread of its own (see helios_writeback_open in CHeliosShims.h). */
#define _GNU_SOURCE
#include "CHeliosShims.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct helios_writeback {
    int fd;
    int threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int pending;
    int stopping;
};

static void *writeback_main(void *opaque) {
    helios_writeback *w = opaque;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending && !w->stopping) pthread_cond_wait(&w->wake, &w->lock);
        if (!w->pending) break;
        w->pending = 0;
        pthread_mutex_unlock(&w->lock);
        (void)helios_start_writeback(w->fd);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

helios_writeback *helios_writeback_open(const char *path) {
    helios_writeback *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->threaded = pthread_create(&w->thread, NULL, writeback_main, w) == 0;
    return w;
}

void helios_writeback_request(helios_writeback *w) {
    if (!w->threaded) {
        (void)helios_start_writeback(w->fd);
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->pending = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void helios_writeback_close(helios_writeback *w) {
    if (!w) return;
    if (w->threaded) {
        pthread_mutex_lock(&w->lock);
        w->stopping = 1;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    close(w->fd);
    free(w);
}
