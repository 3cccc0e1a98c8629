/* SPDX-License-Identifier: MIT */

/* The configuration file (config.h: config_load()), the bytes as /etc/dfotad/dfotad.json. A
 * refused file gets an error that is safe to log (valid UTF-8, no control characters) and no
 * Config; an accepted one keeps the ranges README.md "Configure" documents: every timeout > 0, a
 * syslog level, modems with a port, PDP contexts within AT+QICSGP's limits and without '"', and an
 * MQTT section with a host, a port, keepalive 5..65535, reconnect_min <= reconnect_max, a heartbeat
 * below the step timeout. */

#include <stdio.h>

#include "config.h"
#include "string-util.h"
#include "fuzz-util.h"
#include "job-rules.h"

static void check_no_quote(const char *s, size_t max) {
        if (!s)
                return;
        fuzz_assert(strlen(s) >= 1 && strlen(s) <= max);
        for (size_t i = 0; s[i]; i++)
                fuzz_assert(s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '"');
}

static void check_config(const Config *c) {
        const usec_t *t = (const usec_t *) &c->timeouts;

        fuzz_assert(!isempty(c->state_directory));
        fuzz_assert(c->log_level >= 0 && c->log_level <= 7);
        for (size_t i = 0; i < sizeof(Timeouts) / sizeof(usec_t); i++)
                fuzz_assert(t[i] > 0);
        fuzz_assert(c->reset.method >= 0 && c->reset.method < _RESET_METHOD_MAX);
        fuzz_assert((c->reset.method == RESET_METHOD_COMMAND) == !!c->reset.command);
        if (c->reset.command)
                fuzz_assert(c->reset.command[0]);

        for (size_t i = 0; i < c->n_modems; i++) {
                const ModemConfig *m = &c->modems[i];

                /* Exactly one name for the module: a port (absolute), an IMEI or a USB path. */
                fuzz_assert(!!m->port + !!m->imei + !!m->usb_path == 1);
                fuzz_assert(!m->port || m->port[0] == '/');
                fuzz_assert(!m->imei || imei_is_valid(m->imei));
                fuzz_assert(!m->usb_path || (m->usb_path[0] >= '0' && m->usb_path[0] <= '9' && strchr(m->usb_path, '-')));
                fuzz_assert(m->family == _MODEM_FAMILY_INVALID || (m->family >= 0 && m->family < _MODEM_FAMILY_MAX));
                if (m->pdp) {
                        fuzz_assert(m->pdp->cid >= PDP_CID_MIN && m->pdp->cid <= PDP_CID_MAX);
                        fuzz_assert(m->pdp->auth <= 3);
                        fuzz_assert(m->pdp->apn);
                        check_no_quote(m->pdp->apn, PDP_APN_MAX);
                        check_no_quote(m->pdp->username, PDP_CREDENTIAL_MAX);
                        check_no_quote(m->pdp->password, PDP_CREDENTIAL_MAX);
                }
        }

        if (c->control_planes.mqtt) {
                const MqttConfig *q = c->control_planes.mqtt;

                fuzz_assert(q->dialect >= 0 && q->dialect < _MQTT_DIALECT_MAX);
                fuzz_assert(!isempty(q->host));
                fuzz_assert(q->port <= 65535);
                fuzz_assert(q->host[0] == '/' || q->port >= 1);
                fuzz_assert(!isempty(q->device_id) && strlen(q->device_id) <= MQTT_ID_MAX);
                fuzz_assert(!isempty(q->client_id) && strlen(q->client_id) <= MQTT_ID_MAX);
                fuzz_assert(!isempty(q->thing_name) && strlen(q->thing_name) <= MQTT_ID_MAX);
                fuzz_assert(!isempty(q->prefix));
                fuzz_assert(q->keepalive >= 5 && q->keepalive <= 65535);
                fuzz_assert(q->reconnect_min > 0 && q->reconnect_min <= q->reconnect_max);
                fuzz_assert(q->step_timeout_minutes <= 10080);
                if (q->step_timeout_minutes > 0)
                        fuzz_assert(q->heartbeat < (usec_t) q->step_timeout_minutes * 60 * USEC_PER_SEC);
                /* Topic levels: a wildcard or a separator in an id would change what we subscribe to. */
                fuzz_assert(!strpbrk(q->device_id, "/+#"));
                fuzz_assert(!strpbrk(q->thing_name, "/+#"));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *path = NULL, *reason = NULL;
        int r;

        fuzz_setup();

        if (asprintf(&path, "%s/dfotad.json", fuzz_scratch_dir()) < 0)
                return 0;
        if (fuzz_write_file(path, data, size) < 0)
                return 0;

        r = config_load(path, /* path_explicit= */ true, &c, &reason);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                fuzz_assert(!c);
                fuzz_assert(reason);
                rules_check_reason(reason);
                return 0;
        }
        fuzz_assert(c);
        check_config(c);
        return 0;
}
