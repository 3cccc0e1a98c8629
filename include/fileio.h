/* SPDX-License-Identifier: MIT */
#pragma once

/* Durable small files: the records, the MQTT outbox and its per-job state all go through here
 * (../shared/product.md "Persistence": temp file, fsync, rename, fsync of the directory). */

#include "macro.h"

/* Writes text (plus a trailing newline) to path atomically: a hidden temp file in the same
 * directory (mode 0600: records may carry FTP credentials), fsync, rename over path, fsync of the
 * directory. A crash leaves either the old or the new file. Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const char *text);

/* Reads a whole file as one NUL-terminated string (newly allocated in *ret). A NUL byte inside
 * the file is -EBADMSG (a JSON text would silently end there). Returns 0 or a negative errno. */
int read_text_file(const char *path, char **ret);
