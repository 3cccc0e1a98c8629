/* SPDX-License-Identifier: MIT */
/* Changing a job record (record.h): the one funnel of every state change, the log context of a
 * job, the module's identity in the record, and canceling the records that wait in a list. */

#include <stdio.h>

#include "fault.h"
#include "log.h"
#include "record.h"
#include "string-util.h"

void job_record_log_ctx(const JobRecord *r, const char *port, const char *message_id, LogContext *ctx, JobLogFields *f) {
        (void) snprintf(f->attempt, sizeof f->attempt, "DFOTAD_ATTEMPT=%u", r->attempt);
        (void) snprintf(f->progress, sizeof f->progress, "DFOTAD_PROGRESS=%u", r->progress);
        f->extra[0] = f->attempt;
        f->extra[1] = f->progress;
        f->extra[2] = NULL;
        if (r->has_module_error)
                (void) snprintf(f->module_error, sizeof f->module_error, "%d", r->module_error_code);

        *ctx = (LogContext) {
                .modem = port ?: r->modem_port,
                .imei = r->modem_imei,
                .job_id = r->job ? r->job->id : NULL,
                .state = job_state_to_string(r->state),
                .module_error = r->has_module_error ? f->module_error : NULL,
                .message_id = message_id,
                .extra = f->extra,
        };
}

/* How a transition into s is logged: its level, and its MESSAGE_ID (catalogued). */
static int job_state_log_level(JobState s, const char **ret_message_id) {
        switch (s) {
        case JOB_SUCCEEDED:
                *ret_message_id = DFOTAD_MESSAGE_JOB_SUCCEEDED;
                return LOG_NOTICE;
        case JOB_FAILED:
                *ret_message_id = DFOTAD_MESSAGE_JOB_FAILED;
                return LOG_WARNING;
        case JOB_REJECTED:
                *ret_message_id = DFOTAD_MESSAGE_JOB_REJECTED;
                return LOG_WARNING;
        case JOB_QUEUED:
        case JOB_PREFLIGHT:
        case JOB_DOWNLOADING:
        case JOB_DOWNLOADED:
        case JOB_UPDATING:
        case JOB_VERIFYING:
        case JOB_WAITING_FOR_MODEM:
        case JOB_CANCELED:
        case _JOB_STATE_MAX:
        case _JOB_STATE_INVALID:
                break;
        }
        *ret_message_id = DFOTAD_MESSAGE_JOB_STATE;
        return LOG_INFO;
}

int job_record_transition(JobRecord *r, JobState s, DfotaPhase phase, const char *detail, JobTransitionFlags flags,
                          const char *port) {
        JobState old = r->state;
        DfotaPhase old_phase = r->phase;
        _cleanup_free_ char *old_reason = NULL;
        const char *message_id;
        LogContext ctx;
        JobLogFields f;
        int added, level, k;

        if (FLAGS_SET(flags, JOB_TRANSITION_REASON)) {
                old_reason = r->reason ? strdup(r->reason) : NULL;
                if (r->reason && !old_reason)
                        return -ENOMEM;
                k = free_and_strdup(&r->reason, detail);
                if (k < 0)
                        return k;
        }

        r->state = s;
        if (s != JOB_WAITING_FOR_MODEM)
                r->phase = phase;

        added = job_record_add_history(r, detail);
        if (added == 0 && old == s && old_phase == r->phase && !job_state_is_terminal(s)) {
                job_record_log_ctx(r, port, NULL, &ctx, &f);
                log_ctx_full_errno(&ctx, LOG_DEBUG, 0, "Job %s: %s again (%s)", job_record_name(r), job_state_to_string(s), strna(detail));
                return 0;
        }

        if (s == JOB_SUCCEEDED) {
                /* Succeeded: there is no current error; each attempt's is in "attempts". */
                r->has_module_error = false;
                r->module_error_meaning = mfree(r->module_error_meaning);
        }

        if (FLAGS_SET(flags, JOB_TRANSITION_DURABLE)) {
                k = job_record_save_durable(r);
                if (k < 0) {
                        log_error_errno(k, "Job %s: failed to save the record: %m", job_record_name(r));
                        r->state = old;
                        r->phase = old_phase;
                        if (FLAGS_SET(flags, JOB_TRANSITION_REASON))
                                free_and_replace(r->reason, old_reason);
                        return k;
                }
        } else {
                /* A failed write is kept and retried (state-file.h), and the state directory's
                 * trouble is logged there, once, with its MESSAGE_ID: here only the detail. */
                k = job_record_save(r);
                if (k < 0)
                        log_debug_errno(k, "Job %s: failed to save the record %s, writing it again later: %m",
                                        job_record_name(r), r->path);
        }
        fault_pointf("saved:%s", job_state_to_string(s));

        if (old == s && FLAGS_SET(flags, JOB_TRANSITION_LOG_CHANGE_ONLY))
                return 1;

        level = job_state_log_level(s, &message_id);
        job_record_log_ctx(r, port, message_id, &ctx, &f);
        if (old == s)
                log_ctx_full_errno(&ctx, level, 0, "Job %s: %s%s%s%s", job_record_name(r),
                                   job_state_to_string(s), detail ? " (" : "", strempty(detail), detail ? ")" : "");
        else
                log_ctx_full_errno(&ctx, level, 0, "Job %s: %s -> %s%s%s%s", job_record_name(r),
                                   job_state_to_string(old), job_state_to_string(s),
                                   detail ? " (" : "", strempty(detail), detail ? ")" : "");
        return 1;
}

int job_record_set_module(JobRecord *r, const char *port, const char *family, const char *model, const char *revision,
                          const char *imei) {
        const struct {
                char **field;
                const char *value;
        } set[] = {
                { &r->modem_port,      port                                 },
                { &r->modem_family,    family                               },
                { &r->modem_model,     model                                },
                { &r->revision_before, r->revision_before ? NULL : revision },
                { &r->modem_imei,      imei                                 },
        };
        int k;

        for (size_t i = 0; i < ELEMENTSOF(set); i++) {
                if (!set[i].value || streq_ptr(*set[i].field, set[i].value))
                        continue;
                k = free_and_strdup(set[i].field, set[i].value);
                if (k < 0)
                        return k;
        }
        return 0;
}

int job_record_list_cancel(JobRecord **l, size_t *n, const char *id, const char *reason, const char *port,
                           JobRecordReport report, void *userdata) {
        int canceled = 0, error = 0, r;
        bool busy = false;

        for (size_t i = 0; i < *n; ) {
                JobRecord *rec = l[i];

                if (!streq(rec->job->id, id)) {
                        i++;
                        continue;
                }
                if (rec->qfotadl_sent) {
                        /* A resumed execution waiting its turn: the module upgrades by itself. */
                        busy = true;
                        i++;
                        continue;
                }
                /* Canceled only once CANCELED is on disk: a cancel that could not be recorded
                 * leaves the job queued (it would run after a restart anyway) and says so. */
                r = job_record_transition(rec, JOB_CANCELED, rec->phase, reason,
                                          JOB_TRANSITION_DURABLE | JOB_TRANSITION_REASON, port);
                if (r < 0) {
                        error = r;
                        i++;
                        continue;
                }
                memmove(l + i, l + i + 1, (*n - i - 1) * sizeof(JobRecord *));
                (*n)--;
                if (report)
                        report(rec, userdata);
                job_record_free(rec);
                canceled++;
        }
        return busy ? -EBUSY : error < 0 ? error : canceled;
}
