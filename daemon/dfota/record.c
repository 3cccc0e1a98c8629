/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "reason.h"
#include "record.h"

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

static bool job_id_is_file_name(const char *id) {
        size_t n;

        /* The id becomes a file name: the job document's rule, checked again because a Job may be
         * built without job_from_json(). */
        if (isempty(id))
                return false;
        n = strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
        return id[n] == '\0' && n <= JOB_ID_MAX;
}

/* An execution's IMEI becomes part of its file name: digits only (AT+GSN gives 14-17 of them). */
static bool imei_is_file_name(const char *imei) {
        size_t n;

        if (isempty(imei))
                return false;
        n = strspn(imei, "0123456789");
        return imei[n] == '\0' && n <= 32;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        if (isempty(path))
                return -EINVAL;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;

                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;

                if (c == '\0')
                        return 0;
        }
}

int job_record_new(const char *dir, Job *job, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_(job_freep) Job *j = job;
        int r;

        if (!j || !job_id_is_file_name(j->id))
                return -EINVAL;

        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;

        rec = calloc(1, sizeof(JobRecord));
        if (!rec)
                return -ENOMEM;

        *rec = (JobRecord) {
                .state = JOB_QUEUED,
                .module_error_kind = _MODULE_ERROR_KIND_INVALID,
                .created_at = now_realtime_msec(),
        };
        rec->updated_at = rec->created_at;

        if (asprintf(&rec->path, "%s/%s.json", dir, j->id) < 0) {
                rec->path = NULL;
                return -ENOMEM;
        }
        rec->job = TAKE_PTR(j);

        rec->history = json_object_new_array();
        if (!rec->history)
                return -ENOMEM;

        r = job_record_add_history(rec, "created");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(rec);
        return 0;
}

int job_record_new_execution(const char *dir, const Job *job, const char *imei, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        Job *copy = NULL;
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

        free(rec->path);
        rec->path = NULL;
        if (asprintf(&rec->path, "%s/%s@%s.json", dir, rec->job->id, imei) < 0) {
                rec->path = NULL;
                return -ENOMEM;
        }
        if (asprintf(&rec->name, "%s@%s", rec->job->id, imei) < 0) {
                rec->name = NULL;
                return -ENOMEM;
        }
        r = free_and_strdup(&rec->execution, imei);
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
            json_add_timestamp_or_null(o, "created_at", rec->created_at) < 0 ||
            json_add_timestamp_or_null(o, "updated_at", rec->updated_at) < 0 ||
            json_add(o, "history", rec->history ? json_object_get(rec->history) : json_object_new_array()) < 0 ||
            json_add_string_or_null(o, "execution", rec->execution) < 0 ||
            (rec->executions ? json_add(o, "executions", json_object_get(rec->executions)) : json_add_null(o, "executions")) < 0)
                return NULL;

        return TAKE_PTR(o);
}

json_object *job_record_status_to_json(const JobRecord *rec) {
        static const char *const internal[] = { "id", "job", "history", "control_plane", "qfotadl_sent_at", "created_at", "execution" };
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

int job_record_add_history(JobRecord *rec, const char *detail) {
        _cleanup_(json_object_putp) json_object *e = NULL;

        if (!rec->history) {
                rec->history = json_object_new_array();
                if (!rec->history)
                        return -ENOMEM;
        }

        e = json_object_new_object();
        if (!e ||
            json_add_timestamp_or_null(e, "time", now_realtime_msec()) < 0 ||
            json_add_string_or_null(e, "state", job_state_to_string(rec->state)) < 0 ||
            json_add_string_or_null(e, "detail", detail) < 0)
                return -ENOMEM;

        if (json_object_array_add(rec->history, e) < 0)
                return -ENOMEM;
        TAKE_PTR(e);

        return 0;
}

/* ---- save ---- */

int job_record_save(JobRecord *rec) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *text;

        rec->updated_at = now_realtime_msec();

        o = job_record_to_json(rec);
        if (!o)
                return -ENOMEM;

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;

        /* Mode 0600: a package URL may carry FTP credentials. */
        return write_file_atomic(rec->path, text);
}

/* ---- load ---- */

#define record_reason(reterr, field, ...) reason_set(reterr, -EINVAL, field, __VA_ARGS__)

typedef int (*RecordFieldParser)(json_object *v, const char *field, void *data, char **reterr);

typedef struct RecordField {
        const char *key;
        RecordFieldParser parse;
        size_t offset;
        bool required;
} RecordField;

static int record_parse_fields(
                json_object *o,
                const char *prefix,
                const RecordField *table,
                size_t n_table,
                JobRecord *rec,
                char **reterr) {

        if (!json_object_is_type(o, json_type_object))
                return record_reason(reterr, prefix, "must be an object");

        /* Walks the table, not the object: keys a newer dfotad added are ignored, so that a
         * downgrade still resumes the jobs it finds. */
        for (size_t i = 0; i < n_table; i++) {
                _cleanup_free_ char *field = NULL;
                json_object *v;
                int r;

                if (prefix ? asprintf(&field, "%s.%s", prefix, table[i].key) < 0 : !(field = strdup(table[i].key)))
                        return -ENOMEM;

                if (!json_object_object_get_ex(o, table[i].key, &v)) {
                        if (table[i].required)
                                return record_reason(reterr, field, "missing");
                        continue;
                }

                r = table[i].parse(v, field, (uint8_t *) rec + table[i].offset, reterr);
                if (r < 0)
                        return r;
        }

        return 0;
}

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
 * only the id, so that the rejection is reported and the id stays taken. Only the id is kept then. */
static int record_parse_rejected_job(json_object *v, Job **ret) {
        _cleanup_(job_freep) Job *j = NULL;
        json_object *id;

        if (!json_object_object_get_ex(v, "id", &id) ||
            !json_object_is_type(id, json_type_string) ||
            !job_id_is_file_name(json_object_get_string(id)))
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
        if (r == -EINVAL && rec->state == JOB_REJECTED)
                r = record_parse_rejected_job(v, &j);
        if (r < 0)
                return why ? record_reason(reterr, field, "%s", why) : r;

        job_free(rec->job);
        rec->job = j;
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

static const RecordField module_error_fields[] = {
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

        r = record_parse_fields(v, field, module_error_fields, ELEMENTSOF(module_error_fields), rec, reterr);
        if (r < 0)
                return r;

        rec->has_module_error = true;
        return 0;
}

static const RecordField modem_fields[] = {
        { "port",   record_parse_string_or_null, offsetof(JobRecord, modem_port),   false },
        { "imei",   record_parse_string_or_null, offsetof(JobRecord, modem_imei),   false },
        { "model",  record_parse_string_or_null, offsetof(JobRecord, modem_model),  false },
        { "family", record_parse_string_or_null, offsetof(JobRecord, modem_family), false },
};

static int record_parse_modem(json_object *v, const char *field, void *data, char **reterr) {
        return record_parse_fields(v, field, modem_fields, ELEMENTSOF(modem_fields), data, reterr);
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

static const RecordField record_fields[] = {
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

        r = record_parse_fields(o, NULL, record_fields, ELEMENTSOF(record_fields), rec, reterr);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(o, "id", &v) || !json_object_is_type(v, json_type_string))
                return record_reason(reterr, "id", "missing");
        id = json_object_get_string(v);
        if (!streq(id, rec->job->id))
                return record_reason(reterr, "id", "\"%s\" is not the job's id \"%s\"", id, rec->job->id);

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

int job_record_load(const char *path, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *text = NULL, *reason = NULL;
        int r;

        r = read_text_file(path, &text);
        if (r == -EBADMSG) {
                log_warning("%s: contains a NUL byte, not a job record.", path);
                return -EINVAL;
        }
        if (r < 0)
                return r;

        rec = calloc(1, sizeof(JobRecord));
        if (!rec)
                return -ENOMEM;
        rec->module_error_kind = _MODULE_ERROR_KIND_INVALID;

        rec->path = strdup(path);
        if (!rec->path)
                return -ENOMEM;

        r = record_parse_text(path, text, rec, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning("%s: malformed job record: %s", path, strna(reason));
                return -EINVAL;
        }

        if (!rec->history) {
                rec->history = json_object_new_array();
                if (!rec->history)
                        return -ENOMEM;
        }
        if (rec->updated_at == 0)
                rec->updated_at = rec->created_at;

        *ret = TAKE_PTR(rec);
        return 0;
}

static int job_record_compare(const void *a, const void *b) {
        const JobRecord *x = *(JobRecord *const *) a, *y = *(JobRecord *const *) b;

        if (x->created_at != y->created_at)
                return x->created_at < y->created_at ? -1 : 1;

        /* Same millisecond: still one order, the same on every start (a job's executions share
         * its id). */
        return strcmp(x->job->id, y->job->id) ?: strcmp(x->path, y->path);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

int job_record_load_all(const char *dir, JobRecord ***ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        JobRecord **l = NULL;
        size_t n = 0;
        int r = 0;

        d = opendir(dir);
        if (!d && errno != ENOENT)
                return -errno;

        while (d) {
                _cleanup_(job_record_freep) JobRecord *rec = NULL;
                _cleanup_free_ char *path = NULL;
                struct dirent *de;
                const char *suffix;
                JobRecord **nl;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = -errno;
                        break;
                }

                /* Hidden files are our temporary files (see job_record_save()). */
                suffix = strrchr(de->d_name, '.');
                if (de->d_name[0] == '.' || !suffix || !streq(suffix, ".json"))
                        continue;

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }

                r = job_record_load(path, &rec);
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        /* A malformed record was logged already; one unreadable file must not keep
                         * the others from resuming. */
                        if (r != -EINVAL)
                                log_warning_errno(r, "Failed to read %s, ignoring: %m", path);
                        r = 0;
                        continue;
                }

                nl = reallocarray(l, n + 2, sizeof(JobRecord *));
                if (!nl) {
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                l[n++] = TAKE_PTR(rec);
                l[n] = NULL;
        }

        if (r >= 0 && !l) {
                l = calloc(1, sizeof(JobRecord *));
                if (!l)
                        r = -ENOMEM;
        }
        if (r < 0) {
                job_record_free_many(l);
                return r;
        }

        qsort(l, n, sizeof(JobRecord *), job_record_compare);

        *ret = l;
        if (ret_n)
                *ret_n = n;
        return 0;
}

bool job_record_exists(const char *dir, const char *id) {
        _cleanup_free_ char *path = NULL;

        if (!job_id_is_file_name(id))
                return false;

        if (asprintf(&path, "%s/%s.json", dir, id) < 0)
                return false;

        return access(path, F_OK) >= 0;
}
