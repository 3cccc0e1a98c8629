/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pty-module.h"

usec_t now_usec(void) {
        struct timespec ts;

        assert_return_code(clock_gettime(CLOCK_MONOTONIC, &ts), errno);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

void run_for(sd_event *event, usec_t usec) {
        usec_t deadline = now_usec() + usec;

        for (usec_t n = now_usec(); n < deadline; n = now_usec())
                assert_return_code(sd_event_run(event, deadline - n), 0);
}

static void append(char **buf, size_t *len, size_t *allocated, const char *data, size_t n) {
        if (*len + n + 1 > *allocated) {
                *allocated = 2 * (*len + n + 1);
                *buf = realloc(*buf, *allocated);
                assert_non_null(*buf);
        }
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = '\0';
}

static int on_master(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PtyModule *p = userdata;
        char buf[4096];
        ssize_t n;

        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n <= 0)
                /* EIO: nobody holds the slave side (the port was closed); it may be opened again,
                 * so the master is polled again then (pty_module_expect() re-enables it). */
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);

        append(&p->rx, &p->rx_len, &p->rx_allocated, buf, (size_t) n);
        append(&p->wire, &p->wire_len, &p->wire_allocated, buf, (size_t) n);
        return 0;
}

void pty_module_open(PtyModule *p, sd_event *event) {
        char pts[64];
        struct termios t;

        *p = (PtyModule) {
                .event = event,
                .master = -EBADF,
                .slave = -EBADF,
        };

        strcpy(p->dir, "/tmp/test-pty-module-XXXXXX");
        assert_non_null(mkdtemp(p->dir));
        (void) snprintf(p->port, sizeof(p->port), "%s/ttyUSB2", p->dir);

        assert_return_code(openpty(&p->master, &p->slave, NULL, NULL, NULL), errno);
        /* Raw from the start: bytes sent before the port is opened are not cooked by the line
         * discipline. */
        assert_return_code(tcgetattr(p->slave, &t), errno);
        cfmakeraw(&t);
        assert_return_code(tcsetattr(p->slave, TCSANOW, &t), errno);
        assert_return_code(ptsname_r(p->master, pts, sizeof(pts)), errno);
        assert_return_code(symlink(pts, p->port), errno);

        assert_return_code(fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK), errno);
        assert_return_code(sd_event_add_io(event, &p->master_source, p->master, EPOLLIN, on_master, p), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

void pty_module_close(PtyModule *p) {
        p->master_source = sd_event_source_disable_unref(p->master_source);
        if (p->master >= 0)
                (void) close(p->master);
        if (p->slave >= 0)
                (void) close(p->slave);
        p->master = p->slave = -EBADF;
        if (p->dir[0] != '\0')
                assert_int_equal(nftw(p->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(p->rx);
        free(p->wire);
        *p = (PtyModule) { .master = -EBADF, .slave = -EBADF };
}

void pty_module_release_slave(PtyModule *p) {
        if (p->slave >= 0)
                (void) close(p->slave);
        p->slave = -EBADF;
}

static const char *show(const char *s, size_t n, char *buf, size_t size) {
        size_t o = 0;

        for (size_t i = 0; i < n && o + 5 < size; i++)
                if (s[i] == '\r')
                        o += (size_t) snprintf(buf + o, size - o, "\\r");
                else if (s[i] == '\n')
                        o += (size_t) snprintf(buf + o, size - o, "\\n");
                else
                        buf[o++] = s[i];
        buf[o] = '\0';
        return buf;
}

void pty_module_expect(PtyModule *p, const char *s) {
        size_t n = strlen(s);
        char a[256], b[256];

        if (p->master_source)
                (void) sd_event_source_set_enabled(p->master_source, SD_EVENT_ON);

        RUN_UNTIL(p->event, p->rx_len >= n || (p->rx_len > 0 && memcmp(p->rx, s, p->rx_len) != 0));
        if (p->rx_len < n || memcmp(p->rx, s, n) != 0)
                fail_msg("the module expected \"%s\", but read \"%s\"",
                         show(s, n, a, sizeof(a)), show(p->rx, p->rx_len, b, sizeof(b)));

        memmove(p->rx, p->rx + n, p->rx_len - n);
        p->rx_len -= n;
}

void pty_module_expect_silence(PtyModule *p, usec_t usec) {
        char b[256];

        run_for(p->event, usec);
        if (p->rx_len > 0)
                fail_msg("the module expected silence, but read \"%s\"", show(p->rx, p->rx_len, b, sizeof(b)));
}

void pty_module_send(PtyModule *p, const char *s) {
        size_t n = strlen(s);

        while (n > 0) {
                ssize_t k = write(p->master, s, n);

                if (k < 0 && errno == EAGAIN) {
                        assert_return_code(sd_event_run(p->event, 1 * MS), 0);
                        continue;
                }
                assert_true(k > 0);
                s += k;
                n -= (size_t) k;
        }
}

void pty_module_unplug(PtyModule *p) {
        p->master_source = sd_event_source_disable_unref(p->master_source);
        assert_return_code(close(p->master), errno);
        p->master = -EBADF;
}

void pty_module_identify_as(PtyModule *p, const char *model, const char *revision, const char *imei) {
        char buf[256];

        pty_module_expect(p, "ATE0\r");
        pty_module_send(p, "\r\nOK\r\n");
        pty_module_expect(p, "ATI\r");
        (void) snprintf(buf, sizeof(buf), "\r\nQuectel\r\n%s\r\nRevision: %s\r\n\r\nOK\r\n", model, revision);
        pty_module_send(p, buf);
        pty_module_expect(p, "AT+GSN\r");
        (void) snprintf(buf, sizeof(buf), "\r\n%s\r\n\r\nOK\r\n", imei);
        pty_module_send(p, buf);
}

void pty_module_identify(PtyModule *p, const char *revision) {
        pty_module_identify_as(p, "EC25", revision, MODULE_IMEI);
}
