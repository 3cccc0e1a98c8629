/* SPDX-License-Identifier: MIT */

/* The AWS IoT Jobs dialect (README "MQTT control plane, AWS IoT Jobs"; topics, payloads, status
 * values and error codes as AWS documents them: ../shared/reference/control-plane.md §3). With
 * J = $aws/things/<thing name>/jobs:
 *   J/notify-next                 -> start-next when it names an execution we do not know
 *   J/start-next(/accepted|rejected)  the next execution, moved to IN_PROGRESS by the service
 *   J/<job id>/update(/accepted|rejected)  every status update, one at a time, from the outbox
 *   J/<job id>/get(/accepted|rejected)     re-reading an execution (version, server-side end)
 *
 * Per job we keep <state_directory>/mqtt/aws/<job id>.json: the execution number (duplicates of a
 * notification, also after a restart, start nothing new), the execution's versionNumber (sent as
 * expectedVersion), and whether the service ended the job (canceled, timed out, removed, deleted). */

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "escape.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "mqtt-internal.h"
#include "state-file.h"

/* statusDetails values: 1..1024 characters (control-plane.md §3.4). */
#define AWS_DETAIL_MAX 1024
/* Our per-job state file is ~150 bytes; a larger one is not ours. */
#define AWS_STATE_MAX (64U * 1024U)
/* How much of a message too large to be parsed is scanned for its jobId (mqtt_aws_scan()). AWS
 * lists an execution's jobId first and its jobDocument before versionNumber and executionNumber
 * (control-plane.md §3): those two may be out of reach, and are then taken as 1 (the first
 * execution; a wrong version comes back as VersionMismatch, which re-reads the execution). */
#define AWS_SCAN_MAX (16U * 1024U)
/* The payload quoted in the debug trace of every message. */
#define AWS_TRACE_MAX 2048U

typedef struct AwsJob {
        char *id;
        int64_t execution_number;
        int64_t version;            /* the execution's versionNumber as last seen */
        bool server_ended;          /* the service ended it: nothing more is sent */
        bool reported_terminal;     /* a terminal status was accepted */
        char *path;
} AwsJob;

struct AwsJobs {
        char *topic_prefix;         /* $aws/things/<thing>/jobs */
        char *dir;                  /* <state_directory>/mqtt/aws */
        AwsJob **jobs;
        size_t n_jobs;

        bool start_next_wanted;
        char *start_next_token;

        /* The update in flight (the outbox head). */
        char *request_token;
        bool rereading;             /* a get for the head's job, after VersionMismatch/InvalidStateTransition */
        sd_event_source *request_timer;
        sd_event_source *retry_timer;
        usec_t retry_delay;

        sd_event_source *heartbeat_timer;
        usec_t last_sent;           /* CLOCK_MONOTONIC of the last update sent */
};

/* ---- per-job state ---- */

static AwsJob *aws_job_free(AwsJob *j) {
        if (!j)
                return NULL;
        free(j->id);
        free(j->path);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(AwsJob *, aws_job_free);

static AwsJob *aws_job_find(AwsJobs *a, const char *id) {
        for (size_t i = 0; i < a->n_jobs; i++)
                if (streq(a->jobs[i]->id, id))
                        return a->jobs[i];
        return NULL;
}

/* Returns 0 (also when the file is only kept in memory for now) or -ENOMEM. */
static int aws_job_save(AwsJob *j) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        int r;

        if (!o ||
            json_object_object_add(o, "job_id", json_object_new_string(j->id)) < 0 ||
            json_object_object_add(o, "execution_number", json_object_new_int64(j->execution_number)) < 0 ||
            json_object_object_add(o, "version_number", json_object_new_int64(j->version)) < 0 ||
            json_object_object_add(o, "server_ended", json_object_new_boolean(j->server_ended)) < 0 ||
            json_object_object_add(o, "reported_terminal", json_object_new_boolean(j->reported_terminal)) < 0)
                return -ENOMEM;

        /* What cannot be written now is kept and written later (state-file.h); the daemon says
         * that the state directory cannot be written, once for every file. */
        r = state_file_write(j->path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), STATE_WRITE_RETRY);
        if (r < 0)
                log_debug_errno(r, "MQTT: job %s: %s cannot be written now, kept in memory until it can: %m", j->id, j->path);
        return 0;
}

static void aws_job_save_or_warn(AwsJob *j) {
        int r = aws_job_save(j);

        if (r < 0)
                log_warning_errno(r, "MQTT: job %s: cannot save %s: %m", j->id, j->path);
}

/* Forgets an execution we could not record (it is taken again when the service offers it again). */
static void aws_job_forget(AwsJob *j) {
        (void) state_file_remove(j->path);
        j->execution_number = 0;
}

static int aws_job_add(AwsJobs *a, const char *id, AwsJob **ret) {
        _cleanup_(aws_job_freep) AwsJob *j = NULL;
        AwsJob **l;

        j = calloc(1, sizeof(AwsJob));
        if (!j)
                return -ENOMEM;
        j->id = strdup(id);
        if (!j->id || asprintf(&j->path, "%s/%s.json", a->dir, id) < 0)
                return -ENOMEM;

        l = reallocarray(a->jobs, a->n_jobs + 1, sizeof(AwsJob *));
        if (!l)
                return -ENOMEM;
        a->jobs = l;
        a->jobs[a->n_jobs++] = j;

        *ret = TAKE_PTR(j);
        return 0;
}

static int64_t json_int(json_object *o, const char *key, int64_t fallback) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : fallback;
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;

        return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A string of the service's, escaped for log lines and reasons where it is received (escape.h):
 * error codes, messages, statuses, job ids that are not valid. "(none)" when absent; NULL only
 * when out of memory. */
static char *json_str_safe(json_object *o, const char *key, size_t max) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return strdup("(none)");
        return escape_foreign(json_object_get_string(v), (size_t) json_object_get_string_len(v), max);
}

static bool json_flag(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static int aws_load(AwsJobs *a) {
        DIR *d;
        int r = 0;

        d = opendir(a->dir);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d)); ) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                _cleanup_free_ char *path = NULL, *text = NULL;
                size_t l = strlen(de->d_name), size = 0;
                const char *id;
                AwsJob *j;

                if (de->d_name[0] == '.' || l <= 5 || !streq(de->d_name + l - 5, ".json"))
                        continue;
                if (asprintf(&path, "%s/%s", a->dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (state_file_read(path, AWS_STATE_MAX, &text, &size) < 0 || memchr(text, '\0', size) ||
                    json_parse_strict(text, size, NULL, &o, NULL) < 0 ||
                    !(id = json_str(o, "job_id")) || !job_id_is_valid(id)) {
                        _cleanup_free_ char *name = escape_foreign_str(de->d_name, ESCAPE_LINE_MAX);

                        log_warning("MQTT: %s/%s cannot be read, ignoring it", a->dir, strna(name));
                        continue;
                }
                r = aws_job_add(a, id, &j);
                if (r < 0)
                        break;
                j->execution_number = json_int(o, "execution_number", 1);
                j->version = json_int(o, "version_number", 1);
                j->server_ended = json_flag(o, "server_ended");
                j->reported_terminal = json_flag(o, "reported_terminal");
        }
        closedir(d);
        return r;
}

/* ---- requests ---- */

static char *aws_topic(const AwsJobs *a, const char *job, const char *api) {
        char *t;

        if (job ? asprintf(&t, "%s/%s/%s", a->topic_prefix, job, api) < 0 : asprintf(&t, "%s/%s", a->topic_prefix, api) < 0)
                return NULL;
        return t;
}

/* A fresh clientToken per request (the AWS IoT Device Client does the same): replies to an earlier
 * attempt can then never be taken for this one's. */
static char *aws_token(void) {
        char *t;

        if (asprintf(&t, "dfotad-%08x%08x", arc4random(), arc4random()) < 0)
                return NULL;
        return t;
}

static int aws_publish(Mqtt *m, const char *topic, json_object *o) {
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

        log_debug("MQTT: -> %s %s", topic, text);
        return mqtt_client_publish(m->client, topic, text, strlen(text), false, NULL);
}

static void aws_clear_request(AwsJobs *a) {
        free(a->request_token);
        a->request_token = NULL;
        a->rereading = false;
        a->request_timer = sd_event_source_disable_unref(a->request_timer);
        a->retry_timer = sd_event_source_disable_unref(a->retry_timer);
}

/* The head goes out again (fresh token) at the next pump. */
static void aws_resend(Mqtt *m) {
        OutboxEntry *e = outbox_head(m->outbox);

        aws_clear_request(m->aws);
        if (e)
                e->in_flight = false;
        mqtt_pump(m);
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Mqtt *m = userdata;
        OutboxEntry *e = outbox_head(m->outbox);

        log_warning("MQTT: job %s: no answer to the update within %.1f s, sending it again", e ? e->job : "?",
                    (double) m->config->request_timeout / USEC_PER_SEC);
        aws_resend(m);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        aws_resend(userdata);
        return 0;
}

/* RequestThrottled and InternalError: the same update again after a growing delay. */
static void aws_retry_later(Mqtt *m, const char *why) {
        AwsJobs *a = m->aws;
        usec_t d;
        int r;

        d = a->retry_delay == 0 ? m->config->reconnect_min : MIN(a->retry_delay * 2, m->config->reconnect_max);
        a->retry_delay = d;
        d = d - d / 4 + arc4random_uniform((uint32_t) MIN(d / 2 + 1, (usec_t) UINT32_MAX));

        a->request_timer = sd_event_source_disable_unref(a->request_timer);
        a->retry_timer = sd_event_source_disable_unref(a->retry_timer);
        log_warning("MQTT: %s; retrying in %.1f s", why, (double) d / USEC_PER_SEC);
        r = sd_event_add_time_relative(m->cp.host->event, &a->retry_timer, CLOCK_MONOTONIC, d, 0, on_retry, m);
        if (r < 0)
                log_error_errno(r, "MQTT: cannot arm the retry timer: %m");
}

static int aws_describe(Mqtt *m, AwsJob *j) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *topic = aws_topic(m->aws, j->id, "get"), *token = aws_token();

        if (!o || !topic || !token ||
            json_object_object_add(o, "executionNumber", json_object_new_int64(j->execution_number)) < 0 ||
            json_object_object_add(o, "includeJobDocument", json_object_new_boolean(false)) < 0 ||
            json_object_object_add(o, "clientToken", json_object_new_string(token)) < 0)
                return -ENOMEM;
        return aws_publish(m, topic, o);
}

/* ---- the service ended a job ---- */

static void aws_server_ended(Mqtt *m, AwsJob *j, const char *why) {
        _cleanup_free_ char *reason = NULL;
        OutboxEntry *e = outbox_head(m->outbox);
        int r;

        if (j->server_ended)
                return;
        j->server_ended = true;
        aws_job_save_or_warn(j);

        if (e && e->in_flight && streq(e->job, j->id))
                aws_clear_request(m->aws);
        (void) outbox_drop_job(m->outbox, j->id);

        if (asprintf(&reason, "canceled by the control plane (AWS IoT Jobs: %s)", why) < 0)
                reason = NULL;
        r = control_plane_cancel_job(&m->cp, j->id, reason ?: "canceled by the control plane");
        if (r == 0)
                log_ctx_notice(&((LogContext) { .job_id = j->id, .message_id = DFOTAD_MESSAGE_CP_JOB_ENDED }),
                               "Job %s: the control plane ended the job (%s) before AT+QFOTADL was sent; canceled here",
                               j->id, why);
        else if (r == -EBUSY)
                log_ctx_warning(&((LogContext) { .job_id = j->id, .message_id = DFOTAD_MESSAGE_CP_JOB_ENDED }),
                                "Job %s: the control plane ended the job (%s) after AT+QFOTADL was sent; the module finishes "
                                "its upgrade, but its result cannot be reported", j->id, why);
        else if (!j->reported_terminal)
                log_ctx_warning(&((LogContext) { .job_id = j->id, .message_id = DFOTAD_MESSAGE_CP_JOB_ENDED }),
                                "Job %s: the control plane ended the job (%s); its result here cannot be reported", j->id, why);

        mqtt_pump(m);
}

/* ---- status updates ---- */

static const char *aws_status_of(const char *state) {
        if (streq_ptr(state, "SUCCEEDED"))
                return "SUCCEEDED";
        if (streq_ptr(state, "REJECTED"))
                return "REJECTED";
        /* A device cannot set CANCELED (control-plane.md §3.3): a local cancel is a failure to
         * the service, with the reason. */
        if (streq_ptr(state, "FAILED") || streq_ptr(state, "CANCELED"))
                return "FAILED";
        return "IN_PROGRESS";
}

static bool aws_status_is_terminal(const char *s) {
        return s && !streq(s, "QUEUED") && !streq(s, "IN_PROGRESS");
}

/* statusDetails values are strings of 1..1024 characters without control characters. */
static int details_add(json_object *d, const char *key, const char *value) {
        char buf[AWS_DETAIL_MAX + 1];
        size_t n;

        if (isempty(value))
                return 0;
        n = MIN(strlen(value), (size_t) AWS_DETAIL_MAX);
        memcpy(buf, value, n);
        buf[n] = '\0';
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) buf[i] < ' ' || buf[i] == 0x7f)
                        buf[i] = ' ';
        return json_object_object_add(d, key, json_object_new_string(buf)) < 0 ? -ENOMEM : 0;
}

static int details_add_int(json_object *d, const char *key, json_object *status, const char *field, bool zero) {
        char buf[32];
        json_object *v;

        if (!json_object_object_get_ex(status, field, &v) || !json_object_is_type(v, json_type_int))
                return 0;
        if (!zero && json_object_get_int64(v) == 0)
                return 0;
        (void) snprintf(buf, sizeof buf, "%" PRId64, json_object_get_int64(v));
        return details_add(d, key, buf);
}

static json_object *aws_status_details(json_object *status) {
        _cleanup_(json_object_putp) json_object *d = json_object_new_object();
        json_object *err = NULL, *modem = NULL, *execs = NULL, *attempts = NULL;
        int r;

        if (!d)
                return NULL;
        (void) json_object_object_get_ex(status, "attempts", &attempts);
        (void) json_object_object_get_ex(status, "module_error", &err);
        (void) json_object_object_get_ex(status, "modem", &modem);
        (void) json_object_object_get_ex(status, "executions", &execs);

        r = details_add(d, "state", json_str(status, "state"));
        if (r >= 0)
                r = details_add_int(d, "progress", status, "progress", true);
        if (r >= 0)
                r = details_add_int(d, "attempt", status, "attempt", false);
        if (r >= 0 && json_object_is_type(err, json_type_object)) {
                r = details_add_int(d, "module_error", err, "code", true);
                if (r >= 0)
                        r = details_add(d, "module_error_kind", json_str(err, "kind"));
                if (r >= 0)
                        r = details_add(d, "module_error_meaning", json_str(err, "meaning"));
        }
        if (r >= 0)
                r = details_add(d, "revision_before", json_str(status, "revision_before"));
        if (r >= 0)
                r = details_add(d, "revision_after", json_str(status, "revision_after"));
        if (r >= 0 && json_object_is_type(modem, json_type_object)) {
                r = details_add(d, "imei", json_str(modem, "imei"));
                if (r >= 0)
                        r = details_add(d, "model", json_str(modem, "model"));
        }
        if (r >= 0 && json_object_is_type(execs, json_type_array)) {
                _cleanup_free_ char *s = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&s, &len);

                if (!f)
                        return NULL;
                for (size_t i = 0; i < json_object_array_length(execs); i++) {
                        json_object *x = json_object_array_get_idx(execs, i);
                        fprintf(f, "%s%s:%s", i > 0 ? "," : "", strna(json_str(x, "imei")), strna(json_str(x, "state")));
                }
                if (fclose(f) != 0)
                        return NULL;
                r = details_add(d, "executions", s);
        }
        if (r >= 0 && json_object_is_type(attempts, json_type_array) && json_object_array_length(attempts) > 0) {
                /* Each attempt's end, as the record's "attempts" has it: "1: END,505 (meaning); 2: END,0". */
                _cleanup_free_ char *s = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&s, &len);

                if (!f)
                        return NULL;
                for (size_t i = 0; i < json_object_array_length(attempts); i++) {
                        json_object *a = json_object_array_get_idx(attempts, i);
                        const char *meaning = json_str(a, "meaning");

                        fprintf(f, "%s%" PRId64 ": END,%" PRId64 "%s%s%s", i > 0 ? "; " : "", json_int(a, "attempt", 0),
                                json_int(a, "code", 0), meaning ? " (" : "", strempty(meaning), meaning ? ")" : "");
                }
                if (fclose(f) != 0)
                        return NULL;
                r = details_add(d, "attempts", s);
        }
        if (r >= 0)
                r = details_add(d, "reason", json_str(status, "reason"));
        if (r < 0)
                return NULL;
        return TAKE_PTR(d);
}

static int aws_send(Mqtt *m, OutboxEntry *e) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *topic = NULL, *token = NULL;
        AwsJobs *a = m->aws;
        const char *state = json_str(e->status, "state"), *status = aws_status_of(state);
        AwsJob *j = aws_job_find(a, e->job);
        int r;

        if (!j) {
                log_warning("MQTT: job %s did not come from AWS IoT Jobs; its status is not sent there", e->job);
                return 1;
        }
        if (j->server_ended) {
                /* CANCELED: the control plane's own cancel, nothing to regret. */
                if (aws_status_is_terminal(status) && !e->heartbeat && !streq_ptr(state, "CANCELED"))
                        log_ctx_warning(&((LogContext) { .job_id = j->id, .state = state, .message_id = DFOTAD_MESSAGE_CP_JOB_ENDED }),
                                        "Job %s: %s here, but the control plane had ended the job: its result cannot be reported",
                                        j->id, strna(state));
                return 1;
        }
        if (j->reported_terminal)
                return 1;

        o = json_object_new_object();
        topic = aws_topic(a, j->id, "update");
        token = aws_token();
        if (!o || !topic || !token ||
            json_object_object_add(o, "status", json_object_new_string(status)) < 0 ||
            json_object_object_add(o, "statusDetails", aws_status_details(e->status)) < 0 ||
            json_object_object_add(o, "expectedVersion", json_object_new_int64(j->version)) < 0 ||
            json_object_object_add(o, "executionNumber", json_object_new_int64(j->execution_number)) < 0 ||
            json_object_object_add(o, "includeJobExecutionState", json_object_new_boolean(true)) < 0 ||
            json_object_object_add(o, "clientToken", json_object_new_string(token)) < 0)
                return -ENOMEM;
        /* The step timer as a heartbeat through long phases (control-plane.md §3.3). */
        if (streq(status, "IN_PROGRESS") && m->config->step_timeout_minutes > 0 &&
            json_object_object_add(o, "stepTimeoutInMinutes", json_object_new_int64(m->config->step_timeout_minutes)) < 0)
                return -ENOMEM;

        r = aws_publish(m, topic, o);
        if (r < 0)
                return r;

        free(a->request_token);
        a->request_token = TAKE_PTR(token);
        a->request_timer = sd_event_source_disable_unref(a->request_timer);
        r = sd_event_add_time_relative(m->cp.host->event, &a->request_timer, CLOCK_MONOTONIC,
                                       m->config->request_timeout, 0, on_request_timeout, m);
        if (r < 0)
                log_warning_errno(r, "MQTT: cannot arm the request timer: %m");
        (void) sd_event_now(m->cp.host->event, CLOCK_MONOTONIC, &a->last_sent);
        return 0;
}

/* ---- replies ---- */

static bool aws_reply_is_ours(AwsJobs *a, json_object *o) {
        return a->request_token && streq_ptr(json_str(o, "clientToken"), a->request_token);
}

static void aws_update_accepted(Mqtt *m, AwsJob *j, json_object *o) {
        AwsJobs *a = m->aws;
        OutboxEntry *e = outbox_head(m->outbox);
        json_object *es;

        if (!e || !e->in_flight || !streq(e->job, j->id) || !aws_reply_is_ours(a, o))
                return; /* a late reply to an attempt we gave up on */

        if (json_object_object_get_ex(o, "executionState", &es) && json_object_is_type(es, json_type_object))
                j->version = json_int(es, "versionNumber", j->version + 1);
        else
                j->version++;
        if (aws_status_is_terminal(aws_status_of(json_str(e->status, "state"))))
                j->reported_terminal = true;
        aws_job_save_or_warn(j);

        aws_clear_request(a);
        a->retry_delay = 0;
        mqtt_delivered(m, e);
}

static void aws_update_rejected(Mqtt *m, AwsJob *j, json_object *o) {
        AwsJobs *a = m->aws;
        OutboxEntry *e = outbox_head(m->outbox);
        const char *code = json_str(o, "code") ?: "(no code)";
        _cleanup_free_ char *why = NULL, *code_safe = NULL, *message_safe = NULL;
        int r;

        if (!e || !e->in_flight || !streq(e->job, j->id) || !aws_reply_is_ours(a, o))
                return;
        a->request_timer = sd_event_source_disable_unref(a->request_timer);

        /* The service's words go into log lines: escaped, once, here. */
        code_safe = json_str_safe(o, "code", ESCAPE_KEY_MAX);
        message_safe = json_str_safe(o, "message", ESCAPE_LINE_MAX);

        if (streq(code, "RequestThrottled") || streq(code, "InternalError")) {
                if (asprintf(&why, "job %s: the service answered %s (%s)", j->id, code, strna(message_safe)) < 0)
                        why = NULL;
                aws_retry_later(m, why ?: code);
        } else if (streq(code, "VersionMismatch") || streq(code, "InvalidStateTransition")) {
                log_info("MQTT: job %s: the service answered %s; reading the execution again", j->id, code);
                a->rereading = true;
                r = aws_describe(m, j);
                if (r < 0)
                        aws_retry_later(m, "cannot read the execution again");
        } else if (streq(code, "TerminalStateReached") || streq(code, "ResourceNotFound"))
                aws_server_ended(m, j, code);
        else {
                log_error("MQTT: job %s: the service refused the update: %s (%s); dropping it", j->id, strna(code_safe),
                          strna(message_safe));
                aws_clear_request(a);
                (void) outbox_remove(m->outbox, e, false);
                mqtt_pump(m);
        }
}

static void aws_get_accepted(Mqtt *m, AwsJob *j, json_object *o) {
        AwsJobs *a = m->aws;
        OutboxEntry *e = outbox_head(m->outbox);
        bool head_is_j = e && e->in_flight && streq(e->job, j->id);
        json_object *x;
        const char *status;

        if (!json_object_object_get_ex(o, "execution", &x) || !json_object_is_type(x, json_type_object))
                return;
        if (json_int(x, "executionNumber", j->execution_number) != j->execution_number)
                return;

        j->version = json_int(x, "versionNumber", j->version);
        status = json_str(x, "status");

        if (aws_status_is_terminal(status)) {
                _cleanup_free_ char *status_safe = NULL;

                /* Our own terminal update went through and only its answer was lost. */
                if (head_is_j && streq(status, aws_status_of(json_str(e->status, "state")))) {
                        j->reported_terminal = true;
                        aws_job_save_or_warn(j);
                        aws_clear_request(a);
                        mqtt_delivered(m, e);
                        return;
                }
                if (j->reported_terminal)
                        return;
                /* The status goes into the job's reason: escaped here, where it is received. */
                status_safe = json_str_safe(x, "status", ESCAPE_KEY_MAX);
                aws_server_ended(m, j, status_safe ?: "ended");
                return;
        }

        aws_job_save_or_warn(j);
        if (head_is_j && a->rereading)
                aws_resend(m);
}

static void aws_get_rejected(Mqtt *m, AwsJob *j, json_object *o) {
        const char *code = json_str(o, "code") ?: "(no code)";

        if (streq(code, "ResourceNotFound"))
                aws_server_ended(m, j, "ResourceNotFound");
        else if (m->aws->rereading)
                aws_retry_later(m, "the service refused to describe the execution");
}

/* An execution the service offers (start-next/accepted, notify-next), execution number `number`
 * and versionNumber `version` (as far as known): the AwsJob to record it under, saved, or NULL
 * when it is one we know already (a duplicate notification, also after a restart), a job known
 * here from elsewhere, or when it cannot be kept. */
static AwsJob *aws_adopt_execution(Mqtt *m, const char *id, int64_t number, int64_t version) {
        AwsJobs *a = m->aws;
        AwsJob *j;
        int r;

        j = aws_job_find(a, id);
        if (j && j->execution_number >= number) {
                log_debug("MQTT: job %s execution %" PRId64 " is known already", id, number);
                return NULL;
        }
        if (!j && control_plane_job_exists(&m->cp, id)) {
                log_info("MQTT: job %s is known here already (not from AWS IoT Jobs), ignoring it", id);
                return NULL;
        }
        if (j) {
                /* The service runs the job again (its retry configuration): the last run's record
                 * is kept aside, the new execution starts from scratch. */
                _cleanup_free_ char *old = NULL, *kept = NULL;

                if (asprintf(&old, "%s/%s.json", m->cp.host->jobs_directory, id) < 0 ||
                    asprintf(&kept, "%s/%s.json.execution-%" PRId64, m->cp.host->jobs_directory, id, j->execution_number) < 0)
                        return NULL;
                r = state_file_rename(old, kept);
                if (r < 0 && r != -ENOENT) {
                        log_error_errno(r, "MQTT: job %s: cannot set the last execution's record aside: %m", id);
                        return NULL;
                }
                log_info("MQTT: job %s: execution %" PRId64 " follows execution %" PRId64 "; the old record is %s",
                         id, number, j->execution_number, kept);
        } else {
                r = aws_job_add(a, id, &j);
                if (r < 0)
                        return NULL;
        }
        j->execution_number = number;
        j->version = version;
        j->server_ended = false;
        j->reported_terminal = false;
        r = aws_job_save(j);
        if (r < 0) {
                log_error_errno(r, "MQTT: job %s: cannot save %s: %m", id, j->path);
                aws_job_forget(j);
                return NULL;
        }
        return j;
}

/* An execution from start-next/accepted. */
static void aws_take_execution(Mqtt *m, json_object *x) {
        const char *job_id = json_str(x, "jobId"), *text;
        json_object *doc = NULL;
        size_t len;
        AwsJob *j;
        int r;

        if (!job_id || !job_id_is_valid(job_id)) {
                _cleanup_free_ char *safe = json_str_safe(x, "jobId", ESCAPE_KEY_MAX);

                log_warning("MQTT: start-next returned an execution without a valid jobId (%s), ignoring it", strna(safe));
                return;
        }

        j = aws_adopt_execution(m, job_id, json_int(x, "executionNumber", 1), json_int(x, "versionNumber", 1));
        if (!j)
                return;

        /* jobDocument is an embedded object over MQTT, a string in the HTTP model: take both. A
         * string is taken with its length, so that a NUL inside (\u0000) is seen and rejected. */
        (void) json_object_object_get_ex(x, "jobDocument", &doc);
        if (json_object_is_type(doc, json_type_string)) {
                text = json_object_get_string(doc);
                len = (size_t) json_object_get_string_len(doc);
        } else {
                text = doc ? json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN) : "{}";
                len = strlen(text);
        }

        r = mqtt_submit(m, text, len, j->id);
        if (r < 0 && r != -EEXIST) {
                /* Not recorded: forget that we saw it, start-next returns it at the next connect. */
                log_error_errno(r, "MQTT: job %s could not be recorded; it is taken at the next connect: %m", j->id);
                aws_job_forget(j);
        }
}

/* The "execution" of a notify-next names job next (execution number): a start-next when it is
 * one we do not know, and a look at the executions we run that it does not name. */
static void aws_notify_next(Mqtt *m, const char *next, int64_t number) {
        AwsJobs *a = m->aws;

        if (next) {
                AwsJob *j = aws_job_find(a, next);

                if (j && j->execution_number >= number)
                        log_debug("MQTT: notify-next names job %s, known already", next);
                else {
                        a->start_next_wanted = true;
                        mqtt_pump(m);
                }
        }

        /* The next execution is not one we run: the service may have canceled ours. */
        for (size_t i = 0; i < a->n_jobs; i++) {
                AwsJob *j = a->jobs[i];

                if (j->server_ended || j->reported_terminal || j->execution_number == 0 || streq_ptr(next, j->id))
                        continue;
                if (aws_describe(m, j) < 0)
                        log_warning("MQTT: job %s: cannot ask the service about it", j->id);
        }
}

/* ---- messages that cannot be parsed whole ---- */

static bool scan_is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The end of the string that starts after the opening quote at p[i] (the index of its closing
 * quote), or n when it does not end within n; *ret_escaped says whether it holds a backslash. */
static size_t scan_string_end(const char *p, size_t n, size_t i, bool *ret_escaped) {
        bool escaped = false;

        for (; i < n; i++) {
                if (p[i] == '\\') {
                        escaped = true;
                        i++;
                } else if (p[i] == '"')
                        break;
        }
        *ret_escaped = escaped;
        return MIN(i, n);
}

static bool scan_key_is(const char *key, size_t key_len, const char *s) {
        return key && key_len == strlen(s) && memcmp(key, s, key_len) == 0;
}

/* A tokenizer, not a parser: it follows strings (so that brackets and keys inside them do not
 * count), the nesting depth and which key a value belongs to, which is all it takes to find the
 * few members we need, and never looks at more than n bytes. Members inside the job document
 * (deeper than "execution") are not taken for the execution's. */
void mqtt_aws_scan(const char *p, size_t n, AwsScan *ret) {
        AwsScan scan = {};
        const char *key = NULL;
        size_t key_len = 0, depth = 0;
        bool want_key = false, in_execution = false, opened_object[3] = {};

        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (c == '"') {
                        bool escaped;
                        size_t end = scan_string_end(p, n, i + 1, &escaped), len = end - (i + 1);
                        const char *str = p + i + 1;

                        if (end >= n)
                                break;
                        if (want_key) {
                                key = str;
                                key_len = len;
                                want_key = false;
                        } else if (!escaped) {
                                if (depth == 2 && in_execution && scan_key_is(key, key_len, "jobId") && len < sizeof scan.job_id) {
                                        memcpy(scan.job_id, str, len);
                                        scan.job_id[len] = '\0';
                                } else if (depth == 1 && scan_key_is(key, key_len, "clientToken") && len < sizeof scan.client_token) {
                                        memcpy(scan.client_token, str, len);
                                        scan.client_token[len] = '\0';
                                }
                        }
                        i = end;
                } else if (c == '{' || c == '[') {
                        if (depth == 1 && c == '{' && scan_key_is(key, key_len, "execution"))
                                in_execution = true;
                        if (depth < ELEMENTSOF(opened_object))
                                opened_object[depth] = c == '{';
                        depth++;
                        want_key = c == '{';
                        key = NULL;
                } else if (c == '}' || c == ']') {
                        if (depth == 0)
                                break;
                        depth--;
                        if (depth < 2)
                                in_execution = false;
                        want_key = false;
                        key = NULL;
                } else if (c == ',')
                        /* In an object the next string is a key; in an array it is a value. */
                        want_key = depth > 0 && depth <= ELEMENTSOF(opened_object) && opened_object[depth - 1];
                else if (c >= '0' && c <= '9' && depth == 2 && in_execution) {
                        int64_t v = 0;
                        bool overflow = false, after_colon = false;
                        size_t j = i;

                        /* A value of its own, right after "key": (not the rest of "-1", "1.5"). */
                        for (size_t k = i; k > 0; k--)
                                if (!scan_is_space(p[k - 1])) {
                                        after_colon = p[k - 1] == ':';
                                        break;
                                }

                        for (; j < n && p[j] >= '0' && p[j] <= '9'; j++) {
                                if (v > (INT64_MAX - (p[j] - '0')) / 10)
                                        overflow = true;
                                else
                                        v = v * 10 + (p[j] - '0');
                        }
                        /* A whole integer only: "1.5", "1e3" and a number cut at n are not taken. */
                        if (after_colon && !overflow && j < n && (scan_is_space(p[j]) || p[j] == ',' || p[j] == '}')) {
                                if (scan_key_is(key, key_len, "executionNumber"))
                                        scan.execution_number = v;
                                else if (scan_key_is(key, key_len, "versionNumber"))
                                        scan.version = v;
                        }
                        i = j - 1;
                }
                /* ':', whitespace, literals and other numbers change nothing we follow. */
        }

        *ret = scan;
}

/* A message on a jobs topic that cannot be parsed whole (issue 9 item 8): larger than
 * MQTT_MESSAGE_MAX, or with a NUL byte (what), so nothing of it is parsed. An execution it offers
 * (start-next/accepted, notify-next) whose jobId the scan of its first AWS_SCAN_MAX bytes finds is
 * recorded REJECTED with the reason and reported so: the service ends it and never offers it
 * again, and a restart does not take it again (its AwsJob and record exist). Anything else is
 * logged and dropped. */
static void aws_unparsable(Mqtt *m, const char *api, const char *topic_safe, const char *payload, size_t len, const char *what) {
        _cleanup_free_ char *head = NULL, *reason = NULL;
        bool offer = streq(api, "start-next/accepted") || streq(api, "notify-next");
        AwsJobs *a = m->aws;
        AwsScan scan;
        AwsJob *j;
        int r;

        if (offer) {
                mqtt_aws_scan(payload, MIN(len, (size_t) AWS_SCAN_MAX), &scan);

                if (streq(api, "start-next/accepted")) {
                        /* The answer to our start-next (its token, where the scan found one). */
                        if (!a->start_next_token ||
                            (!isempty(scan.client_token) && !streq(scan.client_token, a->start_next_token)))
                                return;
                        free(a->start_next_token);
                        a->start_next_token = NULL;
                }

                if (job_id_is_valid(scan.job_id)) {
                        if (asprintf(&reason, "(document): the %s message carrying it %s", api, what) < 0)
                                return;

                        j = aws_adopt_execution(m, scan.job_id, scan.execution_number ?: 1, scan.version ?: 1);
                        if (j) {
                                r = control_plane_reject_job(&m->cp, j->id, reason);
                                if (r < 0 && r != -EEXIST) {
                                        log_error_errno(r, "MQTT: job %s could not be recorded; it is taken when offered again: %m",
                                                        j->id);
                                        aws_job_forget(j);
                                }
                        }
                        /* What else a notify-next means: the executions we run that it does not name. */
                        if (streq(api, "notify-next"))
                                aws_notify_next(m, scan.job_id, scan.execution_number ?: 1);
                        return;
                }
        }

        head = escape_foreign(payload, MIN(len, (size_t) ESCAPE_LINE_MAX), ESCAPE_LINE_MAX);
        if (offer)
                log_warning("MQTT: %s: the message %s and names no job in its first %u bytes, dropping it (it starts: %s)",
                            topic_safe, what, AWS_SCAN_MAX, strna(head));
        else
                log_warning("MQTT: %s: the message %s, dropping it (it starts: %s)", topic_safe, what, strna(head));
}

static void aws_message(Mqtt *m, const char *topic, const char *topic_safe, const char *payload, size_t len) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *job = NULL, *what = NULL;
        AwsJobs *a = m->aws;
        const char *rest, *api, *nul;
        AwsJob *j;

        rest = startswith(topic, a->topic_prefix);
        if (!rest || rest[0] != '/')
                return;
        rest++;

        /* Bounded before anything is parsed: a job document and the envelope around it, no NUL
         * (json-c would stop there, and a C string with it). */
        nul = memchr(payload, '\0', len);
        if (len > MQTT_MESSAGE_MAX) {
                if (asprintf(&what, "is %zu bytes, more than the %u a message may have (a job document: %u)",
                             len, MQTT_MESSAGE_MAX, JOB_DOCUMENT_MAX) < 0)
                        return;
        } else if (nul) {
                if (asprintf(&what, "contains a NUL byte at offset %zu", (size_t) (nul - payload)) < 0)
                        return;
        }
        if (what) {
                aws_unparsable(m, rest, topic_safe, payload, len, what);
                return;
        }

        if (log_get_max_level() >= LOG_DEBUG) {
                _cleanup_free_ char *trace = escape_foreign(payload, len, AWS_TRACE_MAX);

                log_debug("MQTT: <- %s %s", topic_safe, strna(trace));
        }
        if (json_parse_strict(payload, len, NULL, &o, NULL) < 0 || !json_object_is_type(o, json_type_object)) {
                _cleanup_free_ char *head = escape_foreign(payload, MIN(len, (size_t) ESCAPE_LINE_MAX), ESCAPE_LINE_MAX);

                log_warning("MQTT: %s: the payload is not a JSON object, ignoring it (it starts: %s)", topic_safe, strna(head));
                return;
        }

        if (streq(rest, "notify-next")) {
                json_object *x = NULL;

                if (json_object_object_get_ex(o, "execution", &x) && json_object_is_type(x, json_type_object))
                        aws_notify_next(m, json_str(x, "jobId") ?: "", json_int(x, "executionNumber", 1));
                else
                        aws_notify_next(m, NULL, 0);
                return;
        }
        if (streq(rest, "start-next/accepted") || streq(rest, "start-next/rejected")) {
                json_object *x;

                if (!a->start_next_token || !streq_ptr(json_str(o, "clientToken"), a->start_next_token))
                        return;
                free(a->start_next_token);
                a->start_next_token = NULL;

                if (streq(rest, "start-next/rejected")) {
                        _cleanup_free_ char *code = json_str_safe(o, "code", ESCAPE_KEY_MAX),
                                *message = json_str_safe(o, "message", ESCAPE_LINE_MAX);

                        log_warning("MQTT: start-next refused: %s (%s)", strna(code), strna(message));
                } else if (json_object_object_get_ex(o, "execution", &x) && json_object_is_type(x, json_type_object))
                        aws_take_execution(m, x);
                else
                        log_info("MQTT: no pending job for thing %s", m->config->thing_name);
                return;
        }

        /* <job id>/{update,get}/{accepted,rejected} */
        api = strchr(rest, '/');
        if (!api)
                return;
        job = strndup(rest, (size_t) (api - rest));
        if (!job)
                return;
        j = aws_job_find(a, job);
        if (!j)
                return;

        if (streq(api, "/update/accepted"))
                aws_update_accepted(m, j, o);
        else if (streq(api, "/update/rejected"))
                aws_update_rejected(m, j, o);
        else if (streq(api, "/get/accepted"))
                aws_get_accepted(m, j, o);
        else if (streq(api, "/get/rejected"))
                aws_get_rejected(m, j, o);
}

/* ---- connection ---- */

static void aws_idle(Mqtt *m) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *topic = NULL;
        AwsJobs *a = m->aws;

        /* The outbox went first; now new work. */
        if (!a->start_next_wanted || a->start_next_token)
                return;

        o = json_object_new_object();
        topic = aws_topic(a, NULL, "start-next");
        a->start_next_token = aws_token();
        if (!o || !topic || !a->start_next_token ||
            json_object_object_add(o, "clientToken", json_object_new_string(a->start_next_token)) < 0 ||
            (m->config->step_timeout_minutes > 0 &&
             json_object_object_add(o, "stepTimeoutInMinutes", json_object_new_int64(m->config->step_timeout_minutes)) < 0))
                return;
        if (aws_publish(m, topic, o) < 0) {
                free(a->start_next_token);
                a->start_next_token = NULL;
                return;
        }
        a->start_next_wanted = false;
}

int mqtt_aws_set_start_next_token(Mqtt *m, const char *token) {
        AwsJobs *a = m->aws;

        if (m->dialect != &mqtt_aws_dialect || !a)
                return -EINVAL;
        return free_and_strdup(&a->start_next_token, token);
}

static void aws_connected(Mqtt *m) {
        AwsJobs *a = m->aws;

        aws_clear_request(a);
        free(a->start_next_token);
        a->start_next_token = NULL;
        a->start_next_wanted = true;
}

static void aws_disconnected(Mqtt *m) {
        aws_clear_request(m->aws);
}

static void aws_published(Mqtt *m, int mid) {
        /* Delivery is the service's accepted, not the broker's PUBACK. */
}

/* The step timer runs out unless an IN_PROGRESS update renews it: while a job runs, the last
 * update goes again when nothing went for "heartbeat" seconds. */
static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Mqtt *m = userdata;
        AwsJobs *a = m->aws;
        usec_t now;

        (void) sd_event_now(m->cp.host->event, CLOCK_MONOTONIC, &now);

        /* Counted from the last update sent, whatever sent it. */
        if (now < a->last_sent + m->config->heartbeat)
                return sd_event_source_set_time(s, a->last_sent + m->config->heartbeat);

        if (mqtt_client_get_state(m->client) == MQTT_CLIENT_CONNECTED && !outbox_head(m->outbox))
                for (size_t i = 0; i < a->n_jobs; i++) {
                        AwsJob *j = a->jobs[i];
                        _cleanup_(json_object_putp) json_object *last = NULL;

                        if (j->server_ended || j->reported_terminal || j->execution_number == 0)
                                continue;
                        last = outbox_last_status(m->outbox, j->id);
                        if (!last || aws_status_is_terminal(aws_status_of(json_str(last, "state"))))
                                continue;
                        if (outbox_push_heartbeat(m->outbox, j->id, last) >= 0)
                                mqtt_pump(m);
                }

        return sd_event_source_set_time_relative(s, m->config->heartbeat);
}

static int aws_init(Mqtt *m) {
        static const char *const suffixes[] = {
                "notify-next", "start-next/accepted", "start-next/rejected",
                "+/update/accepted", "+/update/rejected", "+/get/accepted", "+/get/rejected",
        };
        AwsJobs *a;
        int r;

        a = m->aws = calloc(1, sizeof(AwsJobs));
        if (!a)
                return -ENOMEM;
        if (asprintf(&a->topic_prefix, "$aws/things/%s/jobs", m->config->thing_name) < 0) {
                a->topic_prefix = NULL;
                return -ENOMEM;
        }
        if (asprintf(&a->dir, "%s/aws", m->state_directory) < 0) {
                a->dir = NULL;
                return -ENOMEM;
        }
        if (mkdir(a->dir, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", a->dir);
        r = aws_load(a);
        if (r < 0)
                return log_error_errno(r, "Cannot load %s: %m", a->dir);

        m->subscriptions = calloc(ELEMENTSOF(suffixes) + 1, sizeof(char *));
        if (!m->subscriptions)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                m->subscriptions[i] = aws_topic(a, NULL, suffixes[i]);
                if (!m->subscriptions[i])
                        return -ENOMEM;
        }

        if (m->config->heartbeat > 0) {
                r = sd_event_add_time_relative(m->cp.host->event, &a->heartbeat_timer, CLOCK_MONOTONIC,
                                               m->config->heartbeat, 0, on_heartbeat, m);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(a->heartbeat_timer, SD_EVENT_ON);
                (void) sd_event_source_set_description(a->heartbeat_timer, "mqtt-aws-heartbeat");
        }
        return 0;
}

static bool aws_knows_job(Mqtt *m, const char *id) {
        return aws_job_find(m->aws, id);
}

/* The core pruned the ended job's record: its execution goes too, unless a status of it is
 * still to be delivered (aws_send() needs the execution to address it). The service does not
 * offer an ended execution again. */
static void aws_job_pruned(Mqtt *m, const char *id) {
        AwsJobs *a = m->aws;
        int r;

        if (outbox_has_job(m->outbox, id))
                return;

        for (size_t i = 0; i < a->n_jobs; i++) {
                AwsJob *j = a->jobs[i];

                if (!streq(j->id, id))
                        continue;
                r = state_file_remove(j->path);
                if (r < 0)
                        log_warning_errno(r, "MQTT: job %s: cannot remove %s: %m", id, j->path);
                memmove(a->jobs + i, a->jobs + i + 1, (a->n_jobs - i - 1) * sizeof(AwsJob *));
                a->n_jobs--;
                aws_job_free(j);
                return;
        }
}

static void aws_done(Mqtt *m) {
        AwsJobs *a = m->aws;

        if (!a)
                return;
        aws_clear_request(a);
        a->heartbeat_timer = sd_event_source_disable_unref(a->heartbeat_timer);
        for (size_t i = 0; i < a->n_jobs; i++)
                aws_job_free(a->jobs[i]);
        free(a->jobs);
        free(a->start_next_token);
        free(a->topic_prefix);
        free(a->dir);
        free(a);
        m->aws = NULL;
}

const MqttDialectOps mqtt_aws_dialect = {
        .init = aws_init,
        .connected = aws_connected,
        .message = aws_message,
        .send = aws_send,
        .published = aws_published,
        .idle = aws_idle,
        .disconnected = aws_disconnected,
        .knows_job = aws_knows_job,
        .job_pruned = aws_job_pruned,
        .done = aws_done,
};
