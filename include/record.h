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
 *   "attempts": [ { "attempt": 1, "code": 505, "meaning": "...", "time": "..." }, ... ],
 *   "attempts_omitted": 0,
 *   "revision_before": "EC25EFAR06A01M4G", "revision_after": null,
 *   "reason": null | "human readable reason of a FAILED/REJECTED/CANCELED end",
 *   "modem": { "port": "/dev/ttyUSB2", "imei": "861234567890123", "model": "EC25", "family": "ec2x" },
 *   "control_plane": "local",
 *   "qfotadl_sent": true, "qfotadl_sent_at": "2026-11-21T10:00:03.512Z",
 *   "phase": "updating", "last_end": null | 505,
 *   "module_hold": false,
 *   "created_at": "...", "updated_at": "...",
 *   "history": [ { "time": "2026-11-21T10:00:00.001Z", "state": "QUEUED", "detail": "..." }, ... ],
 *   "history_omitted": 0,
 *   "execution": null | "861234567890123",
 *   "executions": null | [ { "imei": "861234567890123", "port": "/dev/ttyUSB2",
 *                            "record": "job-1@861234567890123.json", "state": "UPDATING",
 *                            "progress": 40, "reason": null }, ... ]
 * }
 * Times are UTC, ISO 8601 with milliseconds.
 *
 * What a restarted daemon needs to go on is in typed fields, never in the history's text:
 * "phase" (where the DFOTA sequence is, also while the state is WAITING_FOR_MODEM), "qfotadl_sent",
 * "attempt", "last_end" (the <err> of the END that closed the latest attempt, null while it runs),
 * "modem.family" (the profile detected from ATI) and "watchdog_resets". The history is for people:
 * a repeated entry (same state, same detail) is counted on the last one ("repeated": n, "last":
 * time) rather than appended, and past RECORD_HISTORY_MAX entries the oldest but the first
 * RECORD_HISTORY_KEEP_FIRST are dropped and counted in "history_omitted". "attempts" lists the
 * module's update attempts that ended (capped the same way, RECORD_ATTEMPTS_MAX).
 *
 * "module_hold": the record stands in for a record that could not be read (moved aside as
 * "<name>.damaged"): its module may be in the middle of an update and takes no new job until it
 * answers normally outside one.
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
#include "log.h"
#include "macro.h"
#include "profile.h"
#include "string-util.h"

/* Where the DFOTA sequence of an execution is: what a restarted daemon resumes (see engine.h). */
typedef enum DfotaPhase {
        DFOTA_PHASE_PREFLIGHT,      /* nothing sent that matters: preflight (again) */
        DFOTA_PHASE_QFOTADL_SENT,   /* AT+QFOTADL recorded as sent; no sign of the download yet */
        DFOTA_PHASE_DOWNLOADING,    /* the module reported its download started */
        DFOTA_PHASE_DOWNLOADED,     /* download ended with 0 (or a local package): the module reboots into recovery */
        DFOTA_PHASE_UPDATING,       /* START seen: an update attempt runs */
        DFOTA_PHASE_UPDATE_ENDED,   /* END,<err> with attempts left: the module reboots and retries */
        DFOTA_PHASE_VERIFYING,      /* the update phase is over: the revision decides */
        _DFOTA_PHASE_MAX,
        _DFOTA_PHASE_INVALID = -EINVAL,
} DfotaPhase;

DECLARE_STRING_TABLE_LOOKUP(dfota_phase, DfotaPhase);

/* Caps of the lists a record keeps (see above). */
#define RECORD_HISTORY_MAX        64
#define RECORD_HISTORY_KEEP_FIRST 16
#define RECORD_ATTEMPTS_MAX       32
#define RECORD_ATTEMPTS_KEEP_FIRST 8
/* A record is a few KiB with the lists capped; a file in jobs/ larger than this is not one. */
#define RECORD_FILE_MAX (1024U * 1024U)

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
        DfotaPhase phase;           /* where a restart resumes */
        int last_end;               /* <err> of the END closing the latest attempt; -1: none, or it runs */
        bool module_hold;           /* stands in for a damaged record: its module takes no job for now */

        json_object *attempts;      /* array of {attempt, code, meaning, time}; owned; never NULL once loaded */
        unsigned attempts_omitted;
        unsigned history_omitted;

        usec_t created_at;          /* CLOCK_REALTIME */
        usec_t updated_at;

        json_object *history;       /* array of {time, state, detail}; owned */

        char *execution;            /* IMEI: an execution of a job on several modules; else NULL */
        json_object *executions;    /* a parent: array of {imei, port, record, state, progress, reason}; else NULL */
        char *name;                 /* "<id>@<imei>" for an execution, NULL otherwise: see job_record_name() */
} JobRecord;

/* Creates a record in state QUEUED for job (ownership of job passes to the record on success)
 * under dir (created with mode 0750 if missing), with one history entry. Does not save. Returns 0
 * or -ENOMEM/-EINVAL. */
int job_record_new(const char *dir, Job *job, JobRecord **ret);

/* Creates the QUEUED record of job's execution on the module with this IMEI (digits only): its file is
 * <dir>/<id>@<imei>.json. job is copied. Does not save. Returns 0, -EINVAL or -ENOMEM. */
int job_record_new_execution(const char *dir, const Job *job, const char *imei, JobRecord **ret);

/* The record's name in log lines: "<id>@<imei>" for an execution, else the job id. */
static inline const char *job_record_name(const JobRecord *r) {
        return r->name ?: r->job->id;
}

/* Loads one record file (at most RECORD_FILE_MAX bytes; see state_file_read()). Returns -ENOENT,
 * -EINVAL for a malformed file (the reason logged at warning level), or 0. */
int job_record_load(const char *path, JobRecord **ret);

/* Calls cb for every "*.json" file under dir (a missing dir has none), one at a time, in no
 * particular order: with the record loaded (the callback may take it: *rec = NULL), or with *rec
 * NULL and why set when it cannot be read (why is safe to log). At most one record is in memory
 * at a time. A negative return of cb stops the walk and is returned; -ENOMEM too. Returns 0. */
typedef int (*JobRecordVisitor)(const char *path, JobRecord **rec, const char *why, void *userdata);
int job_record_foreach(const char *dir, JobRecordVisitor cb, void *userdata);

/* Sorts records by created_at, oldest first (ties by id, then path): the order jobs resume in. */
void job_record_sort(JobRecord **l, size_t n);

/* Moves an unreadable record file aside as "<path>.damaged" (".damaged-2", ... if taken), out of
 * every scan. Returns 0 and the new path in *ret_path (may be NULL), or a negative errno. */
int job_record_set_aside(const char *path, char **ret_path);

/* The record that stands in for the unreadable file at path (moved aside to aside): FAILED with
 * reason "record damaged (why); moved aside to <aside>" and module_hold set. What can still be
 * read of the file's JSON (text, may be NULL) is kept: its control plane, modem port and IMEI,
 * execution. The id comes from the file name ("<id>.json", "<id>@<imei>.json"; a name that is no
 * valid id is made one). Does not save. Returns 0 or -ENOMEM. */
int job_record_new_damaged(const char *path, const char *text, const char *why, const char *aside, JobRecord **ret);

/* Appends {time: now, state: r->state, detail} to history (detail may be NULL), or, when the last
 * entry has the same state and detail, counts it there ("repeated", "last"); keeps the history
 * within RECORD_HISTORY_MAX. Returns 1 when an entry was added, 0 when it was counted on the last
 * one, or -ENOMEM. */
int job_record_add_history(JobRecord *r, const char *detail);

/* Appends {attempt, code, meaning (may be NULL), time: now} to attempts (capped like history).
 * Returns 0 or -ENOMEM. */
int job_record_add_attempt(JobRecord *r, unsigned attempt, int code, const char *meaning);

/* Sets updated_at and writes the record atomically (state-file.h): a write that fails is kept and
 * retried until it lands. Returns 0 or the negative errno of this attempt. */
int job_record_save(JobRecord *r);

/* The same, but nothing is kept when it fails: for a record that must be on disk before the
 * daemon acts on it (a new job before its document is acknowledged; AT+QFOTADL before it is
 * written). Returns 0 or a negative errno. */
int job_record_save_durable(JobRecord *r);

/* The module's identity in the record, in one place for every caller (dispatch onto a modem, the
 * engine's start and its preflight identification): port (where it is now), family (the profile's
 * name), model and imei (as ATI and AT+GSN give them) replace what the record has; revision is
 * kept as "revision_before" only if none is recorded yet. NULL leaves a field as it is. Returns 0
 * or -ENOMEM (the fields set so far stay). */
int job_record_set_module(JobRecord *r, const char *port, const char *family, const char *model, const char *revision,
                          const char *imei);

/* Storage for the journal fields job_record_log_ctx() points to. */
typedef struct JobLogFields {
        char attempt[32];
        char progress[32];
        char module_error[16];
        const char *extra[3];
} JobLogFields;

/* Fills *ctx for a log line about r: DFOTAD_JOB_ID, STATE, MODEM (r's AT port, or port when
 * given: where the module is now), MODEM_IMEI, MODULE_ERROR, ATTEMPT, PROGRESS and message_id
 * (may be NULL), so that `journalctl DFOTAD_JOB_ID=<id>` tells the whole story. The strings are
 * borrowed from r, port and *f, which must outlive ctx. */
void job_record_log_ctx(const JobRecord *r, const char *port, const char *message_id, LogContext *ctx, JobLogFields *f);

typedef enum JobTransitionFlags {
        /* The record is on disk before the call returns (job_record_save_durable()); when that
         * fails, the record is left as it was and the error returned. Without it a failed write
         * is kept and retried (job_record_save()). */
        JOB_TRANSITION_DURABLE = 1 << 0,
        /* detail is also the record's "reason" (an execution that ends before it started). */
        JOB_TRANSITION_REASON  = 1 << 1,
        /* Logged only when the state changes (a parent record, whose history notes each change of
         * one of its executions). */
        JOB_TRANSITION_LOG_CHANGE_ONLY = 1 << 2,
} JobTransitionFlags;

/* The one funnel for every change of a job's state, and every event worth a history entry within
 * a state: state and phase (phase is kept in WAITING_FOR_MODEM: it is what the return resumes),
 * history entry (detail, may be NULL), save, and one log line at the state's level with its
 * MESSAGE_ID (SUCCEEDED notice, FAILED/REJECTED warning, others info; systemd/dfotad.catalog),
 * "Job <name>: OLD -> NEW (detail)". Whatever the caller changed in the record before (attempt,
 * last_end, module error, watchdog resets) is saved in the same write. SUCCEEDED clears the
 * current module error (each attempt's stays in "attempts"). The same event again (a babbling
 * module) is counted on the last history entry and neither saved nor logged above debug. Telling
 * the control plane is the caller's part (its callbacks). port: as job_record_log_ctx().
 * Returns 1 when the change was saved (or, without JOB_TRANSITION_DURABLE, is kept for retry), 0
 * for the same event again, or a negative errno (JOB_TRANSITION_DURABLE: nothing changed). */
int job_record_transition(JobRecord *r, JobState s, DfotaPhase phase, const char *detail, JobTransitionFlags flags,
                          const char *port);

typedef void (*JobRecordReport)(const JobRecord *record, void *userdata);

/* Cancels the records of job id in the list l of *n records that wait and never started (a modem's
 * queue, the pending list): each ends CANCELED with reason through job_record_transition()
 * (durably; port as there), is reported (report may be NULL; record borrowed for the call), taken
 * out of l and freed. A record that already sent AT+QFOTADL (a resumed execution) stays, and so
 * does one whose CANCELED record cannot be saved. Returns how many were canceled, -EBUSY when one
 * stayed for AT+QFOTADL, or the negative errno of a failed save. */
int job_record_list_cancel(JobRecord **l, size_t *n, const char *id, const char *reason, const char *port,
                           JobRecordReport report, void *userdata);

/* Whether a record with this id exists in dir, or existed and was pruned. */
bool job_record_exists(const char *dir, const char *id);

/* Removes ended jobs' files from dir: <id>.json, the executions' <id>@<imei>.json and the records
 * of earlier runs kept as <id>.json.execution-<n>, and leaves <id>.pruned (empty) for each, so
 * that the id stays taken: an order for it that comes again (a retained MQTT message) is not run
 * again. ids (n_ids of them) is sorted in place. One pass over the directory. Returns 0 or a
 * negative errno (the first failure; the rest is still done). */
int job_record_prune(const char *dir, char **ids, size_t n_ids);


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
