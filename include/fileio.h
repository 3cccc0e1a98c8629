/* SPDX-License-Identifier: MIT */
#pragma once

/* Durable small files: the records, the MQTT outbox and its per-job state all go through here
 * (../shared/product.md "Persistence": temp file, fsync, rename, fsync of the directory). */

#include "macro.h"

/* Writes text (plus a trailing newline) to path atomically: a hidden temp file in the same
 * directory (mode 0600: records may carry FTP credentials), fsync, rename over path, fsync of the
 * directory. A crash leaves either the old or the new file. Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const char *text);

/* Writes all n bytes of buf to fd, retrying short writes and EINTR. Returns 0 or a negative errno
 * from write(). */
int loop_write(int fd, const void *buf, size_t n);

/* The mode of every directory dfotad creates under its state directory (jobs/, inbox/, the MQTT
 * outbox): its own, no one else's (the records may carry FTP credentials). */
#define STATE_DIRECTORY_MODE 0750

/* Creates path and every missing parent with STATE_DIRECTORY_MODE; existing ones are left as they
 * are. Returns 0, -EINVAL for an empty path, or a negative errno from mkdir(). */
int mkdir_p(const char *path);

/* Reads a whole file as one NUL-terminated string (newly allocated in *ret), at most max bytes
 * (see read_file_bounded()). A NUL byte inside the file is -EBADMSG (a JSON text would silently end
 * there). Returns 0 or a negative errno. */
int read_text_file(const char *path, size_t max, char **ret);

typedef enum ReadFlags {
        READ_NOFOLLOW = 1 << 0,     /* a symbolic link is -ELOOP (a document someone planted) */
} ReadFlags;

/* Reads the regular file at path (relative to dir_fd, or AT_FDCWD) into a new buffer with a
 * terminating NUL (NUL bytes inside are kept: *ret_size says how many bytes there were). Never
 * blocks and never reads more than max + 1 bytes: the size is checked before anything is read.
 * Returns 0, -EFBIG when the file is larger than max bytes, -EISDIR for a directory, -EBADFD for
 * anything else that is not a regular file (FIFO, socket, device), -ELOOP for a symbolic link with
 * READ_NOFOLLOW, -ENOMEM, or another negative errno from open()/read(). */
int read_file_bounded(int dir_fd, const char *path, size_t max, ReadFlags flags, char **ret, size_t *ret_size);

/* What the errors of read_file_bounded() mean, as the end of a sentence about the file ("is a
 * directory", "is larger than 262144 bytes"): into buf, returned. */
const char *read_error_to_string(int error, size_t max, char buf[static 64]);
