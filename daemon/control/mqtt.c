/* SPDX-License-Identifier: MIT */

#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>

#include "escape.h"
#include "fileio.h"
#include "job.h"
#include "json-util.h"
#include "log.h"
#include "mqtt-internal.h"
#include "string-util.h"

/* How long a stopping daemon waits for the PUBACK of its "offline". */
#define MQTT_STOP_TIMEOUT_USEC (2 * USEC_PER_SEC)

/* "-" and 8 hex digits of the hash. */
#define DERIVED_SUFFIX_LEN 9

int mqtt_job_id_derive(const char *s, size_t len, char **ret) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        _cleanup_free_ char *id = NULL;
        size_t n = 0;

        if (EVP_Digest(s, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len < 4)
                return -EIO;

        id = malloc(JOB_ID_MAX + 1);
        if (!id)
                return -ENOMEM;
        for (size_t i = 0; i < len && n < JOB_ID_MAX - DERIVED_SUFFIX_LEN; ) {
                size_t k = utf8_sequence_length((const unsigned char *) s + i, len - i, NULL);

                id[n++] = k == 1 && job_id_char_is_valid(s[i]) ? s[i] : '_';
                i += MAX(k, (size_t) 1);
        }
        (void) snprintf(id + n, DERIVED_SUFFIX_LEN + 1, "-%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);

        *ret = TAKE_PTR(id);
        return 0;
}

int mqtt_submit(Mqtt *m, const char *text, size_t len, const char *id) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        const char *s;

        /* Size and NUL bytes first: nothing too large is parsed (job_document_check()). A JSON
         * object gets the protocol's name for the job; anything else goes in as received and is
         * rejected, under that name, with the reason. */
        if (job_document_check(text, len, NULL) >= 0 &&
            json_parse_strict(text, len, NULL, &doc, NULL) >= 0 && json_object_is_type(doc, json_type_object)) {
                json_object *v;

                if (json_object_object_get_ex(doc, "id", &v) && json_object_is_type(v, json_type_string) &&
                    !streq(json_object_get_string(v), id)) {
                        _cleanup_free_ char *own = escape_foreign(json_object_get_string(v),
                                                                  (size_t) json_object_get_string_len(v), ESCAPE_KEY_MAX);

                        log_notice("MQTT: the document of job %s names itself \"%s\"; the job is %s", id, strna(own), id);
                }
                if (json_object_object_add(doc, "id", json_object_new_string(id)) < 0)
                        return -ENOMEM;
                s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
                return control_plane_submit_job_as(&m->cp, s, strlen(s), id);
        }

        return control_plane_submit_job_as(&m->cp, text, len, id);
}

/* ---- the outbox pump ---- */

static int on_pump(sd_event_source *s, void *userdata) {
        Mqtt *m = userdata;

        for (;;) {
                OutboxEntry *e;
                int r;

                if (mqtt_client_get_state(m->client) != MQTT_CLIENT_CONNECTED)
                        return 0;

                e = outbox_head(m->outbox);
                if (!e) {
                        m->dialect->idle(m);
                        return 0;
                }
                if (e->in_flight)
                        return 0;

                r = m->dialect->send(m, e);
                if (r > 0) {
                        (void) outbox_remove(m->outbox, e, false);
                        continue;
                }
                if (r < 0) {
                        log_warning_errno(r, "MQTT: cannot send the status of job %s now, keeping it: %m", e->job);
                        return 0;
                }
                e->in_flight = true;
                return 0;
        }
}

void mqtt_pump(Mqtt *m) {
        int r;

        /* Deferred: callers are often inside libmosquitto's callbacks or the engine's funnel. */
        if (!m->pump_defer) {
                r = sd_event_add_defer(m->cp.host->event, &m->pump_defer, on_pump, m);
                if (r < 0) {
                        log_error_errno(r, "MQTT: cannot schedule the outbox: %m");
                        return;
                }
                (void) sd_event_source_set_description(m->pump_defer, "mqtt-outbox");
        }
        (void) sd_event_source_set_enabled(m->pump_defer, SD_EVENT_ONESHOT);
}

void mqtt_delivered(Mqtt *m, OutboxEntry *e) {
        log_debug("MQTT: status of job %s (%s) delivered", e->job, e->heartbeat ? "heartbeat" : "update");
        (void) outbox_remove(m->outbox, e, !e->heartbeat);
        mqtt_pump(m);
}

/* ---- client handlers ---- */

static void on_connected(MqttClient *c, void *userdata) {
        Mqtt *m = userdata;
        int r;

        r = mqtt_client_subscribe(c, (const char *const *) m->subscriptions);
        if (r < 0)
                log_warning_errno(r, "MQTT: cannot subscribe: %m");

        r = mqtt_client_publish(c, m->availability_topic, "online", strlen("online"), true, NULL);
        if (r < 0)
                log_warning_errno(r, "MQTT: cannot publish %s: %m", m->availability_topic);

        /* Whatever was in flight before went with the old connection (mqtt-client.h). */
        for (size_t i = 0; i < m->outbox->n_entries; i++)
                m->outbox->entries[i]->in_flight = false;

        m->dialect->connected(m);
        mqtt_pump(m);
}

static void on_disconnected(MqttClient *c, void *userdata) {
        Mqtt *m = userdata;

        for (size_t i = 0; i < m->outbox->n_entries; i++)
                m->outbox->entries[i]->in_flight = false;
        m->dialect->disconnected(m);
}

void mqtt_handle_message(Mqtt *m, const char *topic, const char *payload, size_t len) {
        _cleanup_free_ char *topic_safe = NULL;

        /* Foreign text, escaped once where it comes in (escape.h); the raw topic is only matched. */
        topic_safe = escape_foreign_str(topic, ESCAPE_LINE_MAX);
        if (!topic_safe) {
                log_error_errno(-ENOMEM, "MQTT: dropping a message: %m");
                return;
        }

        m->dialect->message(m, topic, topic_safe, payload, len);
}

static void on_message(MqttClient *c, const char *topic, const char *payload, size_t len, void *userdata) {
        mqtt_handle_message(userdata, topic, payload, len);
}

static void on_published(MqttClient *c, int mid, void *userdata) {
        Mqtt *m = userdata;

        m->dialect->published(m, mid);
}

/* ---- the ControlPlane interface ---- */

static int mqtt_report(ControlPlane *cp, const JobRecord *rec) {
        Mqtt *m = (Mqtt *) cp;
        _cleanup_(json_object_putp) json_object *status = NULL;
        int r;

        /* A job on several modules is reported as one job: its parent record, which aggregates
         * the executions and lists them. */
        if (rec->execution)
                return 0;

        status = job_record_status_to_json(rec);
        if (!status)
                return -ENOMEM;

        r = outbox_push(m->outbox, rec->job->id, status);
        if (r < 0)
                return r;

        mqtt_pump(m);
        return 0;
}

static bool status_differs(json_object *a, json_object *b) {
        static const char *const keys[] = { "state", "progress", "attempt", "reason", "revision_after" };

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_object *x = NULL, *y = NULL;

                (void) json_object_object_get_ex(a, keys[i], &x);
                (void) json_object_object_get_ex(b, keys[i], &y);
                if (!json_object_equal(x, y))
                        return true;
        }
        return false;
}

static int reconcile_one(const char *path, JobRecord **recp, const char *why, void *userdata) {
        _cleanup_(json_object_putp) json_object *last = NULL, *now = NULL;
        const JobRecord *rec = *recp;
        Mqtt *m = userdata;

        if (!rec || rec->execution || !streq_ptr(rec->control_plane, m->cp.vtable->name))
                return 0;

        last = outbox_last_status(m->outbox, rec->job->id);
        now = job_record_status_to_json(rec);
        if (!now)
                return -ENOMEM;
        if (last && !status_differs(last, now))
                return 0;

        log_info("MQTT: job %s: the status %s was not sent before the restart, queueing it",
                 rec->job->id, job_state_to_string(rec->state));
        return outbox_push(m->outbox, rec->job->id, now);
}

/* A crash between a record's save and the push of its status loses that update unless someone
 * compares: every record of ours whose state is not what the outbox last had for it is queued
 * again (outbox.h). One record at a time is in memory. */
static int mqtt_reconcile(Mqtt *m) {
        return job_record_foreach(m->cp.host->jobs_directory, reconcile_one, m);
}

static int mqtt_start(ControlPlane *cp) {
        Mqtt *m = (Mqtt *) cp;
        int r;

        r = mqtt_reconcile(m);
        if (r < 0)
                log_warning_errno(r, "MQTT: cannot compare the job records with the outbox: %m");

        if (m->outbox->n_entries > 0)
                log_info("MQTT: %zu status update(s) in the outbox from the last run are sent first", m->outbox->n_entries);

        log_info("MQTT: control plane %s, device %s, broker %s", mqtt_dialect_to_string(m->config->dialect),
                 m->config->device_id, mqtt_client_address(m->client));
        return mqtt_client_start(m->client);
}

static void mqtt_modems_changed(ControlPlane *cp) {
        Mqtt *m = (Mqtt *) cp;

        if (m->dialect->inventory && mqtt_client_get_state(m->client) == MQTT_CLIENT_CONNECTED)
                m->dialect->inventory(m);
}

/* The plane knows a job it has a status of (pending or delivered) or, on AWS IoT Jobs, an
 * execution of: whose job a record that cannot be read was (ControlPlaneVTable.knows_job). */
static bool mqtt_knows_job(ControlPlane *cp, const char *id) {
        _cleanup_(json_object_putp) json_object *last = NULL;
        Mqtt *m = (Mqtt *) cp;

        if (!job_id_is_valid(id))
                return false;
        if (m->dialect->knows_job && m->dialect->knows_job(m, id))
                return true;
        last = outbox_last_status(m->outbox, id);
        return last;
}

/* A status still pending stays and goes out (a delivered copy then comes back, one small file);
 * only what is kept of a delivered one goes. */
static void mqtt_job_pruned(ControlPlane *cp, const char *id) {
        Mqtt *m = (Mqtt *) cp;
        int r;

        if (!job_id_is_valid(id))
                return;
        r = outbox_forget_job(m->outbox, id);
        if (r < 0)
                log_warning_errno(r, "MQTT: job %s: cannot remove its last delivered status: %m", id);
        if (m->dialect->job_pruned)
                m->dialect->job_pruned(m, id);
}

static void mqtt_stop(ControlPlane *cp) {
        Mqtt *m = (Mqtt *) cp;
        int r;

        r = mqtt_client_stop(m->client, m->availability_topic, "offline", MQTT_STOP_TIMEOUT_USEC);
        if (r < 0)
                log_warning_errno(r, "MQTT: \"offline\" was not acknowledged; the broker's last will says it: %m");
        if (m->outbox->n_entries > 0)
                log_info("MQTT: %zu status update(s) stay in the outbox for the next start", m->outbox->n_entries);
}

static ControlPlane *mqtt_free(ControlPlane *cp) {
        Mqtt *m = (Mqtt *) cp;

        if (!m)
                return NULL;
        m->pump_defer = sd_event_source_disable_unref(m->pump_defer);
        m->client = mqtt_client_free(m->client);
        if (m->dialect)
                m->dialect->done(m);
        outbox_free(m->outbox);
        free(m->state_directory);
        free(m->availability_topic);
        strv_free(m->subscriptions);
        free(m->inventory_last);
        free(m);
        return NULL;
}

static const ControlPlaneVTable mqtt_vtable = {
        .name = "mqtt",
        .start = mqtt_start,
        .report = mqtt_report,
        .modems_changed = mqtt_modems_changed,
        .knows_job = mqtt_knows_job,
        .job_pruned = mqtt_job_pruned,
        .stop = mqtt_stop,
        .free = mqtt_free,
};

static void mqtt_freep(Mqtt **m) {
        if (*m)
                mqtt_free(&(*m)->cp);
}

int mqtt_control_plane_new(const ControlPlaneHost *host, const MqttConfig *config, ControlPlane **ret) {
        _cleanup_(mqtt_freep) Mqtt *m = NULL;
        _cleanup_free_ char *outbox_dir = NULL;
        static const MqttClientHandlers handlers = {
                .connected = on_connected,
                .disconnected = on_disconnected,
                .message = on_message,
                .published = on_published,
        };
        int r;

        m = calloc(1, sizeof(Mqtt));
        if (!m)
                return -ENOMEM;
        m->cp = (ControlPlane) { .vtable = &mqtt_vtable, .host = host };
        m->config = config;
        m->inflight_mid = -1;

        switch (config->dialect) {
        case MQTT_DIALECT_PLAIN:
                m->dialect = &mqtt_plain_dialect;
                break;
        case MQTT_DIALECT_AWS_IOT_JOBS:
                m->dialect = &mqtt_aws_dialect;
                break;
        case _MQTT_DIALECT_MAX:
        case _MQTT_DIALECT_INVALID:
                return -EINVAL;
        }

        if (asprintf(&m->availability_topic, "%s/%s/availability", config->prefix, config->device_id) < 0 ||
            asprintf(&m->state_directory, "%s/mqtt", host->state_directory) < 0 ||
            asprintf(&outbox_dir, "%s/outbox", host->state_directory) < 0)
                return -ENOMEM;

        if (mkdir(outbox_dir, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", outbox_dir);
        free(outbox_dir);
        if (asprintf(&outbox_dir, "%s/outbox/mqtt", host->state_directory) < 0)
                return -ENOMEM;
        r = outbox_open(outbox_dir, &m->outbox);
        if (r < 0)
                return log_error_errno(r, "Cannot open the outbox %s: %m", outbox_dir);

        if (mkdir(m->state_directory, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", m->state_directory);

        r = m->dialect->init(m);
        if (r < 0)
                return r;

        r = mqtt_client_new(host->event, config, m->availability_topic, "offline", &handlers, m, &m->client);
        if (r < 0)
                return log_error_errno(r, "Cannot create the MQTT client: %m");

        *ret = &TAKE_PTR(m)->cp;
        return 0;
}
