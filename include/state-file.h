/* SPDX-License-Identifier: MIT */
#pragma once

/* Every file in the state directory (job records, the MQTT outbox, per-job control-plane state) is
 * written here, so that one place knows whether the state directory can be written and one place
 * retries what could not be.
 *
 *  - A write is atomic (write_file_atomic(): temp file, fsync, rename, fsync of the directory).
 *  - With STATE_WRITE_RETRY, a file that could not be written (a full disk, a read-only remount) is
 *    kept in memory, newest content per path, and written again every retry interval until it
 *    lands. Reads through state_file_read() see that content, so the process never reads back an
 *    older version of its own state. Without the flag the caller learns of the failure and nothing
 *    is kept: for writes that must be durable before the daemon acts on them (a new record before
 *    its document is acknowledged; "AT+QFOTADL sent" before the command is written).
 *  - The health handler hears of the first failure (the state directory cannot be written) and of
 *    the first moment everything is on disk again: the daemon says so in STATUS= and in the journal.
 *
 * Process-wide, like the log: the state directory is one. */

#include <systemd/sd-event.h>

#include "macro.h"

typedef enum StateWriteFlags {
        STATE_WRITE_RETRY = 1 << 0,
} StateWriteFlags;

/* error: the negative errno of the failed write, path the file; or error 0 and path NULL once
 * every file is written again. Borrowed for the call. */
typedef void (*StateHealthHandler)(int error, const char *path, void *userdata);

/* Attaches the retry timer to e (retry: microseconds between two rounds) and sets the health
 * handler (may be NULL). Before this, failed writes with STATE_WRITE_RETRY are kept but only
 * retried by state_file_flush(). Returns 0 or a negative errno. */
int state_file_setup(sd_event *e, usec_t retry, StateHealthHandler handler, void *userdata);

/* One last attempt at every kept file, then forgets them (shutdown). Returns how many could not be
 * written. */
size_t state_file_flush(void);

/* Writes text (a newline is appended) to path atomically. Returns 0 or the negative errno of the
 * failure; with STATE_WRITE_RETRY the content is then kept and written later (see above). A
 * successful write replaces whatever was kept for path. */
int state_file_write(const char *path, const char *text, StateWriteFlags flags);

/* Reads path like read_file_bounded(), but a content kept for a later write is returned instead
 * of the file's. Returns 0 or a negative errno (see read_file_bounded()). */
int state_file_read(const char *path, size_t max, char **ret, size_t *ret_size);

/* Whether path exists, on disk or as a content kept for a later write. */
bool state_file_exists(const char *path);

/* Removes path and forgets any content kept for it. Returns 0 (also when it did not exist) or a
 * negative errno. */
int state_file_remove(const char *path);

/* Renames from to to; a content kept for from moves along (and is written under its new name).
 * Returns 0, -ENOENT when from exists nowhere, or a negative errno. */
int state_file_rename(const char *from, const char *to);

/* Number of files kept for a later write. */
size_t state_file_pending(void);

/* 0 while the state directory can be written, else the negative errno of the latest failure. */
int state_file_health(void);
