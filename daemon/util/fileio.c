/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "fileio.h"

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

int write_file_atomic(const char *path, const char *text) {
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        const char *base;
        int r;

        base = strrchr(path, '/');
        if (!base || base[1] == '\0')
                return -EINVAL;
        dir = base == path ? strdup("/") : strndup(path, (size_t) (base - path));
        if (!dir)
                return -ENOMEM;
        base++;

        /* In the same directory, so that rename() is atomic; hidden, so that directory scans never
         * take a half-written file for a finished one. mkostemp() creates it 0600. */
        if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        r = write_all(fd, text, strlen(text));
        if (r >= 0)
                r = write_all(fd, "\n", 1);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }

        /* The rename is only durable once the directory entry is. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;

        return 0;
}

static void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

int read_text_file(const char *path, char **ret) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t allocated = 0;
        ssize_t n;

        f = fopen(path, "re");
        if (!f)
                return -errno;

        n = getdelim(&buf, &allocated, '\0', f);
        if (n < 0) {
                if (ferror(f))
                        return negative_errno();
                free(buf);
                buf = strdup(""); /* empty file */
                if (!buf)
                        return -ENOMEM;
        } else if (buf[n - 1] == '\0' || getc(f) != EOF)
                return -EBADMSG;

        *ret = TAKE_PTR(buf);
        return 0;
}
