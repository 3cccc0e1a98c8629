/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>

#include "fileio.h"
#include "fuzz-util.h"
#include "log.h"

static char *scratch;

void fuzz_setup(void) {
        static bool done;
        const char *e;
        int level = LOG_CRIT;

        if (done)
                return;
        done = true;

        e = getenv("DFOTAD_FUZZ_LOG_LEVEL");
        if (e && log_level_from_string(e) >= 0)
                level = log_level_from_string(e);
        log_set_journal(false);
        log_set_max_level(level);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (ftw->level == 0)
                return 0;
        return remove(path) < 0 ? -errno : 0;
}

int fuzz_clear_dir(const char *dir) {
        int r;

        r = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r < 0 ? -errno : r;
}

static void scratch_remove(void) {
        if (!scratch)
                return;
        (void) fuzz_clear_dir(scratch);
        (void) rmdir(scratch);
        free(scratch);
        scratch = NULL;
}

const char *fuzz_scratch_dir(void) {
        const char *base;
        struct stat st;

        if (scratch)
                return scratch;

        base = getenv("TMPDIR");
        if (isempty(base))
                base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        if (asprintf(&scratch, "%s/dfotad-fuzz.XXXXXX", base) < 0)
                fuzz_fail("out of memory");
        if (!mkdtemp(scratch))
                fuzz_fail("cannot create a scratch directory under %s: %m", base);
        (void) atexit(scratch_remove);
        return scratch;
}

int fuzz_write_file(const char *path, const void *data, size_t n) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        return loop_write(fd, data, n);
}

char *fuzz_strndup0(const uint8_t *data, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        if (n > 0)
                memcpy(s, data, n);
        s[n] = '\0';
        return s;
}

void fuzz_fail(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        fputs("fuzz: invariant violated: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
}
