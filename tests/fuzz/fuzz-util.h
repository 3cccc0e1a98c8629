/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the libFuzzer targets of tests/fuzz/ (README.md there). */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* libFuzzer's entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Quiets the daemon's log (LOG_CRIT and worse; $DFOTAD_FUZZ_LOG_LEVEL overrides, e.g. "debug" to
 * see what an input does when it is reproduced). Idempotent. */
void fuzz_setup(void);

/* A scratch directory private to this process, made on first use under $TMPDIR (else /dev/shm if
 * it exists, else /tmp) and removed with its contents at exit. */
const char *fuzz_scratch_dir(void);

/* Removes everything under dir (not dir itself). Returns 0 or a negative errno. */
int fuzz_clear_dir(const char *dir);

/* Writes n bytes to path (created 0600, truncated). Returns 0 or a negative errno. */
int fuzz_write_file(const char *path, const void *data, size_t n);

/* A NUL-terminated copy of the n bytes at data (NULs inside kept), or NULL when out of memory. */
char *fuzz_strndup0(const uint8_t *data, size_t n);

/* abort()s with the message on stderr: an invariant the target checks does not hold. */
_printf_(1, 2) __attribute__((noreturn)) void fuzz_fail(const char *format, ...);

#define fuzz_assert(expr)                                                               \
        do {                                                                            \
                if (!(expr))                                                            \
                        fuzz_fail("%s:%d: %s", __FILE__, __LINE__, #expr);              \
        } while (false)
