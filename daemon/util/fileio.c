/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fileio.h"

int mkdir_p(const char *path) {
        _cleanup_free_ char *p = NULL;

        if (isempty(path))
                return -EINVAL;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;

                char c = *s;
                *s = '\0';
                if (mkdir(p, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;

                if (c == '\0')
                        return 0;
        }
}

int loop_write(int fd, const void *buf, size_t n) {
        const char *s = buf;

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

        r = loop_write(fd, text, strlen(text));
        if (r >= 0)
                r = loop_write(fd, "\n", 1);
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

int read_file_bounded(int dir_fd, const char *path, size_t max, ReadFlags flags, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        /* O_NONBLOCK: a FIFO in place of the file must not hang us in open() or read(). */
        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                    (flags & READ_NOFOLLOW ? O_NOFOLLOW : 0));
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;

        /* The size can change under us: read up to one byte more than allowed to notice. */
        buf = malloc((size_t) st.st_size + 2);
        if (!buf)
                return -ENOMEM;

        for (size_t allocated = (size_t) st.st_size + 1;;) {
                ssize_t k;

                if (n == allocated) {
                        char *b;

                        if (allocated > max)
                                return -EFBIG;
                        allocated = MIN(allocated * 2, max + 1);
                        b = realloc(buf, allocated + 1);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }

                k = read(fd, buf + n, allocated - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > max)
                return -EFBIG;

        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

const char *read_error_to_string(int error, size_t max, char buf[static 64]) {
        switch (-error) {
        case EFBIG:
                (void) snprintf(buf, 64, "is larger than %zu bytes", max);
                break;
        case EISDIR:
                (void) snprintf(buf, 64, "is a directory, not a file");
                break;
        case EBADFD:
                (void) snprintf(buf, 64, "is not a regular file (a FIFO, socket or device)");
                break;
        case ELOOP:
                (void) snprintf(buf, 64, "is a symbolic link");
                break;
        case EBADMSG:
                (void) snprintf(buf, 64, "contains a NUL byte");
                break;
        default:
                (void) snprintf(buf, 64, "cannot be read: %s", strerror(abs(error)));
                break;
        }
        return buf;
}

int read_text_file(const char *path, size_t max, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t n;
        int r;

        r = read_file_bounded(AT_FDCWD, path, max, 0, &buf, &n);
        if (r < 0)
                return r;
        if (memchr(buf, '\0', n))
                return -EBADMSG;

        *ret = TAKE_PTR(buf);
        return 0;
}
