/* SPDX-License-Identifier: MIT */
#pragma once

/* The status outbox of a network control plane (issue 5 "Outbox"): every status update is written
 * to <dir>/<seq>.json (atomically, see state-file.h) before anything is sent, and leaves only when the
 * control plane acknowledged it (MQTT PUBACK, an AWS IoT Jobs update/accepted) or the protocol
 * says it is superseded. Entries are delivered strictly in order, one at a time, so that the order
 * per job survives reconnects and restarts; after a restart the files are loaded and replayed
 * before new work.
 *
 * A pending update that only moves progress is replaced by a newer one of the same job in the same
 * state (the newer says more); state changes are never replaced. The last delivered update of each
 * job is kept as <dir>/delivered/<job>.json: after a crash between a record's save and the push of
 * its status, outbox_last_status() lets the control plane see what it never sent. */

#include <json-c/json.h>

#include "macro.h"

typedef struct OutboxEntry {
        uint64_t seq;               /* file name: %016" PRIx64 ".json" */
        char *job;                  /* the job id the update belongs to */
        json_object *status;        /* the status update (control-plane.h: job_status_new()), owned */
        char *path;
        bool in_flight;             /* handed to the control plane, not acknowledged yet */
        bool heartbeat;             /* not persisted: a repeat of the last update (AWS step timer) */
} OutboxEntry;

typedef struct Outbox {
        char *dir;
        OutboxEntry **entries;      /* oldest first */
        size_t n_entries;
        uint64_t next_seq;
} Outbox;

/* Opens (creating with mode 0750) the outbox at dir and loads its pending entries in order.
 * Unreadable entries are logged and moved aside as <seq>.json.broken. Returns 0, -ENOMEM or a
 * negative errno from the file system. */
int outbox_open(const char *dir, Outbox **ret);
Outbox *outbox_free(Outbox *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Outbox *, outbox_free);

/* Appends status (a new reference is taken) for job, written to its file before return; a
 * pending, not in flight, progress-only predecessor of the same job and state is dropped. A file
 * that cannot be written (a full disk) is kept in memory and written later (state-file.h,
 * STATE_WRITE_RETRY): the entry is queued all the same, so that no status is ever lost. Returns 0
 * or -ENOMEM (nothing queued). */
int outbox_push(Outbox *o, const char *job, json_object *status);

/* Appends an in-memory heartbeat (see OutboxEntry.heartbeat) for job with status (new reference).
 * Returns 0 or -ENOMEM. */
int outbox_push_heartbeat(Outbox *o, const char *job, json_object *status);

/* The oldest entry, or NULL when empty. */
static inline OutboxEntry *outbox_head(const Outbox *o) {
        return o->n_entries > 0 ? o->entries[0] : NULL;
}

/* The entry was delivered (acknowledged) or is superseded: removes it from memory and disk; it
 * becomes the job's last delivered update when it is the newest of its job (delivered = true; a
 * file state-file.c still keeps moves along). Returns 0 or a negative errno from the file system
 * (the entry is removed from memory anyway). */
int outbox_remove(Outbox *o, OutboxEntry *e, bool delivered);

/* Drops every pending entry of job (the control plane ended the job). Returns how many. */
size_t outbox_drop_job(Outbox *o, const char *job);

/* Whether an entry of job is pending. */
bool outbox_has_job(const Outbox *o, const char *job);

/* The newest status known for job: the newest pending entry's, else the last delivered one
 * (loaded from disk, or what state-file.c keeps of it), else NULL. Returns a new reference or
 * NULL. */
json_object *outbox_last_status(const Outbox *o, const char *job);

/* Forgets the last delivered update of job (the core pruned its record); pending entries stay.
 * Returns 0 (also when there was none) or a negative errno. */
int outbox_forget_job(Outbox *o, const char *job);
