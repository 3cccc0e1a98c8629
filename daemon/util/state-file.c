/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <stdio.h>

#include "fileio.h"
#include "log.h"
#include "state-file.h"

typedef struct PendingWrite {
        char *path;
        char *text;
} PendingWrite;

static struct {
        PendingWrite *pending;
        size_t n_pending;
        int health;                 /* 0, or the errno of the latest failure */
        sd_event *event;
        sd_event_source *timer;
        usec_t retry;
        StateHealthHandler handler;
        void *userdata;
} state;

static ssize_t pending_find(const char *path) {
        for (size_t i = 0; i < state.n_pending; i++)
                if (streq(state.pending[i].path, path))
                        return (ssize_t) i;
        return -1;
}

static void pending_drop(size_t i) {
        free(state.pending[i].path);
        free(state.pending[i].text);
        memmove(state.pending + i, state.pending + i + 1, (state.n_pending - i - 1) * sizeof(PendingWrite));
        state.n_pending--;
}

static int pending_keep(const char *path, const char *text) {
        ssize_t i = pending_find(path);
        char *t;

        t = strdup(text);
        if (!t)
                return -ENOMEM;

        if (i >= 0) {
                free(state.pending[i].text);
                state.pending[i].text = t;
                return 0;
        }

        PendingWrite *l = reallocarray(state.pending, state.n_pending + 1, sizeof(PendingWrite));
        if (!l) {
                free(t);
                return -ENOMEM;
        }
        state.pending = l;
        state.pending[state.n_pending] = (PendingWrite) { .path = strdup(path), .text = t };
        if (!state.pending[state.n_pending].path) {
                free(t);
                return -ENOMEM;
        }
        state.n_pending++;
        return 0;
}

static void health_failed(int error, const char *path) {
        bool was_healthy = state.health == 0;

        state.health = error;
        if (was_healthy && state.handler)
                state.handler(error, path, state.userdata);
}

static void health_maybe_recovered(void) {
        if (state.health == 0 || state.n_pending > 0)
                return;
        state.health = 0;
        if (state.handler)
                state.handler(0, NULL, state.userdata);
}

static void timer_arm(void) {
        int r;

        if (!state.event || state.n_pending == 0) {
                if (state.timer)
                        (void) sd_event_source_set_enabled(state.timer, SD_EVENT_OFF);
                return;
        }

        if (state.timer && sd_event_source_get_enabled(state.timer, NULL) > 0)
                return; /* a round is due already */

        if (state.timer) {
                r = sd_event_source_set_time_relative(state.timer, state.retry);
                if (r >= 0)
                        r = sd_event_source_set_enabled(state.timer, SD_EVENT_ONESHOT);
        } else
                r = -ENOENT;
        if (r < 0)
                log_error_errno(r, "Cannot schedule writing the state files again: %m");
}

/* Writes what is kept, oldest first, until one fails. Returns how many are still kept. */
static size_t pending_write_all(void) {
        while (state.n_pending > 0) {
                int r = write_file_atomic(state.pending[0].path, state.pending[0].text);

                if (r < 0) {
                        health_failed(r, state.pending[0].path);
                        break;
                }
                log_debug("State file %s written at last", state.pending[0].path);
                pending_drop(0);
        }
        health_maybe_recovered();
        return state.n_pending;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) pending_write_all();
        timer_arm();
        return 0;
}

int state_file_setup(sd_event *e, usec_t retry, StateHealthHandler handler, void *userdata) {
        int r;

        state.handler = handler;
        state.userdata = userdata;
        state.retry = retry > 0 ? retry : 10 * USEC_PER_SEC;

        state.timer = sd_event_source_disable_unref(state.timer);
        state.event = sd_event_unref(state.event);
        if (!e)
                return 0;

        r = sd_event_add_time_relative(e, &state.timer, CLOCK_BOOTTIME, state.retry, 0, on_retry, NULL);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(state.timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(state.timer, "state-file-retry");
        state.event = sd_event_ref(e);

        timer_arm();
        return 0;
}

size_t state_file_flush(void) {
        size_t n = pending_write_all();

        for (size_t i = 0; i < state.n_pending; i++)
                log_error("State file %s could not be written before stopping: its last change is lost",
                          state.pending[i].path);
        while (state.n_pending > 0)
                pending_drop(0);
        free(state.pending);
        state.pending = NULL;

        state.timer = sd_event_source_disable_unref(state.timer);
        state.event = sd_event_unref(state.event);
        state.handler = NULL;
        state.health = 0;
        return n;
}

int state_file_write(const char *path, const char *text, StateWriteFlags flags) {
        ssize_t i;
        int r;

        r = write_file_atomic(path, text);
        if (r >= 0) {
                i = pending_find(path);
                if (i >= 0)
                        pending_drop((size_t) i);
                /* The disk takes writes again: the kept ones go now, not at the next round. */
                if (state.health != 0)
                        (void) pending_write_all();
                return 0;
        }

        health_failed(r, path);

        if (flags & STATE_WRITE_RETRY) {
                if (pending_keep(path, text) < 0)
                        log_error("Out of memory: the last change of %s is lost", path);
                timer_arm();
        } else {
                /* Whatever was kept for it is older than what the caller has now given up on. */
                i = pending_find(path);
                if (i >= 0)
                        pending_drop((size_t) i);
        }
        return r;
}

int state_file_read(const char *path, size_t max, char **ret, size_t *ret_size) {
        ssize_t i = pending_find(path);

        if (i >= 0) {
                size_t n = strlen(state.pending[i].text);
                char *copy;

                if (n > max)
                        return -EFBIG;
                copy = strdup(state.pending[i].text);
                if (!copy)
                        return -ENOMEM;
                *ret = copy;
                if (ret_size)
                        *ret_size = n;
                return 0;
        }

        return read_file_bounded(AT_FDCWD, path, max, 0, ret, ret_size);
}

bool state_file_exists(const char *path) {
        return pending_find(path) >= 0 || access(path, F_OK) >= 0;
}

int state_file_remove(const char *path) {
        ssize_t i = pending_find(path);

        if (i >= 0)
                pending_drop((size_t) i);
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        health_maybe_recovered();
        return 0;
}

int state_file_rename(const char *from, const char *to) {
        ssize_t i = pending_find(from);
        ssize_t j;

        if (i >= 0) {
                _cleanup_free_ char *text = TAKE_PTR(state.pending[i].text);

                state.pending[i].text = NULL;
                pending_drop((size_t) i);
                (void) unlink(from);
                return state_file_write(to, text, STATE_WRITE_RETRY);
        }

        if (rename(from, to) < 0)
                return -errno;
        j = pending_find(to);
        if (j >= 0)
                pending_drop((size_t) j);
        return 0;
}

size_t state_file_pending(void) {
        return state.n_pending;
}

int state_file_health(void) {
        return state.health;
}
