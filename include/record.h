/* SPDX-License-Identifier: MIT */
#pragma once

/* The persisted record of one job execution: <state_directory>/jobs/<id>.json, written atomically
 * (temp file in the same directory, fsync, rename, fsync of the directory) on every transition, so
 * that a crash at any point leaves either the old or the new record. On start every non-terminal
 * record is resumed from here (../shared/product.md "Persistence").
 *
 * File format (all keys always present; null where unknown):
 * {
 *   "id": "job-1",
 *   "job": { ...the job document... },
 *   "state": "UPDATING", "progress": 40, "attempt": 1, "watchdog_resets": 0,
 *   "module_error": null | { "code": 701, "kind": "http", "meaning": "HTTP unknown error" },
 *   "revision_before": "EC25EFAR06A01M4G", "revision_after": null,
 *   "reason": null | "human readable reason of a FAILED/REJECTED/CANCELED end",
 *   "modem": { "port": "/dev/ttyUSB2", "imei": "861234567890123", "model": "EC25", "family": "ec2x" },
 *   "control_plane": "local",
 *   "qfotadl_sent": true, "qfotadl_sent_at": "2026-11-21T10:00:03.512Z",
 *   "created_at": "...", "updated_at": "...",
 *   "history": [ { "time": "2026-11-21T10:00:00.001Z", "state": "QUEUED", "detail": "..." }, ... ],
 *   "execution": null | "861234567890123",
 *   "executions": null | [ { "imei": "861234567890123", "port": "/dev/ttyUSB2",
 *                            "record": "job-1@861234567890123.json", "state": "UPDATING",
 *                            "progress": 40, "reason": null }, ... ]
 * }
 * Times are UTC, ISO 8601 with milliseconds.
 *
 * A job whose selector matches several modules (issue 4, "Several modems") is recorded as a parent
 * and one execution per module. The parent is <id>.json with "executions" (one entry per module,
 * fixed when the job was dispatched), "modem" all null and "execution" null; the manager keeps its
 * state as an aggregate: while executions run, the least advanced state of the unfinished ones (in
 * JobState order) with the lowest progress among those in that state; once every execution ended,
 * SUCCEEDED if all succeeded, else FAILED with a reason naming each failed IMEI and its reason.
 * Each execution is an ordinary record <id>@<imei>.json ('@' is outside the id alphabet, so the
 * names never collide with a job id) whose "id" is the job's id and "execution" its module's IMEI;
 * it is run, resumed and reported like a single record. A job on one module has "execution" and
 * "executions" null. */

#include <json-c/json.h>

#include "job.h"
#include "macro.h"
#include "profile.h"
#include "string-util.h"

typedef struct JobRecord {
        char *path;                 /* <dir>/<id>.json */
        Job *job;                   /* owned */

        JobState state;
        unsigned progress;          /* percent 0..100, of the current phase */
        unsigned attempt;           /* module update attempt 1..5, 0 before the first START */
        unsigned watchdog_resets;   /* resets issued by the four-minute watchdog */

        bool has_module_error;
        int module_error_code;
        ModuleErrorKind module_error_kind;
        char *module_error_meaning; /* NULL if the guide does not list the code */

        char *revision_before;
        char *revision_after;
        char *reason;

        char *modem_port;
        char *modem_imei;
        char *modem_model;
        char *modem_family;

        char *control_plane;        /* name of the backend that submitted the job, e.g. "local" */

        bool qfotadl_sent;          /* persisted *before* AT+QFOTADL is written */
        usec_t qfotadl_sent_at;     /* CLOCK_REALTIME */

        usec_t created_at;          /* CLOCK_REALTIME */
        usec_t updated_at;

        json_object *history;       /* array of {time, state, detail}; owned */

        char *execution;            /* IMEI: an execution of a job on several modules; else NULL */
        json_object *executions;    /* a parent: array of {imei, port, record, state, progress, reason}; else NULL */
        char *name;                 /* "<id>@<imei>" for an execution, NULL otherwise: see job_record_name() */
} JobRecord;

/* Creates a record in state QUEUED for job (ownership of job passes to the record, also on
 * failure) under dir (created with mode 0755 if missing), with one history entry. Does not save.
 * Returns 0 or -ENOMEM/-EINVAL. */
int job_record_new(const char *dir, Job *job, JobRecord **ret);

/* Creates the QUEUED record of job's execution on the module with this IMEI (digits only): its file is
 * <dir>/<id>@<imei>.json. job is copied. Does not save. Returns 0, -EINVAL or -ENOMEM. */
int job_record_new_execution(const char *dir, const Job *job, const char *imei, JobRecord **ret);

/* The record's name in log lines: "<id>@<imei>" for an execution, else the job id. */
static inline const char *job_record_name(const JobRecord *r) {
        return r->name ?: r->job->id;
}

/* Loads one record file. Returns -ENOENT, -EINVAL (with the reason logged at warning level) for a
 * malformed file, or 0. */
int job_record_load(const char *path, JobRecord **ret);

/* Loads every *.json record under dir, ordered by created_at (oldest first). A missing dir gives
 * zero records. Malformed files are skipped with a warning. *ret is a NULL-terminated array the
 * caller frees with job_record_free_many(). */
int job_record_load_all(const char *dir, JobRecord ***ret, size_t *ret_n);

/* Appends {time: now, state: r->state, detail} to history (detail may be NULL). Returns 0/-ENOMEM. */
int job_record_add_history(JobRecord *r, const char *detail);

/* Sets updated_at and writes the record atomically. Returns 0 or a negative errno. */
int job_record_save(JobRecord *r);

/* Whether a record with this id exists in dir. */
bool job_record_exists(const char *dir, const char *id);


json_object *job_record_to_json(const JobRecord *r);

/* The status update every control plane reports (../shared/product.md "Job execution status"): the
 * record's fields less the daemon's own (job document, history, times but updated_at), with
 * "job_id" and "target_version":
 * {"job_id", "target_version", "state", "progress", "attempt", "watchdog_resets", "module_error",
 *  "revision_before", "revision_after", "reason", "modem": {port, imei, model, family},
 *  "qfotadl_sent", "updated_at", "executions"}. Returns a new object or NULL (out of memory). */
json_object *job_record_status_to_json(const JobRecord *r);

JobRecord *job_record_free(JobRecord *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(JobRecord *, job_record_free);
void job_record_free_many(JobRecord **l);

/* usec of CLOCK_REALTIME -> "2026-11-21T10:00:03.512Z" in buf (at least 32 bytes). */
const char *format_timestamp_iso(usec_t t, char buf[static 32]);
usec_t now_realtime(void);
