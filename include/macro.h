/* SPDX-License-Identifier: MIT */
#pragma once

/* The few helpers every file needs. Modelled on systemd's conventions, written here rather than
 * copied from systemd's internals; libsystemd's public headers already give us sd_*_unrefp.
 *
 * The rules every function in dfotad follows, stated here once (each header documents only what
 * differs in detail, e.g. which errno values):
 *  - Failure is a negative errno; foreign codes (CURLcode, MOSQ_ERR_*, +CME ERROR, HTTP statuses)
 *    are translated once, where they enter.
 *  - ret_* (and *ret) parameters are written only on success.
 *  - A callee that takes ownership of an argument does so only on success: when it fails, the
 *    caller still owns the object and frees it (tests/unit/test-queue.c injects the allocation
 *    failures that check this).
 *  - Upward traffic between layers goes through callback structs (callback + userdata) that the
 *    owner sets at creation; a callee never calls up into the layer that owns it. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC  ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _sentinel_ __attribute__((sentinel))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Move ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                     \
        ({                                              \
                __typeof__(p) _take_tmp = (p);          \
                (p) = NULL;                             \
                _take_tmp;                              \
        })

#define TAKE_FD(fd)                                     \
        ({                                              \
                int _take_fd = (fd);                    \
                (fd) = -EBADF;                          \
                _take_fd;                               \
        })

/* Defines name##p(type **p) calling func(*p) when *p is non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        func(*p);                               \
        }

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || (s)[0] == '\0')
#define strna(s) ((s) ?: "n/a")
#define strempty(s) ((s) ?: "")

/* Whether x equals one of the following values. */
#define IN_SET(x, ...)                                                          \
        ({                                                                      \
                bool _in = false;                                               \
                const __typeof__(x) _x = (x);                                   \
                const __typeof__(x) _set[] = { __VA_ARGS__ };                   \
                for (size_t _i = 0; _i < ELEMENTSOF(_set); _i++)                \
                        if (_set[_i] == _x) {                                   \
                                _in = true;                                     \
                                break;                                          \
                        }                                                       \
                _in;                                                            \
        })

#define FLAGS_SET(v, flags) ((~(v) & (flags)) == 0)

/* Frees a and moves b into it (b becomes NULL). */
#define free_and_replace(a, b)                  \
        ({                                      \
                free(a);                        \
                (a) = TAKE_PTR(b);              \
                0;                              \
        })

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Returns a pointer just past prefix in s, or NULL. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* Enum <-> string tables. The table is indexed by the enum; *_from_string returns -EINVAL for
 * unknown names. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                  \
        const char *name##_to_string(type i) {                                  \
                if ((size_t) i >= ELEMENTSOF(name##_table))                     \
                        return NULL;                                            \
                return name##_table[i];                                         \
        }                                                                       \
        type name##_from_string(const char *s) {                                \
                if (!s)                                                         \
                        return (type) -EINVAL;                                  \
                for (size_t _i = 0; _i < ELEMENTSOF(name##_table); _i++)        \
                        if (name##_table[_i] && streq(name##_table[_i], s))     \
                                return (type) _i;                               \
                return (type) -EINVAL;                                          \
        }

#define DECLARE_STRING_TABLE_LOOKUP(name, type)         \
        const char *name##_to_string(type i);           \
        type name##_from_string(const char *s)
