/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fileio.h"
#include "state-file.h"

typedef struct Fixture {
        char dir[64];
        char sub[96];
        int health_calls;
        int last_error;
        char last_path[256];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-state-file-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->sub, sizeof f->sub, "%s/jobs", f->dir);
        assert_int_equal(mkdir(f->sub, 0700), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        char cmd[128];

        (void) state_file_flush();
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void on_health(int error, const char *path, void *userdata) {
        Fixture *f = userdata;

        f->health_calls++;
        f->last_error = error;
        snprintf(f->last_path, sizeof f->last_path, "%s", strempty(path));
}

static char *read_all(const char *path) {
        char *text = NULL;

        if (read_text_file(path, 1 << 20, &text) < 0)
                return NULL;
        return text;
}

static void test_write_kept_and_retried(void **state) {
        Fixture *f = *state;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *text = NULL;
        char path[160];

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(state_file_setup(e, 10 * USEC_PER_MSEC, on_health, f), 0);
        snprintf(path, sizeof path, "%s/a.json", f->sub);

        /* The directory is gone (a full disk reads the same to us): the write fails, is kept... */
        assert_int_equal(rmdir(f->sub), 0);
        assert_int_equal(state_file_write(path, "{\"v\":1}", STATE_WRITE_RETRY), -ENOENT);
        assert_int_equal(state_file_pending(), 1);
        assert_int_equal(state_file_health(), -ENOENT);
        assert_int_equal(f->health_calls, 1);
        assert_int_equal(f->last_error, -ENOENT);
        assert_string_equal(f->last_path, path);

        /* ...the newest content wins, and reads see it before the disk does. */
        assert_int_equal(state_file_write(path, "{\"v\":2}", STATE_WRITE_RETRY), -ENOENT);
        assert_int_equal(state_file_pending(), 1);
        assert_int_equal(f->health_calls, 1);
        assert_true(state_file_exists(path));
        assert_int_equal(state_file_read(path, 1024, &text, NULL), 0);
        assert_string_equal(text, "{\"v\":2}");

        /* Space again: the retry timer writes it, and health says so once. */
        assert_int_equal(mkdir(f->sub, 0700), 0);
        for (int i = 0; i < 100 && state_file_pending() > 0; i++)
                assert_true(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
        assert_int_equal(state_file_pending(), 0);
        assert_int_equal(state_file_health(), 0);
        assert_int_equal(f->health_calls, 2);
        assert_int_equal(f->last_error, 0);
        free(text);
        assert_non_null(text = read_all(path));
        assert_string_equal(text, "{\"v\":2}\n");
}

static void test_durable_write_keeps_nothing(void **state) {
        Fixture *f = *state;
        char path[160];

        assert_int_equal(state_file_setup(NULL, 0, on_health, f), 0);
        snprintf(path, sizeof path, "%s/b.json", f->sub);

        /* A kept older content of the same file is dropped with a failed durable write: what the
         * caller gave up on must not land later. */
        assert_int_equal(rmdir(f->sub), 0);
        assert_int_equal(state_file_write(path, "old", STATE_WRITE_RETRY), -ENOENT);
        assert_int_equal(state_file_write(path, "new", 0), -ENOENT);
        assert_int_equal(state_file_pending(), 0);
        assert_false(state_file_exists(path));
        assert_int_equal(state_file_health(), -ENOENT);

        /* Any later write that lands while nothing is kept: healthy again. */
        assert_int_equal(mkdir(f->sub, 0700), 0);
        assert_int_equal(state_file_write(path, "new", 0), 0);
        assert_int_equal(state_file_health(), 0);
        assert_int_equal(f->last_error, 0);
}

static void test_rename_and_remove(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *text = NULL;
        char a[160], b[160], c[160];

        assert_int_equal(state_file_setup(NULL, 0, NULL, NULL), 0);
        snprintf(a, sizeof a, "%s/a.json", f->sub);
        snprintf(b, sizeof b, "%s/b.json", f->sub);
        snprintf(c, sizeof c, "%s/c.json", f->sub);

        assert_int_equal(state_file_write(a, "A", 0), 0);
        assert_int_equal(state_file_rename(a, b), 0);
        assert_false(state_file_exists(a));
        assert_non_null(text = read_all(b));
        assert_string_equal(text, "A\n");

        /* A kept content moves with the rename and lands under the new name. */
        assert_int_equal(rmdir(f->sub) == 0 || errno == ENOTEMPTY, 1);
        assert_int_equal(unlink(b), 0);
        assert_int_equal(rmdir(f->sub), 0);
        assert_int_equal(state_file_write(a, "K", STATE_WRITE_RETRY), -ENOENT);
        assert_int_equal(mkdir(f->sub, 0700), 0);
        assert_int_equal(state_file_rename(a, c), 0);
        assert_int_equal(state_file_pending(), 0);
        free(text);
        assert_non_null(text = read_all(c));
        assert_string_equal(text, "K\n");

        assert_int_equal(state_file_remove(c), 0);
        assert_false(state_file_exists(c));
        assert_int_equal(state_file_remove(c), 0);
        assert_int_equal(state_file_rename(c, a), -ENOENT);
}

static void test_read_bounded(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *text = NULL;
        char path[160], link[160], fifo[160];
        size_t n = 0;
        char buf[64];
        int fd;

        snprintf(path, sizeof path, "%s/doc.json", f->sub);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{}\0x", 4), 4);
        assert_int_equal(close(fd), 0);

        /* NUL bytes come back with the size; read_text_file() refuses them. */
        assert_int_equal(read_file_bounded(AT_FDCWD, path, 4, 0, &text, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(memcmp(text, "{}\0x", 4), 0);
        text = mfree(text);
        assert_int_equal(read_text_file(path, 100, &text), -EBADMSG);

        /* The size is checked before anything is read. */
        assert_int_equal(read_file_bounded(AT_FDCWD, path, 3, 0, &text, &n), -EFBIG);
        assert_string_equal(read_error_to_string(-EFBIG, 3, buf), "is larger than 3 bytes");

        /* What is not a regular file is refused for what it is, and a FIFO never blocks. */
        assert_int_equal(read_file_bounded(AT_FDCWD, f->sub, 100, 0, &text, &n), -EISDIR);
        snprintf(fifo, sizeof fifo, "%s/fifo.json", f->sub);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(read_file_bounded(AT_FDCWD, fifo, 100, 0, &text, &n), -EBADFD);
        snprintf(link, sizeof link, "%s/link.json", f->sub);
        assert_int_equal(symlink(path, link), 0);
        assert_int_equal(read_file_bounded(AT_FDCWD, link, 100, READ_NOFOLLOW, &text, &n), -ELOOP);
        assert_int_equal(read_file_bounded(AT_FDCWD, link, 100, 0, &text, &n), 0);
        assert_int_equal(n, 4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_kept_and_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_durable_write_keeps_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rename_and_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_bounded, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
