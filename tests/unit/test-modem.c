/* SPDX-License-Identifier: MIT */

/* The Modem object alone (no manager, no engine, no queue), against a module the test plays on a
 * pty (pty-module.h): identification, the job side's seam (ModemClient: ready, claim, URCs, port
 * loss), the hold, and resets. Every callback the modem makes upward is recorded with its order,
 * so that "once" and "before" can be asserted. Timeouts are tiny; the one fixed wait is the
 * modem's own retry interval (MODEM_RETRY_USEC, 1 s) in test_identify_failure_is_retried. */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "modem.h"
#include "pty-module.h"

#define REV1 "EC25EFAR06A01M4G"
#define REV2 "EC25EFAR06A02M4G"
#define URCS_MAX 8

typedef struct Fixture {
        sd_event *event;
        PtyModule module;
        Timeouts timeouts;
        ResetConfig reset;
        char *reset_argv[2];
        ModemConfig config;
        Modem *m;

        unsigned seq;               /* the order of every upward call */

        /* ModemCallbacks */
        unsigned changed;
        unsigned identified, identified_seq;
        usec_t identified_at;
        unsigned released, released_seq;
        usec_t released_at;
        unsigned hand_over, gone;

        /* ModemClient */
        unsigned ready, ready_seq;
        unsigned port_opened;
        unsigned port_lost;
        int port_lost_error;
        unsigned n_urcs;
        char urcs[URCS_MAX][128];
        unsigned destroy;

        /* modem_reset() */
        unsigned resets;
        ModemResetResult reset_result;
        char reset_detail[256];
} Fixture;

static void on_changed(Modem *m, void *userdata) {
        Fixture *f = userdata;

        f->changed++;
}

static void on_identified(Modem *m, void *userdata) {
        Fixture *f = userdata;

        f->identified++;
        f->identified_seq = ++f->seq;
        f->identified_at = now_usec();
}

static bool on_hand_over(Modem *m, const char *urc, void *userdata) {
        Fixture *f = userdata;

        f->hand_over++;
        return false;
}

static void on_released(Modem *m, void *userdata) {
        Fixture *f = userdata;

        f->released++;
        f->released_seq = ++f->seq;
        f->released_at = now_usec();
}

static void on_gone(Modem *m, void *userdata) {
        Fixture *f = userdata;

        f->gone++;
}

static const ModemCallbacks callbacks = {
        .changed = on_changed,
        .identified = on_identified,
        .hand_over = on_hand_over,
        .released = on_released,
        .gone = on_gone,
};

static void on_ready(Modem *m, void *userdata) {
        Fixture *f = userdata;

        f->ready++;
        f->ready_seq = ++f->seq;
}

static void on_port_opened(Modem *m, void *userdata) {
        Fixture *f = userdata;

        f->port_opened++;
}

static void on_port_lost(Modem *m, int error, void *userdata) {
        Fixture *f = userdata;

        f->port_lost++;
        f->port_lost_error = error;
}

static void on_urc(Modem *m, const char *line, void *userdata) {
        Fixture *f = userdata;

        if (f->n_urcs < URCS_MAX)
                (void) snprintf(f->urcs[f->n_urcs], sizeof(f->urcs[f->n_urcs]), "%s", line);
        f->n_urcs++;
}

static bool on_has_queued(const Modem *m, void *userdata) {
        return false;
}

static void on_destroy(void *userdata) {
        Fixture *f = userdata;

        f->destroy++;
}

static const ModemClient client = {
        .ready = on_ready,
        .port_opened = on_port_opened,
        .port_lost = on_port_lost,
        .urc = on_urc,
        .has_queued = on_has_queued,
        .destroy = on_destroy,
};

static void on_reset(Modem *m, ModemResetResult result, const char *detail, void *userdata) {
        Fixture *f = userdata;

        f->resets++;
        f->reset_result = result;
        (void) snprintf(f->reset_detail, sizeof(f->reset_detail), "%s", detail);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        assert_return_code(sd_event_new(&f->event), 0);
        pty_module_open(&f->module, f->event);

        f->timeouts = (Timeouts) {
                .at_command = 200 * MS,
                .port_return = 1 * USEC_PER_SEC,
                .first_urc_after_reboot = 100 * MS,
        };
        f->reset = (ResetConfig) { .method = RESET_METHOD_AT };
        f->config = (ModemConfig) {
                .port = f->module.port,
                .family = _MODEM_FAMILY_INVALID,
        };

        assert_return_code(modem_new(&(const ModemEnv) {
                                             .event = f->event,
                                             .timeouts = &f->timeouts,
                                             .reset = &f->reset,
                                     },
                                     &callbacks, f, &f->config, &f->m), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        f->m = modem_free(f->m);
        pty_module_close(&f->module);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static void assert_describe(const Modem *m, const char *job, const char *expected) {
        _cleanup_free_ char *s = modem_describe(m, job);

        assert_non_null(s);
        assert_string_equal(s, expected);
}

/* The modem opens the port at once (the pty is there) and starts identifying. */
static void start(Fixture *f) {
        assert_return_code(modem_start(f->m), 0);
        assert_true(modem_has_port(f->m));
        pty_module_release_slave(&f->module);
}

static void start_identified(Fixture *f) {
        start(f);
        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, f->identified > 0);
}

static void test_identify(void **state) {
        Fixture *f = *state;

        assert_int_equal(f->m->port_state, MODEM_PORT_ABSENT);
        start(f);
        assert_int_equal(f->m->port_state, MODEM_PORT_PROBING);
        assert_describe(f->m, NULL, "ttyUSB2: probing");
        assert_false(modem_is_ready_for_job(f->m));

        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, f->identified > 0);

        assert_string_equal(f->m->model, "EC25");
        assert_string_equal(f->m->revision, REV1);
        assert_string_equal(f->m->imei, MODULE_IMEI);
        assert_true(f->m->identified);
        assert_int_equal(f->m->port_state, MODEM_PORT_READY);
        /* The family follows from the model ATI gave. */
        assert_non_null(f->m->profile);
        assert_int_equal(f->m->profile->family, MODEM_FAMILY_EC2X);
        assert_true(modem_is_ready_for_job(f->m));
        assert_false(modem_is_busy(f->m));
        assert_true(f->changed > 0);

        /* Named by the port's file name, as STATUS= shows it. */
        assert_describe(f->m, NULL, "ttyUSB2: idle EC25 " REV1);
        assert_describe(f->m, "job-1 UPDATING 40%", "ttyUSB2: job-1 UPDATING 40%");
        assert_string_equal(modem_name(f->m), f->module.port);

        /* Once: nothing more is sent, nothing more reported. */
        pty_module_expect_silence(&f->module, 50 * MS);
        assert_int_equal(f->identified, 1);
        assert_int_equal(f->released, 0);
        assert_int_equal(f->hand_over, 0);
        assert_int_equal(f->gone, 0);
}

static void test_identify_failure_is_retried(void **state) {
        Fixture *f = *state;
        usec_t failed_at;

        start(f);
        pty_module_expect(&f->module, "ATE0\r");
        pty_module_send(&f->module, "\r\nOK\r\n");
        pty_module_expect(&f->module, "ATI\r");
        pty_module_send(&f->module, "\r\nERROR\r\n");
        failed_at = now_usec();

        /* Not identified, not hammered: the retry waits for the modem's retry timer. */
        pty_module_expect_silence(&f->module, 100 * MS);
        assert_int_equal(f->identified, 0);
        assert_int_equal(f->m->port_state, MODEM_PORT_PROBING);
        assert_describe(f->m, NULL, "ttyUSB2: probing");
        assert_false(modem_is_ready_for_job(f->m));

        /* The whole sequence again, from ATE0. */
        pty_module_identify(&f->module, REV1);
        assert_true(now_usec() - failed_at >= 500 * MS);
        RUN_UNTIL(f->event, f->identified > 0);
        assert_int_equal(f->identified, 1);
        assert_string_equal(f->m->model, "EC25");
        assert_string_equal(f->m->revision, REV1);
        assert_string_equal(f->m->imei, MODULE_IMEI);
        assert_int_equal(f->m->port_state, MODEM_PORT_READY);
}

static void test_client_ready_once(void **state) {
        Fixture *f = *state;

        modem_set_client(f->m, &client, f);
        assert_ptr_equal(modem_get_client(f->m, &client), f);
        assert_null(modem_get_client(f->m, &(const ModemClient) {}));

        start(f);
        pty_module_expect(&f->module, "ATE0\r");
        pty_module_send(&f->module, "\r\nOK\r\n");
        pty_module_expect(&f->module, "ATI\r");
        assert_int_equal(f->ready, 0);
        pty_module_send(&f->module, "\r\nQuectel\r\nEC25\r\nRevision: " REV1 "\r\n\r\nOK\r\n");
        pty_module_expect(&f->module, "AT+GSN\r");
        assert_int_equal(f->ready, 0);
        pty_module_send(&f->module, "\r\n" MODULE_IMEI "\r\n\r\nOK\r\n");

        RUN_UNTIL(f->event, f->ready > 0);
        assert_int_equal(f->identified, 1);
        assert_true(f->identified_seq < f->ready_seq);

        pty_module_expect_silence(&f->module, 50 * MS);
        assert_int_equal(f->ready, 1);
        assert_int_equal(f->port_opened, 0);
        assert_int_equal(f->port_lost, 0);

        /* The job side goes with the modem. */
        f->m = modem_free(f->m);
        assert_int_equal(f->destroy, 1);
}

#define FOTA_URC "+QIND: \"FOTA\",\"HTTPSTART\""

static void test_claim_routes_urcs_to_client(void **state) {
        Fixture *f = *state;

        modem_set_client(f->m, &client, f);
        start_identified(f);
        RUN_UNTIL(f->event, f->ready > 0);

        /* Not claimed: the modem's own (logs it; a hotplug modem offers it to its owner). */
        pty_module_send(&f->module, "\r\n" FOTA_URC "\r\n");
        run_for(f->event, 30 * MS);
        assert_int_equal(f->n_urcs, 0);

        modem_claim(f->m);
        assert_int_equal(f->m->port_state, MODEM_PORT_ENGINE);
        assert_false(modem_is_ready_for_job(f->m));
        assert_true(modem_is_busy(f->m));

        pty_module_send(&f->module, "\r\n" FOTA_URC "\r\n\r\nRDY\r\n");
        RUN_UNTIL(f->event, f->n_urcs >= 2);
        assert_string_equal(f->urcs[0], FOTA_URC);
        assert_string_equal(f->urcs[1], "RDY");

        /* A boot URC on a claimed port is the job's: no identification, no second ready. */
        pty_module_expect_silence(&f->module, 30 * MS);
        assert_int_equal(f->n_urcs, 2);
        assert_int_equal(f->ready, 1);
        assert_int_equal(f->identified, 1);
        assert_int_equal(f->hand_over, 0);
}

static void test_claim_stops_identification(void **state) {
        Fixture *f = *state;

        modem_set_client(f->m, &client, f);
        start(f);
        pty_module_expect(&f->module, "ATE0\r");

        /* A job takes the port mid-identification (a resumed execution): the rest is its own. */
        modem_claim(f->m);
        pty_module_send(&f->module, "\r\nOK\r\n");
        pty_module_expect_silence(&f->module, 50 * MS);
        assert_int_equal(f->identified, 0);
        assert_int_equal(f->ready, 0);
        assert_int_equal(f->m->port_state, MODEM_PORT_ENGINE);

        modem_unclaim(f->m);
        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, f->ready > 0);
        assert_int_equal(f->identified, 1);
}

static void test_port_lost_once_when_claimed(void **state) {
        Fixture *f = *state;

        modem_set_client(f->m, &client, f);
        start_identified(f);
        RUN_UNTIL(f->event, f->ready > 0);
        modem_claim(f->m);

        pty_module_unplug(&f->module);
        RUN_UNTIL(f->event, f->port_lost > 0);
        assert_true(IN_SET(f->port_lost_error, -EPIPE, -EIO, -ENODEV));
        assert_false(modem_has_port(f->m));
        assert_int_equal(f->m->port_state, MODEM_PORT_ABSENT);
        assert_true(modem_is_waiting_for_port(f->m));
        assert_int_equal(modem_send(f->m, "AT", NULL, NULL, NULL, NULL), -ENOTCONN);
        assert_int_equal(modem_identify(f->m, NULL, NULL), -ENOTCONN);

        run_for(f->event, 50 * MS);
        assert_int_equal(f->port_lost, 1);
        assert_int_equal(f->ready, 1);
        assert_int_equal(f->gone, 0);
}

static void test_port_lost_unclaimed_is_not_the_clients(void **state) {
        Fixture *f = *state;

        modem_set_client(f->m, &client, f);
        start_identified(f);
        RUN_UNTIL(f->event, f->ready > 0);

        pty_module_unplug(&f->module);
        RUN_UNTIL(f->event, f->m->port_state == MODEM_PORT_ABSENT);
        run_for(f->event, 30 * MS);
        assert_int_equal(f->port_lost, 0);
        assert_false(modem_is_ready_for_job(f->m));
        /* A static port's modem waits for its port; it is never forgotten. */
        assert_int_equal(f->gone, 0);
}

static void test_unclaim_reidentifies(void **state) {
        Fixture *f = *state;

        modem_set_client(f->m, &client, f);
        start_identified(f);
        RUN_UNTIL(f->event, f->ready > 0);

        modem_claim(f->m);
        pty_module_expect_silence(&f->module, 20 * MS);

        /* The job ended: the module may run another revision now. */
        modem_unclaim(f->m);
        assert_int_equal(f->m->port_state, MODEM_PORT_PROBING);
        assert_false(modem_is_ready_for_job(f->m));
        pty_module_identify(&f->module, REV2);
        RUN_UNTIL(f->event, f->ready > 1);

        assert_int_equal(f->identified, 2);
        assert_int_equal(f->ready, 2);
        assert_string_equal(f->m->revision, REV2);
        assert_int_equal(f->m->port_state, MODEM_PORT_READY);
        assert_describe(f->m, NULL, "ttyUSB2: idle EC25 " REV2);
}

static void test_hold(void **state) {
        Fixture *f = *state;
        usec_t last_urc = 0;

        modem_set_client(f->m, &client, f);
        /* As the daemon does: a damaged record puts the modem on hold before it starts. */
        modem_hold(f->m);
        start_identified(f);

        assert_int_equal(f->ready, 0);
        assert_false(modem_is_ready_for_job(f->m));
        assert_describe(f->m, NULL, "ttyUSB2: on hold EC25 " REV1);

        /* DFOTA URCs keep it on hold: the module is in the middle of an update. For longer than
         * the hold plus sd-event's default timer slack (250 ms), so that a hold that ignored them
         * would have ended in this window. */
        while (now_usec() - f->identified_at < 400 * MS) {
                last_urc = now_usec();
                pty_module_send(&f->module, "\r\n+QIND: \"FOTA\",\"UPDATING\",50\r\n");
                run_for(f->event, 40 * MS);
                assert_int_equal(f->released, 0);
                assert_int_equal(f->ready, 0);
        }

        /* Quiet: released after first_urc_after_reboot, and only then ready. */
        RUN_UNTIL(f->event, f->released > 0);
        assert_true(f->released_at - last_urc >= f->timeouts.first_urc_after_reboot);
        RUN_UNTIL(f->event, f->ready > 0);
        assert_true(f->released_seq < f->ready_seq);
        assert_true(modem_is_ready_for_job(f->m));
        assert_describe(f->m, NULL, "ttyUSB2: idle EC25 " REV1);

        run_for(f->event, 30 * MS);
        assert_int_equal(f->released, 1);
        assert_int_equal(f->ready, 1);
        assert_int_equal(f->identified, 1);
}

static void reset_and_wait(Fixture *f) {
        assert_return_code(modem_reset(f->m, on_reset, f), 0);
        /* Reported from the loop, never from inside the call; one at a time. */
        assert_int_equal(f->resets, 0);
        assert_int_equal(modem_reset(f->m, on_reset, f), -EBUSY);
        RUN_UNTIL(f->event, f->resets > 0);
}

static void test_reset_at(void **state) {
        Fixture *f = *state;

        start_identified(f);

        assert_return_code(modem_reset(f->m, on_reset, f), 0);
        assert_int_equal(modem_reset(f->m, on_reset, f), -EBUSY);
        pty_module_expect(&f->module, "AT+CFUN=1,1\r");
        run_for(f->event, 10 * MS);
        assert_int_equal(f->resets, 0);
        pty_module_send(&f->module, "\r\nOK\r\n");
        RUN_UNTIL(f->event, f->resets > 0);

        assert_string_equal(modem_reset_result_to_string(f->reset_result), "sent-at");
        assert_string_equal(f->reset_detail, "AT+CFUN=1,1 answered OK");
        run_for(f->event, 20 * MS);
        assert_int_equal(f->resets, 1);
}

static void test_reset_at_error_without_program(void **state) {
        Fixture *f = *state;

        start_identified(f);

        assert_return_code(modem_reset(f->m, on_reset, f), 0);
        pty_module_expect(&f->module, "AT+CFUN=1,1\r");
        pty_module_send(&f->module, "\r\nERROR\r\n");
        RUN_UNTIL(f->event, f->resets > 0);

        /* Refused: nothing was reset, and nothing else can do it. */
        assert_string_equal(modem_reset_result_to_string(f->reset_result), "not-delivered");
        assert_string_equal(f->reset_detail,
                            "AT+CFUN=1,1 did not reach the module (the module answered it with an error) and no reset.command is configured");
}

static void test_reset_at_port_gone(void **state) {
        Fixture *f = *state;

        start_identified(f);
        pty_module_unplug(&f->module);
        RUN_UNTIL(f->event, !modem_has_port(f->m));

        reset_and_wait(f);
        assert_string_equal(modem_reset_result_to_string(f->reset_result), "not-delivered");
        assert_string_equal(f->reset_detail,
                            "AT+CFUN=1,1 did not reach the module (the AT port is gone) and no reset.command is configured");
}

static void use_reset_command(Fixture *f, const char *program, bool try_at_first) {
        f->reset_argv[0] = (char *) program;
        f->reset_argv[1] = NULL;
        f->reset = (ResetConfig) {
                .method = RESET_METHOD_COMMAND,
                .command = f->reset_argv,
                .try_at_first = try_at_first,
        };
}

static void test_reset_command_true(void **state) {
        Fixture *f = *state;

        use_reset_command(f, "/bin/true", false);
        reset_and_wait(f);
        assert_string_equal(modem_reset_result_to_string(f->reset_result), "ran-command");
        assert_string_equal(f->reset_detail, "/bin/true ran");
}

static void test_reset_command_false(void **state) {
        Fixture *f = *state;

        /* A program that failed reset nothing. */
        use_reset_command(f, "/bin/false", false);
        reset_and_wait(f);
        assert_string_equal(modem_reset_result_to_string(f->reset_result), "not-delivered");
        assert_string_equal(f->reset_detail, "/bin/false failed (exit status 1)");
}

static void test_reset_command_missing(void **state) {
        Fixture *f = *state;

        use_reset_command(f, "/nonexistent/dfotad-reset", false);
        reset_and_wait(f);
        assert_string_equal(modem_reset_result_to_string(f->reset_result), "not-delivered");
        assert_string_equal(f->reset_detail, "/nonexistent/dfotad-reset could not be started (No such file or directory)");
}

static void test_reset_at_first_falls_back_to_command(void **state) {
        Fixture *f = *state;

        use_reset_command(f, "/bin/true", true);
        start_identified(f);
        pty_module_unplug(&f->module);
        RUN_UNTIL(f->event, !modem_has_port(f->m));

        reset_and_wait(f);
        assert_string_equal(modem_reset_result_to_string(f->reset_result), "ran-command");
        assert_string_equal(f->reset_detail, "AT+CFUN=1,1 did not reach the module (the AT port is gone); /bin/true ran");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_identify),
                T(test_identify_failure_is_retried),
                T(test_client_ready_once),
                T(test_claim_routes_urcs_to_client),
                T(test_claim_stops_identification),
                T(test_port_lost_once_when_claimed),
                T(test_port_lost_unclaimed_is_not_the_clients),
                T(test_unclaim_reidentifies),
                T(test_hold),
                T(test_reset_at),
                T(test_reset_at_error_without_program),
                T(test_reset_at_port_gone),
                T(test_reset_command_true),
                T(test_reset_command_false),
                T(test_reset_command_missing),
                T(test_reset_at_first_falls_back_to_command),
        };
        sigset_t mask;

        /* sd_event_add_child() (the reset program) needs SIGCHLD blocked, as daemon/core/main.c
         * does before it creates anything. */
        assert_return_code(sigemptyset(&mask), errno);
        assert_return_code(sigaddset(&mask, SIGCHLD), errno);
        assert_return_code(sigprocmask(SIG_BLOCK, &mask, NULL), errno);

        log_set_journal(false);
        log_set_max_level(LOG_DEBUG);

        return cmocka_run_group_tests(tests, NULL, NULL);
}
