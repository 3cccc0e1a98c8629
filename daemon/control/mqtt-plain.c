/* SPDX-License-Identifier: MIT */

/* The plain dialect (README "MQTT control plane, plain dialect"), for self-hosted brokers, driven
 * with mosquitto_pub/mosquitto_sub alone. With P the prefix and D the device id:
 *   P/D/jobs/<job id>    operator -> dfotad, retained, QoS 1: a job document
 *   P/D/status/<job id>  dfotad -> operator, retained, QoS 1: the job's status (record.h)
 *   P/D/inventory        dfotad -> operator, retained, QoS 1: the modems
 *   P/D/availability     "online" / "offline" (also the last will), retained, QoS 1 (mqtt.c) */

#include <stdio.h>

#include "escape.h"
#include "json-util.h"
#include "log.h"
#include "mqtt-internal.h"

static char *plain_topic(const Mqtt *m, const char *suffix) {
        char *t;

        if (asprintf(&t, "%s/%s/%s", m->config->prefix, m->config->device_id, suffix) < 0)
                return NULL;
        return t;
}

/* The job topic is subscribed to only once the outbox is empty (plain_idle()): what the last run
 * could not deliver goes out before new work comes in. */
static int plain_init(Mqtt *m) {
        m->subscriptions = calloc(1, sizeof(char *));
        return m->subscriptions ? 0 : -ENOMEM;
}

static json_object *plain_modem_to_json(const ControlPlaneModem *modem) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        if (json_object_object_add(o, "port", modem->port ? json_object_new_string(modem->port) : NULL) < 0 ||
            json_object_object_add(o, "imei", modem->imei ? json_object_new_string(modem->imei) : NULL) < 0 ||
            json_object_object_add(o, "model", modem->model ? json_object_new_string(modem->model) : NULL) < 0 ||
            json_object_object_add(o, "revision", modem->revision ? json_object_new_string(modem->revision) : NULL) < 0 ||
            json_object_object_add(o, "family", modem->family ? json_object_new_string(modem->family) : NULL) < 0 ||
            json_object_object_add(o, "state", json_object_new_string(control_plane_modem_state_to_string(modem->state))) < 0 ||
            json_object_object_add(o, "job", modem->job_id ? json_object_new_string(modem->job_id) : NULL) < 0 ||
            json_object_object_add(o, "job_state", modem->job_id ? json_object_new_string(job_state_to_string(modem->job_state)) : NULL) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static void plain_inventory(Mqtt *m) {
        _cleanup_(json_object_putp) json_object *o = NULL, *modems = NULL;
        _cleanup_free_ char *topic = NULL, *text = NULL;
        _cleanup_free_ ControlPlaneModem *inventory = NULL;
        size_t n_inventory = 0;
        const char *payload;
        char ts[32];
        int r;

        r = control_plane_inventory(&m->cp, &inventory, &n_inventory);
        if (r < 0)
                return;

        modems = json_object_new_array();
        if (!modems)
                return;
        for (size_t i = 0; i < n_inventory; i++) {
                json_object *x = plain_modem_to_json(&inventory[i]);

                if (!x || json_object_array_add(modems, x) < 0) {
                        json_object_put(x);
                        return;
                }
        }

        o = json_object_new_object();
        if (!o ||
            json_object_object_add(o, "device_id", json_object_new_string(m->config->device_id)) < 0 ||
            json_object_object_add(o, "modems", json_object_get(modems)) < 0)
                return;

        /* Published when it says something new; its time alone is not news. */
        text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!text || streq_ptr(text, m->inventory_last))
                return;

        if (json_object_object_add(o, "updated_at", json_object_new_string(format_timestamp_iso(now_realtime(), ts))) < 0)
                return;
        topic = plain_topic(m, "inventory");
        if (!topic)
                return;

        payload = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        r = mqtt_client_publish(m->client, topic, payload, strlen(payload), true, NULL);
        if (r < 0) {
                log_debug_errno(r, "MQTT: inventory not published now: %m");
                return;
        }
        free(m->inventory_last);
        m->inventory_last = TAKE_PTR(text);
}

static void plain_connected(Mqtt *m) {
        /* A new connection: the broker may have lost the retained inventory (no persistence). */
        free(m->inventory_last);
        m->inventory_last = NULL;
        m->inflight_mid = -1;
        m->jobs_subscribed = false;
        plain_inventory(m);
}

/* A job topic whose last level is no job id (issue 9 item 13): the order still gets a record and
 * a status, under an id derived from the level (mqtt_job_id_derive()), so that it is answered once
 * and never taken again: when the retained message comes back, the derived id's record exists. */
static void plain_reject_level(Mqtt *m, const char *level) {
        _cleanup_free_ char *id = NULL, *safe = NULL, *reason = NULL;
        int r;

        r = mqtt_job_id_derive(level, strlen(level), &id);
        if (r < 0) {
                log_error_errno(r, "MQTT: cannot derive a job id from a job topic: %m");
                return;
        }
        if (control_plane_job_exists(&m->cp, id)) {
                log_debug("MQTT: the job topic level of job %s is known already, ignoring its document", id);
                return;
        }

        safe = escape_foreign_str(level, ESCAPE_KEY_MAX);
        if (!safe ||
            asprintf(&reason, "id: the job topic's last level \"%s\" is not a valid job id ([A-Za-z0-9_-]{1,64}); recorded as %s",
                     safe, id) < 0) {
                log_error_errno(-ENOMEM, "MQTT: job %s: %m", id);
                return;
        }

        r = control_plane_reject_job(&m->cp, id, reason);
        if (r < 0 && r != -EEXIST)
                /* Nothing recorded: the retained document comes again at the next connect. */
                log_error_errno(r, "MQTT: job %s could not be recorded; it is taken at the next connect: %m", id);
}

static void plain_message(Mqtt *m, const char *topic, const char *topic_safe, const char *payload, size_t len) {
        _cleanup_free_ char *prefix = plain_topic(m, "jobs/"), *id = NULL;
        const char *rest;
        int r;

        if (!prefix)
                return;
        rest = startswith(topic, prefix);
        if (!rest || strchr(rest, '/')) {
                log_warning("MQTT: ignoring a message on %s: not a job topic (%sJOB-ID)", topic_safe, prefix);
                return;
        }

        /* The operator clears a retained job with an empty message. */
        if (len == 0)
                return;

        if (!job_id_is_valid(rest)) {
                plain_reject_level(m, rest);
                return;
        }

        /* Retained jobs come again with every connect: known ones are not news. */
        if (control_plane_job_exists(&m->cp, rest)) {
                log_debug("MQTT: job %s is known already, ignoring its document", rest);
                return;
        }

        id = strdup(rest);
        if (!id)
                return;
        /* Any size, NUL bytes included: mqtt_submit() checks both before anything is parsed, and
         * an oversized or NUL-carrying document is recorded REJECTED with the reason. */
        r = mqtt_submit(m, payload, len, id);
        if (r < 0 && r != -EEXIST)
                /* Nothing recorded: the retained document comes again at the next connect. */
                log_error_errno(r, "MQTT: job %s could not be recorded; it is taken at the next connect: %m", id);
}

static int plain_send(Mqtt *m, OutboxEntry *e) {
        _cleanup_free_ char *suffix = NULL, *topic = NULL;
        const char *text;
        int r;

        if (asprintf(&suffix, "status/%s", e->job) < 0)
                return -ENOMEM;
        topic = plain_topic(m, suffix);
        if (!topic)
                return -ENOMEM;

        text = json_object_to_json_string_ext(e->status, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        r = mqtt_client_publish(m->client, topic, text, strlen(text), true, &m->inflight_mid);
        if (r < 0)
                return r;

        log_debug("MQTT: job %s: status %s published (mid %d)", e->job, text, m->inflight_mid);
        return 0;
}

static void plain_published(Mqtt *m, int mid) {
        OutboxEntry *e = outbox_head(m->outbox);

        if (!e || !e->in_flight || mid != m->inflight_mid)
                return; /* availability, inventory */
        m->inflight_mid = -1;
        mqtt_delivered(m, e);
}

static void plain_idle(Mqtt *m) {
        _cleanup_free_ char *jobs = NULL;
        int r;

        if (m->jobs_subscribed)
                return;
        jobs = plain_topic(m, "jobs/+");
        if (!jobs)
                return;
        r = mqtt_client_subscribe(m->client, (const char *const[]) { jobs, NULL });
        if (r < 0) {
                log_warning_errno(r, "MQTT: cannot subscribe to %s: %m", jobs);
                return;
        }
        m->jobs_subscribed = true;
}

static void plain_disconnected(Mqtt *m) {
        m->inflight_mid = -1;
        m->jobs_subscribed = false;
}

static void plain_done(Mqtt *m) {
}

const MqttDialectOps mqtt_plain_dialect = {
        .init = plain_init,
        .connected = plain_connected,
        .message = plain_message,
        .send = plain_send,
        .published = plain_published,
        .idle = plain_idle,
        .disconnected = plain_disconnected,
        .inventory = plain_inventory,
        .done = plain_done,
};
