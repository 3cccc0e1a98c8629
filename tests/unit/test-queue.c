/* SPDX-License-Identifier: MIT */

/* The job side of one modem (dfota/queue.c) on a real Modem, against a module the test plays on a
 * pty (pty-module.h): the ownership rule on failure (issue 10 item 6), dispatch one job at a time,
 * cancel, and the STATUS= line. No manager and no ModemManager (JobQueueEnv.mm = NULL).
 *
 * The jobs here require a source_version the module does not run, so each ends REJECTED at the end
 * of its preflight and AT+QFOTADL is never sent: every exchange is a few lines, and the wire
 * transcript proves the command never went out.
 *
 * Allocation failures are injected with the linker (tests/meson.build: --wrap=reallocarray,
 * --wrap=calloc for this executable only): reallocarray() is where job_queue_push() (and a resume
 * behind a running execution) grows the queue, calloc() where engine_start() allocates the engine.
 * Under ASan a callee that freed the record on failure turns the test's own use and
 * job_record_free() into a reported use after free / double free. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "job.h"
#include "log.h"
#include "modem.h"
#include "pty-module.h"
#include "queue.h"
#include "record.h"

#define REV1 "EC25EFAR06A01M4G"
#define REV_OTHER "EC25EFAR05A01M4G"   /* the source_version the jobs require: not the module's */
#define REPORTS_MAX 32

/* ---- allocation failure injection -------------------------------------------------------------- */

static bool fail_reallocarray, fail_calloc;
static unsigned reallocarray_failed, calloc_failed;

void *__real_reallocarray(void *p, size_t n, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

/* Fails once, the next call after the flag is set. */
void *__wrap_reallocarray(void *p, size_t n, size_t size) {
        if (fail_reallocarray) {
                fail_reallocarray = false;
                reallocarray_failed++;
                errno = ENOMEM;
                return NULL;
        }
        return __real_reallocarray(p, n, size);
}

/* Fails once, the next single-object allocation after the flag is set (an object's calloc(1,
 * sizeof(...)); the logger's arrays, n > 1, are left alone): in job_queue_resume() that is the
 * engine's. */
void *__wrap_calloc(size_t n, size_t size) {
        if (fail_calloc && n == 1) {
                fail_calloc = false;
                calloc_failed++;
                errno = ENOMEM;
                return NULL;
        }
        return __real_calloc(n, size);
}

/* ---- fixture ----------------------------------------------------------------------------------- */

typedef struct Fixture {
        sd_event *event;
        PtyModule module;
        Timeouts timeouts;
        ResetConfig reset;
        ModemConfig config;
        JobQueueEnv env;
        char jobs[128];
        Modem *m;
        JobQueue *q;                /* borrowed: the modem owns it */

        unsigned n_reports;
        char reports[REPORTS_MAX][256]; /* "<name> <STATE>[: <reason>]" */
        unsigned changed;
} Fixture;

static void on_report(JobQueue *q, const JobRecord *record, void *userdata) {
        Fixture *f = userdata;

        assert_ptr_equal(q, f->q);
        if (f->n_reports < REPORTS_MAX)
                (void) snprintf(f->reports[f->n_reports], sizeof(f->reports[f->n_reports]), "%s %s%s%s",
                                job_record_name(record), job_state_to_string(record->state),
                                record->reason ? ": " : "", strempty(record->reason));
        f->n_reports++;
}

static void on_changed(JobQueue *q, void *userdata) {
        Fixture *f = userdata;

        f->changed++;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        fail_reallocarray = fail_calloc = false;
        reallocarray_failed = calloc_failed = 0;

        assert_return_code(sd_event_new(&f->event), 0);
        pty_module_open(&f->module, f->event);
        (void) snprintf(f->jobs, sizeof(f->jobs), "%s/jobs", f->module.dir);

        f->timeouts = (Timeouts) {
                .at_command = 200 * MS,
                .download_start = 1 * USEC_PER_SEC,
                .download = 1 * USEC_PER_SEC,
                .port_return = 1 * USEC_PER_SEC,
                .first_urc_after_reboot = 100 * MS,
                .urc_watchdog = 1 * USEC_PER_SEC,
                .verify = 1 * USEC_PER_SEC,
                .state_write_retry = 1 * USEC_PER_SEC,
        };
        f->reset = (ResetConfig) { .method = RESET_METHOD_AT };
        f->config = (ModemConfig) {
                .port = f->module.port,
                .family = _MODEM_FAMILY_INVALID,
        };
        f->env = (JobQueueEnv) { .mm = NULL };

        assert_return_code(modem_new(&(const ModemEnv) {
                                             .event = f->event,
                                             .timeouts = &f->timeouts,
                                             .reset = &f->reset,
                                     },
                                     &(const ModemCallbacks) {}, NULL, &f->config, &f->m), 0);
        assert_return_code(job_queue_attach(f->m, &f->env,
                                            &(const JobQueueCallbacks) { .report = on_report, .changed = on_changed },
                                            f, &f->q), 0);
        assert_ptr_equal(job_queue_of(f->m), f->q);
        assert_ptr_equal(job_queue_modem(f->q), f->m);

        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        fail_reallocarray = fail_calloc = false;
        /* Frees the queue with it (ModemClient.destroy), and every record still queued. */
        f->m = modem_free(f->m);
        pty_module_close(&f->module);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

/* A QUEUED record for a job that requires REV_OTHER: rejected at the end of its preflight. */
static JobRecord *make_record(Fixture *f, const char *id) {
        _cleanup_free_ char *text = NULL, *err = NULL;
        JobRecord *rec = NULL;
        Job *j = NULL;

        assert_true(asprintf(&text,
                             "{\"id\": \"%s\", \"source_version\": \"" REV_OTHER "\", \"target_version\": \"EC25EFAR06A02M4G\","
                             " \"package\": {\"url\": \"http://fw.example.net/a.zip\"}}",
                             id) > 0);
        if (job_parse(text, strlen(text), &j, &err) < 0)
                fail_msg("job rejected: %s", err);
        assert_return_code(job_record_new(f->jobs, j, &rec), 0);
        return rec;
}

/* A record as a restart finds it: the module was updating when the daemon stopped. */
static JobRecord *make_resumed_record(Fixture *f, const char *id) {
        JobRecord *rec = make_record(f, id);

        rec->state = JOB_UPDATING;
        rec->phase = DFOTA_PHASE_UPDATING;
        rec->qfotadl_sent = true;
        rec->attempt = 1;
        assert_return_code(free_and_strdup(&rec->modem_family, "ec2x"), 0);
        return rec;
}

static JobRecord *load_record(Fixture *f, const char *id) {
        _cleanup_free_ char *path = NULL;
        JobRecord *rec = NULL;

        assert_true(asprintf(&path, "%s/%s.json", f->jobs, id) > 0);
        assert_return_code(job_record_load(path, &rec), 0);
        return rec;
}

static void assert_describe(const JobQueue *q, const char *expected) {
        _cleanup_free_ char *s = job_queue_describe(q);

        assert_non_null(s);
        assert_string_equal(s, expected);
}

static void assert_current(const JobQueue *q, const char *id, JobState state) {
        const JobRecord *cur = job_queue_current(q);

        assert_non_null(cur);
        assert_string_equal(cur->job->id, id);
        assert_string_equal(job_state_to_string(cur->state), job_state_to_string(state));
}

static void start(Fixture *f) {
        assert_return_code(modem_start(f->m), 0);
        pty_module_release_slave(&f->module);
}

static void start_identified(Fixture *f) {
        start(f);
        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, f->m->identified);
}

/* The rest of a job's preflight after its identification: the ec2x profile's checks, all fine. */
static void module_preflight_checks(Fixture *f) {
        pty_module_expect(&f->module, "AT+CPIN?\r");
        pty_module_send(&f->module, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
        pty_module_expect(&f->module, "AT+CREG?\r");
        pty_module_send(&f->module, "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
        pty_module_expect(&f->module, "AT+CSQ\r");
        pty_module_send(&f->module, "\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
}

static unsigned count(const char *haystack, const char *needle) {
        unsigned n = 0;

        for (const char *p = haystack ? strstr(haystack, needle) : NULL; p; p = strstr(p + 1, needle))
                n++;
        return n;
}

static unsigned count_reports(const Fixture *f, const char *prefix) {
        unsigned n = 0;

        for (unsigned i = 0; i < f->n_reports && i < REPORTS_MAX; i++)
                if (strncmp(f->reports[i], prefix, strlen(prefix)) == 0)
                        n++;
        return n;
}

#define REJECTED_REASON "source_version: the module runs " REV1 ", the job requires " REV_OTHER

/* ---- ownership on failure (issue 10 item 6) ----------------------------------------------------- */

static void test_push_enomem_leaves_record_with_caller(void **state) {
        Fixture *f = *state;
        JobRecord *a = make_record(f, "job-a"), *b;

        /* The first push allocates the array, the second grows it: both can fail. */
        fail_reallocarray = true;
        assert_int_equal(job_queue_push(f->q, a), -ENOMEM);
        assert_int_equal(reallocarray_failed, 1);
        assert_false(job_queue_is_busy(f->q));
        assert_null(job_queue_current(f->q));
        assert_false(modem_is_busy(f->m));

        /* Still ours: read it, then free it (a double free under ASan if the queue had). */
        assert_string_equal(a->job->id, "job-a");
        assert_int_equal(a->state, JOB_QUEUED);
        a = job_record_free(a);

        a = make_record(f, "job-a");
        assert_return_code(job_queue_push(f->q, a), 0);
        assert_true(job_queue_is_busy(f->q));

        b = make_record(f, "job-b");
        fail_reallocarray = true;
        assert_int_equal(job_queue_push(f->q, b), -ENOMEM);
        assert_int_equal(reallocarray_failed, 2);
        assert_string_equal(b->job->id, "job-b");
        assert_int_equal(b->state, JOB_QUEUED);
        b = job_record_free(b);

        /* The queue holds job-a alone, as before the failed push: cancel finds it, not job-b. */
        assert_true(job_queue_is_busy(f->q));
        assert_int_equal(job_queue_cancel(f->q, "job-b", "test"), 0);
        assert_int_equal(job_queue_cancel(f->q, "job-a", "test"), 1);
        assert_false(job_queue_is_busy(f->q));
        assert_int_equal(f->n_reports, 1);
        assert_string_equal(f->reports[0], "job-a CANCELED: test");
}

static void test_resume_enomem_leaves_record_with_caller(void **state) {
        Fixture *f = *state;
        JobRecord *rec = make_resumed_record(f, "job-r");

        /* As the daemon does: resumed before the modem starts. The engine's allocation fails. */
        fail_calloc = true;
        assert_int_equal(job_queue_resume(f->q, rec), -ENOMEM);
        assert_int_equal(calloc_failed, 1);

        assert_string_equal(rec->job->id, "job-r");
        assert_int_equal(rec->state, JOB_UPDATING);
        assert_true(rec->qfotadl_sent);
        rec = job_record_free(rec);

        assert_false(job_queue_is_busy(f->q));
        assert_null(job_queue_current(f->q));
        /* The port was claimed for it and is given back. */
        assert_false(f->m->claimed);
        assert_false(modem_is_busy(f->m));
        assert_int_equal(f->n_reports, 0);

        /* The modem serves as if nothing had been resumed: identified, then idle. */
        start_identified(f);
        pty_module_expect_silence(&f->module, 30 * MS);
        assert_true(modem_is_ready_for_job(f->m));
        assert_describe(f->q, "ttyUSB2: idle EC25 " REV1);
}

static void test_resume_behind_running_enomem(void **state) {
        Fixture *f = *state;
        JobRecord *r;

        start_identified(f);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-a")), 0);
        pty_module_expect(&f->module, "ATE0\r");  /* job-a's preflight has begun */
        assert_current(f->q, "job-a", JOB_PREFLIGHT);

        /* A second unfinished execution of this modem goes to the front of the queue; growing it
         * fails. */
        r = make_resumed_record(f, "job-r");
        fail_reallocarray = true;
        assert_int_equal(job_queue_resume(f->q, r), -ENOMEM);
        assert_int_equal(reallocarray_failed, 1);
        assert_string_equal(r->job->id, "job-r");
        r = job_record_free(r);

        /* job-a goes on, and nothing follows it. */
        assert_current(f->q, "job-a", JOB_PREFLIGHT);
        pty_module_send(&f->module, "\r\nOK\r\n");
        pty_module_expect(&f->module, "ATI\r");
        pty_module_send(&f->module, "\r\nQuectel\r\nEC25\r\nRevision: " REV1 "\r\n\r\nOK\r\n");
        pty_module_expect(&f->module, "AT+GSN\r");
        pty_module_send(&f->module, "\r\n" MODULE_IMEI "\r\n\r\nOK\r\n");
        module_preflight_checks(f);
        RUN_UNTIL(f->event, !job_queue_current(f->q));
        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, modem_is_ready_for_job(f->m));
        pty_module_expect_silence(&f->module, 30 * MS);
        assert_false(job_queue_is_busy(f->q));
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

static void test_dispatch_engine_enomem_keeps_job_queued(void **state) {
        Fixture *f = *state;
        JobRecord *a = make_record(f, "job-a");

        start_identified(f);

        /* The push succeeds; the engine for it cannot be allocated. The record stays queued. */
        fail_calloc = true;
        assert_return_code(job_queue_push(f->q, a), 0);
        assert_int_equal(calloc_failed, 1);
        assert_null(job_queue_current(f->q));
        assert_true(job_queue_is_busy(f->q));
        assert_false(f->m->claimed);

        /* The port is given back: the modem identifies the module again, and once it is ready the
         * job starts after all. */
        pty_module_identify(&f->module, REV1);
        pty_module_identify(&f->module, REV1);
        assert_current(f->q, "job-a", JOB_PREFLIGHT);
        module_preflight_checks(f);
        RUN_UNTIL(f->event, !job_queue_current(f->q));
        assert_string_equal(f->reports[f->n_reports - 1], "job-a REJECTED: " REJECTED_REASON);
}


static void test_dispatch_one_at_a_time(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *a = NULL, *b = NULL;
        unsigned a_end = 0;

        /* Queued while the modem has no port: nothing starts, nothing is written. */
        assert_return_code(job_queue_push(f->q, make_record(f, "job-a")), 0);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-b")), 0);
        assert_true(job_queue_is_busy(f->q));
        assert_true(modem_is_busy(f->m));
        assert_null(job_queue_current(f->q));
        assert_true(f->changed > 0);
        assert_describe(f->q, "ttyUSB2: absent");
        run_for(f->event, 20 * MS);
        assert_int_equal(f->module.wire_len, 0);

        /* The modem's identification comes first, and nothing else while it runs. */
        start(f);
        assert_describe(f->q, "ttyUSB2: probing");
        pty_module_identify(&f->module, REV1);
        assert_null(job_queue_current(f->q));

        /* Identified: job-a starts with its own identification (modem_identify() again). */
        pty_module_identify(&f->module, REV1);
        assert_current(f->q, "job-a", JOB_PREFLIGHT);
        assert_describe(f->q, "ttyUSB2: job-a PREFLIGHT 0%");
        module_preflight_checks(f);

        /* Rejected: the source_version gate, before AT+QFOTADL. job-b waits until job-a ended. */
        RUN_UNTIL(f->event, !job_queue_current(f->q));
        for (unsigned i = 0; i < f->n_reports; i++) {
                assert_true(strncmp(f->reports[i], "job-a ", 6) == 0);
                a_end = i;
        }
        assert_string_equal(f->reports[a_end], "job-a REJECTED: " REJECTED_REASON);
        assert_true(job_queue_is_busy(f->q));

        /* The modem identifies the module again (the job may have changed its revision); then
         * job-b starts. */
        pty_module_identify(&f->module, REV1);
        pty_module_identify(&f->module, REV1);
        assert_current(f->q, "job-b", JOB_PREFLIGHT);
        module_preflight_checks(f);
        RUN_UNTIL(f->event, !job_queue_current(f->q));
        assert_string_equal(f->reports[f->n_reports - 1], "job-b REJECTED: " REJECTED_REASON);

        /* Idle again, and nothing more. */
        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, modem_is_ready_for_job(f->m));
        pty_module_expect_silence(&f->module, 30 * MS);
        assert_false(job_queue_is_busy(f->q));
        assert_false(modem_is_busy(f->m));
        assert_describe(f->q, "ttyUSB2: idle EC25 " REV1);

        assert_int_equal(count(f->module.wire, "QFOTADL"), 0);
        /* The modem's three identifications and the two jobs', nothing else. */
        assert_int_equal(count(f->module.wire, "ATE0\r"), 5);

        /* What the control plane was told is on disk. */
        a = load_record(f, "job-a");
        assert_int_equal(a->state, JOB_REJECTED);
        assert_string_equal(a->reason, REJECTED_REASON);
        assert_string_equal(a->revision_before, REV1);
        assert_string_equal(a->modem_imei, MODULE_IMEI);
        assert_string_equal(a->modem_model, "EC25");
        assert_string_equal(a->modem_family, "ec2x");
        assert_string_equal(a->modem_port, f->module.port);
        assert_false(a->qfotadl_sent);
        b = load_record(f, "job-b");
        assert_int_equal(b->state, JOB_REJECTED);
}

static void test_cancel_queued_and_running(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *a = NULL, *c = NULL;

        start_identified(f);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-a")), 0);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-b")), 0);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-c")), 0);
        pty_module_expect(&f->module, "ATE0\r");  /* job-a's identification, not answered yet */
        assert_current(f->q, "job-a", JOB_PREFLIGHT);
        f->n_reports = 0;

        /* A queued job that never started: CANCELED at once, on disk, reported; job-a untouched. */
        assert_int_equal(job_queue_cancel(f->q, "job-c", "canceled by the operator"), 1);
        assert_int_equal(f->n_reports, 1);
        assert_string_equal(f->reports[0], "job-c CANCELED: canceled by the operator");
        c = load_record(f, "job-c");
        assert_int_equal(c->state, JOB_CANCELED);
        assert_string_equal(c->reason, "canceled by the operator");
        assert_false(c->qfotadl_sent);
        assert_current(f->q, "job-a", JOB_PREFLIGHT);
        assert_describe(f->q, "ttyUSB2: job-a PREFLIGHT 0%");

        assert_int_equal(job_queue_cancel(f->q, "job-c", "again"), 0);
        assert_int_equal(job_queue_cancel(f->q, "job-x", "never queued"), 0);
        assert_int_equal(f->n_reports, 1);

        /* The running one, before AT+QFOTADL: it ends CANCELED too, its identification forgotten. */
        assert_int_equal(job_queue_cancel(f->q, "job-a", "superseded"), 1);
        assert_string_equal(f->reports[f->n_reports - 1], "job-a CANCELED: superseded");
        pty_module_send(&f->module, "\r\nOK\r\n");  /* the forgotten ATE0's answer */
        RUN_UNTIL(f->event, !job_queue_current(f->q));
        a = load_record(f, "job-a");
        assert_int_equal(a->state, JOB_CANCELED);
        assert_string_equal(a->reason, "superseded");

        /* job-b runs next; job-c never does. */
        pty_module_identify(&f->module, REV1);
        pty_module_identify(&f->module, REV1);
        assert_current(f->q, "job-b", JOB_PREFLIGHT);
        module_preflight_checks(f);
        RUN_UNTIL(f->event, !job_queue_current(f->q));
        pty_module_identify(&f->module, REV1);
        RUN_UNTIL(f->event, modem_is_ready_for_job(f->m));
        pty_module_expect_silence(&f->module, 30 * MS);
        assert_false(job_queue_is_busy(f->q));
        assert_int_equal(count_reports(f, "job-c "), 1);
        assert_int_equal(count(f->module.wire, "QFOTADL"), 0);
}

static void test_cancel_queued_unsaved_is_not_success(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *aside = NULL;
        int r;

        /* A queued job whose CANCELED record cannot be written (disk full, state directory gone)
         * is not canceled: it stays queued, nothing is reported, and the error is returned, so
         * that the control plane does not hear "canceled" for a job that would run after a
         * restart. Once the record can be written, the cancel goes through. */
        start_identified(f);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-a")), 0);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-c")), 0);
        pty_module_expect(&f->module, "ATE0\r");
        f->n_reports = 0;

        /* The state directory is replaced by a file: no record can be written in it. */
        assert_true(asprintf(&aside, "%s.aside", f->jobs) > 0);
        assert_return_code(rename(f->jobs, aside), errno);
        assert_return_code(close(open(f->jobs, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), errno);

        r = job_queue_cancel(f->q, "job-c", "canceled by the operator");
        assert_true(r < 0);
        assert_int_equal(f->n_reports, 0);
        assert_true(job_queue_is_busy(f->q));

        assert_return_code(unlink(f->jobs), errno);
        assert_return_code(rename(aside, f->jobs), errno);
        assert_int_equal(job_queue_cancel(f->q, "job-c", "canceled by the operator"), 1);
        assert_int_equal(count_reports(f, "job-c CANCELED"), 1);
}

static void test_hold_keeps_jobs_queued(void **state) {
        Fixture *f = *state;

        modem_hold(f->m);
        assert_return_code(job_queue_push(f->q, make_record(f, "job-a")), 0);
        start_identified(f);

        /* On hold: identified, and the job waits. */
        pty_module_expect_silence(&f->module, 30 * MS);
        assert_null(job_queue_current(f->q));
        assert_describe(f->q, "ttyUSB2: on hold EC25 " REV1 " (jobs queued)");

        /* The hold ends without a DFOTA URC: the job starts (its preflight identifies the module). */
        pty_module_identify(&f->module, REV1);
        assert_false(f->m->hold);
        assert_current(f->q, "job-a", JOB_PREFLIGHT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_push_enomem_leaves_record_with_caller),
                T(test_resume_enomem_leaves_record_with_caller),
                T(test_resume_behind_running_enomem),
                T(test_dispatch_engine_enomem_keeps_job_queued),
                T(test_dispatch_one_at_a_time),
                T(test_cancel_queued_and_running),
                T(test_cancel_queued_unsaved_is_not_success),
                T(test_hold_keeps_jobs_queued),
        };

        log_set_journal(false);
        log_set_max_level(LOG_DEBUG);

        return cmocka_run_group_tests(tests, NULL, NULL);
}
