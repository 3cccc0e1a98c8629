/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "outbox.h"
#include "state-file.h"

/* A status update is a few KiB; anything far larger in the outbox is not ours. */
#define OUTBOX_ENTRY_MAX (1024U * 1024U)

static OutboxEntry *outbox_entry_free(OutboxEntry *e) {
        if (!e)
                return NULL;
        free(e->job);
        json_object_put(e->status);
        free(e->path);
        free(e);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(OutboxEntry *, outbox_entry_free);

Outbox *outbox_free(Outbox *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < o->n_entries; i++)
                outbox_entry_free(o->entries[i]);
        free(o->entries);
        free(o->dir);
        free(o);
        return NULL;
}

static const char *status_state(json_object *status) {
        json_object *v;

        return json_object_object_get_ex(status, "state", &v) && json_object_is_type(v, json_type_string) ?
                json_object_get_string(v) : NULL;
}

static bool state_is_terminal(const char *s) {
        return s && (streq(s, "SUCCEEDED") || streq(s, "FAILED") || streq(s, "REJECTED") || streq(s, "CANCELED"));
}

static int outbox_append(Outbox *o, OutboxEntry *e) {
        OutboxEntry **l;

        l = reallocarray(o->entries, o->n_entries + 1, sizeof(OutboxEntry *));
        if (!l)
                return -ENOMEM;
        o->entries = l;
        o->entries[o->n_entries++] = e;
        return 0;
}

/* Reads an outbox file (or what state-file.c keeps for it), bounded. Returns 0 and the parsed
 * document, or a negative errno (-EBADMSG for a NUL byte; -EINVAL with *ret_why for bad JSON). */
static int outbox_read(const char *path, json_object **ret, char **ret_why) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r;

        r = state_file_read(path, OUTBOX_ENTRY_MAX, &text, &size);
        if (r < 0)
                return r;
        if (memchr(text, '\0', size))
                return -EBADMSG;
        return json_parse_strict(text, size, NULL, ret, ret_why);
}

/* The text of an outbox file: {"job": ..., "status": ...}. Returns a new string or NULL (OOM). */
static char *outbox_entry_text(const char *job, json_object *status) {
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object();

        if (!doc ||
            json_object_object_add(doc, "job", json_object_new_string(job)) < 0 ||
            json_object_object_add(doc, "status", json_object_get(status)) < 0)
                return NULL;
        return strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int outbox_load_entry(Outbox *o, const char *name, uint64_t seq) {
        _cleanup_(outbox_entry_freep) OutboxEntry *e = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_free_ char *why = NULL;
        json_object *job, *status;
        int r;

        e = calloc(1, sizeof(OutboxEntry));
        if (!e)
                return -ENOMEM;
        e->seq = seq;
        if (asprintf(&e->path, "%s/%s", o->dir, name) < 0) {
                e->path = NULL;
                return -ENOMEM;
        }

        r = outbox_read(e->path, &doc, &why);
        if (r >= 0 && (!json_object_object_get_ex(doc, "job", &job) || !json_object_is_type(job, json_type_string) ||
                       !json_object_object_get_ex(doc, "status", &status) || !json_object_is_type(status, json_type_object)))
                r = -EBADMSG;
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                _cleanup_free_ char *broken = NULL;

                log_warning_errno(r, "Outbox: %s cannot be read%s%s, moving it aside: %m", e->path, why ? ": " : "", strempty(why));
                if (asprintf(&broken, "%s.broken", e->path) >= 0)
                        (void) state_file_rename(e->path, broken);
                return 0;
        }

        e->job = strdup(json_object_get_string(job));
        if (!e->job)
                return -ENOMEM;
        e->status = json_object_get(status);

        r = outbox_append(o, e);
        if (r < 0)
                return r;
        TAKE_PTR(e);
        return 0;
}

static int entry_compare(const void *a, const void *b) {
        const OutboxEntry *x = *(OutboxEntry *const *) a, *y = *(OutboxEntry *const *) b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int outbox_open(const char *dir, Outbox **ret) {
        _cleanup_(outbox_freep) Outbox *o = NULL;
        _cleanup_free_ char *delivered = NULL;
        DIR *d;
        int r = 0;

        o = calloc(1, sizeof(Outbox));
        if (!o)
                return -ENOMEM;
        o->dir = strdup(dir);
        if (!o->dir)
                return -ENOMEM;
        o->next_seq = 1;

        if (asprintf(&delivered, "%s/delivered", dir) < 0)
                return -ENOMEM;
        if (mkdir(dir, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(delivered, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                return -errno;

        d = opendir(dir);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d)); ) {
                unsigned long long seq;
                int n = 0;

                /* Only "<16 hex digits>.json": temp files are hidden, broken ones have a suffix. */
                if (strlen(de->d_name) != 16 + strlen(".json") ||
                    sscanf(de->d_name, "%16llx.json%n", &seq, &n) != 1 || (size_t) n != strlen(de->d_name))
                        continue;
                r = outbox_load_entry(o, de->d_name, (uint64_t) seq);
                if (r < 0)
                        break;
                o->next_seq = MAX(o->next_seq, (uint64_t) seq + 1);
        }
        closedir(d);
        if (r < 0)
                return r;

        if (o->n_entries > 0)
                qsort(o->entries, o->n_entries, sizeof(OutboxEntry *), entry_compare);

        *ret = TAKE_PTR(o);
        return 0;
}

static ssize_t outbox_index(const Outbox *o, const OutboxEntry *e) {
        for (size_t i = 0; i < o->n_entries; i++)
                if (o->entries[i] == e)
                        return (ssize_t) i;
        return -1;
}

static void outbox_take_out(Outbox *o, size_t i) {
        memmove(o->entries + i, o->entries + i + 1, (o->n_entries - i - 1) * sizeof(OutboxEntry *));
        o->n_entries--;
}

static OutboxEntry *outbox_newest_of(const Outbox *o, const char *job) {
        for (size_t i = o->n_entries; i > 0; i--)
                if (streq(o->entries[i - 1]->job, job))
                        return o->entries[i - 1];
        return NULL;
}

static int outbox_entry_new(const char *job, json_object *status, OutboxEntry **ret) {
        _cleanup_(outbox_entry_freep) OutboxEntry *e = NULL;

        e = calloc(1, sizeof(OutboxEntry));
        if (!e)
                return -ENOMEM;
        e->job = strdup(job);
        if (!e->job)
                return -ENOMEM;
        e->status = json_object_get(status);

        *ret = TAKE_PTR(e);
        return 0;
}

int outbox_push(Outbox *o, const char *job, json_object *status) {
        _cleanup_(outbox_entry_freep) OutboxEntry *e = NULL;
        _cleanup_free_ char *text = NULL;
        OutboxEntry *prev;
        int r;

        r = outbox_entry_new(job, status, &e);
        if (r < 0)
                return r;
        e->seq = o->next_seq;
        if (asprintf(&e->path, "%s/%016" PRIx64 ".json", o->dir, e->seq) < 0) {
                e->path = NULL;
                return -ENOMEM;
        }

        text = outbox_entry_text(job, status);
        if (!text)
                return -ENOMEM;

        /* A status is never lost (issue 9 item 11): what cannot be written now (a full disk) is
         * kept by state-file.c, which writes it when the state directory takes it again and says
         * that the directory cannot be written (once, for every file); the entry is queued and
         * goes out meanwhile. */
        r = state_file_write(e->path, text, STATE_WRITE_RETRY);
        if (r < 0)
                log_debug_errno(r, "Outbox: %s cannot be written now, kept in memory until it can: %m", e->path);
        o->next_seq++;

        r = outbox_append(o, e);
        if (r < 0) {
                (void) state_file_remove(e->path);
                return r;
        }
        TAKE_PTR(e);

        /* The new entry says everything the previous one of its job said, when that one only
         * moved progress within the same state and has not gone out yet. */
        prev = NULL;
        for (size_t i = o->n_entries - 1; i > 0; i--)
                if (streq(o->entries[i - 1]->job, job)) {
                        prev = o->entries[i - 1];
                        break;
                }
        if (prev && !prev->in_flight && !prev->heartbeat &&
            streq_ptr(status_state(prev->status), status_state(status)) && !state_is_terminal(status_state(status)))
                (void) outbox_remove(o, prev, false);

        return 0;
}

int outbox_push_heartbeat(Outbox *o, const char *job, json_object *status) {
        _cleanup_(outbox_entry_freep) OutboxEntry *e = NULL;
        int r;

        r = outbox_entry_new(job, status, &e);
        if (r < 0)
                return r;
        e->heartbeat = true;

        r = outbox_append(o, e);
        if (r < 0)
                return r;
        TAKE_PTR(e);
        return 0;
}

int outbox_remove(Outbox *o, OutboxEntry *e, bool delivered) {
        ssize_t i = outbox_index(o, e);
        int r = 0;

        if (i < 0)
                return -ENOENT;
        outbox_take_out(o, (size_t) i);

        if (e->path) {
                if (delivered && !outbox_newest_of(o, e->job)) {
                        _cleanup_free_ char *last = NULL;

                        /* The job's last delivered update, for outbox_last_status(): the entry's file
                         * (or what is kept of it) moves there. Should the rename fail, the delivered
                         * copy is written afresh (kept until it can be), so that it is never lost
                         * and the entry never delivered twice. */
                        if (asprintf(&last, "%s/delivered/%s.json", o->dir, e->job) < 0)
                                r = -ENOMEM;
                        else {
                                r = state_file_rename(e->path, last);
                                /* A kept content moved along, and is kept under its new name. */
                                if (r < 0 && state_file_exists(last) && !state_file_exists(e->path))
                                        r = 0;
                                if (r < 0) {
                                        _cleanup_free_ char *text = outbox_entry_text(e->job, e->status);

                                        log_debug_errno(r, "Outbox: cannot move %s to %s, writing it there: %m", e->path, last);
                                        if (!text)
                                                r = -ENOMEM;
                                        else {
                                                (void) state_file_write(last, text, STATE_WRITE_RETRY);
                                                r = state_file_remove(e->path);
                                        }
                                }
                        }
                } else
                        r = state_file_remove(e->path);
                if (r < 0)
                        log_warning_errno(r, "Outbox: cannot remove %s: %m", e->path);
        }

        outbox_entry_free(e);
        return r;
}

size_t outbox_drop_job(Outbox *o, const char *job) {
        size_t n = 0;

        for (size_t i = o->n_entries; i > 0; i--)
                if (streq(o->entries[i - 1]->job, job)) {
                        (void) outbox_remove(o, o->entries[i - 1], false);
                        n++;
                }
        return n;
}

bool outbox_has_job(const Outbox *o, const char *job) {
        return outbox_newest_of(o, job);
}

json_object *outbox_last_status(const Outbox *o, const char *job) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_free_ char *path = NULL;
        json_object *status;

        for (size_t i = o->n_entries; i > 0; i--) {
                OutboxEntry *e = o->entries[i - 1];

                if (!e->heartbeat && streq(e->job, job))
                        return json_object_get(e->status);
        }

        if (asprintf(&path, "%s/delivered/%s.json", o->dir, job) < 0)
                return NULL;
        if (outbox_read(path, &doc, NULL) < 0)
                return NULL;
        if (!json_object_object_get_ex(doc, "status", &status) || !json_object_is_type(status, json_type_object))
                return NULL;
        return json_object_get(status);
}

int outbox_forget_job(Outbox *o, const char *job) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/delivered/%s.json", o->dir, job) < 0)
                return -ENOMEM;
        return state_file_remove(path);
}
