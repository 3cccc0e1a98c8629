/* SPDX-License-Identifier: MIT */
#pragma once

/* One MQTT connection, driven by libmosquitto from the sd-event loop (../shared/product.md "Shape
 * of the daemon"): mosquitto_socket() is an I/O source, mosquitto_loop_read()/_write() run when it
 * is readable/writable (write interest from mosquitto_want_write()), mosquitto_loop_misc() from a
 * timer for keepalive. No library thread; mosquitto_loop_start() is never called.
 *
 * Every connection attempt starts from a re-initialised handle: libmosquitto forgets the QoS 1
 * messages it had in flight, so the caller's persisted outbox is the only copy and re-sends them in
 * order (libmosquitto re-sending its own copies after a reconnect could reorder them with the
 * outbox's). The session is persistent (clean session off): the broker keeps our subscriptions and
 * queued messages while we are away. Attempts after a failure or a lost connection back off
 * exponentially from reconnect_min to reconnect_max with ±25 % jitter; a CONNACK resets the delay.
 *
 * MOSQ_ERR_* codes are translated to negative errno here and nowhere else. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "control-config.h"
#include "job.h"

/* The largest message payload dfotad takes: a job document (JOB_DOCUMENT_MAX) and room for what
 * carries it (AWS IoT Jobs' envelope: the execution's fields, its statusDetails, a jobDocument
 * sent as an escaped JSON string). The dialects refuse a larger payload before they parse it. */
#define MQTT_MESSAGE_MAX (JOB_DOCUMENT_MAX + 64U * 1024U)

/* With MQTT 5 the broker is told not to send larger packets at all (CONNECT property Maximum
 * Packet Size, MQTT 5 §3.1.2.11.4): such a payload, its topic (at most 65535 bytes, §1.5.4), the
 * fixed header, packet id and properties. */
#define MQTT_PACKET_MAX (MQTT_MESSAGE_MAX + 65535U + 4096U)

typedef struct MqttClient MqttClient;

typedef enum MqttClientState {
        MQTT_CLIENT_IDLE,               /* not started */
        MQTT_CLIENT_CONNECTING,         /* TCP/TLS/CONNECT under way */
        MQTT_CLIENT_CONNECTED,          /* CONNACK accepted */
        MQTT_CLIENT_BACKOFF,            /* waiting before the next attempt */
        MQTT_CLIENT_STOPPED,            /* disconnected for good (shutdown) */
        _MQTT_CLIENT_STATE_MAX,
        _MQTT_CLIENT_STATE_INVALID = -EINVAL,
} MqttClientState;

DECLARE_STRING_TABLE_LOOKUP(mqtt_client_state, MqttClientState);

typedef struct MqttClientHandlers {
        /* CONNACK accepted: subscribe and publish from here. */
        void (*connected)(MqttClient *c, void *userdata);
        /* The connection is gone (or an attempt failed); messages published and not acknowledged
         * are forgotten by the client: re-publish them after the next connected(). */
        void (*disconnected)(MqttClient *c, void *userdata);
        /* A PUBLISH from the broker, as received: payload is len bytes followed by a NUL, and may
         * hold NUL bytes itself (what the dialect makes of them is its business); topic is valid
         * UTF-8 (libmosquitto checks it) but otherwise foreign. Both borrowed. With MQTT 3.1.1
         * nothing bounds len but the broker: libmosquitto reads a whole packet before it hands
         * it over. */
        void (*message)(MqttClient *c, const char *topic, const char *payload, size_t len, void *userdata);
        /* The broker acknowledged (PUBACK) the QoS 1 message with this message id. */
        void (*published)(MqttClient *c, int mid, void *userdata);
} MqttClientHandlers;

/* Creates a client for config (borrowed; must outlive the client). will_topic/will_payload: the
 * last will (retained, QoS 1), may be NULL. Does not connect. Returns 0, -ENOMEM, or -EINVAL for
 * options libmosquitto refuses (e.g. an unreadable CA file). */
int mqtt_client_new(sd_event *event, const MqttConfig *config, const char *will_topic, const char *will_payload,
                    const MqttClientHandlers *handlers, void *userdata, MqttClient **ret);

MqttClient *mqtt_client_free(MqttClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(MqttClient *, mqtt_client_free);

/* Starts connecting; from then on the client reconnects by itself until stopped. Returns 0 or a
 * negative errno (only for local problems; an unreachable broker is retried, not an error). */
int mqtt_client_start(MqttClient *c);

MqttClientState mqtt_client_get_state(const MqttClient *c);

/* Subscribes to each pattern of the NULL-terminated list with QoS 1. Returns 0, -ENOTCONN when not
 * connected, or another negative errno. */
int mqtt_client_subscribe(MqttClient *c, const char *const *patterns);

/* Publishes payload (len bytes) to topic with QoS 1. *ret_mid (may be NULL) gets the message id that
 * published() will report. Returns 0, -ENOTCONN when not connected (nothing is queued), -EMSGSIZE,
 * or another negative errno. */
int mqtt_client_publish(MqttClient *c, const char *topic, const char *payload, size_t len, bool retain, int *ret_mid);

/* For shutdown, outside the event loop: when connected, publishes topic/payload (retained, QoS 1;
 * topic may be NULL for none), waits up to timeout for its PUBACK, then sends DISCONNECT (so that
 * the broker does not publish the last will). The client is STOPPED afterwards. Returns 0 or a
 * negative errno (-ETIMEDOUT when the PUBACK did not come). */
int mqtt_client_stop(MqttClient *c, const char *topic, const char *payload, usec_t timeout);

/* "host:port" or the socket path, for messages. */
const char *mqtt_client_address(const MqttClient *c);
