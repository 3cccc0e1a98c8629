/* SPDX-License-Identifier: MIT */

/* The channel against a real pty: the test plays the module on the master side, byte for byte,
 * and drives the event loop with sd_event_run() until what it waits for has happened. */

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <cmocka.h>

#include "at-channel.h"
#include "log.h"

#define MS USEC_PER_MSEC
#define URCS_MAX 64

typedef struct Fixture Fixture;

typedef struct Reply {
        Fixture *f;
        unsigned calls;
        unsigned seq;               /* when it completed, on the fixture's clock of events */
        usec_t when;                /* when it completed, CLOCK_MONOTONIC */
        AtResult result;
        int error_code;
        char lines[1024];           /* information lines joined with '|' */
        bool free_channel;          /* at_channel_free() from inside the callback */
        const char *then_send;      /* at_channel_send() this from inside the callback ... */
        struct Reply *then_reply;   /* ... with this reply */
        int then_send_r;
} Reply;

typedef struct UrcSink {
        Fixture *f;
        const char *tag;
        bool free_channel;
} UrcSink;

struct Fixture {
        sd_event *event;
        int master;
        int slave;                  /* ours, until the channel has opened its own */
        char path[64];
        sd_event_source *master_source;
        AtChannel *ch;

        char *rx;                   /* what the channel wrote, not yet consumed by module_expect() */
        size_t rx_len, rx_allocated;

        unsigned seq;

        unsigned n_urcs;
        char urcs[URCS_MAX][256];   /* "tag:line" */

        unsigned lost_calls;
        int lost_error;
        unsigned lost_seq;
        bool lost_was_open;
        int lost_send_r;
        bool lost_free_channel;

        pid_t chatter;              /* a child process playing a module that never stops talking */
};

static usec_t now_usec(void) {
        struct timespec ts;

        assert_return_code(clock_gettime(CLOCK_MONOTONIC, &ts), errno);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* Runs the loop until cond holds. Nothing here takes long: the bound only has to be generous
 * enough for a sanitizer build on a loaded machine. */
#define RUN_UNTIL(f, cond)                                                                      \
        do {                                                                                    \
                usec_t _deadline = now_usec() + 5 * USEC_PER_SEC;                               \
                while (!(cond)) {                                                               \
                        if (now_usec() > _deadline)                                             \
                                fail_msg("timed out waiting for: %s", #cond);                   \
                        assert_return_code(sd_event_run((f)->event, 10 * MS), 0);               \
                }                                                                               \
        } while (0)

static void run_for(Fixture *f, usec_t usec) {
        usec_t deadline = now_usec() + usec;

        for (usec_t n = now_usec(); n < deadline; n = now_usec())
                assert_return_code(sd_event_run(f->event, deadline - n), 0);
}

static int on_master(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Fixture *f = userdata;
        char buf[65536];
        ssize_t n;

        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n <= 0)
                /* EIO: nobody holds the slave side any more (the channel closed the port). */
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);

        if (f->rx_len + (size_t) n > f->rx_allocated) {
                f->rx_allocated = 2 * (f->rx_len + (size_t) n);
                f->rx = realloc(f->rx, f->rx_allocated);
                assert_non_null(f->rx);
        }
        memcpy(f->rx + f->rx_len, buf, (size_t) n);
        f->rx_len += (size_t) n;
        return 0;
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

/* The module reads exactly s next: nothing else was written before it. */
static void module_expect(Fixture *f, const char *s) {
        size_t n = strlen(s);
        char a[256], b[256];

        RUN_UNTIL(f, f->rx_len >= n || (f->rx_len > 0 && memcmp(f->rx, s, f->rx_len) != 0));
        if (f->rx_len < n || memcmp(f->rx, s, n) != 0)
                fail_msg("the module expected \"%s\", but read \"%s\"",
                         show(s, n, a, sizeof(a)), show(f->rx, f->rx_len, b, sizeof(b)));

        memmove(f->rx, f->rx + n, f->rx_len - n);
        f->rx_len -= n;
}

static void module_send_bytes(Fixture *f, const char *data, size_t n) {
        while (n > 0) {
                ssize_t k = write(f->master, data, n);

                if (k < 0 && errno == EAGAIN) {
                        assert_return_code(sd_event_run(f->event, 1 * MS), 0);
                        continue;
                }
                assert_true(k > 0);
                data += k;
                n -= (size_t) k;
        }
}

/* sizeof, not strlen: the module's bytes may hold NULs. */
#define MODULE_SEND(f, literal) module_send_bytes((f), (literal), sizeof(literal) - 1)

static void on_reply(AtChannel *ch, const AtResponse *response, void *userdata) {
        Reply *r = userdata;
        Fixture *f = r->f;
        size_t o = 0;

        r->calls++;
        r->seq = ++f->seq;
        r->when = now_usec();
        r->result = response->result;
        r->error_code = response->error_code;

        assert_non_null(response->lines);
        assert_null(response->lines[response->n_lines]);
        r->lines[0] = '\0';
        for (size_t i = 0; i < response->n_lines; i++)
                o += (size_t) snprintf(r->lines + o, sizeof(r->lines) - o, "%s%s", i > 0 ? "|" : "", response->lines[i]);

        if (r->then_send)
                r->then_send_r = at_channel_send(ch, r->then_send, NULL, on_reply, r->then_reply, NULL);

        if (r->free_channel) {
                at_channel_free(ch);
                f->ch = NULL;
        }
}

static void on_urc(AtChannel *ch, const char *line, void *userdata) {
        UrcSink *u = userdata;
        Fixture *f = u->f;

        if (f->n_urcs < URCS_MAX)
                snprintf(f->urcs[f->n_urcs], sizeof(f->urcs[f->n_urcs]), "%s:%s", u->tag, line);
        f->n_urcs++;
        f->seq++;

        if (u->free_channel) {
                at_channel_free(ch);
                f->ch = NULL;
        }
}

static void on_port_lost(AtChannel *ch, int error, void *userdata) {
        Fixture *f = userdata;

        f->lost_calls++;
        f->lost_error = error;
        f->lost_seq = ++f->seq;
        f->lost_was_open = at_channel_is_open(ch);
        f->lost_send_r = at_channel_send(ch, "AT", NULL, NULL, NULL, NULL);

        if (f->lost_free_channel) {
                at_channel_free(ch);
                f->ch = NULL;
        }
}

static void open_channel(Fixture *f, usec_t default_timeout, usec_t resync_quiet) {
        AtChannelOptions opts = {
                .default_timeout = default_timeout,
                .resync_quiet = resync_quiet,
                .name = "pty",
        };

        assert_return_code(at_channel_open(f->event, f->path, &opts, &f->ch), 0);
        assert_true(at_channel_is_open(f->ch));
        assert_string_equal(at_channel_get_path(f->ch), f->path);
        at_channel_set_port_lost_handler(f->ch, on_port_lost, f);

        /* From here on only the channel holds the slave side: closing the master is an unplug. */
        (void) close(f->slave);
        f->slave = -EBADF;
}

static void add_urc(Fixture *f, UrcSink *u, const char *prefix, const char *tag) {
        u->f = f;
        u->tag = tag;
        assert_return_code(at_channel_add_urc_handler(f->ch, prefix, on_urc, u), 0);
}

static uint64_t send_command(Fixture *f, const char *command, const char *prefix, usec_t timeout, Reply *r) {
        AtCommandOptions opts = {
                .timeout = timeout,
                .response_prefix = prefix,
        };
        uint64_t id = 0;

        r->f = f;
        assert_return_code(at_channel_send(f->ch, command, &opts, on_reply, r, &id), 0);
        assert_true(id > 0);
        return id;
}

static void assert_reply(const Reply *r, AtResult result, int error_code, const char *lines) {
        assert_int_equal(r->calls, 1);
        assert_string_equal(at_result_to_string(r->result), at_result_to_string(result));
        assert_int_equal(r->error_code, error_code);
        assert_string_equal(r->lines, lines);
}

static void unplug(Fixture *f) {
        f->master_source = sd_event_source_disable_unref(f->master_source);
        assert_return_code(close(f->master), errno);
        f->master = -EBADF;
}

static int setup(void **state) {
        Fixture *f;
        struct termios t;

        f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        f->master = f->slave = -EBADF;

        assert_return_code(sd_event_new(&f->event), 0);
        assert_return_code(openpty(&f->master, &f->slave, NULL, NULL, NULL), errno);
        /* Raw from the start, so bytes the module sends before the channel opens the port are not
         * cooked by the line discipline (test_urc_sent_before_open_is_read). */
        assert_return_code(tcgetattr(f->slave, &t), errno);
        cfmakeraw(&t);
        assert_return_code(tcsetattr(f->slave, TCSANOW, &t), errno);
        assert_return_code(ptsname_r(f->master, f->path, sizeof(f->path)), errno);
        assert_return_code(fcntl(f->master, F_SETFL, fcntl(f->master, F_GETFL) | O_NONBLOCK), errno);
        assert_return_code(sd_event_add_io(f->event, &f->master_source, f->master, EPOLLIN, on_master, f), 0);

        *state = f;
        return 0;
}

static void stop_chatter(Fixture *f) {
        if (f->chatter <= 0)
                return;
        (void) kill(f->chatter, SIGKILL);
        (void) waitpid(f->chatter, NULL, 0);
        f->chatter = 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        stop_chatter(f);

        at_channel_free(f->ch);
        sd_event_source_disable_unref(f->master_source);
        if (f->master >= 0)
                (void) close(f->master);
        if (f->slave >= 0)
                (void) close(f->slave);
        sd_event_unref(f->event);
        free(f->rx);
        free(f);
        return 0;
}

static void test_open_errors(void **state) {
        Fixture *f = *state;
        AtChannel *sentinel = (AtChannel *) f, *ch = sentinel;

        assert_int_equal(at_channel_open(f->event, "/nonexistent/ttyUSB2", NULL, &ch), -ENOENT);
        assert_ptr_equal(ch, sentinel);
        /* A file that is not a tty cannot be the AT port. */
        assert_int_equal(at_channel_open(f->event, "/dev/null", NULL, &ch), -ENOTTY);
        assert_ptr_equal(ch, sentinel);
        assert_int_equal(at_channel_open(f->event, "", NULL, &ch), -EINVAL);
        assert_int_equal(at_channel_open(NULL, f->path, NULL, &ch), -EINVAL);
        assert_ptr_equal(ch, sentinel);
}

static void test_ok_with_information_lines(void **state) {
        Fixture *f = *state;
        Reply ati = {}, ate0 = {};

        open_channel(f, 300 * MS, 30 * MS);

        send_command(f, "ATI", NULL, 0, &ati);
        assert_int_equal(at_channel_pending(f->ch), 1);
        module_expect(f, "ATI\r");
        MODULE_SEND(f, "\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A01M4G\r\n\r\nOK\r\n");
        RUN_UNTIL(f, ati.calls > 0);
        assert_reply(&ati, AT_RESULT_OK, -1, "Quectel|EC25|Revision: EC25EFAR06A01M4G");

        send_command(f, "ATE0", NULL, 0, &ate0);
        module_expect(f, "ATE0\r");
        MODULE_SEND(f, "\r\nOK\r\n");
        RUN_UNTIL(f, ate0.calls > 0);
        assert_reply(&ate0, AT_RESULT_OK, -1, "");

        assert_int_equal(at_channel_pending(f->ch), 0);
}

static void test_error_cme_cms(void **state) {
        Fixture *f = *state;
        Reply csq = {}, fota = {}, cms = {}, cpin = {};

        open_channel(f, 300 * MS, 30 * MS);

        /* All queued at once: each gets its own final result. */
        send_command(f, "AT+CSQ?", NULL, 0, &csq);
        send_command(f, "AT+QFOTADL=\"http://fw.example.net/a.zip\"", NULL, 0, &fota);
        send_command(f, "AT+CMGS=\"+4912345\"", NULL, 0, &cms);
        send_command(f, "AT+CPIN?", "+CPIN:", 0, &cpin);

        module_expect(f, "AT+CSQ?\r");
        MODULE_SEND(f, "\r\nERROR\r\n");
        module_expect(f, "AT+QFOTADL=\"http://fw.example.net/a.zip\"\r");
        MODULE_SEND(f, "\r\n+CME ERROR: 601\r\n");
        module_expect(f, "AT+CMGS=\"+4912345\"\r");
        MODULE_SEND(f, "\r\n+CMS ERROR: 500\r\n");
        module_expect(f, "AT+CPIN?\r");
        MODULE_SEND(f, "\r\n+CME ERROR: SIM not inserted\r\n");
        RUN_UNTIL(f, cpin.calls > 0);

        assert_reply(&csq, AT_RESULT_ERROR, -1, "");
        assert_reply(&fota, AT_RESULT_CME_ERROR, 601, "");
        assert_reply(&cms, AT_RESULT_CMS_ERROR, 500, "");
        assert_reply(&cpin, AT_RESULT_CME_ERROR, -1, "");
}

static void test_response_prefix_wins_over_urc_prefix(void **state) {
        Fixture *f = *state;
        UrcSink urc = {};
        Reply cpin = {}, cfun = {};

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &urc, "+CPIN:", "urc");

        /* "+CPIN: READY" answers AT+CPIN? ... */
        send_command(f, "AT+CPIN?", "+CPIN:", 0, &cpin);
        module_expect(f, "AT+CPIN?\r");
        MODULE_SEND(f, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
        RUN_UNTIL(f, cpin.calls > 0);
        assert_reply(&cpin, AT_RESULT_OK, -1, "+CPIN: READY");
        assert_int_equal(f->n_urcs, 0);

        /* ... but is a URC while another command waits (AT+CFUN=1 makes the SIM report) ... */
        send_command(f, "AT+CFUN=1", NULL, 0, &cfun);
        module_expect(f, "AT+CFUN=1\r");
        MODULE_SEND(f, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
        RUN_UNTIL(f, cfun.calls > 0);
        assert_reply(&cfun, AT_RESULT_OK, -1, "");
        assert_int_equal(f->n_urcs, 1);
        assert_string_equal(f->urcs[0], "urc:+CPIN: READY");

        /* ... and when nothing waits. */
        MODULE_SEND(f, "\r\n+CPIN: NOT READY\r\n");
        RUN_UNTIL(f, f->n_urcs == 2);
        assert_string_equal(f->urcs[1], "urc:+CPIN: NOT READY");
}

static void test_urc_inside_response_goes_to_handler(void **state) {
        Fixture *f = *state;
        UrcSink qind = {}, fota = {};
        Reply csq = {};

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &qind, "+QIND:", "qind");
        add_urc(f, &fota, "+QIND: \"FOTA\"", "fota");

        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "\r\n+CSQ: 23,99\r\n"
                       "\r\n+QIND: \"FOTA\",\"HTTPSTART\"\r\n"
                       "\r\n+QIND: SMS DONE\r\n"
                       "\r\n+CREG: 1\r\n"
                       "\r\nOK\r\n");
        RUN_UNTIL(f, csq.calls > 0);

        /* A line nobody registered for belongs to the command. */
        assert_reply(&csq, AT_RESULT_OK, -1, "+CSQ: 23,99|+CREG: 1");
        assert_int_equal(f->n_urcs, 2);
        /* The longest registered prefix wins. */
        assert_string_equal(f->urcs[0], "fota:+QIND: \"FOTA\",\"HTTPSTART\"");
        assert_string_equal(f->urcs[1], "qind:+QIND: SMS DONE");

        assert_int_equal(at_channel_add_urc_handler(f->ch, "", on_urc, &qind), -EINVAL);
}

static void test_queue_one_command_in_flight(void **state) {
        Fixture *f = *state;
        Reply a = {}, b = {}, c = {};

        open_channel(f, 300 * MS, 30 * MS);

        send_command(f, "AT+QGMR", NULL, 0, &a);
        send_command(f, "AT+CSQ", "+CSQ:", 0, &b);
        send_command(f, "AT+COPS?", "+COPS:", 0, &c);
        assert_int_equal(at_channel_pending(f->ch), 3);

        module_expect(f, "AT+QGMR\r");
        run_for(f, 30 * MS);
        assert_int_equal(f->rx_len, 0); /* the second waits for the first's final result */
        MODULE_SEND(f, "\r\nEC25EFAR06A01M4G\r\n\r\nOK\r\n");

        module_expect(f, "AT+CSQ\r");
        assert_int_equal(a.calls, 1);
        run_for(f, 30 * MS);
        assert_int_equal(f->rx_len, 0);
        MODULE_SEND(f, "\r\n+CSQ: 16,99\r\n\r\nOK\r\n");

        module_expect(f, "AT+COPS?\r");
        assert_int_equal(b.calls, 1);
        MODULE_SEND(f, "\r\n+COPS: 0,0,\"F SFR\",0\r\n\r\nOK\r\n");
        RUN_UNTIL(f, c.calls > 0);

        assert_reply(&a, AT_RESULT_OK, -1, "EC25EFAR06A01M4G");
        assert_reply(&b, AT_RESULT_OK, -1, "+CSQ: 16,99");
        assert_reply(&c, AT_RESULT_OK, -1, "+COPS: 0,0,\"F SFR\",0");
        assert_true(a.seq < b.seq && b.seq < c.seq);
        assert_int_equal(at_channel_pending(f->ch), 0);
}

static void test_commands_sent_from_callbacks_keep_fifo_order(void **state) {
        Fixture *f = *state;
        Reply a = {}, b = {}, c = {};

        open_channel(f, 300 * MS, 30 * MS);

        a.then_send = "AT+CREG?";
        a.then_reply = &c;
        c.f = f;
        send_command(f, "AT+CPIN?", "+CPIN:", 0, &a);
        send_command(f, "AT+CSQ", "+CSQ:", 0, &b);

        module_expect(f, "AT+CPIN?\r");
        MODULE_SEND(f, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "\r\nOK\r\n");
        module_expect(f, "AT+CREG?\r");
        MODULE_SEND(f, "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
        RUN_UNTIL(f, c.calls > 0);

        assert_int_equal(a.then_send_r, 0);
        assert_reply(&c, AT_RESULT_OK, -1, "+CREG: 0,1");
        assert_true(a.seq < b.seq && b.seq < c.seq);
}

/* Where the timed-out command's late reply arrives. */
typedef enum LateWhen {
        LATE_WHILE_DRAINING,            /* soon after the timeout, before the probe */
        LATE_BEFORE_PROBE_ANSWER,       /* the module answers the old command, then the probe */
        LATE_SPLIT_FROM_PROBE_ANSWER,   /* the same, in two reads */
        LATE_ERROR_BEFORE_PROBE_ANSWER, /* a late +CME ERROR is taken as the probe's answer */
        LATE_WITH_ECHO,                 /* echo on, slow probe OK: its echo gives the late OK away */
        LATE_AFTER_PROBE_ANSWER,        /* out of order, or a second late reply */
} LateWhen;

#define LATE_REPLY "\r\n+COPS: 0,0,\"LATE\",7\r\n\r\nOK\r\n"

static void check_late_reply(Fixture *f, LateWhen when) {
        bool echo = when == LATE_WITH_ECHO,
                split = when == LATE_SPLIT_FROM_PROBE_ANSWER || when == LATE_AFTER_PROBE_ANSWER;
        /* Where the test must act between two reads within one quiet window, the window is wide. */
        usec_t quiet = split ? 80 * MS : 30 * MS;
        Reply cops = {}, csq = {}, creg = {};

        open_channel(f, 300 * MS, quiet);

        /* Sent from the timeout callback: it must wait for the resync as well. */
        cops.then_send = "AT+CREG?";
        cops.then_reply = &creg;
        creg.f = f;
        send_command(f, "AT+COPS?", "+COPS:", 40 * MS, &cops);
        /* Queued before the timeout. */
        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);

        module_expect(f, "AT+COPS?\r");
        if (echo)
                MODULE_SEND(f, "AT+COPS?\r\r\n");
        RUN_UNTIL(f, cops.calls > 0);
        assert_reply(&cops, AT_RESULT_TIMEOUT, -1, "");
        assert_int_equal(cops.then_send_r, 0);
        assert_int_equal(at_channel_pending(f->ch), 2);

        switch (when) {
        case LATE_WHILE_DRAINING:
                MODULE_SEND(f, LATE_REPLY);
                module_expect(f, "AT\r");
                MODULE_SEND(f, "\r\nOK\r\n");
                break;

        case LATE_BEFORE_PROBE_ANSWER:
                module_expect(f, "AT\r");
                MODULE_SEND(f, LATE_REPLY "\r\nOK\r\n");
                module_expect(f, "AT\r"); /* the second OK gave it away: again */
                MODULE_SEND(f, "\r\nOK\r\n");
                break;

        case LATE_SPLIT_FROM_PROBE_ANSWER:
                module_expect(f, "AT\r");
                MODULE_SEND(f, LATE_REPLY);
                run_for(f, 5 * MS);
                MODULE_SEND(f, "\r\nOK\r\n");
                module_expect(f, "AT\r");
                MODULE_SEND(f, "\r\nOK\r\n");
                break;

        case LATE_ERROR_BEFORE_PROBE_ANSWER:
                module_expect(f, "AT\r");
                MODULE_SEND(f, "\r\n+CME ERROR: 30\r\n\r\nOK\r\n");
                module_expect(f, "AT\r");
                MODULE_SEND(f, "\r\nOK\r\n");
                break;

        case LATE_WITH_ECHO:
                module_expect(f, "AT\r");
                /* The probe's echo comes at once, its OK only after the quiet window. */
                MODULE_SEND(f, LATE_REPLY "AT\r\r\n");
                module_expect(f, "AT\r");
                /* The first probe's OK (taken for the second's, and given away by the second's
                 * echo), then the second probe's echo and OK. */
                MODULE_SEND(f, "\r\nOK\r\nAT\r\r\nOK\r\n");
                module_expect(f, "AT\r");
                MODULE_SEND(f, "AT\r\r\nOK\r\n");
                break;

        case LATE_AFTER_PROBE_ANSWER:
                module_expect(f, "AT\r");
                MODULE_SEND(f, "\r\nOK\r\n");
                run_for(f, 5 * MS);
                MODULE_SEND(f, LATE_REPLY);
                module_expect(f, "AT\r");
                MODULE_SEND(f, "\r\nOK\r\n");
                break;
        }

        /* Only now, in step again, the queued commands go out, each getting its own answer. */
        module_expect(f, "AT+CSQ\r");
        if (echo)
                MODULE_SEND(f, "AT+CSQ\r\r\n");
        MODULE_SEND(f, "\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
        RUN_UNTIL(f, csq.calls > 0);
        assert_reply(&csq, AT_RESULT_OK, -1, "+CSQ: 23,99");

        module_expect(f, "AT+CREG?\r");
        if (echo)
                MODULE_SEND(f, "AT+CREG?\r\r\n");
        MODULE_SEND(f, "\r\n+CME ERROR: 10\r\n");
        RUN_UNTIL(f, creg.calls > 0);
        assert_reply(&creg, AT_RESULT_CME_ERROR, 10, "");

        run_for(f, 2 * quiet);
        assert_int_equal(cops.calls, 1);
        assert_int_equal(csq.calls, 1);
        assert_int_equal(creg.calls, 1);
        assert_int_equal(f->rx_len, 0);
        assert_int_equal(f->lost_calls, 0);
}

static void test_late_reply_while_draining(void **state) {
        check_late_reply(*state, LATE_WHILE_DRAINING);
}

static void test_late_reply_before_probe_answer(void **state) {
        check_late_reply(*state, LATE_BEFORE_PROBE_ANSWER);
}

static void test_late_reply_split_from_probe_answer(void **state) {
        check_late_reply(*state, LATE_SPLIT_FROM_PROBE_ANSWER);
}

static void test_late_error_before_probe_answer(void **state) {
        check_late_reply(*state, LATE_ERROR_BEFORE_PROBE_ANSWER);
}

static void test_late_reply_with_echo(void **state) {
        check_late_reply(*state, LATE_WITH_ECHO);
}

static void test_late_reply_after_probe_answer(void **state) {
        check_late_reply(*state, LATE_AFTER_PROBE_ANSWER);
}

static void test_resync_gives_up_after_three_probes(void **state) {
        Fixture *f = *state;
        Reply cops = {}, csq = {};

        open_channel(f, 60 * MS, 20 * MS);

        send_command(f, "AT+COPS?", "+COPS:", 30 * MS, &cops);
        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);

        /* The module never says anything again. */
        RUN_UNTIL(f, f->lost_calls > 0);
        module_expect(f, "AT+COPS?\rAT\rAT\rAT\r");
        assert_int_equal(f->rx_len, 0);

        assert_reply(&cops, AT_RESULT_TIMEOUT, -1, "");
        assert_reply(&csq, AT_RESULT_PORT_LOST, -1, "");
        assert_int_equal(f->lost_error, -ETIMEDOUT);
        assert_true(cops.seq < csq.seq && csq.seq < f->lost_seq);
        assert_false(at_channel_is_open(f->ch));
        assert_int_equal(at_channel_pending(f->ch), 0);
}

/* A module repeating one line every 5 ms. */
typedef struct Spew {
        Fixture *f;
        const char *line;
} Spew;

static int on_spew(sd_event_source *s, uint64_t usec, void *userdata) {
        Spew *spew = userdata;

        module_send_bytes(spew->f, spew->line, strlen(spew->line));
        /* From now, not from when it was due: no burst to catch up after the loop was slow. */
        assert_return_code(sd_event_source_set_time_relative(s, 5 * MS), 0);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* Writes line every 5 ms from a child process: unlike a timer in the test's own loop, it does not
 * fall silent when the loop is slow to run (under a sanitizer, on a loaded machine). */
static void start_chatter(Fixture *f, const char *line) {
        pid_t parent = getpid();

        f->chatter = fork();
        assert_return_code(f->chatter, errno);
        if (f->chatter > 0)
                return;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        while (getppid() == parent) {
                /* Whole lines only: when the channel falls behind, wait rather than cut a line. */
                for (size_t o = 0, n = strlen(line); o < n;) {
                        ssize_t k = write(f->master, line + o, n - o);

                        if (k > 0)
                                o += (size_t) k;
                        else
                                (void) poll(&(struct pollfd) { .fd = f->master, .events = POLLOUT }, 1, 100);
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
        _exit(EXIT_SUCCESS);
}

/* A module that keeps talking, with lines that are not URCs, still gets probed: not before the
 * phase limit (default_timeout), and not never. */
static void test_resync_probes_even_if_port_never_goes_quiet(void **state) {
        Fixture *f = *state;
        Reply cops = {}, csq = {};
        usec_t elapsed;

        /* A phase limit well above the quiet window, so that probing early is told apart from
         * probing at the limit even when the child is slow to be scheduled. */
        open_channel(f, 400 * MS, 80 * MS);

        send_command(f, "AT+COPS?", "+COPS:", 20 * MS, &cops);
        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);
        module_expect(f, "AT+COPS?\r");
        start_chatter(f, "\r\n+QGPSLOC: junk\r\n");

        RUN_UNTIL(f, cops.calls > 0);
        module_expect(f, "AT\r");
        elapsed = now_usec() - cops.when;
        if (elapsed < 300 * MS)
                fail_msg("probed after %" PRIu64 " ms although the port never went quiet", elapsed / MS);

        /* Whatever it said before falling silent comes before the probe's OK, and is dropped. */
        stop_chatter(f);
        MODULE_SEND(f, "\r\nOK\r\n");
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
        RUN_UNTIL(f, csq.calls > 0);
        assert_reply(&csq, AT_RESULT_OK, -1, "+CSQ: 23,99");
        assert_int_equal(f->lost_calls, 0);
}

/* URCs are delivered while out of step, and do not hold the resync up: the update phase's
 * +QIND stream must not starve the command queue. */
static void test_resync_delivers_urcs_and_is_not_delayed_by_them(void **state) {
        Fixture *f = *state;
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *spew = NULL;
        Spew updating = { .f = f, .line = "\r\n+QIND: \"FOTA\",\"UPDATING\",42\r\n" };
        UrcSink qind = {};
        Reply cops = {}, csq = {};
        usec_t elapsed;
        unsigned n;

        /* The phase limit is far from the quiet window: probing at the limit means URCs broke
         * the silence. */
        open_channel(f, 1500 * MS, 40 * MS);
        add_urc(f, &qind, "+QIND:", "qind");
        assert_return_code(sd_event_add_time_relative(f->event, &spew, CLOCK_MONOTONIC, 5 * MS, 1 * MS, on_spew, &updating), 0);
        assert_return_code(sd_event_source_set_enabled(spew, SD_EVENT_OFF), 0);

        send_command(f, "AT+COPS?", "+COPS:", 20 * MS, &cops);
        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);
        module_expect(f, "AT+COPS?\r");

        RUN_UNTIL(f, cops.calls > 0);
        assert_return_code(sd_event_source_set_enabled(spew, SD_EVENT_ONESHOT), 0);
        n = f->n_urcs;
        module_expect(f, "AT\r");
        elapsed = now_usec() - cops.when;
        if (elapsed > 1000 * MS)
                fail_msg("probed only after %" PRIu64 " ms: URCs were taken for noise", elapsed / MS);
        assert_true(f->n_urcs > n);

        MODULE_SEND(f, "\r\nOK\r\n");
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
        RUN_UNTIL(f, csq.calls > 0);
        assert_reply(&csq, AT_RESULT_OK, -1, "+CSQ: 23,99");
        assert_string_equal(f->urcs[0], "qind:+QIND: \"FOTA\",\"UPDATING\",42");
}

/* Bytes the module sent before the command went out are never its answer, even when they are
 * still in the kernel's buffer when the command is written. */
static void test_stray_final_before_command_is_not_its_answer(void **state) {
        Fixture *f = *state;
        struct pollfd p = {};
        Reply csq = {};
        int peek;

        open_channel(f, 300 * MS, 30 * MS);

        /* A second fd on the slave, only to see when the kernel has the bytes ready. */
        peek = open(f->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        assert_return_code(peek, errno);

        MODULE_SEND(f, "\r\n+CREG: 5\r\n\r\nOK\r\n");
        p = (struct pollfd) { .fd = peek, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 2000), 1);

        /* Queued now, so the channel writes it before its read handler sees the stray "OK". */
        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "\r\nERROR\r\n");
        RUN_UNTIL(f, csq.calls > 0);
        assert_reply(&csq, AT_RESULT_ERROR, -1, "");

        (void) close(peek);
}

static void test_garbage_and_nul_bytes(void **state) {
        Fixture *f = *state;
        UrcSink qind = {};
        Reply csq = {};

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &qind, "+QIND:", "qind");

        /* What a port shows right after a module reboot. */
        MODULE_SEND(f, "\xff\xfe\x00+QIND: \"FOTA\",\"START\"\r\n");
        RUN_UNTIL(f, f->n_urcs > 0);
        assert_string_equal(f->urcs[0], "qind:+QIND: \"FOTA\",\"START\"");

        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "\r\n+CSQ: 2\x00" "3,99\r\n\x00\x00\xff\r\nOK\r\n");
        RUN_UNTIL(f, csq.calls > 0);
        assert_reply(&csq, AT_RESULT_OK, -1, "+CSQ: 23,99");
}

static void test_echo_on(void **state) {
        Fixture *f = *state;
        Reply csq = {}, ati = {};

        open_channel(f, 300 * MS, 30 * MS);

        send_command(f, "AT+CSQ", "+CSQ:", 0, &csq);
        module_expect(f, "AT+CSQ\r");
        MODULE_SEND(f, "AT+CSQ\r\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
        RUN_UNTIL(f, csq.calls > 0);
        assert_reply(&csq, AT_RESULT_OK, -1, "+CSQ: 23,99");

        send_command(f, "ATI", NULL, 0, &ati);
        module_expect(f, "ATI\r");
        MODULE_SEND(f, "ATI\r\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n");
        RUN_UNTIL(f, ati.calls > 0);
        assert_reply(&ati, AT_RESULT_OK, -1, "Quectel|BG96|Revision: BG96MAR02A07M1G");
}

static void test_urc_sent_before_open_is_read(void **state) {
        Fixture *f = *state;
        UrcSink qind = {};

        /* The module came back from its reboot before we reopened the port. */
        MODULE_SEND(f, "\r\n+QIND: \"FOTA\",\"END\",0\r\n");
        /* Wait until the bytes are in the slave's input queue, where a flush would drop them. */
        assert_int_equal(poll(&(struct pollfd) { .fd = f->slave, .events = POLLIN }, 1, 2000), 1);

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &qind, "+QIND:", "qind");
        RUN_UNTIL(f, f->n_urcs > 0);
        assert_string_equal(f->urcs[0], "qind:+QIND: \"FOTA\",\"END\",0");
}

static void test_long_command_partial_writes(void **state) {
        Fixture *f = *state;
        size_t n = 1024 * 1024;
        char *command = malloc(n + 2);
        struct pollfd p = {};
        Reply r = {};
        int peek;

        /* Far more than the pty buffers: write() returns short and then EAGAIN. */
        assert_non_null(command);
        memcpy(command, "AT+", 3);
        for (size_t i = 3; i < n; i++)
                command[i] = (char) ('A' + i % 26);
        command[n] = '\0';

        open_channel(f, 1500 * MS, 30 * MS);
        peek = open(f->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        assert_return_code(peek, errno);

        send_command(f, command, NULL, 0, &r);
        RUN_UNTIL(f, f->rx_len > 0);

        /* Nothing the module says before the command's CR is out can be its answer. */
        assert_true(f->rx_len < n);
        MODULE_SEND(f, "\r\n+CREG: 5\r\n\r\nOK\r\n");
        p = (struct pollfd) { .fd = peek, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 2000), 1);
        (void) close(peek);

        command[n] = '\r';
        command[n + 1] = '\0';
        module_expect(f, command);
        assert_int_equal(r.calls, 0);
        MODULE_SEND(f, "\r\nERROR\r\n");
        RUN_UNTIL(f, r.calls > 0);
        assert_reply(&r, AT_RESULT_ERROR, -1, "");
        free(command);
}

static void test_port_lost_when_unplugged(void **state) {
        Fixture *f = *state;
        Reply a = {}, b = {};

        open_channel(f, 300 * MS, 30 * MS);

        send_command(f, "AT+QFOTADL=\"http://fw.example.net/a.zip\"", NULL, 0, &a);
        send_command(f, "AT+CSQ", NULL, 0, &b);
        module_expect(f, "AT+QFOTADL=\"http://fw.example.net/a.zip\"\r");

        unplug(f);
        RUN_UNTIL(f, f->lost_calls > 0);

        assert_reply(&a, AT_RESULT_PORT_LOST, -1, "");
        assert_reply(&b, AT_RESULT_PORT_LOST, -1, "");
        assert_true(a.seq < b.seq && b.seq < f->lost_seq);
        assert_int_equal(f->lost_calls, 1);
        assert_true(f->lost_error == -EPIPE || f->lost_error == -EIO);
        assert_false(f->lost_was_open);
        assert_int_equal(f->lost_send_r, -ENOTCONN);

        assert_false(at_channel_is_open(f->ch));
        assert_int_equal(at_channel_pending(f->ch), 0);
        assert_int_equal(at_channel_send(f->ch, "AT", NULL, NULL, NULL, NULL), -ENOTCONN);

        /* No stray callbacks afterwards. */
        run_for(f, 20 * MS);
        assert_int_equal(f->lost_calls, 1);
        assert_int_equal(a.calls, 1);
}

static void test_port_lost_while_idle(void **state) {
        Fixture *f = *state;

        open_channel(f, 300 * MS, 30 * MS);
        run_for(f, 5 * MS);
        unplug(f);
        RUN_UNTIL(f, f->lost_calls > 0);
        assert_true(f->lost_error < 0);
        assert_false(at_channel_is_open(f->ch));
}

static void test_free_in_command_callback(void **state) {
        Fixture *f = *state;
        UrcSink qind = {};
        Reply a = { .free_channel = true }, b = {};

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &qind, "+QIND:", "qind");
        send_command(f, "AT+CSQ", NULL, 0, &a);
        send_command(f, "AT+COPS?", NULL, 0, &b);

        module_expect(f, "AT+CSQ\r");
        /* More lines in the same read, after the one whose callback frees the channel. */
        MODULE_SEND(f, "\r\nOK\r\n\r\n+QIND: \"FOTA\",\"START\"\r\n\r\nOK\r\n");
        RUN_UNTIL(f, a.calls > 0);
        assert_null(f->ch);

        run_for(f, 20 * MS);
        assert_int_equal(a.calls, 1);
        assert_int_equal(b.calls, 0); /* dropped without a callback */
        assert_int_equal(f->n_urcs, 0);
        assert_int_equal(f->lost_calls, 0);
}

static void test_free_in_urc_handler(void **state) {
        Fixture *f = *state;
        UrcSink qind = { .free_channel = true };
        Reply a = {};

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &qind, "+QIND:", "qind");
        send_command(f, "AT+CSQ", NULL, 0, &a);
        module_expect(f, "AT+CSQ\r");

        MODULE_SEND(f, "\r\n+QIND: 1\r\n\r\n+QIND: 2\r\n\r\nOK\r\n");
        RUN_UNTIL(f, f->n_urcs > 0);
        assert_null(f->ch);

        run_for(f, 20 * MS);
        assert_int_equal(f->n_urcs, 1);
        assert_int_equal(a.calls, 0);
}

static void test_free_in_timeout_callback(void **state) {
        Fixture *f = *state;
        Reply a = { .free_channel = true }, b = {};

        open_channel(f, 300 * MS, 20 * MS);
        send_command(f, "AT+COPS=?", NULL, 20 * MS, &a);
        send_command(f, "AT+CSQ", NULL, 0, &b);
        module_expect(f, "AT+COPS=?\r");

        RUN_UNTIL(f, a.calls > 0);
        assert_null(f->ch);
        run_for(f, 60 * MS); /* no resync timer may fire into freed memory */
        assert_int_equal(f->rx_len, 0);
        assert_int_equal(b.calls, 0);
}

static void test_free_in_port_lost_command_callback(void **state) {
        Fixture *f = *state;
        Reply a = { .free_channel = true }, b = {};

        open_channel(f, 300 * MS, 30 * MS);
        send_command(f, "AT+CSQ", NULL, 0, &a);
        send_command(f, "AT+COPS?", NULL, 0, &b);
        module_expect(f, "AT+CSQ\r");

        unplug(f);
        RUN_UNTIL(f, a.calls > 0);
        assert_int_equal(a.result, AT_RESULT_PORT_LOST);
        assert_null(f->ch);
        run_for(f, 20 * MS);
        assert_int_equal(b.calls, 0);
        assert_int_equal(f->lost_calls, 0);
}

static void test_free_in_port_lost_handler(void **state) {
        Fixture *f = *state;
        Reply a = {};

        open_channel(f, 300 * MS, 30 * MS);
        f->lost_free_channel = true;
        send_command(f, "AT+CSQ", NULL, 0, &a);
        module_expect(f, "AT+CSQ\r");

        unplug(f);
        RUN_UNTIL(f, f->lost_calls > 0);
        assert_null(f->ch);
        assert_int_equal(a.calls, 1);
        run_for(f, 20 * MS);
        assert_int_equal(f->lost_calls, 1);
}

static void test_cancel(void **state) {
        Fixture *f = *state;
        Reply a = {}, b = {}, c = {};
        uint64_t ida, idb;

        open_channel(f, 300 * MS, 30 * MS);

        ida = send_command(f, "AT+CSQ", "+CSQ:", 0, &a);
        idb = send_command(f, "AT+COPS?", "+COPS:", 0, &b);
        assert_int_not_equal(ida, idb);
        assert_int_equal(at_channel_pending(f->ch), 2);

        /* Queued: never written. */
        assert_int_equal(at_channel_cancel(f->ch, idb), 0);
        assert_int_equal(at_channel_cancel(f->ch, idb), -ENOENT);
        assert_int_equal(at_channel_pending(f->ch), 1);

        /* In flight: its reply is still consumed, and answers nobody. */
        module_expect(f, "AT+CSQ\r");
        assert_int_equal(at_channel_cancel(f->ch, ida), 0);
        assert_int_equal(at_channel_cancel(f->ch, ida), -ENOENT);
        assert_int_equal(at_channel_pending(f->ch), 0);

        send_command(f, "AT+CREG?", "+CREG:", 0, &c);
        MODULE_SEND(f, "\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
        module_expect(f, "AT+CREG?\r");
        MODULE_SEND(f, "\r\nERROR\r\n");
        RUN_UNTIL(f, c.calls > 0);
        assert_reply(&c, AT_RESULT_ERROR, -1, "");

        run_for(f, 20 * MS);
        assert_int_equal(f->rx_len, 0);
        assert_int_equal(a.calls, 0);
        assert_int_equal(b.calls, 0);
        assert_int_equal(at_channel_cancel(f->ch, 4711), -ENOENT);
}

static void test_send_rejects_bad_commands(void **state) {
        Fixture *f = *state;
        uint64_t id = 4711;

        open_channel(f, 300 * MS, 30 * MS);

        assert_int_equal(at_channel_send(f->ch, "", NULL, NULL, NULL, &id), -EINVAL);
        assert_int_equal(at_channel_send(f->ch, NULL, NULL, NULL, NULL, &id), -EINVAL);
        /* A CR would end the command line early: whatever follows is a second command. */
        assert_int_equal(at_channel_send(f->ch, "AT+CPIN=\"1234\"\rAT+CLCK", NULL, NULL, NULL, &id), -EINVAL);
        assert_int_equal(at_channel_send(f->ch, "AT\n", NULL, NULL, NULL, &id), -EINVAL);
        assert_int_equal(id, 4711);
        assert_int_equal(at_channel_pending(f->ch), 0);

        run_for(f, 10 * MS);
        assert_int_equal(f->rx_len, 0);
}

static void test_redact(void **state) {
        static const struct {
                const char *command;
                bool sensitive;
                const char *expected;
        } table[] = {
                { "AT+CPIN=\"1234\"", true, "AT+CPIN=<redacted>" },
                { "AT+CPIN=\"1234\"", false, "AT+CPIN=\"1234\"" },
                { "AT+QICSGP=1,1,\"internet\",\"user\",\"secret\",3", true, "AT+QICSGP=<redacted>" },
                { "ATD+4912345;", true, "<redacted>" },
                { "AT+QFOTADL=\"ftp://fota:s3cr3t@ftp.example.com:21/a01-a02.zip\"", false,
                  "AT+QFOTADL=\"ftp://fota:***@ftp.example.com:21/a01-a02.zip\"" },
                { "AT+QFOTADL=\"http://u:pw@fw.example.net/p.zip\"", true, "AT+QFOTADL=<redacted>" },
                /* A port is not a password, a user alone is not a secret. */
                { "AT+QFOTADL=\"https://fw.example.net:8443/p.zip\"", false,
                  "AT+QFOTADL=\"https://fw.example.net:8443/p.zip\"" },
                { "AT+QFOTADL=\"http://user@h/p.zip\"", false, "AT+QFOTADL=\"http://user@h/p.zip\"" },
                { "AT+QFOTADL=\"http://u:@h/p\"", false, "AT+QFOTADL=\"http://u:***@h/p\"" },
                /* An unencoded '@' in the password, as pasted from a password manager. */
                { "AT+QFOTADL=\"http://u:p@ss:w@rd@h/p\"", false, "AT+QFOTADL=\"http://u:***@h/p\"" },
                /* '@' and ':' after the authority are the path's. */
                { "AT+QFOTADL=\"http://h/a@b:c\"", false, "AT+QFOTADL=\"http://h/a@b:c\"" },
                { "AT+QHTTPURL=\"http://u:pw@h?x=1\"", false, "AT+QHTTPURL=\"http://u:***@h?x=1\"" },
                { "AT+X=\"http://a:b@h\",\"ftp://c:d@i/\"", false, "AT+X=\"http://a:***@h\",\"ftp://c:***@i/\"" },
                { "AT+X=\"http://u:pw\"", false, "AT+X=\"http://u:pw\"" },
                { "a://b:c@", false, "a://b:***@" },
                { "://:@", false, "://:***@" },
                { "", false, "" },
                { "", true, "<redacted>" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char *s = NULL;

                assert_return_code(at_command_redact(table[i].command, table[i].sensitive, &s), 0);
                if (!streq(s, table[i].expected))
                        fail_msg("\"%s\"%s: got \"%s\", expected \"%s\"", table[i].command,
                                 table[i].sensitive ? " (sensitive)" : "", s, table[i].expected);
                free(s);
        }
}

static void test_trace_is_redacted_and_escaped(void **state) {
        Fixture *f = *state;
        UrcSink qind = {};
        Reply pin = {}, fota = {};
        AtCommandOptions sensitive = { .sensitive = true };
        FILE *capture;
        char trace[65536];
        size_t n;
        int saved;

        open_channel(f, 300 * MS, 30 * MS);
        add_urc(f, &qind, "+QIND:", "qind");

        capture = tmpfile();
        assert_non_null(capture);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        assert_return_code(saved, errno);
        assert_return_code(dup2(fileno(capture), STDERR_FILENO), errno);

        pin.f = f;
        assert_return_code(at_channel_send(f->ch, "AT+CPIN=\"4711\"", &sensitive, on_reply, &pin, NULL), 0);
        module_expect(f, "AT+CPIN=\"4711\"\r");
        MODULE_SEND(f, "AT+CPIN=\"4711\"\r\r\nOK\r\n"); /* echo on: the module repeats the PIN */
        RUN_UNTIL(f, pin.calls > 0);

        send_command(f, "AT+QFOTADL=\"http://fota:hunter2@fw.example.net/a.zip\"", NULL, 0, &fota);
        module_expect(f, "AT+QFOTADL=\"http://fota:hunter2@fw.example.net/a.zip\"\r");
        MODULE_SEND(f, "AT+QFOTADL=\"http://fota:hunter2@fw.example.net/a.zip\"\r\r\nOK\r\n"
                       "\r\n+QIND: \xe2\x80\x9c" "FOTA\xe2\x80\x9d\t1\r\n");
        RUN_UNTIL(f, f->n_urcs > 0);

        fflush(stderr);
        assert_return_code(dup2(saved, STDERR_FILENO), errno);
        (void) close(saved);

        rewind(capture);
        n = fread(trace, 1, sizeof(trace) - 1, capture);
        trace[n] = '\0';
        fclose(capture);

        if (strstr(trace, "4711") || strstr(trace, "hunter2"))
                fail_msg("secret in the trace:\n%s", trace);
        if (!strstr(trace, "pty: --> AT+CPIN=<redacted><CR>") ||
            !strstr(trace, "pty: <-- AT+CPIN=<redacted>") ||
            !strstr(trace, "pty: --> AT+QFOTADL=\"http://fota:***@fw.example.net/a.zip\"<CR>") ||
            !strstr(trace, "pty: <-- +QIND: \\xe2\\x80\\x9cFOTA\\xe2\\x80\\x9d\\x091"))
                fail_msg("unexpected trace:\n%s", trace);
}

static void test_result_strings(void **state) {
        for (AtResult r = 0; r < _AT_RESULT_MAX; r++) {
                assert_non_null(at_result_to_string(r));
                assert_int_equal(at_result_from_string(at_result_to_string(r)), r);
        }
        assert_null(at_result_to_string(_AT_RESULT_INVALID));
        assert_int_equal(at_result_from_string("late"), -EINVAL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_open_errors),
                T(test_ok_with_information_lines),
                T(test_error_cme_cms),
                T(test_response_prefix_wins_over_urc_prefix),
                T(test_urc_inside_response_goes_to_handler),
                T(test_queue_one_command_in_flight),
                T(test_commands_sent_from_callbacks_keep_fifo_order),
                T(test_late_reply_while_draining),
                T(test_late_reply_before_probe_answer),
                T(test_late_reply_split_from_probe_answer),
                T(test_late_error_before_probe_answer),
                T(test_late_reply_with_echo),
                T(test_late_reply_after_probe_answer),
                T(test_resync_gives_up_after_three_probes),
                T(test_resync_probes_even_if_port_never_goes_quiet),
                T(test_resync_delivers_urcs_and_is_not_delayed_by_them),
                T(test_stray_final_before_command_is_not_its_answer),
                T(test_garbage_and_nul_bytes),
                T(test_echo_on),
                T(test_urc_sent_before_open_is_read),
                T(test_long_command_partial_writes),
                T(test_port_lost_when_unplugged),
                T(test_port_lost_while_idle),
                T(test_free_in_command_callback),
                T(test_free_in_urc_handler),
                T(test_free_in_timeout_callback),
                T(test_free_in_port_lost_command_callback),
                T(test_free_in_port_lost_handler),
                T(test_cancel),
                T(test_send_rejects_bad_commands),
                T(test_redact),
                T(test_trace_is_redacted_and_escaped),
                T(test_result_strings),
        };

        /* The trace code runs in every test (and so under the sanitizers), written to stderr. */
        log_set_journal(false);
        log_set_max_level(LOG_DEBUG);

        return cmocka_run_group_tests(tests, NULL, NULL);
}
