/* SPDX-License-Identifier: MIT */
#pragma once

/* A module played by the test on the master side of a pty, for unit tests of the objects above
 * the AT channel (test-modem.c, test-queue.c, test-dispatch.c). The code under test opens the
 * slave through a symlink named like a real port (<tmpdir>/ttyUSB2), so that names derived from
 * the path (modem_describe()) read as they would on a device. Same pattern as test-at-channel.c,
 * whose channel-level helpers are kept to that file. */

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "macro.h"

#define MS USEC_PER_MSEC

typedef struct PtyModule {
        sd_event *event;            /* borrowed */
        int master;
        int slave;                  /* held until the code under test has opened its own */
        char dir[64];               /* mkdtemp: holds the port's symlink (and whatever the test puts there) */
        char port[96];              /* <dir>/ttyUSB2 -> /dev/pts/N */
        sd_event_source *master_source;

        char *rx;                   /* what was written to the module and not consumed by pty_module_expect() */
        size_t rx_len, rx_allocated;
        char *wire;                 /* everything ever written to the module, NUL-terminated */
        size_t wire_len, wire_allocated;
} PtyModule;

usec_t now_usec(void);

/* Runs the loop until cond holds; the bound is generous enough for a sanitizer build on a loaded
 * machine, and nothing waited for takes more than a fraction of it. */
#define RUN_UNTIL(event, cond)                                                                  \
        do {                                                                                    \
                usec_t _deadline = now_usec() + 5 * USEC_PER_SEC;                               \
                while (!(cond)) {                                                               \
                        if (now_usec() > _deadline)                                             \
                                fail_msg("timed out waiting for: %s", #cond);                   \
                        assert_return_code(sd_event_run((event), 10 * MS), 0);                  \
                }                                                                               \
        } while (0)

/* Runs the loop for usec, whatever happens. */
void run_for(sd_event *event, usec_t usec);

/* Creates the pty, raw, with the symlink in a new temporary directory, and watches the master. */
void pty_module_open(PtyModule *p, sd_event *event);
/* Closes whatever is left and removes the directory with everything in it. */
void pty_module_close(PtyModule *p);

/* The code under test has opened the port: from now on only it holds the slave side, so that
 * closing the master is a hangup it sees. */
void pty_module_release_slave(PtyModule *p);

/* The module reads exactly s next: nothing else was written before it. */
void pty_module_expect(PtyModule *p, const char *s);
/* Nothing is written to the module for usec. */
void pty_module_expect_silence(PtyModule *p, usec_t usec);
void pty_module_send(PtyModule *p, const char *s);
/* Closes the master: the port hangs up (EIO/EPOLLHUP on the slave) and its node goes away. */
void pty_module_unplug(PtyModule *p);

/* The module answers the identification (ATE0, ATI, AT+GSN) as an EC25 with this revision and
 * IMEI 861234567890123. */
void pty_module_identify(PtyModule *p, const char *revision);
/* The same as another module: ATI's model line, revision and AT+GSN's IMEI given (test-dispatch.c
 * plays several modules, which the manager tells apart by IMEI). */
void pty_module_identify_as(PtyModule *p, const char *model, const char *revision, const char *imei);

#define MODULE_IMEI "861234567890123"
