/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "log.h"
#include "record.h"

/* 2026-11-21T10:00:03.512Z */
#define T0 ((usec_t) 1795255203512000ULL)

typedef struct Dir {
        char path[64];
        char jobs[128];     /* <path>/state/jobs: job_record_new() must create it */
} Dir;

static int setup(void **state) {
        Dir *d = calloc(1, sizeof(Dir));

        assert_non_null(d);
        strcpy(d->path, "/tmp/test-record-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        snprintf(d->jobs, sizeof(d->jobs), "%s/state/jobs", d->path);
        *state = d;
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int teardown(void **state) {
        Dir *d = *state;

        assert_int_equal(nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(d);
        return 0;
}

static Job *make_job(const char *id) {
        _cleanup_free_ char *text = NULL, *err = NULL;
        Job *j = NULL;

        assert_true(asprintf(&text,
                             "{\"id\": \"%s\", \"modem\": {\"imei\": \"861234567890123\"},"
                             " \"source_version\": \"EC25EFAR06A01M4G\", \"target_version\": \"EC25EFAR06A02M4G\","
                             " \"package\": {\"url\": \"ftp://u:p@fw.example.net:21/a.zip\", \"size\": 4096,"
                             " \"sha256\": \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}}",
                             id) > 0);
        if (job_parse(text, strlen(text), &j, &err) < 0)
                fail_msg("job rejected: %s", err);
        return j;
}

static JobRecord *make_record(const char *dir, const char *id) {
        JobRecord *rec = NULL;

        assert_int_equal(job_record_new(dir, make_job(id), &rec), 0);
        assert_non_null(rec);
        return rec;
}

static size_t count_entries(const char *dir, char ***ret_names) {
        struct dirent **names = NULL;
        int n;

        n = scandir(dir, &names, NULL, alphasort);
        assert_true(n >= 0);

        char **l = calloc((size_t) n + 1, sizeof(char *));
        size_t k = 0;
        assert_non_null(l);
        for (int i = 0; i < n; i++) {
                if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, ".."))
                        assert_non_null(l[k++] = strdup(names[i]->d_name));
                free(names[i]);
        }
        free(names);

        *ret_names = l;
        return k;
}

static void test_timestamps(void **state) {
        static const struct {
                usec_t t;
                const char *s;
        } cases[] = {
                { T0,                               "2026-11-21T10:00:03.512Z" },
                { T0 + 999,                         "2026-11-21T10:00:03.512Z" },   /* cut, not rounded */
                { 1,                                "1970-01-01T00:00:00.000Z" },
                { 951782400 * USEC_PER_SEC + 7000,  "2000-02-29T00:00:00.007Z" },
        };
        char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_string_equal(format_timestamp_iso(cases[i].t, buf), cases[i].s);
        assert_null(format_timestamp_iso(USEC_INFINITY, buf));

        /* The wall clock, in microseconds. */
        time_t before = time(NULL);
        usec_t now = now_realtime();
        time_t after = time(NULL);
        assert_true(now / USEC_PER_SEC >= (usec_t) before);
        assert_true(now / USEC_PER_SEC <= (usec_t) after);
}

static void test_new(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *path = NULL;
        json_object *e, *v;
        struct stat st;

        rec = make_record(d->jobs, "job-1");
        assert_true(asprintf(&path, "%s/job-1.json", d->jobs) > 0);
        assert_string_equal(rec->path, path);
        assert_int_equal(stat(d->jobs, &st), 0);        /* created, parents too */
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(rec->state, JOB_QUEUED);
        assert_int_equal(rec->attempt, 0);
        assert_false(rec->qfotadl_sent);
        assert_false(rec->has_module_error);
        assert_true(rec->created_at > 0);
        assert_int_equal(rec->created_at % USEC_PER_MSEC, 0);
        assert_int_equal(json_object_array_length(rec->history), 1);
        e = json_object_array_get_idx(rec->history, 0);
        assert_true(json_object_object_get_ex(e, "state", &v));
        assert_string_equal(json_object_get_string(v), "QUEUED");

        /* Not saved yet. */
        assert_false(job_record_exists(d->jobs, "job-1"));
        assert_int_equal(access(path, F_OK), -1);
}

static void test_new_rejects_bad_id(void **state) {
        static const char *const ids[] = { "../escape", "", ".hidden", "a/b" };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                JobRecord *rec = NULL;
                Job *j = make_job("placeholder");

                /* The job stays the caller's on failure (macro.h): ASan reports a leak or a
                 * double free otherwise. */
                free(j->id);
                assert_non_null(j->id = strdup(ids[i]));
                assert_int_equal(job_record_new(d->jobs, j, &rec), -EINVAL);
                assert_null(rec);
                job_free(j);
        }
}

static void fill_every_field(JobRecord *rec) {
        rec->state = JOB_PREFLIGHT;
        assert_int_equal(job_record_add_history(rec, "preflight started"), 1);
        rec->state = JOB_UPDATING;
        rec->progress = 40;
        rec->attempt = 2;
        rec->watchdog_resets = 1;
        rec->has_module_error = true;
        rec->module_error_code = 701;
        rec->module_error_kind = MODULE_ERROR_HTTP;
        assert_int_equal(free_and_strdup(&rec->module_error_meaning, "HTTP unknown error"), 0);
        assert_int_equal(free_and_strdup(&rec->revision_before, "EC25EFAR06A01M4G"), 0);
        assert_int_equal(free_and_strdup(&rec->revision_after, "EC25EFAR06A02M4G"), 0);
        assert_int_equal(free_and_strdup(&rec->reason, "reason with \"quotes\" and \\ and /"), 0);
        assert_int_equal(free_and_strdup(&rec->modem_port, "/dev/ttyUSB2"), 0);
        assert_int_equal(free_and_strdup(&rec->modem_imei, "861234567890123"), 0);
        assert_int_equal(free_and_strdup(&rec->modem_model, "EC25"), 0);
        assert_int_equal(free_and_strdup(&rec->modem_family, "ec2x"), 0);
        assert_int_equal(free_and_strdup(&rec->control_plane, "local"), 0);
        rec->qfotadl_sent = true;
        rec->qfotadl_sent_at = T0;
        rec->phase = DFOTA_PHASE_UPDATE_ENDED;
        rec->last_end = 505;
        assert_int_equal(job_record_add_attempt(rec, 1, 505, "Package check failed"), 0);
        assert_int_equal(job_record_add_history(rec, NULL), 1);
}

static void assert_record_equal(const JobRecord *a, const JobRecord *b) {
        assert_string_equal(a->path, b->path);
        assert_string_equal(a->job->id, b->job->id);
        assert_true(streq_ptr(a->job->modem_imei, b->job->modem_imei));
        assert_true(streq_ptr(a->job->source_version, b->job->source_version));
        assert_true(streq_ptr(a->job->target_version, b->job->target_version));
        assert_true(streq_ptr(a->job->url, b->job->url));
        assert_true(streq_ptr(a->job->sha256, b->job->sha256));
        assert_int_equal(a->job->size, b->job->size);
        assert_int_equal(a->job->delivery, b->job->delivery);
        assert_int_equal(a->state, b->state);
        assert_int_equal(a->progress, b->progress);
        assert_int_equal(a->attempt, b->attempt);
        assert_int_equal(a->watchdog_resets, b->watchdog_resets);
        assert_int_equal(a->has_module_error, b->has_module_error);
        assert_int_equal(a->module_error_code, b->module_error_code);
        assert_int_equal(a->module_error_kind, b->module_error_kind);
        assert_true(streq_ptr(a->module_error_meaning, b->module_error_meaning));
        assert_true(streq_ptr(a->revision_before, b->revision_before));
        assert_true(streq_ptr(a->revision_after, b->revision_after));
        assert_true(streq_ptr(a->reason, b->reason));
        assert_true(streq_ptr(a->modem_port, b->modem_port));
        assert_true(streq_ptr(a->modem_imei, b->modem_imei));
        assert_true(streq_ptr(a->modem_model, b->modem_model));
        assert_true(streq_ptr(a->modem_family, b->modem_family));
        assert_true(streq_ptr(a->control_plane, b->control_plane));
        assert_int_equal(a->qfotadl_sent, b->qfotadl_sent);
        assert_int_equal(a->qfotadl_sent_at, b->qfotadl_sent_at);
        assert_int_equal(a->created_at, b->created_at);
        assert_int_equal(a->updated_at, b->updated_at);
        assert_true(json_object_equal(a->history, b->history));
        assert_int_equal(a->phase, b->phase);
        assert_int_equal(a->last_end, b->last_end);
        assert_int_equal(a->module_hold, b->module_hold);
        assert_true(json_object_equal(a->attempts, b->attempts));
        assert_int_equal(a->attempts_omitted, b->attempts_omitted);
        assert_int_equal(a->history_omitted, b->history_omitted);
}

static void test_round_trip(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *fresh = NULL, *full = NULL, *a = NULL, *b = NULL;

        /* Every field at its initial value (nulls)... */
        fresh = make_record(d->jobs, "fresh");
        assert_int_equal(job_record_save(fresh), 0);
        assert_true(fresh->updated_at >= fresh->created_at);
        assert_int_equal(job_record_load(fresh->path, &a), 0);
        assert_record_equal(fresh, a);
        assert_false(a->has_module_error);
        assert_null(a->revision_before);
        assert_int_equal(a->qfotadl_sent_at, 0);

        /* ...and every field set. */
        full = make_record(d->jobs, "full");
        fill_every_field(full);
        assert_int_equal(job_record_save(full), 0);
        assert_int_equal(job_record_load(full->path, &b), 0);
        assert_record_equal(full, b);
        assert_int_equal(json_object_array_length(b->history), 3);

        /* The records as JSON are the same, too. */
        json_object *x = job_record_to_json(full), *y = job_record_to_json(b);
        assert_true(json_object_equal(x, y));
        json_object_put(x);
        json_object_put(y);
}

/* A job on several modules: executions named <id>@<imei>.json, a parent listing them. */
static void test_executions(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *parent = NULL, *x = NULL, *lx = NULL, *lp = NULL;
        _cleanup_free_ char *expected = NULL, *bad = NULL;
        json_object *entry;

        parent = make_record(d->jobs, "multi");
        assert_int_equal(job_record_new_execution(d->jobs, parent->job, "861234567890123", &x), 0);
        assert_int_equal(job_record_new_execution(d->jobs, parent->job, "86123/../x", &lx), -EINVAL);
        assert_int_equal(job_record_new_execution(d->jobs, parent->job, "", &lx), -EINVAL);
        assert_true(asprintf(&expected, "%s/multi@861234567890123.json", d->jobs) > 0);
        assert_string_equal(x->path, expected);
        assert_string_equal(x->job->id, "multi");
        assert_string_equal(job_record_name(x), "multi@861234567890123");
        assert_string_equal(job_record_name(parent), "multi");
        assert_int_equal(job_record_save(x), 0);
        assert_int_equal(job_record_load(x->path, &lx), 0);
        assert_string_equal(lx->execution, "861234567890123");
        assert_string_equal(job_record_name(lx), "multi@861234567890123");
        assert_null(lx->executions);

        parent->executions = json_object_new_array();
        entry = json_object_new_object();
        json_object_object_add(entry, "imei", json_object_new_string("861234567890123"));
        json_object_object_add(entry, "port", json_object_new_string("/dev/ttyUSB2"));
        json_object_object_add(entry, "record", json_object_new_string("multi@861234567890123.json"));
        json_object_object_add(entry, "state", json_object_new_string("QUEUED"));
        json_object_array_add(parent->executions, entry);
        assert_int_equal(job_record_save(parent), 0);
        assert_int_equal(job_record_load(parent->path, &lp), 0);
        assert_null(lp->execution);
        assert_non_null(lp->executions);
        assert_true(json_object_equal(lp->executions, parent->executions));
        lp = job_record_free(lp);

        /* A parent naming another job's file is malformed. */
        json_object_object_add(entry, "record", json_object_new_string("other@861234567890123.json"));
        assert_int_equal(job_record_save(parent), 0);
        assert_int_equal(job_record_load(parent->path, &lp), -EINVAL);

        /* An execution record under a file name that is not its own is malformed. */
        assert_true(asprintf(&bad, "%s/multi@861234567890124.json", d->jobs) > 0);
        assert_int_equal(rename(x->path, bad), 0);
        lx = job_record_free(lx);
        assert_int_equal(job_record_load(bad, &lx), -EINVAL);
}

static void test_rejected_document(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *loaded = NULL;
        Job *j;

        /* What the manager records for a document that failed validation: only an id. */
        j = calloc(1, sizeof(Job));
        assert_non_null(j);
        assert_non_null(j->id = strdup("rejected-doc"));
        assert_int_equal(job_record_new(d->jobs, j, &rec), 0);
        rec->state = JOB_REJECTED;
        assert_int_equal(free_and_strdup(&rec->reason, "package.url: contains '\"'"), 0);
        assert_int_equal(job_record_add_history(rec, rec->reason), 1);
        assert_int_equal(job_record_save(rec), 0);

        assert_int_equal(job_record_load(rec->path, &loaded), 0);
        assert_record_equal(rec, loaded);
        assert_null(loaded->job->url);
        assert_null(loaded->job->target_version);

        /* The same partial document in a state that would be resumed is not a record. */
        job_record_free(loaded);
        loaded = NULL;
        rec->state = JOB_QUEUED;
        assert_int_equal(job_record_save(rec), 0);
        assert_int_equal(job_record_load(rec->path, &loaded), -EINVAL);
        assert_null(loaded);
}

static void test_history(void **state) {
        static const struct {
                JobState state;
                const char *detail;
        } steps[] = {
                { JOB_QUEUED,            "created" },
                { JOB_PREFLIGHT,         NULL },
                { JOB_DOWNLOADING,       "AT+QFOTADL sent" },
                { JOB_WAITING_FOR_MODEM, "port /dev/ttyUSB2 gone" },
                { JOB_FAILED,            "END,504" },
        };
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *loaded = NULL;

        rec = make_record(d->jobs, "hist");
        for (size_t i = 1; i < ELEMENTSOF(steps); i++) {
                rec->state = steps[i].state;
                assert_int_equal(job_record_add_history(rec, steps[i].detail), 1);
        }
        assert_int_equal(job_record_save(rec), 0);
        assert_int_equal(job_record_load(rec->path, &loaded), 0);

        assert_int_equal(json_object_array_length(loaded->history), ELEMENTSOF(steps));
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                json_object *e = json_object_array_get_idx(loaded->history, i), *v;
                usec_t t;

                assert_true(json_object_object_get_ex(e, "state", &v));
                assert_string_equal(json_object_get_string(v), job_state_to_string(steps[i].state));
                assert_true(json_object_object_get_ex(e, "detail", &v));
                if (steps[i].detail)
                        assert_string_equal(json_object_get_string(v), steps[i].detail);
                else
                        assert_true(json_object_is_type(v, json_type_null));

                /* "YYYY-MM-DDTHH:MM:SS.mmmZ", no later than the save. */
                assert_true(json_object_object_get_ex(e, "time", &v));
                const char *s = json_object_get_string(v);
                unsigned y, mo, da, h, mi, se, ms;
                char z;
                assert_int_equal(strlen(s), 24);
                assert_int_equal(sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u.%3u%c", &y, &mo, &da, &h, &mi, &se, &ms, &z), 8);
                assert_int_equal(z, 'Z');
                t = loaded->updated_at;
                char buf[32];
                assert_true(strcmp(s, format_timestamp_iso(t, buf)) <= 0);
        }
}

static void test_atomic_save(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *loaded = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct stat st;

        rec = make_record(d->jobs, "atomic");
        for (unsigned i = 0; i <= 10; i++) {
                rec->progress = i * 10;
                assert_int_equal(job_record_save(rec), 0);
        }

        /* Only the record: no temporary file left behind. */
        assert_int_equal(count_entries(d->jobs, &names), 1);
        assert_string_equal(names[0], "atomic.json");

        /* The last save is what is on disk. */
        assert_int_equal(job_record_load(rec->path, &loaded), 0);
        assert_int_equal(loaded->progress, 100);

        /* Package URLs may carry credentials. */
        assert_int_equal(stat(rec->path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        /* A failed save (directory gone) leaves nothing half-written and says why. */
        assert_int_equal(unlink(rec->path), 0);
        assert_int_equal(rmdir(d->jobs), 0);
        assert_int_equal(job_record_save(rec), -ENOENT);
}

static void write_text(const char *dir, const char *name, const char *text) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}


typedef struct Collected {
        JobRecord **l;
        size_t n;
        size_t n_damaged;
} Collected;

static int collect_one(const char *path, JobRecord **rec, const char *why, void *userdata) {
        Collected *c = userdata;

        if (!*rec) {
                assert_non_null(why);
                c->n_damaged++;
                return 0;
        }
        assert_null(why);
        c->l = reallocarray(c->l, c->n + 2, sizeof(JobRecord *));
        assert_non_null(c->l);
        c->l[c->n++] = TAKE_PTR(*rec);
        c->l[c->n] = NULL;
        return 0;
}

/* Every record of dir, in resume order, NULL-terminated; *ret_damaged: files that could not be read. */
static int load_all(const char *dir, JobRecord ***ret, size_t *ret_n, size_t *ret_damaged) {
        Collected c = {};
        int r;

        c.l = calloc(1, sizeof(JobRecord *));
        assert_non_null(c.l);
        r = job_record_foreach(dir, collect_one, &c);
        if (r < 0) {
                job_record_free_many(c.l);
                return r;
        }
        job_record_sort(c.l, c.n);
        *ret = c.l;
        *ret_n = c.n;
        if (ret_damaged)
                *ret_damaged = c.n_damaged;
        return 0;
}

static void test_load_all_order(void **state) {
        static const struct {
                const char *id;
                usec_t created_at;
        } recs[] = {
                { "middle",  T0 + 1000 },
                { "newest",  T0 + 5000 },
                { "oldest",  T0 - 3000 },
                /* Same millisecond: ordered by id, whatever order readdir() gives. */
                { "tie-e",   T0 + 2000 },
                { "tie-b",   T0 + 2000 },
                { "tie-d",   T0 + 2000 },
                { "tie-a",   T0 + 2000 },
                { "tie-c",   T0 + 2000 },
        };
        static const char *const order[] = { "oldest", "middle", "tie-a", "tie-b", "tie-c", "tie-d", "tie-e", "newest" };
        Dir *d = *state;
        JobRecord **l = NULL;
        size_t n = 99;

        for (size_t i = 0; i < ELEMENTSOF(recs); i++) {
                _cleanup_(job_record_freep) JobRecord *rec = make_record(d->jobs, recs[i].id);

                rec->created_at = recs[i].created_at;
                assert_int_equal(job_record_save(rec), 0);
        }

        assert_int_equal(load_all(d->jobs, &l, &n, NULL), 0);
        assert_int_equal(n, ELEMENTSOF(order));
        for (size_t i = 0; i < n; i++)
                assert_string_equal(l[i]->job->id, order[i]);
        assert_null(l[n]);
        job_record_free_many(l);
}

static void test_load_all_missing_dir(void **state) {
        Dir *d = *state;
        JobRecord **l = NULL;
        size_t n = 99;

        assert_int_equal(load_all(d->jobs, &l, &n, NULL), 0);
        assert_int_equal(n, 0);
        assert_non_null(l);
        assert_null(l[0]);
        job_record_free_many(l);
}

static void test_corrupt_skipped(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *good = NULL;
        _cleanup_free_ char *text = NULL;
        JobRecord **l = NULL, *rec = NULL;
        char path[256];
        size_t n = 0, n_damaged = 0;

        good = make_record(d->jobs, "good");
        fill_every_field(good);
        assert_int_equal(job_record_save(good), 0);

        json_object *o = job_record_to_json(good);
        assert_non_null(text = strdup(json_object_to_json_string(o)));
        json_object_put(o);

        /* Each of these must be skipped (with a warning) while "good" still loads. */
        write_text(d->jobs, "garbage.json", "this is not JSON");
        write_text(d->jobs, "empty.json", "");
        write_text(d->jobs, "array.json", "[]");
        text[strlen(text) / 2] = '\0';
        write_text(d->jobs, "truncated.json", text);
        /* A copy under another name would be saved back as a second file. */
        o = job_record_to_json(good);
        write_text(d->jobs, "renamed.json", json_object_to_json_string(o));
        write_text(d->jobs, "good-copy.json", json_object_to_json_string(o));
        json_object_put(o);
        write_text(d->jobs, "bad-state.json",
                   "{\"id\":\"bad-state\",\"job\":{\"id\":\"bad-state\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                   "\"state\":\"EXPLODED\",\"created_at\":\"2026-11-21T10:00:03.512Z\"}");
        write_text(d->jobs, "bad-job.json",
                   "{\"id\":\"bad-job\",\"job\":{\"id\":\"bad-job\",\"target_version\":\"V\",\"package\":{\"url\":\"http://h/\\\"\"}},"
                   "\"state\":\"QUEUED\",\"created_at\":\"2026-11-21T10:00:03.512Z\"}");
        write_text(d->jobs, "bad-time.json",
                   "{\"id\":\"bad-time\",\"job\":{\"id\":\"bad-time\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                   "\"state\":\"QUEUED\",\"created_at\":\"yesterday\"}");
        /* Not records at all: ignored without a look. */
        write_text(d->jobs, ".good.json.Ab12Cd", "half-written");
        write_text(d->jobs, "notes.txt", "hello");

        /* A minimal record (only the required keys) is fine. */
        write_text(d->jobs, "minimal.json",
                   "{\"id\":\"minimal\",\"job\":{\"id\":\"minimal\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                   "\"state\":\"QUEUED\",\"created_at\":\"2000-01-01T00:00:00Z\"}");

        snprintf(path, sizeof(path), "%s/garbage.json", d->jobs);
        assert_int_equal(job_record_load(path, &rec), -EINVAL);
        assert_null(rec);
        snprintf(path, sizeof(path), "%s/renamed.json", d->jobs);
        assert_int_equal(job_record_load(path, &rec), -EINVAL);
        snprintf(path, sizeof(path), "%s/nonexistent.json", d->jobs);
        assert_int_equal(job_record_load(path, &rec), -ENOENT);
        assert_null(rec);

        /* Each unreadable file is reported (the manager moves it aside), not skipped. */
        assert_int_equal(load_all(d->jobs, &l, &n, &n_damaged), 0);
        assert_int_equal(n_damaged, 9);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->job->id, "minimal");
        assert_int_equal(l[0]->updated_at, l[0]->created_at);
        assert_int_equal(json_object_array_length(l[0]->history), 0);
        assert_string_equal(l[1]->job->id, "good");
        assert_int_equal(l[1]->module_error_code, 701);
        job_record_free_many(l);
}

/* "module_error.kind" is written and read with profile.h's module_error_kind table: every kind
 * (and "not known", null) survives a save and a load under its public name. */
static void test_module_error_kinds(void **state) {
        static const struct {
                int kind;
                int code;
                const char *meaning;
                const char *name;       /* in the JSON; NULL: null */
        } cases[] = {
                { MODULE_ERROR_FTP,           627, "Requested action not taken.",     "ftp" },    /* UC20 */
                { MODULE_ERROR_HTTP,          12,  "HTTP(S) download failed",         "http" },   /* BC26 */
                { MODULE_ERROR_UPDATE,        525, "Firmware upgrade failed",         "update" }, /* EP06 range */
                { _MODULE_ERROR_KIND_INVALID, 7,   NULL,                              NULL },
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(job_record_freep) JobRecord *rec = NULL, *back = NULL;
                char id[32];
                json_object *o, *me, *kind;

                snprintf(id, sizeof(id), "kind-%zu", i);
                rec = make_record(d->jobs, id);
                rec->has_module_error = true;
                rec->module_error_code = cases[i].code;
                rec->module_error_kind = cases[i].kind;
                assert_int_equal(free_and_strdup(&rec->module_error_meaning, cases[i].meaning), 0);
                assert_int_equal(job_record_save(rec), 0);

                o = job_record_to_json(rec);
                assert_non_null(o);
                assert_true(json_object_object_get_ex(o, "module_error", &me));
                assert_true(json_object_object_get_ex(me, "kind", &kind));
                if (cases[i].name) {
                        assert_string_equal(json_object_get_string(kind), cases[i].name);
                        assert_string_equal(json_object_get_string(kind), module_error_kind_to_string(cases[i].kind));
                } else
                        assert_null(kind);
                json_object_put(o);

                assert_int_equal(job_record_load(rec->path, &back), 0);
                assert_record_equal(rec, back);
        }

        /* A name the table does not know makes the record unreadable, not silently "unknown". */
        write_text(d->jobs, "bad-kind.json",
                   "{\"id\":\"bad-kind\",\"job\":{\"id\":\"bad-kind\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                   "\"state\":\"FAILED\",\"created_at\":\"2026-11-21T10:00:03.512Z\","
                   "\"module_error\":{\"code\":701,\"kind\":\"https\",\"meaning\":null}}");
        {
                JobRecord *rec = NULL;
                char path[256];

                snprintf(path, sizeof(path), "%s/bad-kind.json", d->jobs);
                assert_int_equal(job_record_load(path, &rec), -EINVAL);
                assert_null(rec);
        }
}

static void test_exists(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;

        assert_false(job_record_exists(d->jobs, "job-x"));
        rec = make_record(d->jobs, "job-x");
        assert_false(job_record_exists(d->jobs, "job-x"));
        assert_int_equal(job_record_save(rec), 0);
        assert_true(job_record_exists(d->jobs, "job-x"));
        assert_false(job_record_exists(d->jobs, "job-y"));
        assert_false(job_record_exists(d->jobs, "job-x.json"));
        assert_false(job_record_exists(d->jobs, "../jobs/job-x"));
        assert_false(job_record_exists(d->jobs, ""));
}

static void test_set_string(void **state) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(free_and_strdup(&s, "one"), 0);
        assert_string_equal(s, "one");
        /* The value may be the field itself. */
        assert_int_equal(free_and_strdup(&s, s), 0);
        assert_string_equal(s, "one");
        assert_int_equal(free_and_strdup(&s, NULL), 0);
        assert_null(s);
}


/* Issue 9 item 12: a babbling module makes one counted entry, and the history stays bounded with
 * its beginning and its end. */
static void test_history_coalesced_and_capped(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *loaded = NULL;
        json_object *last, *v;
        char detail[32];

        rec = make_record(d->jobs, "babble");
        rec->state = JOB_UPDATING;
        assert_int_equal(job_record_add_history(rec, "START, attempt 1"), 1);
        for (int i = 0; i < 1999; i++)
                assert_int_equal(job_record_add_history(rec, "START, attempt 1"), 0);
        assert_int_equal(json_object_array_length(rec->history), 2);
        last = json_object_array_get_idx(rec->history, 1);
        assert_true(json_object_object_get_ex(last, "repeated", &v));
        assert_int_equal(json_object_get_int64(v), 2000);
        assert_true(json_object_object_get_ex(last, "last", &v));

        /* Different entries: capped, the first ones and the newest kept, the rest counted. */
        for (int i = 0; i < 1000; i++) {
                snprintf(detail, sizeof detail, "event %d", i);
                assert_int_equal(job_record_add_history(rec, detail), 1);
        }
        assert_int_equal(json_object_array_length(rec->history), RECORD_HISTORY_MAX);
        assert_int_equal(rec->history_omitted, 2 + 1000 - RECORD_HISTORY_MAX);
        assert_string_equal(json_object_get_string(json_object_object_get(json_object_array_get_idx(rec->history, 0), "detail")),
                            "created");
        assert_string_equal(json_object_get_string(json_object_object_get(json_object_array_get_idx(rec->history,
                                                                                                   RECORD_HISTORY_MAX - 1), "detail")),
                            "event 999");

        /* Bounded on disk too, and it loads back the same. */
        assert_int_equal(job_record_save(rec), 0);
        assert_int_equal(job_record_load(rec->path, &loaded), 0);
        assert_int_equal(loaded->history_omitted, rec->history_omitted);
        assert_true(json_object_equal(loaded->history, rec->history));
}

static void test_attempts(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *loaded = NULL;
        json_object *status, *a;

        rec = make_record(d->jobs, "attempts");
        assert_int_equal(job_record_add_attempt(rec, 1, 505, "Package check failed"), 0);
        assert_int_equal(job_record_add_attempt(rec, 2, 0, NULL), 0);
        assert_int_equal(job_record_save(rec), 0);
        assert_int_equal(job_record_load(rec->path, &loaded), 0);
        assert_true(json_object_equal(loaded->attempts, rec->attempts));

        /* Every control plane's status carries them. */
        status = job_record_status_to_json(rec);
        assert_non_null(status);
        assert_true(json_object_object_get_ex(status, "attempts", &a));
        assert_int_equal(json_object_array_length(a), 2);
        assert_int_equal(json_object_get_int(json_object_object_get(json_object_array_get_idx(a, 0), "code")), 505);
        assert_false(json_object_object_get_ex(status, "phase", NULL));
        json_object_put(status);

        for (unsigned i = 3; i < 100; i++)
                assert_int_equal(job_record_add_attempt(rec, i, 520, NULL), 0);
        assert_int_equal(json_object_array_length(rec->attempts), RECORD_ATTEMPTS_MAX);
        assert_int_equal(rec->attempts_omitted, 99 - RECORD_ATTEMPTS_MAX);
}

/* Issue 9 item 1: whatever says AT+QFOTADL went out, it went out. */
static void test_contradictions_resume_on_the_safe_side(void **state) {
        static const char *const records[] = {
                /* QUEUED, but sent */
                "{\"id\":\"c1\",\"job\":{\"id\":\"c1\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                "\"state\":\"QUEUED\",\"qfotadl_sent\":true,\"created_at\":\"2026-11-21T10:00:03.512Z\"}",
                /* past PREFLIGHT in its phase, but "not sent" */
                "{\"id\":\"c2\",\"job\":{\"id\":\"c2\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                "\"state\":\"WAITING_FOR_MODEM\",\"phase\":\"update-ended\",\"last_end\":505,\"qfotadl_sent\":false,"
                "\"created_at\":\"2026-11-21T10:00:03.512Z\"}",
                /* written before "phase" existed: from the state, never from the history's text */
                "{\"id\":\"c3\",\"job\":{\"id\":\"c3\",\"target_version\":\"V\",\"package\":{\"url\":\"/x\"}},"
                "\"state\":\"PREFLIGHT\",\"qfotadl_sent\":true,\"created_at\":\"2026-11-21T10:00:03.512Z\","
                "\"history\":[{\"time\":\"2026-11-21T10:00:03.512Z\",\"state\":\"UPDATING\",\"detail\":\"HTTPEND,0\"}]}",
        };
        static const struct {
                DfotaPhase phase;
                int last_end;
        } want[] = {
                { DFOTA_PHASE_QFOTADL_SENT, -1  },
                { DFOTA_PHASE_UPDATE_ENDED, 505 },
                { DFOTA_PHASE_QFOTADL_SENT, -1  },
        };
        Dir *d = *state;

        (void) job_record_free(make_record(d->jobs, "mkdir")); /* creates the directory */
        for (size_t i = 0; i < ELEMENTSOF(records); i++) {
                _cleanup_(job_record_freep) JobRecord *rec = NULL;
                char name[32], path[256];

                snprintf(name, sizeof name, "c%zu.json", i + 1);
                write_text(d->jobs, name, records[i]);
                snprintf(path, sizeof path, "%s/%s", d->jobs, name);
                assert_int_equal(job_record_load(path, &rec), 0);
                assert_true(rec->qfotadl_sent);
                assert_int_equal(rec->phase, want[i].phase);
                assert_int_equal(rec->last_end, want[i].last_end);
        }
}

/* Issue 9 item 13: the epoch is a time, not null, and loads back. */
static void test_epoch(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *loaded = NULL;

        rec = make_record(d->jobs, "epoch");
        rec->created_at = 0;
        assert_int_equal(job_record_save(rec), 0);
        assert_int_equal(job_record_load(rec->path, &loaded), 0);
        assert_int_equal(loaded->created_at, 0);
}

/* Issue 9 items 10 and 12: a file that cannot be a record is reported, never read whole, and what
 * stands in for it keeps what can still be read. */
static void test_damaged(void **state) {
        Dir *d = *state;
        _cleanup_(job_record_freep) JobRecord *rec = NULL, *stand_in = NULL, *loaded = NULL;
        _cleanup_free_ char *aside = NULL;
        char path[256], fifo[256];
        int fd;

        rec = make_record(d->jobs, "hurt");
        assert_int_equal(free_and_strdup(&rec->control_plane, "mqtt"), 0);
        assert_int_equal(free_and_strdup(&rec->modem_port, "/dev/ttyUSB2"), 0);
        assert_int_equal(free_and_strdup(&rec->modem_imei, "861234567890123"), 0);
        rec->state = JOB_UPDATING;
        assert_int_equal(job_record_save(rec), 0);

        /* Damaged: a field it must have is gone, the rest still JSON. */
        {
                json_object *o = job_record_to_json(rec);

                json_object_object_del(o, "created_at");
                write_text(d->jobs, "hurt.json", json_object_to_json_string(o));
                json_object_put(o);
        }
        assert_int_equal(job_record_load(rec->path, &loaded), -EINVAL);
        assert_int_equal(job_record_set_aside(rec->path, &aside), 0);
        assert_int_equal(access(rec->path, F_OK), -1);
        snprintf(path, sizeof path, "%s.damaged", rec->path);
        assert_string_equal(aside, path);

        assert_int_equal(job_record_new_damaged(rec->path, "{\"control_plane\":\"mqtt\",\"modem\":{\"port\":\"/dev/ttyUSB2\",\"imei\":\"861234567890123\"}}",
                                                "created_at: missing", aside, &stand_in), 0);
        assert_int_equal(stand_in->state, JOB_FAILED);
        assert_true(stand_in->module_hold);
        assert_string_equal(stand_in->job->id, "hurt");
        assert_string_equal(stand_in->control_plane, "mqtt");
        assert_string_equal(stand_in->modem_port, "/dev/ttyUSB2");
        assert_string_equal(stand_in->modem_imei, "861234567890123");
        assert_non_null(strstr(stand_in->reason, "record damaged (created_at: missing)"));
        assert_int_equal(job_record_save(stand_in), 0);
        assert_int_equal(job_record_load(stand_in->path, &loaded), 0);
        assert_true(loaded->module_hold);

        /* An execution's file names its IMEI; garbage keeps nothing else. */
        job_record_free(stand_in);
        stand_in = NULL;
        snprintf(path, sizeof path, "%s/multi@861234567890124.json", d->jobs);
        assert_int_equal(job_record_new_damaged(path, "\x01\x02 not json", "not valid JSON", "x.damaged", &stand_in), 0);
        assert_string_equal(stand_in->job->id, "multi");
        assert_string_equal(stand_in->execution, "861234567890124");
        assert_string_equal(stand_in->modem_imei, "861234567890124");
        assert_null(stand_in->control_plane);

        /* A huge file and a FIFO: refused without being read (and without blocking). */
        snprintf(path, sizeof path, "%s/huge.json", d->jobs);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 200 * 1024 * 1024), 0);
        assert_int_equal(close(fd), 0);
        assert_int_equal(job_record_load(path, &loaded), -EINVAL);
        snprintf(fifo, sizeof fifo, "%s/fifo.json", d->jobs);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(job_record_load(fifo, &loaded), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timestamps),
                cmocka_unit_test_setup_teardown(test_new, setup, teardown),
                cmocka_unit_test_setup_teardown(test_new_rejects_bad_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_executions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rejected_document, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history, setup, teardown),
                cmocka_unit_test_setup_teardown(test_atomic_save, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_all_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_all_missing_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_skipped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_module_error_kinds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exists, setup, teardown),
                cmocka_unit_test(test_set_string),
                cmocka_unit_test_setup_teardown(test_history_coalesced_and_capped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attempts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_contradictions_resume_on_the_safe_side, setup, teardown),
                cmocka_unit_test_setup_teardown(test_epoch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
        };

        /* The skipped files are reported at warning level; that is part of what is tested, but
         * the output only needs to show them. */
        log_set_journal(false);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
