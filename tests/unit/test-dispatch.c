/* SPDX-License-Identifier: MIT */

/* The manager's job dispatch (core/manager-jobs.c) on a whole Manager built as main.c builds it,
 * in-process: three static modules the test plays on ptys (pty-module.h), two EC25 and one EG25
 * (another model of the same family, so that a target_version can leave it out), jobs handed in as
 * the local control plane hands them in (manager_submit_job()), and the records on disk and what
 * each module was sent as the verdict (issue 10 item 11).
 *
 * No NOTIFY_SOCKET (sd_notify() does nothing) and a system bus address that leads nowhere (the
 * ModemManager client finds no bus and the job goes on, as it does on a system without one).
 *
 * The jobs that run require a source_version the modules do not run, so each execution ends
 * REJECTED at the end of its preflight and AT+QFOTADL is never sent: every exchange is a few
 * lines. */

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "control-plane.h"
#include "log.h"
#include "manager.h"
#include "pty-module.h"
#include "queue.h"
#include "record.h"
#include "string-util.h"

#define REV_EC25 "EC25EFAR06A01M4G"
#define REV_EG25 "EG25GGBR07A08M2G"
#define REV_OTHER "EC25EFAR05A01M4G"    /* the source_version the jobs require: no module's */
#define TARGET_EC25 "EC25EFAR06A02M4G"  /* starts with "EC25": selects the EC25s, not the EG25 */

#define IMEI_A "861234567890001"
#define IMEI_B "861234567890002"
#define IMEI_C "861234567890003"

#define N_MODULES 3

static const struct {
        const char *model, *revision, *imei;
} modules[N_MODULES] = {
        { "EC25", REV_EC25, IMEI_A },
        { "EC25", REV_EC25, IMEI_B },
        { "EG25", REV_EG25, IMEI_C },
};

#define REJECTED_REASON(rev) "source_version: the module runs " rev ", the job requires " REV_OTHER

typedef struct Fixture {
        sd_event *event;            /* the default loop, which manager_new() takes too */
        PtyModule pty[N_MODULES];
        char state[64];             /* mkdtemp: the state directory */
        char bus[96];               /* a system bus address with nothing behind it */
        Manager *m;
        ControlPlane *local;        /* borrowed from m */
} Fixture;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        Config *c = calloc(1, sizeof(Config));

        assert_non_null(f);
        assert_non_null(c);

        strcpy(f->state, "/tmp/test-dispatch-XXXXXX");
        assert_non_null(mkdtemp(f->state));
        (void) snprintf(f->bus, sizeof(f->bus), "unix:path=%s/no-such-bus", f->state);
        assert_return_code(setenv("DBUS_SYSTEM_BUS_ADDRESS", f->bus, 1), errno);
        /* Run under a service manager (or a test runner started by one), sd_notify() and the
         * watchdog would talk to it. */
        assert_return_code(unsetenv("NOTIFY_SOCKET"), errno);
        assert_return_code(unsetenv("WATCHDOG_USEC"), errno);

        /* Ours first: the ptys watch their masters on the loop the manager will run. */
        assert_return_code(sd_event_default(&f->event), 0);
        for (size_t i = 0; i < N_MODULES; i++)
                pty_module_open(&f->pty[i], f->event);

        assert_return_code(config_init_defaults(c), 0);
        assert_return_code(free_and_strdup(&c->state_directory, f->state), 0);
        free(c->control_planes.inbox);
        assert_true(asprintf(&c->control_planes.inbox, "%s/inbox", f->state) > 0);
        c->hotplug = false;
        /* Small, but nothing in a passing run waits for one to expire: 1 s for a command leaves a
         * module unanswered while the test looks at the others (a job pending before the
         * identification) without the modem giving up on it. */
        c->timeouts = (Timeouts) {
                .at_command = 1 * USEC_PER_SEC,
                .download_start = 1 * USEC_PER_SEC,
                .download = 1 * USEC_PER_SEC,
                .port_return = 1 * USEC_PER_SEC,
                .first_urc_after_reboot = 100 * MS,
                .urc_watchdog = 1 * USEC_PER_SEC,
                .verify = 1 * USEC_PER_SEC,
                .state_write_retry = 1 * USEC_PER_SEC,
        };
        c->modems = calloc(N_MODULES, sizeof(ModemConfig));
        assert_non_null(c->modems);
        c->n_modems = N_MODULES;
        for (size_t i = 0; i < N_MODULES; i++) {
                c->modems[i] = (ModemConfig) {
                        .port = strdup(f->pty[i].port),
                        .family = _MODEM_FAMILY_INVALID,
                };
                assert_non_null(c->modems[i].port);
        }

        assert_return_code(manager_new(c, &f->m), 0);
        assert_ptr_equal(f->m->event, f->event);
        assert_int_equal(f->m->n_modems, N_MODULES);
        f->local = control_plane_find(f->m->planes, f->m->n_planes, "local");
        assert_non_null(f->local);

        assert_return_code(manager_start(f->m), 0);
        for (size_t i = 0; i < N_MODULES; i++)
                pty_module_release_slave(&f->pty[i]);

        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        f->m = manager_free(f->m);
        for (size_t i = 0; i < N_MODULES; i++)
                pty_module_close(&f->pty[i]);
        sd_event_unref(f->event);
        assert_int_equal(nftw(f->state, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(f);
        return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Module i answers an identification (the modem's, or a job's preflight's) as itself. */
static void module_identify(Fixture *f, size_t i) {
        pty_module_identify_as(&f->pty[i], modules[i].model, modules[i].revision, modules[i].imei);
}

/* The modem's own identification of module i, until the manager has heard of it. */
static void identify(Fixture *f, size_t i) {
        module_identify(f, i);
        RUN_UNTIL(f->event, f->m->modems[i]->identified);
}

static void identify_all(Fixture *f) {
        for (size_t i = 0; i < N_MODULES; i++)
                identify(f, i);
}

/* A job preflight on module i after its identification: the ec2x profile's checks, all fine; then
 * the source_version gate rejects it. The modem identifies the module again once the job ended
 * (the job may have changed its revision) and is idle after that. */
static void module_preflight_rejected(Fixture *f, size_t i) {
        module_identify(f, i);
        pty_module_expect(&f->pty[i], "AT+CPIN?\r");
        pty_module_send(&f->pty[i], "\r\n+CPIN: READY\r\n\r\nOK\r\n");
        pty_module_expect(&f->pty[i], "AT+CREG?\r");
        pty_module_send(&f->pty[i], "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
        pty_module_expect(&f->pty[i], "AT+CSQ\r");
        pty_module_send(&f->pty[i], "\r\n+CSQ: 23,99\r\n\r\nOK\r\n");
        RUN_UNTIL(f->event, !job_queue_current(job_queue_of(f->m->modems[i])));
        module_identify(f, i);
        RUN_UNTIL(f->event, modem_is_ready_for_job(f->m->modems[i]));
}

/* Hands in a job document as the local control plane does (the inbox file's stem as fallback id).
 * selector: the "modem" member and its comma, or "". */
static int submit(Fixture *f, const char *id, const char *selector, const char *target) {
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text,
                             "{\"id\": \"%s\", %s\"source_version\": \"" REV_OTHER "\", \"target_version\": \"%s\","
                             " \"package\": {\"url\": \"http://fw.example.net/a.zip\"}}",
                             id, selector, target) > 0);
        return manager_submit_job(f->m, f->local, text, strlen(text), id);
}

static char *record_path(Fixture *f, const char *name) {
        char *path;

        assert_true(asprintf(&path, "%s/%s.json", f->m->jobs_directory, name) > 0);
        return path;
}

/* name: "<id>" or "<id>@<imei>". */
static JobRecord *load_record(Fixture *f, const char *name) {
        _cleanup_free_ char *path = record_path(f, name);
        JobRecord *rec = NULL;

        assert_return_code(job_record_load(path, &rec), 0);
        return rec;
}

static char *read_record_text(Fixture *f, const char *name) {
        _cleanup_free_ char *path = record_path(f, name);
        FILE *file = fopen(path, "re");
        char *text = NULL;
        size_t n = 0;

        assert_non_null(file);
        assert_true(getdelim(&text, &n, '\0', file) > 0);
        assert_return_code(fclose(file), errno);
        return text;
}

static unsigned count(const char *haystack, const char *needle) {
        unsigned n = 0;

        for (const char *p = haystack ? strstr(haystack, needle) : NULL; p; p = strstr(p + 1, needle))
                n++;
        return n;
}

static const char *entry_string(json_object *e, const char *key) {
        json_object *v;

        assert_true(json_object_object_get_ex(e, key, &v));
        return json_object_get_string(v);
}

#define assert_state(rec, s) \
        assert_string_equal(job_state_to_string((rec)->state), job_state_to_string(s))

/* Module i was sent nothing since its last exchange (and nothing arrives for a while). */
static void assert_module_silent(Fixture *f, size_t i) {
        pty_module_expect_silence(&f->pty[i], 20 * MS);
}

/* Module i, not answered yet, was sent its modem's first ATE0 and nothing else; it is left
 * unread for module_identify(). */
static void assert_module_asked_ate0_only(Fixture *f, size_t i) {
        run_for(f->event, 20 * MS);
        assert_int_equal(f->pty[i].rx_len, strlen("ATE0\r"));
        assert_memory_equal(f->pty[i].rx, "ATE0\r", strlen("ATE0\r"));
        assert_string_equal(f->pty[i].wire, "ATE0\r");
}

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_no_matching_module_is_rejected(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;

        identify_all(f);

        /* Every module is identified and none is an EP06: nothing to wait for. The document was
         * recorded (0): the control plane may forget it. */
        assert_int_equal(submit(f, "job-ep06", "\"modem\": {\"model\": \"EP06\"}, ", "EP06EAR02A08M4G"), 0);
        rec = load_record(f, "job-ep06");
        assert_state(rec, JOB_REJECTED);
        assert_string_equal(rec->reason, "modem.model: no modem of model EP06");
        assert_string_equal(rec->control_plane, "local");
        assert_null(rec->modem_imei);
        assert_int_equal(f->m->n_pending, 0);

        for (size_t i = 0; i < N_MODULES; i++) {
                assert_module_silent(f, i);
                assert_int_equal(count(f->pty[i].wire, "ATE0\r"), 1);
        }
}

static void test_imei_selects_one_module(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *path = NULL;

        identify_all(f);

        /* Module B's IMEI, and a target every EC25 would take: the selector wins. */
        assert_int_equal(submit(f, "job-b", "\"modem\": {\"imei\": \"" IMEI_B "\"}, ", TARGET_EC25), 0);
        module_preflight_rejected(f, 1);

        rec = load_record(f, "job-b");
        assert_state(rec, JOB_REJECTED);
        assert_string_equal(rec->reason, REJECTED_REASON(REV_EC25));
        assert_string_equal(rec->modem_imei, IMEI_B);
        assert_string_equal(rec->modem_port, f->pty[1].port);
        assert_string_equal(rec->modem_model, "EC25");
        assert_null(rec->execution);
        assert_null(rec->executions);
        assert_false(rec->qfotadl_sent);

        /* One module, one record: no execution records. */
        path = record_path(f, "job-b@" IMEI_B);
        assert_int_equal(access(path, F_OK), -1);

        /* The others heard nothing after their identification. */
        assert_module_silent(f, 0);
        assert_module_silent(f, 2);
        assert_int_equal(count(f->pty[0].wire, "ATE0\r"), 1);
        assert_int_equal(count(f->pty[2].wire, "ATE0\r"), 1);
        for (size_t i = 0; i < N_MODULES; i++)
                assert_int_equal(count(f->pty[i].wire, "QFOTADL"), 0);
}

static void test_several_modules_parent_and_executions(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *p = NULL, *a = NULL, *b = NULL, *end = NULL;
        const char *imeis[] = { IMEI_A, IMEI_B };
        json_object *e;

        identify_all(f);

        /* No selector: target_version starts with "EC25", so both EC25s and not the EG25. */
        assert_int_equal(submit(f, "job-all", "", TARGET_EC25), 0);

        /* At once, before the loop ran: the parent lists one execution per module, in the
         * modems' order, each with its own record. */
        p = load_record(f, "job-all");
        assert_null(p->execution);
        assert_null(p->modem_imei);
        assert_non_null(p->executions);
        assert_int_equal(json_object_array_length(p->executions), 2);
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *file = NULL, *name = NULL;

                e = json_object_array_get_idx(p->executions, i);
                assert_true(asprintf(&file, "job-all@%s.json", imeis[i]) > 0);
                assert_string_equal(entry_string(e, "imei"), imeis[i]);
                assert_string_equal(entry_string(e, "port"), f->pty[i].port);
                assert_string_equal(entry_string(e, "record"), file);
                assert_string_equal(entry_string(e, "state"), "QUEUED");

                assert_true(asprintf(&name, "job-all@%s", imeis[i]) > 0);
                a = load_record(f, name);
                assert_string_equal(a->job->id, "job-all");
                assert_string_equal(a->execution, imeis[i]);
                assert_string_equal(a->modem_imei, imeis[i]);
                assert_string_equal(a->modem_port, f->pty[i].port);
                assert_string_equal(a->control_plane, "local");
                a = job_record_free(a);
        }
        /* The parent's state is its executions' aggregate: none has left QUEUED yet. */
        assert_state(p, JOB_QUEUED);
        p = job_record_free(p);

        /* Both preflights run (concurrently: each module's lines wait in its own buffer). */
        module_preflight_rejected(f, 0);
        module_preflight_rejected(f, 1);

        a = load_record(f, "job-all@" IMEI_A);
        b = load_record(f, "job-all@" IMEI_B);
        assert_state(a, JOB_REJECTED);
        assert_state(b, JOB_REJECTED);
        assert_string_equal(a->reason, REJECTED_REASON(REV_EC25));

        end = load_record(f, "job-all");
        assert_state(end, JOB_FAILED);
        assert_string_equal(end->reason,
                            "failed on 2 of 2 modules: "
                            IMEI_A " REJECTED (" REJECTED_REASON(REV_EC25) "); "
                            IMEI_B " REJECTED (" REJECTED_REASON(REV_EC25) ")");
        for (size_t i = 0; i < 2; i++) {
                e = json_object_array_get_idx(end->executions, i);
                assert_string_equal(entry_string(e, "state"), "REJECTED");
                assert_string_equal(entry_string(e, "reason"), REJECTED_REASON(REV_EC25));
        }

        /* The EG25 was never part of it. */
        assert_module_silent(f, 2);
        assert_int_equal(count(f->pty[2].wire, "ATE0\r"), 1);
        for (size_t i = 0; i < N_MODULES; i++)
                assert_int_equal(count(f->pty[i].wire, "QFOTADL"), 0);
}

static void test_pending_until_identified(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *q = NULL, *rec = NULL;

        /* Every modem has opened its port and asked ATE0; nobody answered yet. */
        for (size_t i = 0; i < N_MODULES; i++)
                RUN_UNTIL(f->event, f->pty[i].rx_len > 0);

        /* For module B, which is not identified yet: the job waits, recorded QUEUED. */
        assert_int_equal(submit(f, "job-early", "\"modem\": {\"imei\": \"" IMEI_B "\"}, ", TARGET_EC25), 0);
        assert_int_equal(f->m->n_pending, 1);
        q = load_record(f, "job-early");
        assert_state(q, JOB_QUEUED);
        assert_null(q->reason);
        q = job_record_free(q);
        for (size_t i = 0; i < N_MODULES; i++)
                assert_module_asked_ate0_only(f, i);

        /* A and C identified: neither is the job's, and B's IMEI is not known yet, so it still
         * waits rather than being rejected. */
        identify(f, 0);
        identify(f, 2);
        assert_int_equal(f->m->n_pending, 1);
        q = load_record(f, "job-early");
        assert_state(q, JOB_QUEUED);
        assert_module_silent(f, 0);
        assert_module_silent(f, 2);
        assert_module_asked_ate0_only(f, 1);  /* B's identification is not answered: nothing new */

        /* B identified: the job is dispatched onto it and runs its preflight. */
        identify(f, 1);
        assert_int_equal(f->m->n_pending, 0);
        module_preflight_rejected(f, 1);

        rec = load_record(f, "job-early");
        assert_state(rec, JOB_REJECTED);
        assert_string_equal(rec->reason, REJECTED_REASON(REV_EC25));
        assert_string_equal(rec->modem_imei, IMEI_B);
        assert_string_equal(rec->modem_port, f->pty[1].port);

        assert_module_silent(f, 0);
        assert_module_silent(f, 2);
        assert_int_equal(count(f->pty[0].wire, "ATE0\r"), 1);
        assert_int_equal(count(f->pty[2].wire, "ATE0\r"), 1);
}

static void test_cancel(void **state) {
        Fixture *f = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;

        /* Pending: no modem is identified yet. */
        assert_int_equal(submit(f, "job-wait", "\"modem\": {\"imei\": \"" IMEI_B "\"}, ", TARGET_EC25), 0);
        assert_int_equal(f->m->n_pending, 1);

        assert_int_equal(manager_cancel_job(f->m, "job-wait", "canceled by the operator"), 0);
        assert_int_equal(f->m->n_pending, 0);
        rec = load_record(f, "job-wait");
        assert_state(rec, JOB_CANCELED);
        assert_string_equal(rec->reason, "canceled by the operator");
        assert_false(rec->qfotadl_sent);

        /* Nothing by that name runs any more; a name never seen is not a job. */
        assert_int_equal(manager_cancel_job(f->m, "job-wait", "again"), -EALREADY);
        assert_int_equal(manager_cancel_job(f->m, "job-never", "no such job"), -ENOENT);
        rec = job_record_free(rec);
        rec = load_record(f, "job-wait");
        assert_string_equal(rec->reason, "canceled by the operator");

        /* B identified: the canceled job does not come back. */
        identify_all(f);
        for (size_t i = 0; i < N_MODULES; i++) {
                assert_module_silent(f, i);
                assert_int_equal(count(f->pty[i].wire, "ATE0\r"), 1);
        }

        /* A job that ended by itself (rejected at dispatch) is ended too. */
        assert_int_equal(submit(f, "job-ep06", "\"modem\": {\"model\": \"EP06\"}, ", TARGET_EC25), 0);
        assert_int_equal(manager_cancel_job(f->m, "job-ep06", "too late"), -EALREADY);
        rec = job_record_free(rec);
        rec = load_record(f, "job-ep06");
        assert_state(rec, JOB_REJECTED);
}

static void test_duplicate_id(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *before = NULL, *after = NULL, *ended = NULL, *ended_after = NULL;

        /* A pending job (no module identified yet), then the same id again with another document:
         * refused, and the first record stays byte for byte (its "updated_at" included). */
        assert_int_equal(submit(f, "job-dup", "\"modem\": {\"imei\": \"" IMEI_B "\"}, ", TARGET_EC25), 0);
        before = read_record_text(f, "job-dup");
        assert_int_equal(submit(f, "job-dup", "\"modem\": {\"model\": \"EP06\"}, ", "EP06EAR02A08M4G"), -EEXIST);
        after = read_record_text(f, "job-dup");
        assert_string_equal(after, before);
        assert_int_equal(f->m->n_pending, 1);

        /* Nor does a duplicate of an ended job touch it. */
        identify_all(f);
        assert_int_equal(submit(f, "job-gone", "\"modem\": {\"model\": \"EP06\"}, ", TARGET_EC25), 0);
        ended = read_record_text(f, "job-gone");
        assert_int_equal(submit(f, "job-gone", "", TARGET_EC25), -EEXIST);
        ended_after = read_record_text(f, "job-gone");
        assert_string_equal(ended_after, ended);

        /* The first job-dup still runs once, on B; the duplicate never ran anywhere. */
        module_preflight_rejected(f, 1);
        assert_module_silent(f, 0);
        assert_module_silent(f, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_no_matching_module_is_rejected),
                T(test_imei_selects_one_module),
                T(test_several_modules_parent_and_executions),
                T(test_pending_until_identified),
                T(test_cancel),
                T(test_duplicate_id),
        };

        log_set_journal(false);
        log_set_max_level(LOG_INFO);

        return cmocka_run_group_tests(tests, NULL, NULL);
}
