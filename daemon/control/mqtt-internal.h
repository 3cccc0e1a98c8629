/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the MQTT control plane's core (mqtt.c: connection, outbox pump, availability) and its
 * two dialects (mqtt-plain.c, mqtt-aws.c). Not a public interface. */

#include "control-plane.h"
#include "manager.h"
#include "mqtt-client.h"
#include "outbox.h"

typedef struct Mqtt Mqtt;
typedef struct AwsJobs AwsJobs;

typedef struct MqttDialectOps {
        /* The topic filters to subscribe to after every connect (NULL-terminated, owned by m). */
        int (*init)(Mqtt *m);
        /* Connected and subscribed. */
        void (*connected)(Mqtt *m);
        /* A message on one of our subscriptions. */
        void (*message)(Mqtt *m, const char *topic, const char *payload, size_t len);
        /* Deliver the outbox head e: returns 0 when it went out (in flight until the dialect calls
         * mqtt_delivered()), 1 when it must not be sent (dropped as superseded), or a negative
         * errno (kept; tried again at the next connect). */
        int (*send)(Mqtt *m, OutboxEntry *e);
        /* PUBACK of a message id. */
        void (*published)(Mqtt *m, int mid);
        /* Connected and the outbox is empty: the moment for new work. */
        void (*idle)(Mqtt *m);
        /* The connection is gone; whatever was in flight is not. */
        void (*disconnected)(Mqtt *m);
        /* Publishes the inventory, if the dialect has one (after connect, on modems_changed). */
        void (*inventory)(Mqtt *m);
        void (*done)(Mqtt *m);
} MqttDialectOps;

struct Mqtt {
        ControlPlane cp;
        const MqttConfig *config;
        const MqttDialectOps *dialect;
        MqttClient *client;
        Outbox *outbox;
        char *state_directory;      /* <state_directory>/mqtt: the dialect's own files */

        char *availability_topic;   /* <prefix>/<device_id>/availability */
        char **subscriptions;       /* NULL-terminated, set by the dialect's init */

        sd_event_source *pump_defer;

        /* plain */
        int inflight_mid;           /* message id of the outbox head in flight, -1 if none */
        bool jobs_subscribed;       /* the job topic, once the outbox was empty after a connect */
        char *inventory_last;       /* last inventory published (without its time) */

        /* aws-iot-jobs */
        AwsJobs *aws;
};

extern const MqttDialectOps mqtt_plain_dialect;
extern const MqttDialectOps mqtt_aws_dialect;

/* Delivers the outbox head when the connection allows (deferred to the event loop). */
void mqtt_pump(Mqtt *m);

/* The outbox head was acknowledged: it leaves the outbox, the next one goes. */
void mqtt_delivered(Mqtt *m, OutboxEntry *e);

/* Job ids in topics: [A-Za-z0-9_-]{1,64}, the job document's and AWS IoT's alphabet. */
bool mqtt_job_id_valid(const char *s, size_t len);

/* Submits a job document received as JSON text under the id the protocol gives it (document "id"
 * set to id first when the text is a JSON object). Returns manager_submit_job_as()'s result. */
int mqtt_submit(Mqtt *m, const char *text, size_t len, const char *id);

/* strv helpers for the subscription list. */
char **mqtt_strv_free(char **l);
