/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "escape.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "reason.h"
#include "record.h"
#include "state-file.h"

static const char *const dfota_phase_table[_DFOTA_PHASE_MAX] = {
        [DFOTA_PHASE_PREFLIGHT]    = "preflight",
        [DFOTA_PHASE_QFOTADL_SENT] = "qfotadl-sent",
        [DFOTA_PHASE_DOWNLOADING]  = "downloading",
        [DFOTA_PHASE_DOWNLOADED]   = "downloaded",
        [DFOTA_PHASE_UPDATING]     = "updating",
        [DFOTA_PHASE_UPDATE_ENDED] = "update-ended",
        [DFOTA_PHASE_VERIFYING]    = "verifying",
};

DEFINE_STRING_TABLE_LOOKUP(dfota_phase, DfotaPhase);

usec_t now_realtime(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* The record keeps milliseconds, so times are cut to milliseconds when taken: what is saved and
 * loaded back is then the same value as the one in memory. */
static usec_t now_realtime_msec(void) {
        return now_realtime() / USEC_PER_MSEC * USEC_PER_MSEC;
}

const char *format_timestamp_iso(usec_t t, char buf[static 32]) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;
        size_t n;

        if (t == USEC_INFINITY || !gmtime_r(&sec, &tm))
                return NULL;

        n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        if (n == 0 || snprintf(buf + n, 32 - n, ".%03uZ", (unsigned) (t / USEC_PER_MSEC % 1000)) >= (int) (32 - n))
                return NULL;

        return buf;
}

/* Accepts what format_timestamp_iso() writes, with 0 to 6 fractional digits. */
static int parse_timestamp_iso(const char *s, usec_t *ret) {
        struct tm tm = { 0 };
        const char *p;
        usec_t frac = 0, scale = USEC_PER_SEC;
        time_t sec;

        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;

        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (scale == 1)
                                return -EINVAL;
                        scale /= 10;
                        frac += (usec_t) (*p - '0') * scale;
                }
        }

        if (!streq(p, "Z"))
                return -EINVAL;

        sec = timegm(&tm);
        if (sec < 0)
                return -EINVAL;

        *ret = (usec_t) sec * USEC_PER_SEC + frac;
        return 0;
}

/* An execution's IMEI becomes part of its file name: digits only (AT+GSN gives 14-17 of them). */
static bool imei_is_file_name(const char *imei) {
        size_t n;

        if (isempty(imei))
                return false;
        n = strspn(imei, "0123456789");
        return imei[n] == '\0' && n <= 32;
}

int job_record_new(const char *dir, Job *job, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        int r;

        if (!job || !job_id_is_valid(job->id))
                return -EINVAL;

        r = mkdir_p(dir);
        if (r < 0)
                return r;

        rec = calloc(1, sizeof(JobRecord));
        if (!rec)
                return -ENOMEM;

        *rec = (JobRecord) {
                .state = JOB_QUEUED,
                .phase = DFOTA_PHASE_PREFLIGHT,
                .last_end = -1,
                .module_error_kind = _MODULE_ERROR_KIND_INVALID,
                .created_at = now_realtime_msec(),
        };
        rec->updated_at = rec->created_at;

        if (asprintf(&rec->path, "%s/%s.json", dir, job->id) < 0) {
                rec->path = NULL;
                return -ENOMEM;
        }

        rec->history = json_object_new_array();
        rec->attempts = json_object_new_array();
        if (!rec->history || !rec->attempts)
                return -ENOMEM;

        r = job_record_add_history(rec, "created");
        if (r < 0)
                return r;

        /* The job is the record's only now that nothing can fail any more. */
        rec->job = job;
        *ret = TAKE_PTR(rec);
        return 0;
}

/* Turns a new record into the execution on the module with this IMEI: "<dir>/<id>@<imei>.json". */
static int record_make_execution(JobRecord *rec, const char *dir, const char *imei) {
        free(rec->path);
        rec->path = NULL;
        if (asprintf(&rec->path, "%s/%s@%s.json", dir, rec->job->id, imei) < 0) {
                rec->path = NULL;
                return -ENOMEM;
        }
        free(rec->name);
        if (asprintf(&rec->name, "%s@%s", rec->job->id, imei) < 0) {
                rec->name = NULL;
                return -ENOMEM;
        }
        return free_and_strdup(&rec->execution, imei);
}

int job_record_new_execution(const char *dir, const Job *job, const char *imei, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(job_freep) Job *copy = NULL;
        int r;

        if (!job || !imei_is_file_name(imei))
                return -EINVAL;

        /* The document's own JSON form is what records persist and load: the copy is what a
         * restart would read back. */
        o = job_to_json(job);
        if (!o)
                return -ENOMEM;
        r = job_from_json(o, &copy, NULL);
        if (r < 0)
                return r;

        r = job_record_new(dir, copy, &rec);
        if (r < 0)
                return r;
        TAKE_PTR(copy);

        r = record_make_execution(rec, dir, imei);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(rec);
        return 0;
}

JobRecord *job_record_free(JobRecord *rec) {
        if (!rec)
                return NULL;

        free(rec->path);
        job_free(rec->job);
        free(rec->module_error_meaning);
        free(rec->revision_before);
        free(rec->revision_after);
        free(rec->reason);
        free(rec->modem_port);
        free(rec->modem_imei);
        free(rec->modem_model);
        free(rec->modem_family);
        free(rec->control_plane);
        json_object_put(rec->history);
        json_object_put(rec->attempts);
        free(rec->execution);
        json_object_put(rec->executions);
        free(rec->name);
        free(rec);
        return NULL;
}

void job_record_free_many(JobRecord **l) {
        if (!l)
                return;

        for (JobRecord **i = l; *i; i++)
                job_record_free(*i);
        free(l);
}

/* ---- to JSON ---- */

/* Takes v; NULL v means the allocation of v failed. */
static int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int json_add_null(json_object *o, const char *key) {
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

static int json_add_string_or_null(json_object *o, const char *key, const char *s) {
        return s ? json_add(o, key, json_object_new_string(s)) : json_add_null(o, key);
}

/* 0 ("never") is null. */
static int json_add_timestamp_or_null(json_object *o, const char *key, usec_t t) {
        char buf[32];

        if (t == 0)
                return json_add_null(o, key);
        if (!format_timestamp_iso(t, buf))
                return -ERANGE;
        return json_add(o, key, json_object_new_string(buf));
}

/* A time that must be there: the epoch too is a time ("1970-01-01T00:00:00.000Z"), not null. */
static int json_add_timestamp(json_object *o, const char *key, usec_t t) {
        char buf[32];

        if (!format_timestamp_iso(t, buf))
                return -ERANGE;
        return json_add(o, key, json_object_new_string(buf));
}

static json_object *module_error_to_json(const JobRecord *rec) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        o = json_object_new_object();
        if (!o ||
            json_add(o, "code", json_object_new_int(rec->module_error_code)) < 0 ||
            json_add_string_or_null(o, "kind", module_error_kind_to_string(rec->module_error_kind)) < 0 ||
            json_add_string_or_null(o, "meaning", rec->module_error_meaning) < 0)
                return NULL;

        return TAKE_PTR(o);
}

static json_object *modem_to_json(const JobRecord *rec) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        o = json_object_new_object();
        if (!o ||
            json_add_string_or_null(o, "port", rec->modem_port) < 0 ||
            json_add_string_or_null(o, "imei", rec->modem_imei) < 0 ||
            json_add_string_or_null(o, "model", rec->modem_model) < 0 ||
            json_add_string_or_null(o, "family", rec->modem_family) < 0)
                return NULL;

        return TAKE_PTR(o);
}

json_object *job_record_to_json(const JobRecord *rec) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        o = json_object_new_object();
        if (!o ||
            json_add(o, "id", json_object_new_string(rec->job->id)) < 0 ||
            json_add(o, "job", job_to_json(rec->job)) < 0 ||
            json_add(o, "state", json_object_new_string(strna(job_state_to_string(rec->state)))) < 0 ||
            json_add(o, "progress", json_object_new_int64(rec->progress)) < 0 ||
            json_add(o, "attempt", json_object_new_int64(rec->attempt)) < 0 ||
            json_add(o, "watchdog_resets", json_object_new_int64(rec->watchdog_resets)) < 0 ||
            (rec->has_module_error ? json_add(o, "module_error", module_error_to_json(rec)) : json_add_null(o, "module_error")) < 0 ||
            json_add_string_or_null(o, "revision_before", rec->revision_before) < 0 ||
            json_add_string_or_null(o, "revision_after", rec->revision_after) < 0 ||
            json_add_string_or_null(o, "reason", rec->reason) < 0 ||
            json_add(o, "modem", modem_to_json(rec)) < 0 ||
            json_add_string_or_null(o, "control_plane", rec->control_plane) < 0 ||
            json_add(o, "qfotadl_sent", json_object_new_boolean(rec->qfotadl_sent)) < 0 ||
            json_add_timestamp_or_null(o, "qfotadl_sent_at", rec->qfotadl_sent_at) < 0 ||
            json_add_string_or_null(o, "phase", dfota_phase_to_string(rec->phase)) < 0 ||
            (rec->last_end >= 0 ? json_add(o, "last_end", json_object_new_int(rec->last_end)) : json_add_null(o, "last_end")) < 0 ||
            json_add(o, "module_hold", json_object_new_boolean(rec->module_hold)) < 0 ||
            json_add(o, "attempts", rec->attempts ? json_object_get(rec->attempts) : json_object_new_array()) < 0 ||
            json_add(o, "attempts_omitted", json_object_new_int64(rec->attempts_omitted)) < 0 ||
            json_add_timestamp(o, "created_at", rec->created_at) < 0 ||
            json_add_timestamp(o, "updated_at", rec->updated_at) < 0 ||
            json_add(o, "history", rec->history ? json_object_get(rec->history) : json_object_new_array()) < 0 ||
            json_add(o, "history_omitted", json_object_new_int64(rec->history_omitted)) < 0 ||
            json_add_string_or_null(o, "execution", rec->execution) < 0 ||
            (rec->executions ? json_add(o, "executions", json_object_get(rec->executions)) : json_add_null(o, "executions")) < 0)
                return NULL;

        return TAKE_PTR(o);
}

json_object *job_record_status_to_json(const JobRecord *rec) {
        static const char *const internal[] = {
                "id", "job", "history", "history_omitted", "control_plane", "qfotadl_sent_at", "created_at", "execution",
                "phase", "last_end", "module_hold",
        };
        _cleanup_(json_object_putp) json_object *o = NULL;

        /* The record's own serialisation, less what only the daemon needs: one place decides how a
         * field looks, in the record and in every status update. */
        o = job_record_to_json(rec);
        if (!o)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(internal); i++)
                json_object_object_del(o, internal[i]);

        if (json_add(o, "job_id", json_object_new_string(rec->job->id)) < 0 ||
            json_add_string_or_null(o, "target_version", rec->job->target_version) < 0)
                return NULL;

        return TAKE_PTR(o);
}

/* Drops entries of a over max, the oldest after the first keep_first: the start of a story and its
 * end are what a reader needs. Returns how many were dropped. */
static unsigned json_array_cap(json_object *a, size_t max, size_t keep_first) {
        size_t n = json_object_array_length(a);

        if (n <= max)
                return 0;
        (void) json_object_array_del_idx(a, keep_first, n - max);
        return (unsigned) (n - max);
}

static const char *entry_string(json_object *e, const char *key) {
        json_object *v;

        return json_object_object_get_ex(e, key, &v) && json_object_is_type(v, json_type_string) ?
                json_object_get_string(v) : NULL;
}

int job_record_add_history(JobRecord *rec, const char *detail) {
        _cleanup_(json_object_putp) json_object *e = NULL;
        size_t n;

        if (!rec->history) {
                rec->history = json_object_new_array();
                if (!rec->history)
                        return -ENOMEM;
        }

        /* A module that repeats itself (a babbling START, the same URC again and again) makes one
         * entry that counts, not a record that grows with every line. */
        n = json_object_array_length(rec->history);
        if (n > 0) {
                json_object *last = json_object_array_get_idx(rec->history, n - 1), *v;

                if (streq_ptr(entry_string(last, "state"), job_state_to_string(rec->state)) &&
                    streq_ptr(entry_string(last, "detail"), detail)) {
                        int64_t repeated = json_object_object_get_ex(last, "repeated", &v) ? json_object_get_int64(v) : 1;

                        if (json_add(last, "repeated", json_object_new_int64(repeated + 1)) < 0 ||
                            json_add_timestamp(last, "last", now_realtime_msec()) < 0)
                                return -ENOMEM;
                        return 0;
                }
        }

        e = json_object_new_object();
        if (!e ||
            json_add_timestamp(e, "time", now_realtime_msec()) < 0 ||
            json_add_string_or_null(e, "state", job_state_to_string(rec->state)) < 0 ||
            json_add_string_or_null(e, "detail", detail) < 0)
                return -ENOMEM;

        if (json_object_array_add(rec->history, e) < 0)
                return -ENOMEM;
        TAKE_PTR(e);

        rec->history_omitted += json_array_cap(rec->history, RECORD_HISTORY_MAX, RECORD_HISTORY_KEEP_FIRST);
        return 1;
}

int job_record_add_attempt(JobRecord *rec, unsigned attempt, int code, const char *meaning) {
        _cleanup_(json_object_putp) json_object *e = NULL;

        if (!rec->attempts) {
                rec->attempts = json_object_new_array();
                if (!rec->attempts)
                        return -ENOMEM;
        }

        e = json_object_new_object();
        if (!e ||
            json_add(e, "attempt", json_object_new_int64(attempt)) < 0 ||
            json_add(e, "code", json_object_new_int(code)) < 0 ||
            json_add_string_or_null(e, "meaning", meaning) < 0 ||
            json_add_timestamp(e, "time", now_realtime_msec()) < 0)
                return -ENOMEM;

        if (json_object_array_add(rec->attempts, e) < 0)
                return -ENOMEM;
        TAKE_PTR(e);

        rec->attempts_omitted += json_array_cap(rec->attempts, RECORD_ATTEMPTS_MAX, RECORD_ATTEMPTS_KEEP_FIRST);
        return 0;
}

/* ---- save ---- */

static int record_save(JobRecord *rec, StateWriteFlags flags) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *text;

        rec->updated_at = now_realtime_msec();

        o = job_record_to_json(rec);
        if (!o)
                return -ENOMEM;

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;

        /* Mode 0600 (write_file_atomic()): a package URL may carry FTP credentials. */
        return state_file_write(rec->path, text, flags);
}

int job_record_save(JobRecord *rec) {
        return record_save(rec, STATE_WRITE_RETRY);
}

int job_record_save_durable(JobRecord *rec) {
        return record_save(rec, 0);
}

/* ---- load ---- */

#define record_reason(reterr, field, ...) reason_set(reterr, -EINVAL, field, __VA_ARGS__)

static int record_parse_string_or_null(json_object *v, const char *field, void *data, char **reterr) {
        const char *s;

        if (json_object_is_type(v, json_type_null))
                return free_and_strdup(data, NULL);

        if (!json_object_is_type(v, json_type_string))
                return record_reason(reterr, field, "must be a string or null");

        s = json_object_get_string(v);
        if (strlen(s) != (size_t) json_object_get_string_len(v))
                return record_reason(reterr, field, "contains a NUL character");

        return free_and_strdup(data, s);
}

static int record_parse_unsigned(json_object *v, const char *field, void *data, char **reterr) {
        int64_t i;

        if (!json_object_is_type(v, json_type_int))
                return record_reason(reterr, field, "must be an integer");

        i = json_object_get_int64(v);
        if (i < 0 || i > UINT_MAX)
                return record_reason(reterr, field, "out of range");

        *(unsigned *) data = (unsigned) i;
        return 0;
}

static int record_parse_percent(json_object *v, const char *field, void *data, char **reterr) {
        int r;

        r = record_parse_unsigned(v, field, data, reterr);
        if (r < 0)
                return r;
        if (*(unsigned *) data > 100)
                return record_reason(reterr, field, "must be 0..100");
        return 0;
}

static int record_parse_int(json_object *v, const char *field, void *data, char **reterr) {
        int64_t i;

        if (!json_object_is_type(v, json_type_int))
                return record_reason(reterr, field, "must be an integer");

        i = json_object_get_int64(v);
        if (i < INT_MIN || i > INT_MAX)
                return record_reason(reterr, field, "out of range");

        *(int *) data = (int) i;
        return 0;
}

static int record_parse_bool(json_object *v, const char *field, void *data, char **reterr) {
        if (!json_object_is_type(v, json_type_boolean))
                return record_reason(reterr, field, "must be true or false");

        *(bool *) data = json_object_get_boolean(v);
        return 0;
}

static int record_parse_timestamp(json_object *v, const char *field, void *data, char **reterr) {
        if (!json_object_is_type(v, json_type_string) || parse_timestamp_iso(json_object_get_string(v), data) < 0)
                return record_reason(reterr, field, "must be a UTC time like \"2026-11-21T10:00:03.512Z\"");
        return 0;
}

static int record_parse_timestamp_or_null(json_object *v, const char *field, void *data, char **reterr) {
        if (json_object_is_type(v, json_type_null)) {
                *(usec_t *) data = 0;
                return 0;
        }
        return record_parse_timestamp(v, field, data, reterr);
}

static int record_parse_state(json_object *v, const char *field, void *data, char **reterr) {
        JobState s = job_state_from_string(json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL);

        if (s < 0)
                return record_reason(reterr, field, "must be a job state such as \"QUEUED\"");

        *(JobState *) data = s;
        return 0;
}

/* A REJECTED record may hold a document that failed validation: the manager records it with
 * only the id, so that the rejection is reported and the id stays taken. A FAILED record that
 * stands in for a damaged one knows only the id too. Only the id is kept then. */
static int record_parse_rejected_job(json_object *v, Job **ret) {
        _cleanup_(job_freep) Job *j = NULL;
        json_object *id;

        if (!json_object_object_get_ex(v, "id", &id) ||
            !json_object_is_type(id, json_type_string) ||
            !job_id_is_valid(json_object_get_string(id)))
                return -EINVAL;

        j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        j->delivery = JOB_DELIVERY_MODEM;
        j->id = strdup(json_object_get_string(id));
        if (!j->id)
                return -ENOMEM;

        *ret = TAKE_PTR(j);
        return 0;
}

static int record_parse_job(json_object *v, const char *field, void *data, char **reterr) {
        _cleanup_free_ char *why = NULL;
        JobRecord *rec = data;
        Job *j = NULL;
        int r;

        r = job_from_json(v, &j, &why);
        if (r == -EINVAL && IN_SET(rec->state, JOB_REJECTED, JOB_FAILED))
                r = record_parse_rejected_job(v, &j);
        if (r < 0)
                return why ? record_reason(reterr, field, "%s", why) : r;

        job_free(rec->job);
        rec->job = j;
        return 0;
}

static int record_parse_phase(json_object *v, const char *field, void *data, char **reterr) {
        DfotaPhase p = dfota_phase_from_string(json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL);

        if (p < 0)
                return record_reason(reterr, field, "must be a DFOTA phase such as \"preflight\"");

        *(DfotaPhase *) data = p;
        return 0;
}

static int record_parse_last_end(json_object *v, const char *field, void *data, char **reterr) {
        int r;

        if (json_object_is_type(v, json_type_null)) {
                *(int *) data = -1;
                return 0;
        }

        r = record_parse_int(v, field, data, reterr);
        if (r < 0)
                return r;
        if (*(int *) data < 0)
                return record_reason(reterr, field, "must be an END code (>= 0) or null");
        return 0;
}

static int record_parse_attempts(json_object *v, const char *field, void *data, char **reterr) {
        json_object **attempts = data;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return record_reason(reterr, field, "must be an array");

        /* Kept as JSON like history, but checked: it goes into every status update. */
        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i), *a, *c, *t, *m;
                usec_t ignored;

                if (!json_object_is_type(e, json_type_object) ||
                    !json_object_object_get_ex(e, "attempt", &a) || !json_object_is_type(a, json_type_int) ||
                    !json_object_object_get_ex(e, "code", &c) || !json_object_is_type(c, json_type_int) ||
                    !json_object_object_get_ex(e, "time", &t) || !json_object_is_type(t, json_type_string) ||
                    parse_timestamp_iso(json_object_get_string(t), &ignored) < 0 ||
                    (json_object_object_get_ex(e, "meaning", &m) &&
                     !json_object_is_type(m, json_type_string) && !json_object_is_type(m, json_type_null)))
                        return record_reason(reterr, field, "entry %zu is not {\"attempt\": ..., \"code\": ..., \"time\": ...}", i);
        }

        json_object_put(*attempts);
        *attempts = json_object_get(v);
        return 0;
}

static int record_parse_module_error_kind(json_object *v, const char *field, void *data, char **reterr) {
        ModuleErrorKind k;

        /* null: saved while the kind was not known; the record must still load. */
        if (json_object_is_type(v, json_type_null)) {
                *(ModuleErrorKind *) data = _MODULE_ERROR_KIND_INVALID;
                return 0;
        }

        k = module_error_kind_from_string(json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL);
        if (k < 0)
                return record_reason(reterr, field, "must be \"ftp\", \"http\", \"update\" or null");

        *(ModuleErrorKind *) data = k;
        return 0;
}

static const JsonField module_error_fields[] = {
        { "code",    record_parse_int,               offsetof(JobRecord, module_error_code),    true  },
        { "kind",    record_parse_module_error_kind, offsetof(JobRecord, module_error_kind),    true  },
        { "meaning", record_parse_string_or_null,    offsetof(JobRecord, module_error_meaning), false },
};

static int record_parse_module_error(json_object *v, const char *field, void *data, char **reterr) {
        JobRecord *rec = data;
        int r;

        if (json_object_is_type(v, json_type_null)) {
                rec->has_module_error = false;
                return 0;
        }

        r = json_dispatch_table(v, field, module_error_fields, ELEMENTSOF(module_error_fields), JSON_DISPATCH_ALLOW_UNKNOWN, rec, reterr);
        if (r < 0)
                return r;

        rec->has_module_error = true;
        return 0;
}

static const JsonField modem_fields[] = {
        { "port",   record_parse_string_or_null, offsetof(JobRecord, modem_port),   false },
        { "imei",   record_parse_string_or_null, offsetof(JobRecord, modem_imei),   false },
        { "model",  record_parse_string_or_null, offsetof(JobRecord, modem_model),  false },
        { "family", record_parse_string_or_null, offsetof(JobRecord, modem_family), false },
};

static int record_parse_modem(json_object *v, const char *field, void *data, char **reterr) {
        return json_dispatch_table(v, field, modem_fields, ELEMENTSOF(modem_fields), JSON_DISPATCH_ALLOW_UNKNOWN, data, reterr);
}

static int record_parse_history(json_object *v, const char *field, void *data, char **reterr) {
        json_object **history = data;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return record_reason(reterr, field, "must be an array");

        /* Kept as JSON, but checked, so that what is reported from it later is well-formed. */
        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i), *t, *s, *d;
                usec_t ignored;

                if (!json_object_is_type(e, json_type_object) ||
                    !json_object_object_get_ex(e, "time", &t) ||
                    !json_object_is_type(t, json_type_string) ||
                    parse_timestamp_iso(json_object_get_string(t), &ignored) < 0 ||
                    !json_object_object_get_ex(e, "state", &s) ||
                    !json_object_is_type(s, json_type_string) ||
                    job_state_from_string(json_object_get_string(s)) < 0 ||
                    (json_object_object_get_ex(e, "detail", &d) &&
                     !json_object_is_type(d, json_type_string) && !json_object_is_type(d, json_type_null)))
                        return record_reason(reterr, field, "entry %zu is not {\"time\": ..., \"state\": ..., \"detail\": ...}", i);
        }

        json_object_put(*history);
        *history = json_object_get(v);
        return 0;
}

static int record_parse_execution(json_object *v, const char *field, void *data, char **reterr) {
        if (json_object_is_type(v, json_type_null))
                return free_and_strdup(data, NULL);

        if (!json_object_is_type(v, json_type_string) || !imei_is_file_name(json_object_get_string(v)))
                return record_reason(reterr, field, "must be an IMEI (digits) or null");

        return free_and_strdup(data, json_object_get_string(v));
}

static int record_parse_executions(json_object *v, const char *field, void *data, char **reterr) {
        json_object **executions = data;
        size_t n;

        if (json_object_is_type(v, json_type_null)) {
                json_object_put(*executions);
                *executions = NULL;
                return 0;
        }

        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
                return record_reason(reterr, field, "must be a non-empty array or null");

        /* Kept as JSON like history, but checked: the manager reads the entries back. Which file
         * "record" names is checked once the id is known (record_parse_text()). */
        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i), *imei, *rec, *s;

                if (!json_object_is_type(e, json_type_object) ||
                    !json_object_object_get_ex(e, "imei", &imei) ||
                    !json_object_is_type(imei, json_type_string) ||
                    !imei_is_file_name(json_object_get_string(imei)) ||
                    !json_object_object_get_ex(e, "record", &rec) ||
                    !json_object_is_type(rec, json_type_string) ||
                    !json_object_object_get_ex(e, "state", &s) ||
                    !json_object_is_type(s, json_type_string) ||
                    job_state_from_string(json_object_get_string(s)) < 0)
                        return record_reason(reterr, field, "entry %zu is not {\"imei\": ..., \"record\": ..., \"state\": ...}", i);
        }

        json_object_put(*executions);
        *executions = json_object_get(v);
        return 0;
}

static const JsonField record_fields[] = {
        /* state first: how "job" is read depends on it. */
        { "state",           record_parse_state,              offsetof(JobRecord, state),           true  },
        { "job",             record_parse_job,                0,                                    true  },
        { "progress",        record_parse_percent,            offsetof(JobRecord, progress),        false },
        { "attempt",         record_parse_unsigned,           offsetof(JobRecord, attempt),         false },
        { "watchdog_resets", record_parse_unsigned,           offsetof(JobRecord, watchdog_resets), false },
        { "module_error",    record_parse_module_error,       0,                                    false },
        { "revision_before", record_parse_string_or_null,     offsetof(JobRecord, revision_before), false },
        { "revision_after",  record_parse_string_or_null,     offsetof(JobRecord, revision_after),  false },
        { "reason",          record_parse_string_or_null,     offsetof(JobRecord, reason),          false },
        { "modem",           record_parse_modem,              0,                                    false },
        { "control_plane",   record_parse_string_or_null,     offsetof(JobRecord, control_plane),   false },
        { "qfotadl_sent",    record_parse_bool,               offsetof(JobRecord, qfotadl_sent),    false },
        { "qfotadl_sent_at", record_parse_timestamp_or_null,  offsetof(JobRecord, qfotadl_sent_at), false },
        { "phase",           record_parse_phase,              offsetof(JobRecord, phase),           false },
        { "last_end",        record_parse_last_end,           offsetof(JobRecord, last_end),        false },
        { "module_hold",     record_parse_bool,               offsetof(JobRecord, module_hold),     false },
        { "attempts",        record_parse_attempts,           offsetof(JobRecord, attempts),        false },
        { "attempts_omitted", record_parse_unsigned,          offsetof(JobRecord, attempts_omitted), false },
        { "history_omitted", record_parse_unsigned,           offsetof(JobRecord, history_omitted), false },
        { "created_at",      record_parse_timestamp,          offsetof(JobRecord, created_at),      true  },
        { "updated_at",      record_parse_timestamp,          offsetof(JobRecord, updated_at),      false },
        { "history",         record_parse_history,            offsetof(JobRecord, history),         false },
        { "execution",       record_parse_execution,          offsetof(JobRecord, execution),       false },
        { "executions",      record_parse_executions,         offsetof(JobRecord, executions),      false },
};

static int record_parse_text(const char *path, const char *text, JobRecord *rec, char **reterr) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *id, *base, *rest;
        json_object *v;
        int r;

        r = json_parse_strict(text, strlen(text), NULL, &o, reterr);
        if (r < 0)
                return r;

        r = json_dispatch_table(o, NULL, record_fields, ELEMENTSOF(record_fields), JSON_DISPATCH_ALLOW_UNKNOWN, rec, reterr);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(o, "id", &v) || !json_object_is_type(v, json_type_string))
                return record_reason(reterr, "id", "missing");
        id = json_object_get_string(v);
        if (!streq(id, rec->job->id)) {
                _cleanup_free_ char *shown = escape_foreign_str(id, ESCAPE_KEY_MAX);

                return record_reason(reterr, "id", "\"%s\" is not the job's id \"%s\"", strna(shown), rec->job->id);
        }

        if (rec->execution && rec->executions)
                return record_reason(reterr, "executions", "an execution record cannot have executions");

        /* Saving writes to "<id>.json" (an execution to "<id>@<imei>.json"): a record under another
         * name would be saved as a second file. */
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        rest = startswith(base, id);
        if (rest && rec->execution) {
                rest = rest[0] == '@' ? startswith(rest + 1, rec->execution) : NULL;
                if (asprintf(&rec->name, "%s@%s", id, rec->execution) < 0) {
                        rec->name = NULL;
                        return -ENOMEM;
                }
        }
        if (!rest || !streq(rest, ".json"))
                return record_reason(reterr, "id", "\"%s\"%s%s does not match the file name", id,
                                     rec->execution ? " with execution " : "", strempty(rec->execution));

        /* The parent names its executions' files: only "<id>@<imei>.json" next to it. */
        for (size_t i = 0; rec->executions && i < json_object_array_length(rec->executions); i++) {
                json_object *e = json_object_array_get_idx(rec->executions, i), *imei, *file;
                _cleanup_free_ char *expected = NULL;

                (void) json_object_object_get_ex(e, "imei", &imei);
                (void) json_object_object_get_ex(e, "record", &file);
                if (asprintf(&expected, "%s@%s.json", id, json_object_get_string(imei)) < 0)
                        return -ENOMEM;
                if (!streq(json_object_get_string(file), expected))
                        return record_reason(reterr, "executions", "entry %zu must name \"%s\"", i, expected);
        }

        return 0;
}

/* The phase a record written before "phase" existed is in: from its typed fields only. */
static DfotaPhase record_phase_from_state(const JobRecord *rec) {
        switch (rec->state) {
        case JOB_QUEUED:
        case JOB_PREFLIGHT:
                return rec->qfotadl_sent ? DFOTA_PHASE_QFOTADL_SENT : DFOTA_PHASE_PREFLIGHT;
        case JOB_DOWNLOADING:
                return DFOTA_PHASE_DOWNLOADING;
        case JOB_DOWNLOADED:
        case JOB_WAITING_FOR_MODEM:
                /* Rebooting somewhere after the download: the first URC after the port's return,
                 * or the revision, tells where. */
                return rec->qfotadl_sent ? DFOTA_PHASE_DOWNLOADED : DFOTA_PHASE_PREFLIGHT;
        case JOB_UPDATING:
                return DFOTA_PHASE_UPDATING;
        case JOB_VERIFYING:
        case JOB_SUCCEEDED:
        case JOB_FAILED:
        case JOB_REJECTED:
        case JOB_CANCELED:
                return rec->qfotadl_sent ? DFOTA_PHASE_VERIFYING : DFOTA_PHASE_PREFLIGHT;
        case _JOB_STATE_MAX:
        case _JOB_STATE_INVALID:
                break;
        }
        return DFOTA_PHASE_PREFLIGHT;
}

static int record_load(const char *path, JobRecord **ret, char **ret_text, char **reterr) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        bool has_phase;
        int r;

        r = state_file_read(path, RECORD_FILE_MAX, &text, &size);
        if (r == -ENOENT || r == -ENOMEM)
                return r;
        if (r < 0) {
                char buf[64];

                return reason_set(reterr, -EINVAL, NULL, "the file %s", read_error_to_string(r, RECORD_FILE_MAX, buf));
        }
        if (memchr(text, '\0', size)) {
                if (ret_text)
                        *ret_text = TAKE_PTR(text);
                return reason_set(reterr, -EINVAL, NULL, "the file contains a NUL byte, it is not a job record");
        }

        rec = calloc(1, sizeof(JobRecord));
        if (!rec)
                return -ENOMEM;
        rec->module_error_kind = _MODULE_ERROR_KIND_INVALID;
        rec->last_end = -1;
        rec->phase = _DFOTA_PHASE_INVALID;

        rec->path = strdup(path);
        if (!rec->path)
                return -ENOMEM;

        r = record_parse_text(path, text, rec, reterr);
        if (r < 0) {
                if (ret_text)
                        *ret_text = TAKE_PTR(text);
                return r == -ENOMEM ? r : -EINVAL;
        }

        if (!rec->history)
                rec->history = json_object_new_array();
        if (!rec->attempts)
                rec->attempts = json_object_new_array();
        if (!rec->history || !rec->attempts)
                return -ENOMEM;
        if (rec->updated_at == 0)
                rec->updated_at = rec->created_at;

        has_phase = rec->phase >= 0;
        if (!has_phase)
                rec->phase = record_phase_from_state(rec);
        /* A record that contradicts itself resumes on the safe side: whatever says AT+QFOTADL
         * went out, it went out (it is never sent twice). */
        if (rec->phase > DFOTA_PHASE_PREFLIGHT)
                rec->qfotadl_sent = true;
        else if (rec->qfotadl_sent)
                rec->phase = DFOTA_PHASE_QFOTADL_SENT;

        *ret = TAKE_PTR(rec);
        return 0;
}

int job_record_load(const char *path, JobRecord **ret) {
        _cleanup_free_ char *reason = NULL;
        int r;

        r = record_load(path, ret, NULL, &reason);
        if (r == -EINVAL)
                log_warning("%s: malformed job record: %s", path, strna(reason));
        return r;
}

static int job_record_compare(const void *a, const void *b) {
        const JobRecord *x = *(JobRecord *const *) a, *y = *(JobRecord *const *) b;

        if (x->created_at != y->created_at)
                return x->created_at < y->created_at ? -1 : 1;

        /* Same millisecond: still one order, the same on every start (a job's executions share
         * its id). */
        return strcmp(x->job->id, y->job->id) ?: strcmp(x->path, y->path);
}

void job_record_sort(JobRecord **l, size_t n) {
        if (n > 1)
                qsort(l, n, sizeof(JobRecord *), job_record_compare);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

int job_record_foreach(const char *dir, JobRecordVisitor cb, void *userdata) {
        _cleanup_(closedirp) DIR *d = NULL;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;

        for (;;) {
                _cleanup_(job_record_freep) JobRecord *rec = NULL;
                _cleanup_free_ char *path = NULL, *why = NULL;
                struct dirent *de;
                const char *suffix;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno != 0 ? -errno : 0;

                /* Hidden files are our temporary files (see write_file_atomic()). */
                suffix = strrchr(de->d_name, '.');
                if (de->d_name[0] == '.' || !suffix || !streq(suffix, ".json"))
                        continue;

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;

                r = record_load(path, &rec, NULL, &why);
                if (r == -ENOENT)
                        continue; /* gone meanwhile */
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && !why) {
                        why = strdup("cannot be read");
                        if (!why)
                                return -ENOMEM;
                }

                r = cb(path, &rec, r < 0 ? why : NULL, userdata);
                if (r < 0)
                        return r;
        }
}

int job_record_set_aside(const char *path, char **ret_path) {
        _cleanup_free_ char *aside = NULL;

        for (unsigned i = 1; i < 100; i++) {
                free(aside);
                if ((i == 1 ? asprintf(&aside, "%s.damaged", path) : asprintf(&aside, "%s.damaged-%u", path, i)) < 0) {
                        aside = NULL;
                        return -ENOMEM;
                }
                if (access(aside, F_OK) < 0 && errno == ENOENT)
                        break;
        }

        if (rename(path, aside) < 0)
                return -errno;

        if (ret_path)
                *ret_path = TAKE_PTR(aside);
        return 0;
}

/* "<key>": "<value>" found by its text in what is left of a record that is no JSON any more (cut
 * short by a crash of the file system, say): the value if it is a plain string of at most max
 * bytes, else NULL. */
static char *lexical_string_value(const char *text, const char *key, size_t max) {
        _cleanup_free_ char *needle = NULL;
        const char *p, *end;

        if (asprintf(&needle, "\"%s\"", key) < 0)
                return NULL;
        p = strstr(text, needle);
        if (!p)
                return NULL;
        p += strlen(needle);
        p += strspn(p, " \t\r\n");
        if (*p++ != ':')
                return NULL;
        p += strspn(p, " \t\r\n");
        if (*p++ != '"')
                return NULL;
        end = strchr(p, '"');
        if (!end || (size_t) (end - p) > max || memchr(p, '\\', (size_t) (end - p)))
                return NULL;
        return strndup(p, (size_t) (end - p));
}

/* What can still be read of a damaged record; every value checked as if it came from outside. */
static void record_salvage(JobRecord *rec, const char *text) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *plane = NULL, *port = NULL, *imei = NULL;
        json_object *modem = NULL;

        if (!text)
                return;
        o = json_tokener_parse(text);
        if (o && json_object_is_type(o, json_type_object)) {
                plane = strdup(strempty(entry_string(o, "control_plane")));
                if (json_object_object_get_ex(o, "modem", &modem) && json_object_is_type(modem, json_type_object)) {
                        port = strdup(strempty(entry_string(modem, "port")));
                        imei = strdup(strempty(entry_string(modem, "imei")));
                }
        } else {
                plane = lexical_string_value(text, "control_plane", 32);
                port = lexical_string_value(text, "port", 255);
                imei = lexical_string_value(text, "imei", 32);
        }

        if (plane && !isempty(plane) && strspn(plane, "abcdefghijklmnopqrstuvwxyz-") == strlen(plane) && strlen(plane) <= 32)
                (void) free_and_strdup(&rec->control_plane, plane);
        if (port && port[0] == '/' && text_is_safe(port, strlen(port), 255))
                (void) free_and_strdup(&rec->modem_port, port);
        if (imei && imei_is_file_name(imei))
                (void) free_and_strdup(&rec->modem_imei, imei);
}

int job_record_new_damaged(const char *path, const char *text, const char *why, const char *aside, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *dir = NULL, *stem = NULL, *reason = NULL;
        Job *job;
        const char *base, *at;
        int r;

        base = strrchr(path, '/');
        dir = base ? strndup(path, (size_t) (base - path)) : strdup(".");
        base = base ? base + 1 : path;
        stem = strndup(base, strlen(base) - (strlen(base) > 5 && streq(base + strlen(base) - 5, ".json") ? 5 : 0));
        if (!dir || !stem)
                return -ENOMEM;

        /* "<id>@<imei>": an execution of a job on several modules. */
        at = strchr(stem, '@');

        job = calloc(1, sizeof(Job));
        if (!job)
                return -ENOMEM;
        job->delivery = JOB_DELIVERY_MODEM;
        job->id = strndup(stem, at ? (size_t) (at - stem) : strlen(stem));
        if (!job->id) {
                job_free(job);
                return -ENOMEM;
        }
        if (!job_id_is_valid(job->id)) {
                /* Not a name we would have written: made one, so that it can be saved. */
                for (char *c = job->id; *c; c++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *c))
                                *c = '_';
                if (isempty(job->id) || strlen(job->id) > JOB_ID_MAX) {
                        free(job->id);
                        job->id = strdup("damaged");
                        if (!job->id) {
                                job_free(job);
                                return -ENOMEM;
                        }
                }
        }

        r = job_record_new(dir, job, &rec);
        if (r < 0) {
                job_free(job);
                return r;
        }
        if (at && imei_is_file_name(at + 1)) {
                r = record_make_execution(rec, dir, at + 1);
                if (r < 0)
                        return r;
        }

        record_salvage(rec, text);
        if (at && imei_is_file_name(at + 1))
                (void) free_and_strdup(&rec->modem_imei, at + 1);

        if (asprintf(&reason, "record damaged (%s); moved aside to %s", why, aside) < 0)
                return -ENOMEM;

        rec->state = JOB_FAILED;
        rec->phase = DFOTA_PHASE_VERIFYING;
        rec->module_hold = true;
        rec->reason = TAKE_PTR(reason);
        r = job_record_add_history(rec, rec->reason);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(rec);
        return 0;
}

bool job_record_exists(const char *dir, const char *id) {
        _cleanup_free_ char *path = NULL, *pruned = NULL;

        if (!job_id_is_valid(id))
                return false;

        if (asprintf(&path, "%s/%s.json", dir, id) < 0 || asprintf(&pruned, "%s/%s.pruned", dir, id) < 0)
                return false;

        return state_file_exists(path) || access(pruned, F_OK) >= 0;
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The job id a file in the records directory belongs to: "<id>.json", "<id>@<digits>.json",
 * "<id>.json.execution-<n>". Returns the id's length, or 0 for anything else. */
static size_t record_file_id_length(const char *name) {
        const char *at = strchr(name, '@'), *dot = strstr(name, ".json");

        if (at && (!dot || at < dot)) {
                size_t digits = strspn(at + 1, "0123456789");

                return digits > 0 && streq(at + 1 + digits, ".json") ? (size_t) (at - name) : 0;
        }
        if (!dot)
                return 0;
        if (streq(dot, ".json") || startswith(dot, ".json.execution-"))
                return (size_t) (dot - name);
        return 0;
}

int job_record_prune(const char *dir, char **ids, size_t n_ids) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r = 0;

        /* The tombstones first: a crash in between must not free an id. */
        for (size_t i = 0; i < n_ids; i++) {
                _cleanup_free_ char *tombstone = NULL;
                int fd;

                if (!job_id_is_valid(ids[i]))
                        return -EINVAL;
                if (asprintf(&tombstone, "%s/%s.pruned", dir, ids[i]) < 0)
                        return -ENOMEM;
                fd = open(tombstone, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0)
                        return -errno;
                (void) close(fd);
        }

        /* One pass over the directory for all of them: the files of an id are found by name. */
        qsort(ids, n_ids, sizeof(char *), strcmp_ptr);
        d = opendir(dir);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d)); ) {
                _cleanup_free_ char *id = NULL, *path = NULL;
                size_t len = record_file_id_length(de->d_name);
                const char *key;
                int k;

                if (len == 0 || de->d_name[0] == '.')
                        continue;
                id = strndup(de->d_name, len);
                if (!id)
                        return -ENOMEM;
                key = id;
                if (!bsearch(&key, ids, n_ids, sizeof(char *), strcmp_ptr))
                        continue;

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                k = state_file_remove(path);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
