/* SPDX-License-Identifier: MIT */

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "mqtt-client.h"
#include "string-util.h"

/* libmosquitto's keepalive bookkeeping (PINGREQ, PINGRESP overdue) runs in mosquitto_loop_misc(). */
#define MQTT_MISC_INTERVAL_USEC (1 * USEC_PER_SEC)

struct MqttClient {
        sd_event *event;
        const MqttConfig *config;
        char *will_topic;
        char *will_payload;
        MqttClientHandlers handlers;
        void *userdata;

        struct mosquitto *mosq;
        MqttClientState state;
        char *address;

        sd_event_source *io;
        sd_event_source *misc;          /* keepalive timer while a socket is open */
        sd_event_source *backoff;       /* the next attempt */
        usec_t delay;                   /* the last backoff delay; 0 after a CONNACK */

        int connack;                    /* CONNACK code of a refused attempt, else -1 */
        char *last_error;               /* libmosquitto's last error log line (TLS reasons) */
        bool connected_once;
};

static const char *const mqtt_client_state_table[_MQTT_CLIENT_STATE_MAX] = {
        [MQTT_CLIENT_IDLE]       = "idle",
        [MQTT_CLIENT_CONNECTING] = "connecting",
        [MQTT_CLIENT_CONNECTED]  = "connected",
        [MQTT_CLIENT_BACKOFF]    = "backoff",
        [MQTT_CLIENT_STOPPED]    = "stopped",
};

DEFINE_STRING_TABLE_LOOKUP(mqtt_client_state, MqttClientState);

/* The boundary: libmosquitto's codes become negative errno here, once. */
static int mosq_error_to_errno(int rc) {
        switch (rc) {
        case MOSQ_ERR_SUCCESS:
                return 0;
        case MOSQ_ERR_NOMEM:
                return -ENOMEM;
        case MOSQ_ERR_INVAL:
        case MOSQ_ERR_MALFORMED_UTF8:
        case MOSQ_ERR_DUPLICATE_PROPERTY:
        case MOSQ_ERR_QOS_NOT_SUPPORTED:
                return -EINVAL;
        case MOSQ_ERR_NO_CONN:
                return -ENOTCONN;
        case MOSQ_ERR_CONN_REFUSED:
        case MOSQ_ERR_AUTH:
        case MOSQ_ERR_ACL_DENIED:
                return -ECONNREFUSED;
        case MOSQ_ERR_CONN_LOST:
        case MOSQ_ERR_KEEPALIVE:
                return -ECONNRESET;
        case MOSQ_ERR_TLS:
        case MOSQ_ERR_TLS_HANDSHAKE:
        case MOSQ_ERR_OCSP:
                return -EPROTO;
        case MOSQ_ERR_PAYLOAD_SIZE:
        case MOSQ_ERR_OVERSIZE_PACKET:
                return -EMSGSIZE;
        case MOSQ_ERR_NOT_SUPPORTED:
        case MOSQ_ERR_RETAIN_NOT_SUPPORTED:
                return -EOPNOTSUPP;
        case MOSQ_ERR_ERRNO:
                return negative_errno();
        case MOSQ_ERR_EAI:
        case MOSQ_ERR_LOOKUP:
                return -EHOSTUNREACH;
        case MOSQ_ERR_TIMEOUT:
                return -ETIMEDOUT;
        case MOSQ_ERR_PROTOCOL:
        case MOSQ_ERR_MALFORMED_PACKET:
        case MOSQ_ERR_TOPIC_ALIAS_INVALID:
                return -EBADMSG;
        default:
                /* Not our enum: libmosquitto adds codes between releases. */
                return -EIO;
        }
}

static void mqtt_client_set_state(MqttClient *c, MqttClientState s) {
        if (c->state == s)
                return;
        log_debug("MQTT: %s -> %s", mqtt_client_state_to_string(c->state), mqtt_client_state_to_string(s));
        c->state = s;
}

MqttClientState mqtt_client_get_state(const MqttClient *c) {
        return c->state;
}

const char *mqtt_client_address(const MqttClient *c) {
        return c->address;
}

static void mqtt_client_close_sources(MqttClient *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->misc = sd_event_source_disable_unref(c->misc);
}

static int on_backoff(sd_event_source *s, uint64_t usec, void *userdata);

/* Exponential backoff with ±25 % jitter, so that a fleet does not reconnect in lockstep after a
 * broker restart. */
static usec_t mqtt_client_next_delay(MqttClient *c) {
        usec_t d;

        d = c->delay == 0 ? c->config->reconnect_min : MIN(c->delay * 2, c->config->reconnect_max);
        c->delay = d;
        return d - d / 4 + (usec_t) arc4random_uniform((uint32_t) MIN(d / 2 + 1, (usec_t) UINT32_MAX));
}

/* The one place that schedules the next attempt: after a failed attempt or a lost connection. */
static void mqtt_client_schedule(MqttClient *c, int level, const char *what) {
        usec_t delay;
        int r;

        mqtt_client_close_sources(c);
        if (c->state == MQTT_CLIENT_STOPPED)
                return;

        delay = mqtt_client_next_delay(c);
        log_ctx_full_errno(&((LogContext) { .message_id = DFOTAD_MESSAGE_CP_UNREACHABLE }), level, 0,
                           "MQTT: %s; retrying in %.1f s", what, (double) delay / USEC_PER_SEC);

        mqtt_client_set_state(c, MQTT_CLIENT_BACKOFF);
        c->backoff = sd_event_source_disable_unref(c->backoff);
        r = sd_event_add_time_relative(c->event, &c->backoff, CLOCK_MONOTONIC, delay, 0, on_backoff, c);
        if (r >= 0)
                (void) sd_event_source_set_description(c->backoff, "mqtt-backoff");
        else
                log_error_errno(r, "MQTT: cannot arm the reconnect timer, giving up: %m");
}

static void mqtt_client_update_events(MqttClient *c) {
        if (c->io)
                (void) sd_event_source_set_io_events(c->io, EPOLLIN | (mosquitto_want_write(c->mosq) ? EPOLLOUT : 0));
}

/* ---- libmosquitto callbacks (called from inside mosquitto_loop_*) ---- */

static void on_mosq_log(struct mosquitto *mosq, void *userdata, int level, const char *line) {
        MqttClient *c = userdata;

        if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) {
                (void) free_and_strdup(&c->last_error, line);
                log_debug("MQTT: libmosquitto: %s", line);
        }
}

static void on_mosq_connect(struct mosquitto *mosq, void *userdata, int rc, int flags) {
        MqttClient *c = userdata;

        if (rc != 0) {
                /* Refused: on_mosq_disconnect follows and schedules the retry. */
                c->connack = rc;
                return;
        }

        c->delay = 0;
        c->connack = -1;
        mqtt_client_set_state(c, MQTT_CLIENT_CONNECTED);
        log_ctx_info(&((LogContext) { .message_id = DFOTAD_MESSAGE_CP_CONNECTED }),
                     "MQTT: connected to %s (client id %s, MQTT %s%s, session %s)", c->address, c->config->client_id,
                     c->config->protocol == MQTT_PROTOCOL_V5 ? "5" : "3.1.1", c->config->tls ? ", TLS" : "",
                     flags & 1 ? "resumed" : "new");
        c->connected_once = true;

        if (c->handlers.connected)
                c->handlers.connected(c, c->userdata);
        mqtt_client_update_events(c);
}

static void on_mosq_disconnect(struct mosquitto *mosq, void *userdata, int rc) {
        MqttClient *c = userdata;
        _cleanup_free_ char *what = NULL;
        bool was_connected = c->state == MQTT_CLIENT_CONNECTED;
        int level = LOG_WARNING;

        if (c->state == MQTT_CLIENT_STOPPED)
                return;

        if (c->connack > 0) {
                int e = c->connack;

                /* MQTT 3.1.1 CONNACK 4/5 and MQTT 5 reason codes 134/135. */
                if (asprintf(&what, "broker %s refused the connection: %s%s", c->address, mosquitto_connack_string(e),
                             IN_SET(e, 4, 5, 134, 135) ? " (check the username, password_file and the broker's ACL)" : "") < 0)
                        what = NULL;
                level = LOG_ERR;
        } else if (was_connected) {
                if (asprintf(&what, "connection to %s lost: %s", c->address,
                             rc == MOSQ_ERR_KEEPALIVE ? "no answer within the keepalive" : mosquitto_strerror(rc)) < 0)
                        what = NULL;
        } else {
                if (asprintf(&what, "connection to %s failed: %s%s%s", c->address, mosquitto_strerror(rc),
                             c->last_error ? ": " : "", strempty(c->last_error)) < 0)
                        what = NULL;
                level = rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE ? LOG_ERR : LOG_WARNING;
        }
        c->connack = -1;
        free(c->last_error);
        c->last_error = NULL;

        mqtt_client_schedule(c, level, what ?: "connection failed");

        if (was_connected && c->handlers.disconnected)
                c->handlers.disconnected(c, c->userdata);
}

static void on_mosq_publish(struct mosquitto *mosq, void *userdata, int mid) {
        MqttClient *c = userdata;

        if (c->handlers.published)
                c->handlers.published(c, mid, c->userdata);
}

static void on_mosq_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *msg) {
        MqttClient *c = userdata;
        /* libmosquitto NUL-terminates payloads. A NUL inside goes on to the dialect, which rejects
         * the order it carries with a reason (issue 9 item 13) rather than dropping it here. */
        const char *payload = msg->payload ?: "";
        size_t len = msg->payload && msg->payloadlen > 0 ? (size_t) msg->payloadlen : 0;

        if (c->handlers.message)
                c->handlers.message(c, msg->topic, payload, len, c->userdata);
}

/* ---- the event loop side ---- */

/* libmosquitto closes the socket on some failures (a TLS handshake error inside loop_read/write)
 * without calling on_disconnect: a socket we still watch that is gone is a disconnect too. */
static bool mqtt_client_lost_socket(MqttClient *c, int rc) {
        if (!c->io)
                return true; /* on_mosq_disconnect ran */
        if (mosquitto_socket(c->mosq) >= 0)
                return false;
        on_mosq_disconnect(c->mosq, c, rc != MOSQ_ERR_SUCCESS ? rc : MOSQ_ERR_CONN_LOST);
        return true;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        MqttClient *c = userdata;
        int rc = MOSQ_ERR_SUCCESS;

        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                rc = mosquitto_loop_read(c->mosq, 1);
                /* Whole packets can wait in OpenSSL's buffer without the socket being readable. */
                for (unsigned i = 0; rc == MOSQ_ERR_SUCCESS && c->io && i < 64; i++) {
                        SSL *ssl = mosquitto_ssl_get(c->mosq);

                        if (!ssl || SSL_pending(ssl) <= 0)
                                break;
                        rc = mosquitto_loop_read(c->mosq, 1);
                }
                if (mqtt_client_lost_socket(c, rc))
                        return 0;
        }

        if (revents & EPOLLOUT) {
                rc = mosquitto_loop_write(c->mosq, 1);
                if (mqtt_client_lost_socket(c, rc))
                        return 0;
        }

        mqtt_client_update_events(c);
        return 0;
}

static int on_misc(sd_event_source *s, uint64_t usec, void *userdata) {
        MqttClient *c = userdata;

        if (mqtt_client_lost_socket(c, mosquitto_loop_misc(c->mosq)))
                return 0;
        mqtt_client_update_events(c);
        return sd_event_source_set_time_relative(s, MQTT_MISC_INTERVAL_USEC);
}

/* MQTT 5: the CONNECT property Maximum Packet Size (MQTT 5 §3.1.2.11.4), so that the broker never
 * sends a packet larger than MQTT_PACKET_MAX (it drops it instead; mosquitto logs "Dropping too
 * large outgoing PUBLISH"). libmosquitto 2.0 reads a whole packet into memory before it hands it
 * over and has no limit of its own on the client side (lib/packet_mosq.c: "FIXME - client case
 * for incoming message received from broker too large"), so this is the only bound on what a
 * broker can make us allocate.
 *
 * libmosquitto 2.0 has no asynchronous connect that takes CONNECT properties: only the blocking
 * mosquitto_connect_bind_v5() does, and a blocking TCP connect would stall the event loop (and
 * the watchdog) for minutes on an unreachable broker. But mosquitto_connect_bind_v5() stores the
 * properties in the handle before it checks its arguments, and the asynchronous connect sends
 * whatever the handle holds (lib/connect.c, identical from 2.0.0 to 2.0.18): called with no host
 * it stores them and returns MOSQ_ERR_INVAL without touching the network. A libmosquitto that
 * stopped storing them would connect without the property, as with MQTT 3.1.1; the integration
 * test (test_mqtt_faults.py) sees the broker drop an oversized message and would catch it.
 * mosquitto_reinitialise() forgets them, so every attempt sets them again. */
static int mqtt_client_set_connect_properties(MqttClient *c) {
        mosquitto_property *props = NULL;
        int rc;

        rc = mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, MQTT_PACKET_MAX);
        if (rc == MOSQ_ERR_SUCCESS) {
                rc = mosquitto_connect_bind_v5(c->mosq, NULL, 0, 0, NULL, props);
                if (rc == MOSQ_ERR_INVAL)
                        rc = MOSQ_ERR_SUCCESS;
        }
        mosquitto_property_free_all(&props);
        return rc;
}

/* A fresh handle per attempt (see mqtt-client.h: libmosquitto must not keep in-flight copies). */
static int mqtt_client_prepare(MqttClient *c) {
        const MqttConfig *cfg = c->config;
        int rc;

        if (c->mosq)
                rc = mosquitto_reinitialise(c->mosq, cfg->client_id, /* clean_session = */ false, c);
        else {
                c->mosq = mosquitto_new(cfg->client_id, /* clean_session = */ false, c);
                rc = c->mosq ? MOSQ_ERR_SUCCESS : MOSQ_ERR_NOMEM;
        }
        if (rc != MOSQ_ERR_SUCCESS)
                return mosq_error_to_errno(rc);

        rc = mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, cfg->protocol);
        if (rc == MOSQ_ERR_SUCCESS && cfg->username)
                rc = mosquitto_username_pw_set(c->mosq, cfg->username, cfg->password);
        if (rc == MOSQ_ERR_SUCCESS && c->will_topic)
                rc = mosquitto_will_set(c->mosq, c->will_topic, (int) strlen(c->will_payload), c->will_payload, 1, true);
        if (rc == MOSQ_ERR_SUCCESS && cfg->tls) {
                /* Peer verification always on: SSL_VERIFY_PEER, and the host name checked
                 * (tls_insecure stays false). Without a CA file, the system's CAs. */
                rc = mosquitto_tls_set(c->mosq, cfg->ca_file, cfg->ca_file ? NULL : "/etc/ssl/certs",
                                       cfg->certificate_file, cfg->key_file, NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_opts_set(c->mosq, 1, NULL, NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_insecure_set(c->mosq, false);
                if (rc == MOSQ_ERR_SUCCESS && cfg->alpn)
                        rc = mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN, cfg->alpn);
        }
        if (rc == MOSQ_ERR_SUCCESS && cfg->protocol == MQTT_PROTOCOL_V5)
                rc = mqtt_client_set_connect_properties(c);
        if (rc != MOSQ_ERR_SUCCESS)
                return mosq_error_to_errno(rc);

        mosquitto_log_callback_set(c->mosq, on_mosq_log);
        mosquitto_connect_with_flags_callback_set(c->mosq, on_mosq_connect);
        mosquitto_disconnect_callback_set(c->mosq, on_mosq_disconnect);
        mosquitto_publish_callback_set(c->mosq, on_mosq_publish);
        mosquitto_message_callback_set(c->mosq, on_mosq_message);
        return 0;
}

static void mqtt_client_connect(MqttClient *c) {
        int rc, r, fd;

        r = mqtt_client_prepare(c);
        if (r < 0) {
                log_error_errno(r, "MQTT: cannot set up the client: %m");
                mqtt_client_schedule(c, LOG_WARNING, "client set-up failed");
                return;
        }

        mqtt_client_set_state(c, MQTT_CLIENT_CONNECTING);
        c->connack = -1;
        free(c->last_error);
        c->last_error = NULL;

        /* Non-blocking: TCP connect in progress; TLS and CONNECT continue from the loop. The name
         * lookup itself blocks (getaddrinfo), bounded by the resolver's timeouts. */
        rc = mosquitto_connect_async(c->mosq, c->config->host, (int) c->config->port, (int) c->config->keepalive);
        if (rc != MOSQ_ERR_SUCCESS) {
                _cleanup_free_ char *what = NULL;

                r = mosq_error_to_errno(rc);
                if (asprintf(&what, "connection to %s failed: %s%s%s", c->address,
                             rc == MOSQ_ERR_ERRNO ? strerror(-r) : mosquitto_strerror(rc),
                             c->last_error ? ": " : "", strempty(c->last_error)) < 0)
                        what = NULL;
                free(c->last_error);
                c->last_error = NULL;
                mqtt_client_schedule(c, IN_SET(rc, MOSQ_ERR_TLS, MOSQ_ERR_TLS_HANDSHAKE) ? LOG_ERR : LOG_WARNING,
                                     what ?: "connection failed");
                return;
        }

        fd = mosquitto_socket(c->mosq);
        if (fd < 0) {
                mqtt_client_schedule(c, LOG_WARNING, "connection failed: no socket");
                return;
        }

        r = sd_event_add_io(c->event, &c->io, fd, EPOLLIN | EPOLLOUT, on_io, c);
        if (r >= 0) {
                (void) sd_event_source_set_description(c->io, "mqtt-socket");
                r = sd_event_add_time_relative(c->event, &c->misc, CLOCK_MONOTONIC, MQTT_MISC_INTERVAL_USEC, 0, on_misc, c);
        }
        if (r >= 0) {
                /* Re-armed by on_misc() itself. */
                (void) sd_event_source_set_enabled(c->misc, SD_EVENT_ON);
                (void) sd_event_source_set_description(c->misc, "mqtt-keepalive");
        }
        if (r < 0) {
                log_error_errno(r, "MQTT: cannot watch the socket: %m");
                (void) mosquitto_disconnect(c->mosq);
                mqtt_client_schedule(c, LOG_WARNING, "connection failed");
        }
}

static int on_backoff(sd_event_source *s, uint64_t usec, void *userdata) {
        MqttClient *c = userdata;

        c->backoff = sd_event_source_disable_unref(c->backoff);
        mqtt_client_connect(c);
        return 0;
}

int mqtt_client_new(sd_event *event, const MqttConfig *config, const char *will_topic, const char *will_payload,
                    const MqttClientHandlers *handlers, void *userdata, MqttClient **ret) {
        _cleanup_(mqtt_client_freep) MqttClient *c = NULL;

        c = calloc(1, sizeof(MqttClient));
        if (!c)
                return -ENOMEM;

        /* Process-wide, idempotent; also initialises OpenSSL for TLS. */
        (void) mosquitto_lib_init();

        c->event = sd_event_ref(event);
        c->config = config;
        c->handlers = *handlers;
        c->userdata = userdata;
        c->connack = -1;
        c->state = MQTT_CLIENT_IDLE;

        if (will_topic) {
                c->will_topic = strdup(will_topic);
                c->will_payload = strdup(will_payload ?: "");
                if (!c->will_topic || !c->will_payload)
                        return -ENOMEM;
        }

        if (config->host[0] == '/')
                c->address = strdup(config->host);
        else if (asprintf(&c->address, "%s:%u", config->host, config->port) < 0)
                c->address = NULL;
        if (!c->address)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

int mqtt_client_start(MqttClient *c) {
        if (c->state != MQTT_CLIENT_IDLE)
                return -EALREADY;
        mqtt_client_connect(c);
        return 0;
}

int mqtt_client_subscribe(MqttClient *c, const char *const *patterns) {
        size_t n = 0;
        int rc;

        if (c->state != MQTT_CLIENT_CONNECTED)
                return -ENOTCONN;

        while (patterns[n])
                n++;
        if (n == 0)
                return 0;

        rc = mosquitto_subscribe_multiple(c->mosq, NULL, (int) n, (char *const *) patterns, 1, 0, NULL);
        mqtt_client_update_events(c);
        return mosq_error_to_errno(rc);
}

int mqtt_client_publish(MqttClient *c, const char *topic, const char *payload, size_t len, bool retain, int *ret_mid) {
        int rc, mid = 0;

        if (c->state != MQTT_CLIENT_CONNECTED)
                return -ENOTCONN;
        if (len > INT32_MAX)
                return -EMSGSIZE;

        rc = mosquitto_publish(c->mosq, &mid, topic, (int) len, payload, 1, retain);
        if (rc != MOSQ_ERR_SUCCESS)
                return mosq_error_to_errno(rc);

        mqtt_client_update_events(c);
        if (ret_mid)
                *ret_mid = mid;
        return 0;
}

/* For mqtt_client_stop(): the PUBACK of the goodbye message. */
typedef struct StopWait {
        int mid;
        bool acked;
        MqttClientHandlers handlers;    /* the owner's: other PUBACKs still go there */
        void *userdata;
} StopWait;

static void on_stop_publish(MqttClient *c, int mid, void *userdata) {
        StopWait *w = userdata;

        if (mid == w->mid) {
                w->acked = true;
                return;
        }
        /* A status published just before the stop is acknowledged now: its owner must hear of it,
         * or it stays in the outbox and goes out a second time at the next start. */
        if (w->handlers.published)
                w->handlers.published(c, mid, w->userdata);
}

int mqtt_client_stop(MqttClient *c, const char *topic, const char *payload, usec_t timeout) {
        StopWait w = { .mid = -1 };
        struct timespec ts;
        usec_t deadline;
        int r = 0;

        if (c->state != MQTT_CLIENT_CONNECTED) {
                mqtt_client_close_sources(c);
                c->backoff = sd_event_source_disable_unref(c->backoff);
                mqtt_client_set_state(c, MQTT_CLIENT_STOPPED);
                return 0;
        }

        /* Outside the event loop: our own poll() until the PUBACK, bounded. */
        w.handlers = c->handlers;
        w.userdata = c->userdata;
        c->handlers = (MqttClientHandlers) { .published = on_stop_publish };
        c->userdata = &w;

        if (topic) {
                r = mqtt_client_publish(c, topic, payload, strlen(payload), true, &w.mid);
                if (r < 0)
                        log_warning_errno(r, "MQTT: cannot publish %s on the way out: %m", topic);
        }

        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000 + timeout;
        while (r >= 0 && topic && !w.acked && c->state == MQTT_CLIENT_CONNECTED) {
                struct pollfd p = { .fd = mosquitto_socket(c->mosq), .events = POLLIN };
                usec_t now;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
                if (now >= deadline || p.fd < 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                if (mosquitto_want_write(c->mosq))
                        p.events |= POLLOUT;
                if (poll(&p, 1, (int) ((deadline - now + 999) / 1000)) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (p.revents & (POLLIN | POLLERR | POLLHUP))
                        (void) mosquitto_loop_read(c->mosq, 1);
                if (c->state == MQTT_CLIENT_CONNECTED && (p.revents & POLLOUT))
                        (void) mosquitto_loop_write(c->mosq, 1);
        }

        /* A DISCONNECT: the broker drops the last will. */
        mqtt_client_set_state(c, MQTT_CLIENT_STOPPED);
        if (mosquitto_socket(c->mosq) >= 0) {
                (void) mosquitto_disconnect(c->mosq);
                (void) mosquitto_loop_write(c->mosq, 1);
        }
        mqtt_client_close_sources(c);
        return r;
}

MqttClient *mqtt_client_free(MqttClient *c) {
        if (!c)
                return NULL;

        mqtt_client_close_sources(c);
        c->backoff = sd_event_source_disable_unref(c->backoff);
        if (c->mosq)
                mosquitto_destroy(c->mosq);
        sd_event_unref(c->event);
        free(c->will_topic);
        free(c->will_payload);
        free(c->address);
        free(c->last_error);
        free(c);
        return NULL;
}
