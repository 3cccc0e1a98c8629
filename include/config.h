/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's configuration: one JSON file (default /etc/dfotad/dfotad.json) plus drop-ins, the
 * "*.json" files in "<path>.d/", merged in name order (a drop-in's top-level keys replace the
 * file's; objects such as "timeouts" and "records" are merged key by key). Every file is read
 * without blocking and only when it is a regular file of at most 1 MiB. Documented key by key in
 * README.md. */

#include "macro.h"
#include "modem-config.h"
#include "timeouts.h"

#define CONFIG_DEFAULT_PATH "/etc/dfotad/dfotad.json"
#define CONFIG_DEFAULT_STATE_DIRECTORY "/var/lib/dfotad"

typedef enum MqttDialect {
        MQTT_DIALECT_PLAIN,             /* dfotad's own topic scheme (README "MQTT, plain dialect") */
        MQTT_DIALECT_AWS_IOT_JOBS,      /* AWS IoT Jobs reserved topics (README "MQTT, AWS IoT Jobs") */
        _MQTT_DIALECT_MAX,
        _MQTT_DIALECT_INVALID = -EINVAL,
} MqttDialect;

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

DECLARE_STRING_TABLE_LOOKUP(mqtt_dialect, MqttDialect);

typedef struct Config {
        char *state_directory;          /* "state_directory"; default $STATE_DIRECTORY or /var/lib/dfotad */
        int log_level;                  /* "log_level"; syslog level, default LOG_INFO */
        ModemConfig *modems;            /* "modems" */
        size_t n_modems;
        Timeouts timeouts;              /* "timeouts" */
        ResetConfig reset;              /* "reset": "at" (default) or {"command": [argv...], "try_at_first": bool};
                                         * the program is checked at load time (exists, regular file, executable) */
        usec_t records_max_age;         /* "records": {"max_age_days": 0..36500}: ended job records older than
                                         * this are pruned; default 90 days; 0: none */
        unsigned records_max_count;     /* "records": {"max_count": 0..1000000}: at most this many ended job
                                         * records are kept; default 1000; 0: none */
        char *inbox;                    /* "local": {"inbox": PATH}; default <state_directory>/inbox */
        bool hotplug;                   /* "hotplug": find USB modules through udev; default true */
        MqttConfig *mqtt;               /* "mqtt"; NULL when absent */
} Config;

/* Fills *c with the defaults (state_directory from $STATE_DIRECTORY if set). Returns 0 or -ENOMEM. */
int config_init_defaults(Config *c);

/* Loads path and its drop-ins over the defaults. A missing file at the default path is not an
 * error (the defaults are used); a missing file given explicitly is. On failure returns a negative
 * errno (-ENOENT, -EINVAL for a bad key, type or value, -ENOMEM) and, when reterr is non-NULL, a
 * newly allocated message naming the file and the key, e.g.
 *   "/etc/dfotad/dfotad.json: timeouts.urc_watchdog: must be a number of seconds > 0".
 * *ret is written only on success; free it with config_free(). */
int config_load(const char *path, bool path_explicit, Config **ret, char **reterr);

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

DECLARE_STRING_TABLE_LOOKUP(reset_method, ResetMethod);
