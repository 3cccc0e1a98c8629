/* SPDX-License-Identifier: MIT */

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "control-plane.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "../../daemon/control/mqtt-internal.h"
#include "outbox.h"
#include "state-file.h"

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

        /* Nothing kept for a later write outlives its test (state-file.c is process-wide). */
        (void) state_file_flush();
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


static void remove_tree(const char *path) {
        assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        assert_int_equal(access(path, F_OK), -1);
}

static void make_outbox_dirs(const Dir *d) {
        char path[256];

        assert_int_equal(mkdir(d->outbox, 0750), 0);
        snprintf(path, sizeof path, "%s/delivered", d->outbox);
        assert_int_equal(mkdir(path, 0750), 0);
}

static char *file_state(const char *path) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_free_ char *text = NULL;
        json_object *status, *v;

        if (read_text_file(path, 1 << 20, &text) < 0)
                return NULL;
        assert_int_equal(json_parse_strict(text, strlen(text), NULL, &doc, NULL), 0);
        assert_true(json_object_object_get_ex(doc, "status", &status));
        assert_true(json_object_object_get_ex(status, "state", &v));
        return strdup(json_object_get_string(v));
}

/* Issue 9 item 11: an outbox file that cannot be written (here: its directory is gone, as on a
 * disk that failed) loses nothing. The entry is queued and can be delivered, its delivered copy
 * is readable, and everything lands on disk once the directory can be written again. */
static void test_unwritable_outbox_keeps_everything(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL, *again = NULL;
        _cleanup_(json_object_putp) json_object *last = NULL, *last_b = NULL;
        _cleanup_free_ char *delivered_state = NULL, *pending_state = NULL;
        char delivered[256], pending[256];

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        remove_tree(d->outbox);

        /* No error for a status that is kept. */
        push(o, "job-a", "QUEUED", 0);
        push(o, "job-a", "SUCCEEDED", 100);
        push(o, "job-b", "FAILED", 0);
        assert_int_equal(o->n_entries, 3);
        assert_true(state_file_pending() >= 3);
        assert_true(state_file_health() < 0);
        assert_int_equal(access(o->entries[0]->path, F_OK), -1);

        /* job-a's updates are delivered: the last one becomes its delivered copy, in memory. */
        assert_int_equal(outbox_remove(o, outbox_head(o), true), 0);
        assert_int_equal(outbox_remove(o, outbox_head(o), true), 0);
        assert_int_equal(o->n_entries, 1);
        last = outbox_last_status(o, "job-a");
        assert_non_null(last);
        assert_string_equal(json_object_get_string(json_object_object_get(last, "state")), "SUCCEEDED");
        last_b = outbox_last_status(o, "job-b");
        assert_non_null(last_b);

        /* The directory comes back: one round writes what was kept, under the right names. */
        make_outbox_dirs(d);
        assert_int_equal(state_file_flush(), 0);
        snprintf(delivered, sizeof delivered, "%s/delivered/job-a.json", d->outbox);
        snprintf(pending, sizeof pending, "%s", outbox_head(o)->path);
        delivered_state = file_state(delivered);
        pending_state = file_state(pending);
        assert_string_equal(delivered_state, "SUCCEEDED");
        assert_string_equal(pending_state, "FAILED");
        /* The superseded and delivered entries left no file behind. */
        assert_int_equal(count_files(d->outbox), 1);

        /* A restart finds exactly the pending one, and job-a's delivered copy. */
        assert_int_equal(outbox_open(d->outbox, &again), 0);
        assert_int_equal(again->n_entries, 1);
        assert_string_equal(again->entries[0]->job, "job-b");
}

static int health_events[8];
static size_t n_health_events;

static void on_health(int error, const char *path, void *userdata) {
        if (n_health_events < ELEMENTSOF(health_events))
                health_events[n_health_events++] = error;
}

static int on_give_up(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), -ETIMEDOUT);
}

static int on_directory_back(sd_event_source *s, uint64_t usec, void *userdata) {
        make_outbox_dirs(userdata);
        return 0;
}

static int on_check(sd_event_source *s, uint64_t usec, void *userdata) {
        if (n_health_events >= 2 && health_events[1] == 0)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return sd_event_source_set_time_relative(s, 5 * USEC_PER_MSEC);
}

/* The same through the retry timer, with the daemon's health handler: the directory cannot be
 * written, then (without any further push) it can again, and the file is there. */
static void test_unwritable_outbox_retry_timer(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        sd_event_source *give_up = NULL, *back = NULL, *check = NULL;
        _cleanup_free_ char *pending_state = NULL;

        n_health_events = 0;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(state_file_setup(e, 10 * USEC_PER_MSEC, on_health, NULL), 0);
        assert_int_equal(outbox_open(d->outbox, &o), 0);
        remove_tree(d->outbox);

        push(o, "job-a", "SUCCEEDED", 100);
        assert_int_equal(n_health_events, 1);
        assert_true(health_events[0] < 0);
        assert_int_equal(access(outbox_head(o)->path, F_OK), -1);

        assert_int_equal(sd_event_add_time_relative(e, &back, CLOCK_MONOTONIC, 30 * USEC_PER_MSEC, 0, on_directory_back, d), 0);
        assert_int_equal(sd_event_add_time_relative(e, &check, CLOCK_MONOTONIC, 5 * USEC_PER_MSEC, 0, on_check, NULL), 0);
        assert_int_equal(sd_event_source_set_enabled(check, SD_EVENT_ON), 0);
        assert_int_equal(sd_event_add_time_relative(e, &give_up, CLOCK_MONOTONIC, 5 * USEC_PER_SEC, 0, on_give_up, NULL), 0);
        assert_int_equal(sd_event_loop(e), 0);

        pending_state = file_state(outbox_head(o)->path);
        assert_non_null(pending_state);
        assert_string_equal(pending_state, "SUCCEEDED");
        assert_int_equal(state_file_pending(), 0);
        assert_int_equal(state_file_health(), 0);

        sd_event_source_disable_unref(give_up);
        sd_event_source_disable_unref(back);
        sd_event_source_disable_unref(check);
}

/* The core pruned job-a: its delivered copy goes; job-b's pending entry stays. */
static void test_forget_job(void **state) {
        Dir *d = *state;
        _cleanup_(outbox_freep) Outbox *o = NULL;
        _cleanup_(json_object_putp) json_object *b = NULL;

        assert_int_equal(outbox_open(d->outbox, &o), 0);
        push(o, "job-a", "SUCCEEDED", 100);
        assert_int_equal(outbox_remove(o, outbox_head(o), true), 0);
        push(o, "job-b", "QUEUED", 0);

        assert_int_equal(outbox_forget_job(o, "job-a"), 0);
        assert_null(outbox_last_status(o, "job-a"));
        assert_int_equal(outbox_forget_job(o, "job-a"), 0);     /* twice is fine */
        assert_int_equal(outbox_forget_job(o, "job-b"), 0);
        b = outbox_last_status(o, "job-b");
        assert_non_null(b);
        assert_int_equal(o->n_entries, 1);
}

/* Issue 9 item 13: the id an order on an invalid job topic level is recorded under. */
static void test_derived_job_id(void **state) {
        static const struct {
                const char *level;
                const char *id;
        } cases[] = {
                { "job 7", "job_7-" },
                { "\xc3\xbc", "_-" },                   /* one character, one '_' */
                { "a\xff" "b", "a_b-" },                /* a byte that is no UTF-8 */
                { "", "-" },
        };
        char hundred[101];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *id = NULL, *again = NULL;

                assert_int_equal(mqtt_job_id_derive(cases[i].level, strlen(cases[i].level), &id), 0);
                assert_true(startswith(id, cases[i].id));
                assert_int_equal(strlen(id), strlen(cases[i].id) + 8);
                assert_true(job_id_is_valid(id));
                assert_int_equal(mqtt_job_id_derive(cases[i].level, strlen(cases[i].level), &again), 0);
                assert_string_equal(id, again);
        }

        {
                _cleanup_free_ char *id = NULL;

                assert_int_equal(mqtt_job_id_derive("job 7", 5, &id), 0);
                /* python3 -c 'import hashlib; print(hashlib.sha256(b"job 7").hexdigest()[:8])' */
                assert_string_equal(id, "job_7-9baabbff");
        }

        memset(hundred, 'x', 100);
        hundred[100] = '\0';
        {
                _cleanup_free_ char *id = NULL, *other = NULL;

                assert_int_equal(mqtt_job_id_derive(hundred, 100, &id), 0);
                assert_int_equal(strlen(id), JOB_ID_MAX);
                assert_true(job_id_is_valid(id));
                assert_int_equal(id[55], '-');
                /* Same first 55 characters, another level: another id. */
                hundred[99] = 'y';
                assert_int_equal(mqtt_job_id_derive(hundred, 100, &other), 0);
                assert_string_not_equal(id, other);
        }
}

/* Issue 9 item 8: what is found of an AWS IoT Jobs message too large to parse. */
static void test_aws_scan(void **state) {
        static const char msg[] =
                "{\"clientToken\": \"dfotad-1\", \"execution\": {\"jobDocument\": {\"jobId\": \"inner\", \"x\": [1, {\"a\": 2}],"
                " \"executionNumber\": 99}, \"jobId\" : \"job-big\", \"s\": \"} { \\\" ]\", \"versionNumber\":3,"
                "\"executionNumber\": 7, \"junk\": -8}, \"executionNumber\": 5}";
        AwsScan scan;

        mqtt_aws_scan(msg, strlen(msg), &scan);
        assert_string_equal(scan.job_id, "job-big");
        assert_string_equal(scan.client_token, "dfotad-1");
        assert_int_equal(scan.execution_number, 7);
        assert_int_equal(scan.version, 3);

        /* Cut before the id: nothing; cut inside it: nothing. */
        mqtt_aws_scan(msg, (size_t) (strstr(msg, "job-big") - msg) + 3, &scan);
        assert_string_equal(scan.job_id, "");
        assert_int_equal(scan.execution_number, 0);

        /* Inside the job document only, or escaped, or not a string: not taken. */
#define SCAN(text) mqtt_aws_scan(text, strlen(text), &scan)
        SCAN("{\"execution\": {\"jobDocument\": {\"jobId\": \"inner\"}}}");
        assert_string_equal(scan.job_id, "");
        SCAN("{\"execution\": {\"jobId\": \"a\\u0041\"}}");
        assert_string_equal(scan.job_id, "");
        SCAN("{\"jobId\": \"top\", \"execution\": {\"jobId\": 5, \"executionNumber\": 1.5}}");
        assert_string_equal(scan.job_id, "");
        assert_int_equal(scan.execution_number, 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
        char path[512];

        snprintf(path, sizeof path, "%s/%s", dir, name);
        assert_int_equal(write_file_atomic(path, text), 0);
}

static bool exists(const char *dir, const char *name) {
        char path[512];

        snprintf(path, sizeof path, "%s/%s", dir, name);
        return access(path, F_OK) >= 0;
}

/* ControlPlaneVTable.knows_job and .job_pruned of the MQTT plane (AWS dialect), on the files a
 * last run left: an execution with a delivered terminal status (job-a), one whose status is still
 * in the outbox (job-b), a delivered status without an execution (job-c). */
static void test_mqtt_knows_and_prunes_jobs(void **state) {
        Dir *d = *state;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        MqttConfig mc = {
                .dialect = MQTT_DIALECT_AWS_IOT_JOBS,
                .host = (char *) "127.0.0.1", .port = 1883,
                .device_id = (char *) "dev1", .client_id = (char *) "dev1", .thing_name = (char *) "thing-1",
                .prefix = (char *) "dfotad", .keepalive = 60,
                .reconnect_min = USEC_PER_SEC, .reconnect_max = USEC_PER_SEC, .request_timeout = USEC_PER_SEC,
        };
        ControlPlaneHost host = { .state_directory = d->path };
        char dir[256], jobs[256];
        ControlPlane *cp = NULL;
        static const char state_a[] = "{\"job_id\":\"job-a\",\"execution_number\":1,\"version_number\":3,"
                                      "\"server_ended\":false,\"reported_terminal\":true}";
        static const char state_b[] = "{\"job_id\":\"job-b\",\"execution_number\":1,\"version_number\":2,"
                                      "\"server_ended\":false,\"reported_terminal\":false}";

        assert_int_equal(sd_event_new(&e), 0);
        host.event = e;
        snprintf(jobs, sizeof jobs, "%s/jobs", d->path);
        host.jobs_directory = jobs;

        snprintf(dir, sizeof dir, "%s/mqtt", d->path);
        assert_int_equal(mkdir(dir, 0750), 0);
        snprintf(dir, sizeof dir, "%s/mqtt/aws", d->path);
        assert_int_equal(mkdir(dir, 0750), 0);
        write_text(dir, "job-a.json", state_a);
        write_text(dir, "job-b.json", state_b);
        snprintf(dir, sizeof dir, "%s/outbox", d->path);
        assert_int_equal(mkdir(dir, 0750), 0);
        snprintf(dir, sizeof dir, "%s/outbox/mqtt", d->path);
        assert_int_equal(mkdir(dir, 0750), 0);
        write_text(dir, "0000000000000001.json", "{\"job\":\"job-b\",\"status\":{\"state\":\"FAILED\"}}");
        snprintf(dir, sizeof dir, "%s/outbox/mqtt/delivered", d->path);
        assert_int_equal(mkdir(dir, 0750), 0);
        write_text(dir, "job-a.json", "{\"job\":\"job-a\",\"status\":{\"state\":\"SUCCEEDED\"}}");
        write_text(dir, "job-c.json", "{\"job\":\"job-c\",\"status\":{\"state\":\"REJECTED\"}}");

        assert_int_equal(mqtt_control_plane_new(&host, &mc, &cp), 0);
        assert_non_null(cp->vtable->knows_job);
        assert_non_null(cp->vtable->job_pruned);
        assert_true(cp->vtable->knows_job(cp, "job-a"));
        assert_true(cp->vtable->knows_job(cp, "job-b"));
        assert_true(cp->vtable->knows_job(cp, "job-c"));
        assert_false(cp->vtable->knows_job(cp, "job-z"));
        assert_false(cp->vtable->knows_job(cp, "../job-a"));

        /* Ended and delivered: everything of it goes. */
        cp->vtable->job_pruned(cp, "job-a");
        assert_false(cp->vtable->knows_job(cp, "job-a"));
        snprintf(dir, sizeof dir, "%s/mqtt/aws", d->path);
        assert_false(exists(dir, "job-a.json"));
        snprintf(dir, sizeof dir, "%s/outbox/mqtt/delivered", d->path);
        assert_false(exists(dir, "job-a.json"));

        /* A status still to deliver: the execution that addresses it stays, and so does the status. */
        cp->vtable->job_pruned(cp, "job-b");
        assert_true(cp->vtable->knows_job(cp, "job-b"));
        snprintf(dir, sizeof dir, "%s/mqtt/aws", d->path);
        assert_true(exists(dir, "job-b.json"));
        snprintf(dir, sizeof dir, "%s/outbox/mqtt", d->path);
        assert_true(exists(dir, "0000000000000001.json"));

        cp->vtable->job_pruned(cp, "job-c");
        assert_false(cp->vtable->knows_job(cp, "job-c"));
        cp->vtable->job_pruned(cp, "job-z");     /* unknown: nothing happens */

        control_plane_free(cp);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_order_and_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_supersede, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delivered_and_last_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drop_job_and_heartbeat, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broken_entry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unwritable_outbox_keeps_everything, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unwritable_outbox_retry_timer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forget_job, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_knows_and_prunes_jobs, setup, teardown),
                cmocka_unit_test(test_derived_job_id),
                cmocka_unit_test(test_aws_scan),
        };

        log_set_journal(false);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
