/* SPDX-License-Identifier: MIT */
#pragma once

/* The control layer's configuration: what config.c (core) parses the keys "local" and "mqtt"
 * into, as plain structs the control planes are given at creation (control-plane.h). The types
 * live with the layer that reads them, so that no file under daemon/control needs config.h; the
 * parsing and validation stay in config.c, and README.md documents each key. */

#include "macro.h"

typedef enum MqttDialect {
        MQTT_DIALECT_PLAIN,             /* dfotad's own topic scheme (README "MQTT, plain dialect") */
        MQTT_DIALECT_AWS_IOT_JOBS,      /* AWS IoT Jobs reserved topics (README "MQTT, AWS IoT Jobs") */
        _MQTT_DIALECT_MAX,
        _MQTT_DIALECT_INVALID = -EINVAL,
} MqttDialect;

DECLARE_STRING_TABLE_LOOKUP(mqtt_dialect, MqttDialect);

/* AWS IoT limits on a thing name (control-plane.md §3.4) bound every id we put in a topic. */
#define MQTT_ID_MAX 128
#define MQTT_PASSWORD_MAX 4096

/* Config key "mqtt": the MQTT control plane (issue 5). Absent: no MQTT. Every string is validated at
 * load time; the README documents each key. */
typedef struct MqttConfig {
        MqttDialect dialect;            /* "dialect": required */
        char *host;                     /* "host": required; an absolute path is a unix socket */
        unsigned port;                  /* "port": 1..65535; when left out 8883 with TLS, 1883 without, and 0
                                         * (none) for a unix socket, which takes no "port" */
        char *device_id;                /* "device_id": [A-Za-z0-9._:-]{1,128}; default the host name */
        char *client_id;                /* "client_id": printable ASCII without spaces, 1..128; default device_id */
        char *thing_name;               /* "thing_name": [A-Za-z0-9:_-]{1,128}; default device_id (AWS dialect) */
        char *prefix;                   /* "prefix": topic levels for the plain dialect and the availability
                                         * topic; default "dfotad" */
        int protocol;                   /* "protocol": "3.1.1" (default) or "5": MQTT_PROTOCOL_V311 / _V5 */
        unsigned keepalive;             /* "keepalive": seconds, 5..65535, default 60 */
        char *username;                 /* "username": 1..256 bytes; NULL when absent */
        char *password;                 /* read from "password_file" (path or credential), one trailing newline
                                         * stripped, 1..MQTT_PASSWORD_MAX bytes; a secret: never logged, wiped when
                                         * freed; NULL when absent */
        char *password_file;            /* where it was read from, for messages */
        bool tls;                       /* "tls" present: TLS with peer verification */
        char *ca_file;                  /* "tls.ca_file": absolute path; NULL: the system's CAs */
        char *certificate_file;         /* "tls.certificate_file": absolute path; with key_file or neither */
        char *key_file;                 /* "tls.key_file": absolute path or credential name, resolved to a path */
        char *alpn;                     /* "tls.alpn": e.g. "x-amzn-mqtt-ca"; NULL when absent */
        usec_t reconnect_min;           /* "reconnect_min": seconds, default 1; doubles per failure... */
        usec_t reconnect_max;           /* "reconnect_max": ...up to this, default 300; >= reconnect_min */
        usec_t request_timeout;         /* "request_timeout": seconds, default 10 (AWS accepted/rejected wait) */
        unsigned step_timeout_minutes;  /* "step_timeout_minutes": 0..10080, default 60 (AWS stepTimeoutInMinutes; 0: not sent) */
        usec_t heartbeat;               /* "heartbeat": seconds, default step_timeout_minutes*60/3; must be below
                                         * step_timeout_minutes*60 when that is not 0; 0 when step timeouts are off */
} MqttConfig;

MqttConfig *mqtt_config_free(MqttConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(MqttConfig *, mqtt_config_free);

/* Everything the control planes are configured with, one member per plane, embedded in Config
 * (config.h) as "control_planes". control_planes_new() (control-plane.h) hands it to each plane's
 * constructor, which takes its own member; a new plane adds its member here and its row to that
 * table, and nothing in the manager. */
typedef struct ControlPlanesConfig {
        char *inbox;                    /* "local": {"inbox": PATH}; default <state_directory>/inbox */
        MqttConfig *mqtt;               /* "mqtt"; NULL when absent */
} ControlPlanesConfig;

/* Frees what c holds (not c itself, which is embedded) and leaves it empty. */
void control_planes_config_done(ControlPlanesConfig *c);
