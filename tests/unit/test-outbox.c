/* SPDX-License-Identifier: MIT */

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "outbox.h"

typedef struct Dir {
        char path[64];
        char outbox[128];
} Dir;

static int setup(void **state) {
        Dir *d = calloc(1, sizeof(Dir));

        assert_non_null(d);
        strcpy(d->path, "/tmp/test-outbox-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        snprintf(d->outbox, sizeof(d->outbox), "%s/outbox", d->path);
        *state = d;
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int teardown(void **state) {
        Dir *d = *state;

        nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
        return 0;
}

static json_object *status(const char *state, int progress) {
        json_object *o = json_object_new_object();

        assert_non_null(o);
        json_object_object_add(o, "state", json_object_new_string(state));
        json_object_object_add(o, "progress", json_object_new_int(progress));
        return o;
}

static void push(Outbox *o, const char *job, const char *state, int progress) {
        _cleanup_(json_object_putp) json_object *s = status(state, progress);

        assert_int_equal(outbox_push(o, job, s), 0);
}

static const char *entry_state(const OutboxEntry *e) {
        json_object *v;

        assert_true(json_object_object_get_ex(e->status, "state", &v));
        return json_object_get_string(v);
}

static int entry_progress(const OutboxEntry *e) {
        json_object *v;

        assert_true(json_object_object_get_ex(e->status, "progress", &v));
        return json_object_get_int(v);
}

static size_t count_files(const char *dir) {
        char cmd[256];
        FILE *f;
        size_t n = 0;
        char line[256];

        snprintf(cmd, sizeof cmd, "ls -1 %s", dir);
        f = popen(cmd, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                if (strstr(line, ".json"))
                        n++;
        pclose(f);
        return n;
}

/* Order survives a restart; every entry is a file until it is removed. */
static void test_order_and_reload(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL, *again = NULL;

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        push(o, "job-a", "QUEUED", 0);
        push(o, "job-b", "QUEUED", 0);
        push(o, "job-a", "PREFLIGHT", 0);
        assert_int_equal(o->n_entries, 3);
        assert_int_equal(count_files(d->outbox), 3);

        assert_int_equal(outbox_open(d->outbox, &again), 0);
        assert_int_equal(again->n_entries, 3);
        assert_string_equal(again->entries[0]->job, "job-a");
        assert_string_equal(entry_state(again->entries[0]), "QUEUED");
        assert_string_equal(again->entries[1]->job, "job-b");
        assert_string_equal(again->entries[2]->job, "job-a");
        assert_string_equal(entry_state(again->entries[2]), "PREFLIGHT");

        /* New entries after a reload come after the old ones. */
        push(again, "job-b", "PREFLIGHT", 0);
        assert_true(again->entries[3]->seq > again->entries[2]->seq);
}

/* A pending progress-only update is replaced by a newer one in the same state; a state change, an
 * update in flight and a terminal state are never replaced. */
static void test_supersede(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL;

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        push(o, "job-a", "UPDATING", 10);
        push(o, "job-a", "UPDATING", 20);
        assert_int_equal(o->n_entries, 1);
        assert_int_equal(entry_progress(outbox_head(o)), 20);
        assert_int_equal(count_files(d->outbox), 1);

        outbox_head(o)->in_flight = true;
        push(o, "job-a", "UPDATING", 30);
        assert_int_equal(o->n_entries, 2);

        push(o, "job-b", "UPDATING", 10);   /* another job in between... */
        push(o, "job-a", "UPDATING", 40);   /* ...does not stop job-a's replacement */
        assert_int_equal(o->n_entries, 3);
        assert_string_equal(o->entries[1]->job, "job-b");
        assert_int_equal(entry_progress(o->entries[2]), 40);

        push(o, "job-a", "VERIFYING", 100);
        push(o, "job-a", "SUCCEEDED", 100);
        push(o, "job-a", "SUCCEEDED", 100);
        assert_int_equal(o->n_entries, 6);
        assert_string_equal(entry_state(o->entries[3]), "VERIFYING");
}

/* The last delivered update of a job stays readable after a restart. */
static void test_delivered_and_last_status(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL, *again = NULL;
        _cleanup_(json_object_putp) json_object *last = NULL, *pending = NULL;
        char path[256];

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        assert_null(outbox_last_status(o, "job-a"));

        push(o, "job-a", "QUEUED", 0);
        push(o, "job-a", "PREFLIGHT", 0);
        assert_int_equal(outbox_remove(o, outbox_head(o), true), 0);
        /* Not the newest of its job: no delivered file yet. */
        snprintf(path, sizeof path, "%s/delivered/job-a.json", d->outbox);
        assert_int_equal(access(path, F_OK), -1);

        pending = outbox_last_status(o, "job-a");
        assert_non_null(pending);
        assert_string_equal(json_object_get_string(json_object_object_get(pending, "state")), "PREFLIGHT");

        assert_int_equal(outbox_remove(o, outbox_head(o), true), 0);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(o->n_entries, 0);

        assert_int_equal(outbox_open(d->outbox, &again), 0);
        assert_int_equal(again->n_entries, 0);
        last = outbox_last_status(again, "job-a");
        assert_non_null(last);
        assert_string_equal(json_object_get_string(json_object_object_get(last, "state")), "PREFLIGHT");
}

static void test_drop_job_and_heartbeat(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL, *again = NULL;
        _cleanup_(json_object_putp) json_object *s = status("UPDATING", 50);

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        push(o, "job-a", "QUEUED", 0);
        push(o, "job-b", "QUEUED", 0);
        push(o, "job-a", "PREFLIGHT", 0);
        assert_int_equal(outbox_drop_job(o, "job-a"), 2);
        assert_int_equal(o->n_entries, 1);
        assert_false(outbox_has_job(o, "job-a"));
        assert_true(outbox_has_job(o, "job-b"));

        /* Heartbeats live in memory only. */
        assert_int_equal(outbox_push_heartbeat(o, "job-b", s), 0);
        assert_int_equal(o->n_entries, 2);
        assert_int_equal(count_files(d->outbox), 1);
        assert_int_equal(outbox_remove(o, o->entries[1], true), 0);

        assert_int_equal(outbox_open(d->outbox, &again), 0);
        assert_int_equal(again->n_entries, 1);
        assert_string_equal(again->entries[0]->job, "job-b");
}

/* A damaged file is moved aside, the others load. */
static void test_broken_entry(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL, *again = NULL;
        char path[256];

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        push(o, "job-a", "QUEUED", 0);
        snprintf(path, sizeof path, "%s/00000000000000ff.json", d->outbox);
        assert_int_equal(write_file_atomic(path, "{\"job\": "), 0);
        snprintf(path, sizeof path, "%s/not-an-entry.json", d->outbox);
        assert_int_equal(write_file_atomic(path, "{}"), 0);

        assert_int_equal(outbox_open(d->outbox, &again), 0);
        assert_int_equal(again->n_entries, 1);
        assert_int_equal(again->next_seq, 0x100);
        snprintf(path, sizeof path, "%s/00000000000000ff.json.broken", d->outbox);
        assert_int_equal(access(path, F_OK), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_order_and_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_supersede, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delivered_and_last_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drop_job_and_heartbeat, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broken_entry, setup, teardown),
        };

        log_set_journal(false);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
