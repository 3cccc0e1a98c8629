/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the MQTT control plane's core (mqtt.c: connection, outbox pump, availability) and its
 * two dialects (mqtt-plain.c, mqtt-aws.c). Not a public interface. */

#include "control-plane.h"
#include "job.h"
#include "mqtt-client.h"
#include "outbox.h"

typedef struct Mqtt Mqtt;
typedef struct AwsJobs AwsJobs;

typedef struct MqttDialectOps {
        /* The topic filters to subscribe to after every connect (NULL-terminated, owned by m). */
        int (*init)(Mqtt *m);
        /* Connected and subscribed. */
        void (*connected)(Mqtt *m);
        /* A message on one of our subscriptions, as received (mqtt-client.h): payload may be of
         * any size and hold NUL bytes; nothing of it is parsed before it is bounded. topic_safe is
         * the topic escaped for log lines and reasons (escape.h, ESCAPE_LINE_MAX), made once. */
        void (*message)(Mqtt *m, const char *topic, const char *topic_safe, const char *payload, size_t len);
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
        /* Optional. Whether the dialect holds state of job id (AWS: its execution). */
        bool (*knows_job)(Mqtt *m, const char *id);
        /* Optional. The core pruned job id's ended record: the dialect's state of it goes too. */
        void (*job_pruned)(Mqtt *m, const char *id);
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

/* A message received on one of our subscriptions, as mqtt-client.h hands it over (payload: len
 * bytes of anything): escapes the topic for the log and passes it to the dialect. The client's
 * message handler; also the entry point of tests/fuzz/fuzz-mqtt.c, which drives the dialects with
 * no broker. */
void mqtt_handle_message(Mqtt *m, const char *topic, const char *payload, size_t len);

/* For tests (tests/fuzz/fuzz-mqtt.c): the AWS dialect acts as if it had published a start-next
 * request with this clientToken (as aws_idle() does when connected), so that the answer carrying
 * it is taken. Returns 0, -EINVAL for another dialect, or -ENOMEM. */
int mqtt_aws_set_start_next_token(Mqtt *m, const char *token);

/* Delivers the outbox head when the connection allows (deferred to the event loop). */
void mqtt_pump(Mqtt *m);

/* The outbox head was acknowledged: it leaves the outbox, the next one goes. */
void mqtt_delivered(Mqtt *m, OutboxEntry *e);

/* The job id an order gets whose topic names it with something else (s, len bytes: a topic
 * level): every character outside the alphabet (a UTF-8 sequence, or a byte that is none) becomes
 * '_', cut to 55 characters, then "-" and the first 8 hex digits of the SHA-256 of s, so that two
 * levels that differ only outside the alphabet get two ids, and the same level always the same.
 * Returns 0 and the id (valid, at most JOB_ID_MAX) in *ret, or -ENOMEM/-EIO. */
int mqtt_job_id_derive(const char *s, size_t len, char **ret);

/* What a lexical scan of the start of an AWS IoT Jobs message that cannot be parsed whole (too
 * large, a NUL byte) finds: the members jobId, executionNumber and versionNumber of the top-level
 * "execution" object, and the top-level clientToken. A string is taken only when it holds no
 * escape sequence and fits; a number only when it is a non-negative integer. Absent: "" and 0. */
typedef struct AwsScan {
        char job_id[JOB_ID_MAX + 1];
        char client_token[65];      /* AWS: at most 64 characters */
        int64_t execution_number;
        int64_t version;
} AwsScan;

/* Scans at most the first n bytes of p (no allocation, nothing beyond p + n read). */
void mqtt_aws_scan(const char *p, size_t n, AwsScan *ret);

/* Submits a job document received as JSON text under the id the protocol gives it (document "id"
 * set to id first when the text is a JSON object). Returns ControlPlaneHost.submit_as()'s result. */
int mqtt_submit(Mqtt *m, const char *text, size_t len, const char *id);
