/* SPDX-License-Identifier: MIT */

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "at-parse.h"
#include "engine.h"
#include "fault.h"
#include "fota-urc.h"
#include "log.h"

/* A module whose update phase stays silent through this many watchdog resets is given up on:
 * resetting it forever would keep it from ever booting normally again. The same bound holds for
 * watchdog expiries whose reset could not be delivered at all. */
#define ENGINE_MAX_WATCHDOG_RESETS 5U

/* Between two attempts to read the revision while verifying. */
#define ENGINE_VERIFY_RETRY_USEC (1 * USEC_PER_SEC)

typedef enum EngineTimer {
        ENGINE_TIMER_NONE,
        ENGINE_TIMER_DOWNLOAD_START,    /* AT+QFOTADL -> *START (90 s, EC25&EC21 guide §3) */
        ENGINE_TIMER_DOWNLOAD,          /* *START -> *END */
        ENGINE_TIMER_PORT_RETURN,       /* port gone -> back */
        ENGINE_TIMER_FIRST_URC,         /* port back (or a boot seen) -> first DFOTA URC (90 s, brief "DFOTA rules") */
        ENGINE_TIMER_URC_WATCHDOG,      /* update phase: URC -> next URC (4 min, EP06 guide ch. 5) */
        ENGINE_TIMER_VERIFY,            /* END -> revision read back */
        _ENGINE_TIMER_MAX,
        _ENGINE_TIMER_INVALID = -EINVAL,
} EngineTimer;

static const char *const engine_timer_table[_ENGINE_TIMER_MAX] = {
        [ENGINE_TIMER_NONE]           = "none",
        [ENGINE_TIMER_DOWNLOAD_START] = "download_start",
        [ENGINE_TIMER_DOWNLOAD]       = "download",
        [ENGINE_TIMER_PORT_RETURN]    = "port_return",
        [ENGINE_TIMER_FIRST_URC]      = "first_urc_after_reboot",
        [ENGINE_TIMER_URC_WATCHDOG]   = "urc_watchdog",
        [ENGINE_TIMER_VERIFY]         = "verify",
};

DECLARE_STRING_TABLE_LOOKUP(engine_timer, EngineTimer);
DEFINE_STRING_TABLE_LOOKUP(engine_timer, EngineTimer);

/* Why the revision is being read. */
typedef enum RevisionCheck {
        REVISION_CHECK_VERIFY,          /* after END, or the module booted normally */
        REVISION_CHECK_NO_FIRST_URC,    /* the first-URC (or download-start) wait ran out */
        REVISION_CHECK_WATCHDOG,        /* the watchdog gives up: what does the module run? */
        _REVISION_CHECK_MAX,
        _REVISION_CHECK_INVALID = -EINVAL,
} RevisionCheck;

/* What a status update says, in short: a change of the phase alone (a download that started while
 * the state already said DOWNLOADING) is saved, but is no news for the control plane. */
typedef struct StatusKey {
        JobState state;
        unsigned progress, attempt, watchdog_resets;
        int module_error;               /* -1: none */
        size_t n_attempts;
} StatusKey;

struct Engine {
        EngineEnv env;
        EnginePort port;
        EngineCallbacks callbacks;
        void *userdata;
        JobRecord *record;

        sd_event_source *timer;         /* the phase timer */
        EngineTimer timer_kind;
        usec_t timer_armed_at;          /* CLOCK_BOOTTIME when the phase timer was armed */
        sd_event_source *retry;         /* re-reads the revision while verifying */
        sd_event_source *qfotadl_retry; /* AT+QFOTADL waits for its record to reach the disk */

        uint64_t command;               /* our command in flight, 0 if none */
        bool identifying;               /* EnginePortOps.identify in flight */
        unsigned preflight_step;
        unsigned setup_step;            /* PDP context set-up, before AT+QFOTADL */

        /* Not persisted, and need not be: how a wait or a check went since this process took the
         * execution over (a restart only makes these waits start afresh). */
        bool resumed;                   /* taken over from a record at start, the port not open since */
        bool qfotadl_unconfirmed;       /* resumed after AT+QFOTADL was recorded, no URC since: it may never have gone out */
        bool booted;                    /* port came back or RDY since entering VERIFYING */
        RevisionCheck check;
        EngineTimer check_timer;        /* the wait that ran out, for the reason */
        unsigned progress_reported;     /* last progress decade saved and reported */
        StatusKey reported;             /* what the control plane was last told */
        bool reset_pending;             /* a watchdog reset is on its way (EnginePortOps.reset) */
        bool qfotadl_unsaved;           /* AT+QFOTADL waits for its record to reach the disk (logged once) */
        unsigned resets_undelivered;    /* watchdog expiries in a row whose reset could not be delivered */

        MmInhibition *mm;               /* ModemManager kept off the module; NULL if not asked */
        bool mm_pending;                /* ModemManager has not answered yet: nothing is sent */
        bool port_opened_early;         /* the port opened meanwhile: on_mm_answer() continues */
};

static bool engine_source_is_local(const Engine *e) {
        return package_source_from_url(e->record->job->url) == PACKAGE_SOURCE_LOCAL_FILE;
}

static EnginePortInfo engine_port_info(const Engine *e) {
        EnginePortInfo i = {};

        e->port.ops->info(e->port.userdata, &i);
        return i;
}

/* The AT port's path now, for log lines and the record. */
static const char *engine_port_path(const Engine *e) {
        return engine_port_info(e).path;
}

static const ModemProfile *engine_profile(const Engine *e) {
        return engine_port_info(e).profile ?: modem_profile_get(MODEM_FAMILY_GENERIC);
}

static int engine_send(Engine *e, const char *command, const AtCommandOptions *opts, AtCommandCallback cb) {
        return e->port.ops->send(e->port.userdata, command, opts, cb, e, &e->command);
}

static void engine_cancel_command(Engine *e) {
        if (e->command != 0)
                e->port.ops->cancel(e->port.userdata, e->command);
        e->command = 0;
        if (e->identifying)
                e->port.ops->identify_cancel(e->port.userdata);
        e->identifying = false;
}

/* The module's identity goes into the record here, and only here: at the start (where the module
 * is, its family, the IMEI the modem knows when the record has none) and from the preflight's
 * identification (model, revision before, IMEI as the module says it now). */
static void engine_record_identity(Engine *e, const char *model, const char *revision, const char *imei) {
        EnginePortInfo i = engine_port_info(e);

        (void) job_record_set_module(e->record, i.path, i.profile ? i.profile->name : NULL, model, revision, imei);
}

/* Every entry about a job carries its id, modem, state, attempt and progress (record.h). The
 * module's IMEI before the record has one: the identified modem's. */
static void engine_log_ctx(const Engine *e, LogContext *ctx, JobLogFields *f, const char *message_id) {
        EnginePortInfo i = engine_port_info(e);

        job_record_log_ctx(e->record, i.path, message_id, ctx, f);
        if (!ctx->imei)
                ctx->imei = i.imei;
}

#define log_engine_id(e, message_id, level, error, ...)                         \
        ({                                                                      \
                LogContext _ctx;                                                \
                JobLogFields _f;                                                \
                engine_log_ctx((e), &_ctx, &_f, (message_id));                  \
                log_ctx_full_errno(&_ctx, (level), (error), __VA_ARGS__);       \
        })

#define log_engine(e, level, error, ...) log_engine_id(e, NULL, level, error, __VA_ARGS__)

static StatusKey engine_status_key(const Engine *e) {
        const JobRecord *r = e->record;

        return (StatusKey) {
                .state = r->state,
                .progress = r->progress,
                .attempt = r->attempt,
                .watchdog_resets = r->watchdog_resets,
                .module_error = r->has_module_error ? r->module_error_code : -1,
                .n_attempts = json_object_array_length(r->attempts) + r->attempts_omitted,
        };
}

/* Hands the status to the control plane (and STATUS=) when it says something new. */
static void engine_report(Engine *e) {
        StatusKey k = engine_status_key(e);

        if (k.state == e->reported.state && k.progress == e->reported.progress && k.attempt == e->reported.attempt &&
            k.watchdog_resets == e->reported.watchdog_resets && k.module_error == e->reported.module_error &&
            k.n_attempts == e->reported.n_attempts && !job_state_is_terminal(k.state))
                return;
        e->reported = k;
        e->callbacks.report(e, e->record, e->userdata);
}

/* A save that is no transition (a progress step, a note in the history). */
static void engine_save(Engine *e) {
        int r;

        /* A failed write is kept and retried (state-file.h), and the state directory's trouble is
         * logged there, once, with its MESSAGE_ID: here only the detail. */
        r = job_record_save(e->record);
        if (r < 0)
                log_engine(e, LOG_DEBUG, r, "Job %s: failed to save the record %s, writing it again later: %m",
                           job_record_name(e->record), e->record->path);
}

static void engine_disarm(Engine *e) {
        if (e->timer)
                (void) sd_event_source_set_enabled(e->timer, SD_EVENT_OFF);
        e->timer_kind = ENGINE_TIMER_NONE;
}

static const char *format_seconds(usec_t u, char buf[static 32]) {
        (void) snprintf(buf, 32, "%g s", (double) u / USEC_PER_SEC);
        return buf;
}

static usec_t engine_timer_usec(const Engine *e, EngineTimer t) {
        const Timeouts *to = e->env.timeouts;

        switch (t) {
        case ENGINE_TIMER_DOWNLOAD_START: return to->download_start;
        case ENGINE_TIMER_DOWNLOAD:       return to->download;
        case ENGINE_TIMER_PORT_RETURN:    return to->port_return;
        case ENGINE_TIMER_FIRST_URC:      return to->first_urc_after_reboot;
        case ENGINE_TIMER_URC_WATCHDOG:   return to->urc_watchdog;
        case ENGINE_TIMER_VERIFY:         return to->verify;
        case ENGINE_TIMER_NONE:
        case _ENGINE_TIMER_MAX:
        case _ENGINE_TIMER_INVALID:
                break;
        }
        return USEC_INFINITY;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void engine_arm(Engine *e, EngineTimer t) {
        usec_t u = engine_timer_usec(e, t);
        int r;

        e->timer_kind = t;

        if (e->timer) {
                r = sd_event_source_set_time_relative(e->timer, u);
                if (r >= 0)
                        r = sd_event_source_set_enabled(e->timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time_relative(e->env.event, &e->timer, CLOCK_BOOTTIME, u, 0, on_timer, e);
                if (r >= 0)
                        (void) sd_event_source_set_description(e->timer, "engine-phase");
        }
        if (r < 0)
                log_engine(e, LOG_ERR, r, "Failed to arm the %s timer: %m", engine_timer_to_string(t));
}

/* Every transition, and every event worth a history entry within a state, goes through the
 * record's funnel (job_record_transition(): state, phase, history, save, log line), then to the
 * owner (report), and a terminal state ends the execution here. */
_printf_(4, 5)
static void engine_set_state(Engine *e, JobState s, DfotaPhase phase, const char *detail_format, ...) {
        JobRecord *rec = e->record;
        _cleanup_free_ char *detail = NULL;

        if (detail_format) {
                va_list ap;

                va_start(ap, detail_format);
                if (vasprintf(&detail, detail_format, ap) < 0)
                        detail = NULL;
                va_end(ap);
        }

        if (job_record_transition(rec, s, phase, detail, 0, engine_port_path(e)) == 0)
                return;

        e->progress_reported = rec->progress / 10;
        engine_report(e);

        if (job_state_is_terminal(s)) {
                engine_disarm(e);
                e->retry = sd_event_source_disable_unref(e->retry);
                e->qfotadl_retry = sd_event_source_disable_unref(e->qfotadl_retry);
                engine_cancel_command(e);
                e->port.ops->reset_cancel(e->port.userdata);
                e->reset_pending = false;
                /* The module is ModemManager's again (and the next job inhibits anew). */
                e->mm = mm_uninhibit(e->mm);
                e->callbacks.finished(e, e->userdata);
        }
}

static bool engine_ended(const Engine *e) {
        return job_state_is_terminal(e->record->state);
}

/* Ends the execution with a reason (FAILED, REJECTED or CANCELED). */
_printf_(3, 4)
static void engine_end(Engine *e, JobState s, const char *reason_format, ...) {
        JobRecord *rec = e->record;
        _cleanup_free_ char *reason = NULL;
        va_list ap;

        va_start(ap, reason_format);
        if (vasprintf(&reason, reason_format, ap) < 0)
                reason = NULL;
        va_end(ap);

        /* Ended before the module ever left normal mode (preflight, a refused AT+QFOTADL, a failed
         * download): its firmware is untouched, so the revision after is the one before. */
        if (!rec->revision_after && rec->revision_before && rec->attempt == 0 &&
            IN_SET(rec->phase, DFOTA_PHASE_PREFLIGHT, DFOTA_PHASE_QFOTADL_SENT, DFOTA_PHASE_DOWNLOADING) &&
            IN_SET(rec->state, JOB_PREFLIGHT, JOB_DOWNLOADING))
                (void) free_and_strdup(&rec->revision_after, rec->revision_before);

        (void) free_and_strdup(&rec->reason, reason);
        engine_set_state(e, s, rec->phase, "%s", strna(reason));
}

int engine_cancel(Engine *e, const char *reason) {
        if (engine_ended(e))
                return -EALREADY;
        /* Once AT+QFOTADL is out, the module runs the upgrade by itself; stopping to watch it would
         * only lose its result (brief "DFOTA rules"). */
        if (e->record->qfotadl_sent)
                return -EBUSY;

        engine_end(e, JOB_CANCELED, "%s", reason);
        return 0;
}

static void engine_set_module_error(Engine *e, ModuleErrorKind kind, int code) {
        JobRecord *rec = e->record;

        rec->has_module_error = true;
        rec->module_error_kind = kind;
        rec->module_error_code = code;
        (void) free_and_strdup(&rec->module_error_meaning, modem_profile_error_meaning(engine_profile(e), kind, code));

        log_engine_id(e, DFOTAD_MESSAGE_MODULE_ERROR, LOG_WARNING, 0, "Job %s: the module reports error %d: %s",
                      job_record_name(rec), code, rec->module_error_meaning ?: "code not in the module's error table");
}

static void engine_set_progress(Engine *e, int percent) {
        JobRecord *rec = e->record;

        if (percent < 0)
                return;
        if (percent > 100)
                percent = 100;
        if ((unsigned) percent == rec->progress)
                return;

        rec->progress = (unsigned) percent;

        /* Persisted and reported every 10 %: enough for an operator, cheap on flash. */
        if (rec->progress / 10 == e->progress_reported && rec->progress != 100)
                return;

        e->progress_reported = rec->progress / 10;
        engine_save(e);
        log_engine(e, LOG_INFO, 0, "Job %s: %s %u%%", job_record_name(rec), job_state_to_string(rec->state), rec->progress);
        engine_report(e);
}

/* ---- revision checks ---------------------------------------------------------------------- */

/* What the wait that ran out was for, and for how long: the start of a FAILED reason. */
static char *engine_wait_reason(const Engine *e) {
        const JobRecord *rec = e->record;
        char buf[32];
        char *s = NULL;
        int r;

        format_seconds(engine_timer_usec(e, e->check_timer), buf);

        switch (rec->phase) {
        case DFOTA_PHASE_QFOTADL_SENT:
                r = asprintf(&s, "no %s within %s of AT+QFOTADL%s",
                             engine_source_is_local(e) ? "START" : "FTPSTART/HTTPSTART", buf,
                             e->qfotadl_unconfirmed ? " (recorded as sent before a restart: the command may never have reached the module)" : "");
                break;
        case DFOTA_PHASE_DOWNLOADING:
                r = asprintf(&s, "the module rebooted during the download and sent no DFOTA URC within %s of coming back", buf);
                break;
        case DFOTA_PHASE_DOWNLOADED:
                /* RG50xQ FOTA note §3.3: "the first URC ... within 90 seconds, otherwise unknown error". */
                r = asprintf(&s, "no DFOTA URC within %s after the module came back from the download reboot (unknown error)", buf);
                break;
        case DFOTA_PHASE_UPDATE_ENDED:
                r = asprintf(&s, "attempt %u failed with END,%d (%s), and no DFOTA URC came within %s after the module came back",
                             rec->attempt, rec->last_end, strna(rec->module_error_meaning), buf);
                break;
        case DFOTA_PHASE_UPDATING:
        case DFOTA_PHASE_VERIFYING:
                r = asprintf(&s, "no DFOTA URC within %s after the module came back in update attempt %u", buf, rec->attempt);
                break;
        case DFOTA_PHASE_PREFLIGHT:
        case _DFOTA_PHASE_MAX:
        case _DFOTA_PHASE_INVALID:
        default:
                r = asprintf(&s, "no DFOTA URC within %s", buf);
                break;
        }
        return r < 0 ? NULL : s;
}

static void engine_decide_revision(Engine *e, const char *revision) {
        JobRecord *rec = e->record;
        const char *target = rec->job->target_version;

        (void) free_and_strdup(&rec->revision_after, revision);

        if (streq(revision, target)) {
                if (e->check == REVISION_CHECK_NO_FIRST_URC || rec->last_end != 0)
                        engine_set_state(e, JOB_VERIFYING, DFOTA_PHASE_VERIFYING, "module runs %s although no END,0 was seen", revision);
                engine_set_state(e, JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, "module runs %s", revision);
                return;
        }

        if (e->check == REVISION_CHECK_WATCHDOG) {
                char buf[32];

                engine_end(e, JOB_FAILED, "the module sent no URC for %s in the update phase, %u watchdog resets did not help; "
                           "it runs revision %s", format_seconds(e->env.timeouts->urc_watchdog, buf), rec->watchdog_resets, revision);
        } else if (e->check == REVISION_CHECK_NO_FIRST_URC) {
                _cleanup_free_ char *why = engine_wait_reason(e);

                engine_end(e, JOB_FAILED, "%s; the module runs revision %s", strna(why), revision);
        } else if (rec->last_end > 0 && engine_profile(e)->max_attempts <= 1)
                /* BC26: "otherwise it will return an error and exit from DFOTA" (BC26 DFOTA
                 * User Guide §3): no retries, nothing restored. */
                engine_end(e, JOB_FAILED, "update failed with END,%d (%s); the module left DFOTA and runs revision %s",
                           rec->last_end, strna(rec->module_error_meaning), revision);
        else if (rec->last_end > 0 && rec->attempt >= engine_profile(e)->max_attempts)
                engine_end(e, JOB_FAILED,
                           "update failed after %u attempts, last END,%d (%s); the module restored revision %s",
                           rec->attempt, rec->last_end, strna(rec->module_error_meaning), revision);
        else if (rec->last_end > 0)
                engine_end(e, JOB_FAILED, "update failed with END,%d (%s); the module runs revision %s",
                           rec->last_end, strna(rec->module_error_meaning), revision);
        else if (rec->last_end == 0)
                engine_end(e, JOB_FAILED, "the module reported END,0 but runs revision %s, not %s", revision, target);
        else
                engine_end(e, JOB_FAILED, "the module booted normally in update attempt %u without END and runs revision %s",
                           rec->attempt, revision);
}

static void engine_read_revision(Engine *e);

static int on_verify_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Engine *e = userdata;

        e->retry = sd_event_source_unref(e->retry);
        engine_read_revision(e);
        return 0;
}

static void engine_handle_watchdog(Engine *e);

static void engine_retry_revision(Engine *e) {
        if (!e->retry && sd_event_add_time_relative(e->env.event, &e->retry, CLOCK_BOOTTIME,
                                                    ENGINE_VERIFY_RETRY_USEC, 0, on_verify_retry, e) >= 0)
                (void) sd_event_source_set_description(e->retry, "engine-verify-retry");
}

static void on_ati_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Engine *e = userdata;
        _cleanup_free_ char *revision = NULL;
        int k = -EIO;

        e->command = 0;

        if (r->result == AT_RESULT_PORT_LOST)
                return; /* engine_port_lost() follows */

        if (r->result == AT_RESULT_OK)
                k = at_parse_ati(r->lines, NULL, &revision);
        if (k >= 0) {
                /* The target revision is success whenever it shows. Anything else only counts
                 * once the module has rebooted: right after END a module whose port stays (a
                 * UART, BC26) still answers with the old revision until it restarts. */
                if (e->check == REVISION_CHECK_VERIFY && !e->booted &&
                    !streq(revision, e->record->job->target_version)) {
                        log_engine(e, LOG_DEBUG, 0, "Job %s: the module still runs %s; waiting for it to reboot",
                                   job_record_name(e->record), revision);
                        engine_retry_revision(e);
                        return;
                }
                engine_decide_revision(e, revision);
                return;
        }

        if (e->check == REVISION_CHECK_WATCHDOG) {
                char buf[32];

                engine_end(e, JOB_FAILED, "the module sent no URC for %s in the update phase, %u watchdog resets did not help, "
                           "and it does not answer ATI (%s)", format_seconds(e->env.timeouts->urc_watchdog, buf),
                           e->record->watchdog_resets, at_result_to_string(r->result));
                return;
        }

        if (e->check == REVISION_CHECK_NO_FIRST_URC) {
                _cleanup_free_ char *why = NULL;

                if (e->record->phase == DFOTA_PHASE_UPDATING) {
                        /* In recovery mode a module emits URCs but may not answer AT (reference
                         * modem.md §0): a silent update phase is the watchdog's business. */
                        engine_handle_watchdog(e);
                        return;
                }
                why = engine_wait_reason(e);
                engine_end(e, JOB_FAILED, "%s, and the module does not answer ATI (%s)", strna(why), at_result_to_string(r->result));
                return;
        }

        /* VERIFYING: the module may still be booting; try again until the verify timer ends it. */
        log_engine(e, LOG_DEBUG, 0, "Job %s: ATI: %s, retrying", job_record_name(e->record), at_result_to_string(r->result));
        engine_retry_revision(e);
}

static void engine_read_revision(Engine *e) {
        int r;

        /* A URC can ask for the revision before ModemManager answered; on_mm_answer() reads it. */
        if (e->command != 0 || engine_ended(e) || e->mm_pending)
                return;

        r = engine_send(e, "ATI", NULL, on_ati_reply);
        if (r < 0)
                log_engine(e, LOG_DEBUG, r, "Job %s: cannot send ATI yet: %m", job_record_name(e->record));
}

/* The wait for a first URC (after a reboot, or after AT+QFOTADL) ran out: the revision decides. */
static void engine_first_urc_missed(Engine *e, EngineTimer t) {
        char buf[32];

        log_engine(e, LOG_WARNING, 0, "Job %s: no DFOTA URC within %s (%s); reading the module's revision",
                   job_record_name(e->record), format_seconds(engine_timer_usec(e, t), buf), engine_timer_to_string(t));
        e->check = REVISION_CHECK_NO_FIRST_URC;
        e->check_timer = t;
        engine_read_revision(e);
}

/* ---- the update phase ---------------------------------------------------------------------- */

static void on_reset_result(bool delivered, const char *detail, void *userdata) {
        Engine *e = userdata;
        JobRecord *rec = e->record;
        char buf[32];

        e->reset_pending = false;
        if (engine_ended(e))
                return;

        format_seconds(e->env.timeouts->urc_watchdog, buf);

        if (delivered) {
                /* Counted now that it was delivered, and saved with the count. */
                e->resets_undelivered = 0;
                rec->watchdog_resets++;
                log_engine_id(e, DFOTAD_MESSAGE_WATCHDOG_RESET, LOG_WARNING, 0,
                              "Job %s: watchdog: no URC for %s in the update phase; the module was reset (reset %u of %u): %s",
                              job_record_name(rec), buf, rec->watchdog_resets, ENGINE_MAX_WATCHDOG_RESETS, detail);
                engine_set_state(e, rec->state, rec->phase, "watchdog reset %u: %s", rec->watchdog_resets, detail);
                return;
        }

        e->resets_undelivered++;
                log_engine_id(e, DFOTAD_MESSAGE_WATCHDOG_RESET, LOG_ERR, 0,
                              "Job %s: watchdog: no URC for %s in the update phase, and the module could not be reset: %s; "
                              "not counted (%u of %u tries)",
                              job_record_name(rec), buf, detail, e->resets_undelivered, ENGINE_MAX_WATCHDOG_RESETS);
        if (e->resets_undelivered >= ENGINE_MAX_WATCHDOG_RESETS)
                engine_end(e, JOB_FAILED, "the module sent no URC for %s in the update phase and could not be reset: %s",
                           buf, detail);
}

static void engine_handle_watchdog(Engine *e) {
        JobRecord *rec = e->record;
        char buf[32];
        int r;

        if (rec->watchdog_resets >= ENGINE_MAX_WATCHDOG_RESETS) {
                /* Given up on: the revision it runs goes into the record (it may even be the
                 * target, reached without a word), or that it does not answer. */
                log_engine(e, LOG_WARNING, 0, "Job %s: no URC for %s in the update phase after %u watchdog resets; reading the revision",
                           job_record_name(rec), format_seconds(e->env.timeouts->urc_watchdog, buf), rec->watchdog_resets);
                e->check = REVISION_CHECK_WATCHDOG;
                engine_arm(e, ENGINE_TIMER_VERIFY);
                engine_read_revision(e);
                return;
        }

        /* The module reboots: the port goes and comes back (first-URC rule), or, if it does not,
         * the watchdog fires again. */
        engine_arm(e, ENGINE_TIMER_URC_WATCHDOG);

        if (e->reset_pending)
                return;
        r = e->port.ops->reset(e->port.userdata, on_reset_result, e);
        if (r < 0) {
                log_engine(e, LOG_ERR, r, "Job %s: cannot reset the module: %m", job_record_name(rec));
                return;
        }
        e->reset_pending = true;
}

/* rebooting: the module restarts now (after END on every family but a failed BC26 update, which
 * just leaves DFOTA). A module whose port stays through its reboot is polled from the start. */
static void engine_enter_verifying(Engine *e, const char *detail, bool rebooting) {
        e->booted = !rebooting;
        e->check = REVISION_CHECK_VERIFY;
        engine_set_state(e, JOB_VERIFYING, DFOTA_PHASE_VERIFYING, "%s", detail);
        engine_arm(e, ENGINE_TIMER_VERIFY);
        if (!rebooting || engine_profile(e)->port_survives_reboot)
                engine_read_revision(e);
}

/* A START (or a resumed update): the attempt it belongs to. */
static void engine_update_started(Engine *e, const FotaUrc *u) {
        JobRecord *rec = e->record;

        /* A new attempt only after a failed one (END,<err>): a START after a watchdog reset or a
         * power loss is the module resuming the same attempt, which does not count toward the five
         * (RG50xQ FOTA note: a power failure is not an attempt; QuecOpen guide: the update resumes
         * from the recorded node). last_end is a record field: a restart in between counts the
         * same way. */
        if (rec->attempt == 0 || rec->last_end > 0) {
                rec->attempt++;
                log_engine(e, LOG_INFO, 0, "Job %s: module update attempt %u of %u", job_record_name(rec), rec->attempt,
                           engine_profile(e)->max_attempts);
        } else
                log_engine(e, LOG_INFO, 0, "Job %s: module resumes update attempt %u", job_record_name(rec), rec->attempt);
        rec->progress = 0;
        rec->last_end = -1;
        e->retry = sd_event_source_disable_unref(e->retry);
        engine_set_state(e, JOB_UPDATING, DFOTA_PHASE_UPDATING, "%s, attempt %u", u->status, rec->attempt);
        engine_arm(e, ENGINE_TIMER_URC_WATCHDOG);
}

static void engine_update_ended(Engine *e, const FotaUrc *u) {
        JobRecord *rec = e->record;
        const char *meaning;

        /* The same END again, before the next START (a babbling module): the attempt it ends is
         * accounted for already; counting it again would record a second result for the attempt,
         * and restart the wait for the reboot. */
        if (rec->last_end == u->value && IN_SET(rec->phase, DFOTA_PHASE_UPDATE_ENDED, DFOTA_PHASE_VERIFYING)) {
                log_engine(e, LOG_DEBUG, 0, "Job %s: END,%d again, for attempt %u", job_record_name(rec), u->value, rec->attempt);
                return;
        }

        if (rec->attempt == 0)
                rec->attempt = 1;
        rec->last_end = u->value;

        if (u->value == 0) {
                rec->progress = 100;
                (void) job_record_add_attempt(rec, rec->attempt, 0, NULL);
                engine_enter_verifying(e, "END,0", true);
                return;
        }

        engine_set_module_error(e, MODULE_ERROR_UPDATE, u->value);
        (void) job_record_add_attempt(rec, rec->attempt, u->value, rec->module_error_meaning);
        meaning = rec->module_error_meaning ?: "code not in the module's error table";
        if (rec->attempt < engine_profile(e)->max_attempts) {
                /* The module reboots and retries by itself (EC25&EC21 guide §3, Table 1/2). */
                engine_set_state(e, JOB_UPDATING, DFOTA_PHASE_UPDATE_ENDED, "attempt %u failed: END,%d (%s); the module retries",
                                 rec->attempt, u->value, meaning);
                engine_arm(e, ENGINE_TIMER_FIRST_URC);
        } else {
                char detail[256];

                /* After the last attempt the module restores the original firmware and boots
                 * normally: the revision it comes back with tells the end. */
                (void) snprintf(detail, sizeof detail, "attempt %u failed: END,%d (%s); no attempts left",
                                rec->attempt, u->value, meaning);
                engine_enter_verifying(e, detail, engine_profile(e)->max_attempts > 1);
        }
}

static void engine_on_fota_urc(Engine *e, const FotaUrc *u, const char *line) {
        JobRecord *rec = e->record;
        JobState s = rec->state;
        const char *meaning;

        e->qfotadl_unconfirmed = false;

        switch (u->kind) {

        case FOTA_URC_DOWNLOAD_START:
                /* Saved as a phase of its own: a restart from here waits for the download's end,
                 * not for its start. */
                engine_set_state(e, JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, "%s", u->status);
                engine_arm(e, ENGINE_TIMER_DOWNLOAD);
                break;

        case FOTA_URC_DOWNLOAD_PROGRESS:
                if (s != JOB_DOWNLOADING || rec->phase != DFOTA_PHASE_DOWNLOADING) {
                        engine_set_state(e, JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, "%s", u->status);
                        engine_arm(e, ENGINE_TIMER_DOWNLOAD);
                }
                engine_set_progress(e, u->value);
                break;

        case FOTA_URC_DOWNLOAD_END:
                if (u->value == 0) {
                        rec->progress = 100;
                        /* The module now reboots into recovery mode (EC25&EC21 guide §3); START
                         * must follow within the first-URC window on the returned port. */
                        engine_set_state(e, JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, "%s,0", u->status);
                        engine_arm(e, ENGINE_TIMER_FIRST_URC);
                        break;
                }

                engine_set_module_error(e, u->error_kind, u->value);
                meaning = rec->module_error_meaning;
                engine_end(e, JOB_FAILED, "download failed: %s,%d (%s)", u->status, u->value,
                           meaning ?: "code not in the module's error table");
                break;

        case FOTA_URC_UPDATE_START:
        case FOTA_URC_UPDATE_RESUMED:
                engine_update_started(e, u);
                break;

        case FOTA_URC_UPDATE_PROGRESS:
                if (s != JOB_UPDATING || rec->phase != DFOTA_PHASE_UPDATING) {
                        /* START was missed (daemon restarted, port reopened late). */
                        if (rec->attempt == 0 || rec->last_end > 0)
                                rec->attempt++;
                        rec->last_end = -1;
                        engine_set_state(e, JOB_UPDATING, DFOTA_PHASE_UPDATING, "%s without START, attempt %u", u->status, rec->attempt);
                }
                engine_set_progress(e, u->value);
                engine_arm(e, ENGINE_TIMER_URC_WATCHDOG);
                break;

        case FOTA_URC_UPDATE_END:
                engine_update_ended(e, u);
                break;

        case FOTA_URC_UNKNOWN:
                log_engine(e, LOG_WARNING, 0, "Job %s: unknown DFOTA status \"%s\" ignored: %s", job_record_name(rec), u->status, line);
                if (rec->phase == DFOTA_PHASE_UPDATING)
                        engine_arm(e, ENGINE_TIMER_URC_WATCHDOG);
                break;

        case _FOTA_URC_KIND_MAX:
        case _FOTA_URC_KIND_INVALID:
                break;
        }
}

/* RDY (or another of the family's boot lines) is the module booting, not a DFOTA URC: it never
 * ends a phase by itself. What follows a boot within first_urc_after_reboot, or the revision read after
 * that, does (issue 9 item 5: RDY before START after the download reboot). */
static void engine_on_boot(Engine *e) {
        JobRecord *rec = e->record;
        char buf[32];

        switch (rec->phase) {
        case DFOTA_PHASE_VERIFYING:
                e->booted = true;
                engine_read_revision(e);
                return;

        case DFOTA_PHASE_QFOTADL_SENT:
        case DFOTA_PHASE_DOWNLOADING:
        case DFOTA_PHASE_DOWNLOADED:
        case DFOTA_PHASE_UPDATING:
        case DFOTA_PHASE_UPDATE_ENDED:
                if (rec->state == JOB_WAITING_FOR_MODEM)
                        return; /* the port's return arms the same wait */
                log_engine(e, LOG_INFO, 0, "Job %s: the module booted (RDY); its first DFOTA URC must follow within %s",
                           job_record_name(rec), format_seconds(engine_timer_usec(e, ENGINE_TIMER_FIRST_URC), buf));
                engine_arm(e, ENGINE_TIMER_FIRST_URC);
                return;

        case DFOTA_PHASE_PREFLIGHT:
        case _DFOTA_PHASE_MAX:
        case _DFOTA_PHASE_INVALID:
                return;
        }
}

static bool engine_line_is_boot(const Engine *e, const char *line) {
        for (const char *const *l = engine_profile(e)->boot_lines; l && *l; l++)
                if (streq(line, *l))
                        return true;
        return false;
}

void engine_on_urc(Engine *e, const char *line) {
        FotaUrc u;
        int r;

        if (engine_ended(e))
                return;

        if (engine_line_is_boot(e, line)) {
                engine_on_boot(e);
                return;
        }

        r = fota_urc_parse(line, &u);
        if (r == -ENOMSG) {
                log_engine(e, LOG_DEBUG, 0, "URC: %s", line);
                return;
        }
        if (r < 0) {
                log_engine(e, LOG_WARNING, r, "Job %s: malformed DFOTA URC ignored: %s", job_record_name(e->record), line);
                return;
        }

        log_engine(e, LOG_DEBUG, 0, "Job %s: %s (%s, %d)", job_record_name(e->record), line, fota_urc_kind_to_string(u.kind), u.value);
        engine_on_fota_urc(e, &u, line);
}

/* ---- AT+QFOTADL ------------------------------------------------------------------------- */

/* After AT+QFOTADL went out (or may have): what the module does next, and how long it may take.
 * accepted: the module answered it (else a restart came in between, or the answer was lost). */
static void engine_await_download(Engine *e, bool accepted, const char *detail) {
        bool local = engine_source_is_local(e);

        /* A local package needs no download: the module reboots into recovery at once (reference
         * modem.md §5 T4); START must follow the port's return within the first-URC window. An
         * accepted URL has not started downloading yet: the phase moves with its first URC. */
        if (local)
                engine_set_state(e, JOB_DOWNLOADED, accepted ? DFOTA_PHASE_DOWNLOADED : DFOTA_PHASE_QFOTADL_SENT,
                                 "%s; the package is in the module's file system", detail);
        else
                engine_set_state(e, JOB_DOWNLOADING, DFOTA_PHASE_QFOTADL_SENT, "%s", detail);
        engine_arm(e, local ? ENGINE_TIMER_FIRST_URC : ENGINE_TIMER_DOWNLOAD_START);
}

static void on_qfotadl_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Engine *e = userdata;

        e->command = 0;
        fault_point("qfotadl-reply");

        switch (r->result) {

        case AT_RESULT_ERROR:
        case AT_RESULT_CME_ERROR:
        case AT_RESULT_CMS_ERROR:
                if (r->result == AT_RESULT_CME_ERROR && r->error_code >= 0 && engine_profile(e)->qfotadl_cme_is_module_error) {
                        /* BC26: "If there is any error, response: ERROR Or +CME ERROR: <err>", <err>
                         * from the DFOTA table (BC26 DFOTA User Guide §3.1, Table 2). */
                        engine_set_module_error(e, MODULE_ERROR_UPDATE, r->error_code);
                        engine_end(e, JOB_FAILED, "the module refused AT+QFOTADL: +CME ERROR: %d (%s)", r->error_code,
                                   e->record->module_error_meaning ?: "code not in the module's error table");
                } else if (r->error_code >= 0)
                        engine_end(e, JOB_FAILED, "the module refused AT+QFOTADL: %s %d",
                                   r->result == AT_RESULT_CMS_ERROR ? "+CMS ERROR:" : "+CME ERROR:", r->error_code);
                else
                        engine_end(e, JOB_FAILED, "the module refused AT+QFOTADL: ERROR");
                return;

        case AT_RESULT_OK:
        case AT_RESULT_TIMEOUT:
        case AT_RESULT_PORT_LOST:
                /* The module may put its first URC before the OK (a URC is dispatched as it
                 * arrives): then the URC has moved us on already, and its timer stands. */
                if (e->record->phase != DFOTA_PHASE_QFOTADL_SENT || e->record->state != JOB_PREFLIGHT)
                        return;

                /* No final result can mean the module rebooted at once (local file: the port
                 * drops right after OK, reference modem.md §5 T4). It was sent: go on as accepted
                 * and let the URCs and timers tell (on a lost port, engine_port_lost() follows). */
                engine_await_download(e, true, r->result == AT_RESULT_OK ? "AT+QFOTADL: ok" :
                                               r->result == AT_RESULT_TIMEOUT ? "AT+QFOTADL: timeout" : "AT+QFOTADL: port-lost");
                return;

        case _AT_RESULT_MAX:
        case _AT_RESULT_INVALID:
                break;
        }
}

static void engine_send_qfotadl(Engine *e);

static int on_qfotadl_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Engine *e = userdata;

        e->qfotadl_retry = sd_event_source_disable_unref(e->qfotadl_retry);
        if (!engine_ended(e) && e->record->phase == DFOTA_PHASE_PREFLIGHT && e->command == 0)
                engine_send_qfotadl(e);
        return 0;
}

/* The single place that writes AT+QFOTADL. */
static void engine_send_qfotadl(Engine *e) {
        JobRecord *rec = e->record;
        _cleanup_free_ char *command = NULL;
        const ModemProfile *p = engine_profile(e);
        char buf[32];
        int r;

        /* Second line of defence: whatever path led here, a record that says it was sent is never
         * sent again (a module that gets AT+QFOTADL twice may brick itself). */
        if (rec->qfotadl_sent || rec->phase != DFOTA_PHASE_PREFLIGHT) {
                log_engine(e, LOG_CRIT, 0, "Job %s: refusing to send AT+QFOTADL a second time: the record says it was sent (phase %s); "
                           "following the module instead", job_record_name(rec), dfota_phase_to_string(rec->phase));
                rec->qfotadl_sent = true;
                if (rec->phase == DFOTA_PHASE_PREFLIGHT)
                        rec->phase = DFOTA_PHASE_QFOTADL_SENT;
                e->qfotadl_unconfirmed = true;
                engine_await_download(e, false, "AT+QFOTADL not sent again");
                return;
        }

        if (asprintf(&command, "AT+QFOTADL=\"%s\"", rec->job->url) < 0) {
                engine_end(e, JOB_FAILED, "out of memory");
                return;
        }

        /* At most once per job: persisted as sent *before* it is written, because the module may
         * reboot at once and so may we (brief "DFOTA rules"; Technicolor mobiled does the same).
         * Durable or not sent at all: a record the disk refused would make a restart send it again. */
        rec->qfotadl_sent = true;
        rec->qfotadl_sent_at = now_realtime();
        rec->phase = DFOTA_PHASE_QFOTADL_SENT;
        (void) job_record_add_history(rec, "AT+QFOTADL recorded as sent");
        r = job_record_save_durable(rec);
        if (r < 0) {
                rec->qfotadl_sent = false;
                rec->qfotadl_sent_at = 0;
                rec->phase = DFOTA_PHASE_PREFLIGHT;
                (void) job_record_add_history(rec, "AT+QFOTADL not sent: the record could not be saved");
                engine_save(e);
                /* Once at error level; the retries, every state_write_retry, at debug level. */
                log_engine(e, e->qfotadl_unsaved ? LOG_DEBUG : LOG_ERR, r,
                           "Job %s: cannot record AT+QFOTADL as sent (%m); it is not sent until the record is on disk, "
                           "trying again every %s", job_record_name(rec), format_seconds(e->env.timeouts->state_write_retry, buf));
                e->qfotadl_unsaved = true;
                if (!e->qfotadl_retry &&
                    sd_event_add_time_relative(e->env.event, &e->qfotadl_retry, CLOCK_BOOTTIME,
                                               e->env.timeouts->state_write_retry, 0, on_qfotadl_retry, e) >= 0)
                        (void) sd_event_source_set_description(e->qfotadl_retry, "engine-qfotadl-retry");
                return;
        }
        fault_point("qfotadl-recorded");
        if (e->qfotadl_unsaved) {
                log_engine(e, LOG_NOTICE, 0, "Job %s: AT+QFOTADL is recorded as sent now that the state directory can be written",
                           job_record_name(rec));
                e->qfotadl_unsaved = false;
        }

        log_engine_id(e, DFOTAD_MESSAGE_QFOTADL_SENT, LOG_INFO, 0, "Job %s: sending AT+QFOTADL (%s)",
                      job_record_name(rec), package_source_to_string(package_source_from_url(rec->job->url)));

        r = engine_send(e, command,
                       &(AtCommandOptions) {
                               .timeout = MAX(p->qfotadl_response_usec, e->env.timeouts->at_command),
                       }, on_qfotadl_reply);
        if (r < 0)
                /* Recorded as sent but not written: never retried, so the job cannot run twice. */
                engine_end(e, JOB_FAILED, "failed to write AT+QFOTADL to the AT port (%s)", strerror(-r));
}

/* ---- preflight ---------------------------------------------------------------------------- */

static void engine_preflight_next(Engine *e);

static const char *first_line(const AtResponse *r, const char *prefix) {
        return at_find_line(r->lines, prefix);
}

static int preflight_cpin(Engine *e, const AtResponse *r) {
        const char *l = first_line(r, "+CPIN:");

        if (r->result != AT_RESULT_OK || !l || !strstr(l, "READY")) {
                engine_end(e, JOB_FAILED, "preflight: the SIM is not ready (%s)", l ?: at_result_to_string(r->result));
                return -EPERM;
        }
        return 0;
}

static int preflight_creg(Engine *e, const AtResponse *r) {
        const char *l = first_line(r, "+CREG:") ?: first_line(r, "+CEREG:") ?: first_line(r, "+CGREG:");
        int stat;

        if (r->result == AT_RESULT_OK && at_parse_registration(l, &stat) >= 0 && at_registration_is_registered(stat))
                return 0;

        if (engine_source_is_local(e)) {
                log_engine(e, LOG_NOTICE, 0, "Job %s: not registered (%s); a local package needs no network",
                           job_record_name(e->record), l ?: at_result_to_string(r->result));
                return 0;
        }

        engine_end(e, JOB_FAILED, "preflight: the module is not registered to a network (%s)", l ?: at_result_to_string(r->result));
        return -ENETUNREACH;
}

static int preflight_csq(Engine *e, const AtResponse *r) {
        const char *l = first_line(r, "+CSQ:");
        int rssi;

        /* 99 = not known (TS 27.007 §8.5); 0..31 = -113..-51 dBm. Informational only. */
        if (at_parse_csq(l, &rssi) >= 0) {
                if (rssi == 99)
                        log_engine(e, LOG_NOTICE, 0, "Job %s: signal strength not known (%s)", job_record_name(e->record), l);
                else
                        log_engine(e, LOG_INFO, 0, "Job %s: signal %d dBm", job_record_name(e->record), -113 + 2 * rssi);
        }
        return 0;
}

static int preflight_cesq(Engine *e, const AtResponse *r) {
        const char *l = first_line(r, "+CESQ:");
        int rsrp;

        /* RSRP 0..97 = -140..-44 dBm, 255 = not known (TS 27.007 §8.69). Informational, like +CSQ. */
        if (at_parse_cesq(l, &rsrp) >= 0) {
                if (rsrp == 255)
                        log_engine(e, LOG_NOTICE, 0, "Job %s: signal strength not known (%s)", job_record_name(e->record), l);
                else
                        log_engine(e, LOG_INFO, 0, "Job %s: RSRP %d dBm", job_record_name(e->record), rsrp - 141);
        }
        return 0;
}

static int preflight_cgpaddr(Engine *e, const AtResponse *r) {
        const char *l = first_line(r, "+CGPADDR:");

        /* An NB-IoT module downloads over its default PDN, which must have an address (BC26 DFOTA
         * User Guide §2.3 "Check Network Status"). */
        if (r->result == AT_RESULT_OK && at_cgpaddr_has_address(l))
                return 0;

        if (engine_source_is_local(e))
                return 0;

        engine_end(e, JOB_FAILED, "preflight: the default PDN has no IP address (%s)", l ?: at_result_to_string(r->result));
        return -ENETUNREACH;
}

typedef struct PreflightStep {
        const char *command;
        const char *response_prefix;
        int (*process)(Engine *e, const AtResponse *r);  /* NULL: any result is fine */
} PreflightStep;

/* How each PreflightCheck is judged; its command is the enum's string (profile.c). */
static const PreflightStep preflight_checks[_PREFLIGHT_CHECK_MAX] = {
        [PREFLIGHT_CPIN]    = { NULL, "+CPIN:",    preflight_cpin    },
        [PREFLIGHT_CREG]    = { NULL, "+CREG:",    preflight_creg    },
        [PREFLIGHT_CEREG]   = { NULL, "+CEREG:",   preflight_creg    },
        [PREFLIGHT_CGREG]   = { NULL, "+CGREG:",   preflight_creg    },
        [PREFLIGHT_CSQ]     = { NULL, "+CSQ:",     preflight_csq     },
        [PREFLIGHT_CESQ]    = { NULL, "+CESQ:",    preflight_cesq    },
        [PREFLIGHT_CGPADDR] = { NULL, "+CGPADDR:", preflight_cgpaddr },
};

bool engine_preflight_check_known(PreflightCheck c) {
        return c >= 0 && c < _PREFLIGHT_CHECK_MAX && preflight_checks[c].process && preflight_checks[c].response_prefix &&
                preflight_check_to_string(c);
}

/* Preflight is the identification (step 0: EnginePortOps.identify), then the checks the profile
 * lists. Check i (step i + 1): returns 1 and the step, 0 after the last one, or -EINVAL for a check
 * the engine cannot judge (a profile table error that tests/unit/test-engine.c rules out; the job
 * fails rather than skip a gate). */
static int engine_preflight_step(const Engine *e, unsigned i, PreflightStep *ret) {
        const ModemProfile *p = engine_profile(e);
        PreflightCheck c;

        if (i >= p->n_preflight_checks)
                return 0;

        c = p->preflight_checks[i];
        if (!engine_preflight_check_known(c))
                return -EINVAL;
        *ret = preflight_checks[c];
        ret->command = preflight_check_to_string(c);
        return 1;
}

/* ---- set-up before AT+QFOTADL ------------------------------------------------------------ */

static void engine_setup_next(Engine *e);

static void on_setup_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Engine *e = userdata;

        e->command = 0;

        if (r->result == AT_RESULT_PORT_LOST)
                return; /* nothing sent yet that matters: preflight starts over when the port is back */

        if (r->result != AT_RESULT_OK) {
                engine_end(e, JOB_FAILED, "PDP context set-up failed: %s%s",
                           at_result_to_string(r->result), e->setup_step == 0 ? " to AT+QICSGP" : " to AT+QCFG=\"fota/cid\"");
                return;
        }

        e->setup_step++;
        engine_setup_next(e);
}

/* UC20/UC15 download over a PDP context that is configured first: "When you upgrade firmware on a
 * FTP/HTTP server, you need to activate a PDP context ID for FTP/HTTP connection. The default PDP
 * context ID is 1, and it can be configured by AT+QCFG="fota/cid",<contextid>" (UMTS/HSPA DFOTA
 * User Guide ch. 3, examples §3.1/§3.2). A local file needs no network. */
static void engine_setup_next(Engine *e) {
        const PdpConfig *pdp = e->env.pdp;
        _cleanup_free_ char *command = NULL;
        bool sensitive = false;
        int r;

        if (!engine_profile(e)->needs_pdp_context || engine_source_is_local(e)) {
                engine_send_qfotadl(e);
                return;
        }

        if (e->setup_step == 0 && !pdp) {
                log_engine(e, LOG_NOTICE, 0, "Job %s: no \"pdp\" configured for %s; the module downloads over its PDP context 1 as set up",
                           job_record_name(e->record), engine_port_path(e));
                e->setup_step = 1;
        }

        switch (e->setup_step) {
        case 0:
                /* AT+QICSGP=<contextID>,<context_type 1 = IPv4>,<APN>,<username>,<password>,<authentication>;
                 * the credentials never reach the log (the channel redacts sensitive commands). */
                r = asprintf(&command, "AT+QICSGP=%u,1,\"%s\",\"%s\",\"%s\",%u",
                             pdp->cid, pdp->apn, strempty(pdp->username), strempty(pdp->password), pdp->auth);
                sensitive = true;
                break;
        case 1:
                r = asprintf(&command, "AT+QCFG=\"fota/cid\",%u", pdp ? pdp->cid : 1U);
                break;
        default:
                engine_send_qfotadl(e);
                return;
        }
        if (r < 0) {
                engine_end(e, JOB_FAILED, "out of memory");
                return;
        }

        r = engine_send(e, command, &(AtCommandOptions) { .sensitive = sensitive }, on_setup_reply);
        if (r < 0)
                log_engine(e, LOG_INFO, r, "Job %s: cannot set up the PDP context yet, waiting for the AT port: %m", job_record_name(e->record));
}

/* All facts are in: decide whether this job may run on this module. */
static void engine_preflight_done(Engine *e) {
        JobRecord *rec = e->record;
        const Job *job = rec->job;
        const ModemProfile *p = engine_profile(e);
        _cleanup_free_ char *why = NULL;

        if (job->modem_imei && !streq_ptr(rec->modem_imei, job->modem_imei)) {
                engine_end(e, JOB_REJECTED, "modem.imei: the module's IMEI is %s, not %s", strna(rec->modem_imei), job->modem_imei);
                return;
        }
        if (job->modem_model && (!rec->modem_model || strcasecmp(rec->modem_model, job->modem_model) != 0)) {
                engine_end(e, JOB_REJECTED, "modem.model: the module is %s, not %s", strna(rec->modem_model), job->modem_model);
                return;
        }

        if (streq(rec->revision_before, job->target_version)) {
                (void) free_and_strdup(&rec->revision_after, rec->revision_before);
                engine_set_state(e, JOB_SUCCEEDED, DFOTA_PHASE_PREFLIGHT, "the module already runs %s; AT+QFOTADL not sent", job->target_version);
                return;
        }

        if (job->source_version && !streq(rec->revision_before, job->source_version)) {
                engine_end(e, JOB_REJECTED, "source_version: the module runs %s, the job requires %s",
                           rec->revision_before, job->source_version);
                return;
        }

        if (job->delivery != JOB_DELIVERY_MODEM) {
                engine_end(e, JOB_REJECTED, "delivery: \"%s\" is not supported by this dfotad; use \"modem\"",
                           job_delivery_to_string(job->delivery));
                return;
        }

        if (modem_profile_check_url(p, job->url, &why) < 0) {
                engine_end(e, JOB_REJECTED, "package.url: %s", strna(why));
                return;
        }

        e->setup_step = 0;
        engine_setup_next(e);
}

static void on_preflight_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Engine *e = userdata;
        PreflightStep step;
        int k = 0;

        e->command = 0;

        if (r->result == AT_RESULT_PORT_LOST)
                return; /* engine_port_lost() restarts preflight when the port is back */

        if (e->preflight_step == 0 || engine_preflight_step(e, e->preflight_step - 1, &step) <= 0)
                return;

        if (step.process)
                k = step.process(e, r);
        if (engine_ended(e))
                return;
        if (k < 0) {
                engine_end(e, JOB_FAILED, "preflight: %s failed (%s)", step.command, at_result_to_string(r->result));
                return;
        }

        e->preflight_step++;
        engine_preflight_next(e);
}

static void on_identified(int error, const char *failed, const char *model, const char *revision, const char *imei, void *userdata) {
        Engine *e = userdata;

        e->identifying = false;
        if (engine_ended(e))
                return;
        if (error < 0) {
                engine_end(e, JOB_FAILED, "preflight: %s", failed);
                return;
        }

        engine_record_identity(e, model, revision, imei);
        e->preflight_step++;
        engine_preflight_next(e);
}

static void engine_preflight_next(Engine *e) {
        PreflightStep step;
        int r;

        if (e->preflight_step == 0) {
                r = e->port.ops->identify(e->port.userdata, on_identified, e);
                if (r < 0)
                        log_engine(e, LOG_INFO, r, "Job %s: cannot identify the module yet, waiting for the AT port: %m",
                                   job_record_name(e->record));
                else
                        e->identifying = true;
                return;
        }

        r = engine_preflight_step(e, e->preflight_step - 1, &step);
        if (r < 0) {
                engine_end(e, JOB_FAILED, "preflight: the %s profile lists a check dfotad cannot judge",
                           engine_profile(e)->name);
                return;
        }
        if (r == 0) {
                engine_preflight_done(e);
                return;
        }

        r = engine_send(e, step.command,
                       &(AtCommandOptions) { .response_prefix = step.response_prefix }, on_preflight_reply);
        if (r < 0)
                log_engine(e, LOG_INFO, r, "Job %s: cannot send %s, waiting for the AT port: %m", job_record_name(e->record), step.command);
}

static void engine_start_preflight(Engine *e) {
        e->preflight_step = 0;
        if (e->record->state != JOB_PREFLIGHT)
                engine_set_state(e, JOB_PREFLIGHT, DFOTA_PHASE_PREFLIGHT, NULL);
        engine_preflight_next(e);
}

/* ---- the port ---------------------------------------------------------------------------- */

/* Where an execution goes on when its port is (back) open, from the record's phase. returned: the
 * port came back after it was lost (the module rebooted); otherwise it was open all along, or the
 * daemon has just taken the execution over from its record (e->resumed). */
static void engine_continue(Engine *e, bool returned) {
        JobRecord *rec = e->record;
        bool local = engine_source_is_local(e);
        char buf[32];

        switch (rec->phase) {

        case DFOTA_PHASE_PREFLIGHT:
                engine_start_preflight(e);
                return;

        case DFOTA_PHASE_QFOTADL_SENT:
                /* Sent, or maybe not (a restart between the record and the write): only the module
                 * can tell, and its first URC must come as if the command had just been written. */
                e->qfotadl_unconfirmed = e->resumed;
                if (e->resumed)
                        log_engine(e, LOG_WARNING, 0,
                                   "Job %s: AT+QFOTADL was recorded as sent before the restart and may never have reached the module; "
                                   "waiting %s for its first %s URC (it is not sent again)",
                                   job_record_name(rec), format_seconds(engine_timer_usec(e, local ? ENGINE_TIMER_FIRST_URC : ENGINE_TIMER_DOWNLOAD_START), buf),
                                   local ? "update" : "download");
                engine_await_download(e, false, e->resumed ? "resumed after a restart: AT+QFOTADL is not sent again" : "AT port is back");
                /* Back from a reboot, a download that had not shown itself is abandoned (the module
                 * reboots into normal mode): what it says within 90 s, or its revision, decides. */
                if (returned)
                        engine_arm(e, ENGINE_TIMER_FIRST_URC);
                return;

        case DFOTA_PHASE_DOWNLOADING:
                engine_set_state(e, JOB_DOWNLOADING, rec->phase, returned ? "AT port is back" : "resumed after a restart");
                /* Back from a reboot mid-download the module says within 90 s whether it goes on;
                 * after our own restart it did not reboot, and the download's own timer applies. */
                engine_arm(e, returned ? ENGINE_TIMER_FIRST_URC : ENGINE_TIMER_DOWNLOAD);
                return;

        case DFOTA_PHASE_DOWNLOADED:
                engine_set_state(e, JOB_DOWNLOADED, rec->phase, returned ? "AT port is back" : "resumed after a restart");
                engine_arm(e, ENGINE_TIMER_FIRST_URC);
                return;

        case DFOTA_PHASE_UPDATING:
        case DFOTA_PHASE_UPDATE_ENDED:
                engine_set_state(e, JOB_UPDATING, rec->phase, returned ? "AT port is back" : "resumed after a restart");
                /* After a reboot (or an END, whose retry reboots the module) the first URC must come
                 * within 90 s; in the middle of an attempt the watchdog's own period applies. */
                engine_arm(e, returned || rec->phase == DFOTA_PHASE_UPDATE_ENDED ? ENGINE_TIMER_FIRST_URC : ENGINE_TIMER_URC_WATCHDOG);
                return;

        case DFOTA_PHASE_VERIFYING:
                if (rec->state != JOB_VERIFYING || e->resumed)
                        engine_set_state(e, JOB_VERIFYING, rec->phase, returned ? "AT port is back" : "resumed after a restart");
                if (e->timer_kind != ENGINE_TIMER_VERIFY)
                        engine_arm(e, ENGINE_TIMER_VERIFY);
                e->check = REVISION_CHECK_VERIFY;
                /* A USB port that came back is the reboot. A UART that was reopened (after
                 * timeouts while the module restarted) proves nothing: RDY or the timer will. */
                if (returned && !engine_profile(e)->port_survives_reboot)
                        e->booted = true;
                engine_read_revision(e);
                return;

        case _DFOTA_PHASE_MAX:
        case _DFOTA_PHASE_INVALID:
                break;
        }
}

void engine_port_opened(Engine *e) {
        JobRecord *rec = e->record;
        bool returned;

        if (engine_ended(e))
                return;

        /* Across a re-enumeration the port may have a new name (ttyUSB2 -> ttyUSB6): the record
         * names where the module is now, for the operator and for a restart. */
        engine_record_identity(e, NULL, NULL, NULL);

        if (e->mm_pending) {
                e->port_opened_early = true;
                return;
        }

        /* Gone when we (or the daemon before us) saw it last: the module rebooted meanwhile. */
        returned = rec->state == JOB_WAITING_FOR_MODEM;
        engine_continue(e, returned);
        e->resumed = false;
}

/* How the AT channel's port-loss errors read to an operator. */
static const char *port_loss_to_string(int error) {
        switch (-error) {
        case EPIPE:     return "hang-up";           /* EOF/POLLHUP: a USB tty whose module reset */
        case ENODEV:    return "device removed";    /* udev removed the tty */
        case ETIMEDOUT: return "no answer to AT";   /* the channel gave up resynchronising */
        default:        return strerror(-error);
        }
}

void engine_port_lost(Engine *e, int error) {
        JobRecord *rec = e->record;

        if (engine_ended(e))
                return;

        /* The port took what was in flight with it (an identification too). */
        e->command = 0;
        e->identifying = false;
        e->retry = sd_event_source_disable_unref(e->retry);
        /* Nothing was sent: preflight starts over when the port is back, AT+QFOTADL after it. */
        e->qfotadl_retry = sd_event_source_disable_unref(e->qfotadl_retry);
        e->port_opened_early = false;

        log_engine_id(e, DFOTAD_MESSAGE_PORT_LOST, LOG_INFO, error, "Job %s: AT port %s lost in %s: %m",
                      job_record_name(rec), engine_port_path(e), job_state_to_string(rec->state));
        if (rec->state != JOB_WAITING_FOR_MODEM)
                /* The phase stays: it is what the port's return resumes (nothing sent yet:
                 * preflight starts over). */
                engine_set_state(e, JOB_WAITING_FOR_MODEM, rec->phase, "AT port gone (%s)%s", port_loss_to_string(error),
                                 rec->phase >= DFOTA_PHASE_DOWNLOADED ? ": the module reboots" : "");
        engine_arm(e, ENGINE_TIMER_PORT_RETURN);
}

/* ---- timers ------------------------------------------------------------------------------- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Engine *e = userdata;
        EngineTimer t = e->timer_kind;
        char buf[32];

        e->timer_kind = ENGINE_TIMER_NONE;
        if (engine_ended(e))
                return 0;

        format_seconds(engine_timer_usec(e, t), buf);

        switch (t) {

        case ENGINE_TIMER_DOWNLOAD_START:
                /* Nothing of a download: the module runs what it ran, which ATI says. */
                engine_first_urc_missed(e, t);
                break;

        case ENGINE_TIMER_DOWNLOAD:
                engine_end(e, JOB_FAILED, "the download started but no FTPEND/HTTPEND came within %s", buf);
                break;

        case ENGINE_TIMER_PORT_RETURN:
                engine_end(e, JOB_FAILED, "the AT port %s did not come back within %s", engine_port_path(e), buf);
                break;

        case ENGINE_TIMER_FIRST_URC:
                engine_first_urc_missed(e, t);
                break;

        case ENGINE_TIMER_URC_WATCHDOG:
                engine_handle_watchdog(e);
                break;

        case ENGINE_TIMER_VERIFY:
                if (!e->booted) {
                        /* No reboot seen: whatever the module answers now is final. One more
                         * period for that answer. */
                        log_engine(e, LOG_INFO, 0, "Job %s: no reboot seen within %s of END; the next revision read decides",
                                   job_record_name(e->record), buf);
                        e->booted = true;
                        engine_arm(e, ENGINE_TIMER_VERIFY);
                        engine_read_revision(e);
                        break;
                }
                engine_end(e, JOB_FAILED, "could not read the module's revision with ATI within %s after the update phase ended", buf);
                break;

        case ENGINE_TIMER_NONE:
        case _ENGINE_TIMER_MAX:
        case _ENGINE_TIMER_INVALID:
                break;
        }

        return 0;
}

/* ---- ModemManager -------------------------------------------------------------------------- */

static void on_mm_answer(MmInhibition *i, MmInhibitResult result, void *userdata) {
        Engine *e = userdata;

        /* Inhibited or not, the job goes on: an absent or refusing ModemManager never fails it
         * (modemmanager.c logged which). */
        e->mm_pending = false;
        if (e->port_opened_early) {
                e->port_opened_early = false;
                engine_port_opened(e);
        }
}

/* ModemManager probes the modules it sees and re-probes one that sends RDY (reference modem.md
 * §0): it must be off the port before the execution's first command. A resumed execution asks
 * again, before it sends anything: the inhibition ended with the previous process's bus
 * connection. Until the manager has a client (NULL), nothing is asked. */
static void engine_inhibit(Engine *e) {
        MmClient *mm = e->env.mm;
        EnginePortInfo i = engine_port_info(e);
        int r;

        if (!mm)
                return;

        /* The physical device's sysfs path, NULL for a static port: ModemManager's modem is then
         * found by the port's name. */
        r = mm_inhibit(mm, i.device, i.path, on_mm_answer, e, &e->mm);
        if (r < 0) {
                log_engine(e, LOG_WARNING, r, "Job %s: cannot ask ModemManager to keep off the module, going on: %m",
                           job_record_name(e->record));
                return;
        }
        e->mm_pending = true;
}

/* ---- life cycle --------------------------------------------------------------------------- */

int engine_start(const EngineEnv *env, const EnginePort *port, const EngineCallbacks *callbacks, void *userdata,
                 JobRecord *record, Engine **ret) {
        JobRecord *rec = record;
        EnginePortInfo i = {};
        Engine *e;

        assert(env && port && port->ops && callbacks && callbacks->report && callbacks->finished);

        e = calloc(1, sizeof(Engine));
        if (!e)
                return -ENOMEM;

        *e = (Engine) {
                .env = *env,
                .port = *port,
                .callbacks = *callbacks,
                .userdata = userdata,
                .record = rec,
        };

        port->ops->info(port->userdata, &i);
        engine_record_identity(e, NULL, NULL, rec->modem_imei ? NULL : i.imei);
        e->progress_reported = rec->progress / 10;
        e->reported = engine_status_key(e);
        *ret = e;

        if (job_state_is_terminal(rec->state))
                return 0;

        engine_inhibit(e);

        /* Everything a resume needs is in typed record fields (record.h): the phase, whether
         * AT+QFOTADL was sent (job_record_load() settled a contradiction on the safe side),
         * attempt, last_end, the family. A QUEUED record with nothing sent is a fresh start. */
        if (rec->state == JOB_QUEUED && rec->phase == DFOTA_PHASE_PREFLIGHT) {
                /* The port is open (a modem starts queued jobs only on a ready port); preflight
                 * waits for ModemManager's answer there. */
                engine_port_opened(e);
                return 0;
        }

        e->resumed = true;
        log_engine(e, LOG_INFO, 0, "Job %s: resuming in %s (phase %s, attempt %u%s)%s", job_record_name(rec),
                   job_state_to_string(rec->state), dfota_phase_to_string(rec->phase), rec->attempt,
                   rec->last_end >= 0 ? ", its last END known" : "",
                   rec->qfotadl_sent ? "; AT+QFOTADL was sent before and is not sent again" : "");

        /* Resumed after a restart: the port opens (engine_port_opened) or must come back in time. */
        engine_arm(e, ENGINE_TIMER_PORT_RETURN);
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;

        engine_cancel_command(e);
        if (e->reset_pending)
                e->port.ops->reset_cancel(e->port.userdata);
        e->timer = sd_event_source_disable_unref(e->timer);
        e->retry = sd_event_source_disable_unref(e->retry);
        e->qfotadl_retry = sd_event_source_disable_unref(e->qfotadl_retry);
        /* Not released: an execution still running here is being shut down and resumes at the
         * next start, which inhibits again before it touches the port. Until then the module
         * stays ModemManager-free for as long as our bus connection lives, moments more; a
         * release now would hand it over mid-update for those moments, to no one's gain. */
        e->mm = mm_inhibition_free(e->mm);
        job_record_free(e->record);
        free(e);
        return NULL;
}

const JobRecord *engine_get_record(const Engine *e) {
        return e->record;
}

int engine_flush(Engine *e) {
        return job_record_save(e->record);
}
