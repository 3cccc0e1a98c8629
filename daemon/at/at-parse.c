/* SPDX-License-Identifier: MIT */

#include <stdio.h>
#include <strings.h>

#include "at-parse.h"

int at_parse_ati(char *const *lines, char **ret_model, char **ret_revision) {
        _cleanup_free_ char *model = NULL, *revision = NULL;

        for (size_t i = 0; lines && lines[i]; i++) {
                const char *l = lines[i], *v;

                v = startswith(l, "Revision:");
                if (v) {
                        v += strspn(v, " ");
                        if (isempty(v))
                                continue;
                        free(revision);
                        revision = strdup(v);
                        if (!revision)
                                return -ENOMEM;
                        continue;
                }

                /* The first line is the manufacturer; the model follows it. Boot noise that
                 * slipped in (URC-like lines) is skipped. The NB-IoT modules print both with a
                 * prefix: "Quectel_Ltd", "Quectel_BC26" (BC26 AT commands manual, ATI). */
                if (strcasecmp(l, "Quectel") == 0 || strcasecmp(l, "Quectel_Ltd") == 0 ||
                    l[0] == '+' || streq(l, "RDY") || model)
                        continue;
                if (strncasecmp(l, "Quectel_", strlen("Quectel_")) == 0 && l[strlen("Quectel_")] != '\0')
                        l += strlen("Quectel_");

                model = strdup(l);
                if (!model)
                        return -ENOMEM;
        }

        if (!revision)
                return -EBADMSG;

        if (ret_model)
                *ret_model = TAKE_PTR(model);
        if (ret_revision)
                *ret_revision = TAKE_PTR(revision);
        return 0;
}

int at_parse_gsn(char *const *lines, char **ret_imei) {
        for (size_t i = 0; lines && lines[i]; i++) {
                const char *l = lines[i];
                size_t n;

                l = startswith(l, "+GSN:") ?: startswith(l, "+CGSN:") ?: l;
                l += strspn(l, " \"");
                n = strspn(l, "0123456789");
                if (n < 14 || n > 17)
                        continue;

                char *imei = strndup(l, n);
                if (!imei)
                        return -ENOMEM;
                *ret_imei = imei;
                return 0;
        }

        return -EBADMSG;
}

const char *at_find_line(char *const *lines, const char *prefix) {
        for (size_t i = 0; lines && lines[i]; i++)
                if (startswith(lines[i], prefix))
                        return lines[i];
        return NULL;
}

/* The text after the colon of a "+<name>:" line, or NULL. */
static const char *after_colon(const char *line) {
        const char *p = line && line[0] == '+' ? strchr(line, ':') : NULL;

        return p ? p + 1 : NULL;
}

int at_parse_registration(const char *line, int *ret_stat) {
        const char *p = after_colon(line);
        int n, stat;

        if (!p || sscanf(p, " %d , %d", &n, &stat) != 2)
                return -EBADMSG;
        *ret_stat = stat;
        return 0;
}

bool at_registration_is_registered(int stat) {
        return stat == 1 || stat == 5;
}

int at_parse_csq(const char *line, int *ret_rssi) {
        const char *p = startswith(line ?: "", "+CSQ:");
        int rssi, ber;

        if (!p || sscanf(p, " %d , %d", &rssi, &ber) != 2)
                return -EBADMSG;
        *ret_rssi = rssi;
        return 0;
}

int at_parse_cesq(const char *line, int *ret_rsrp) {
        const char *p = startswith(line ?: "", "+CESQ:");
        int rxlev, ber, rscp, ecno, rsrq, rsrp;

        if (!p || sscanf(p, " %d , %d , %d , %d , %d , %d", &rxlev, &ber, &rscp, &ecno, &rsrq, &rsrp) != 6)
                return -EBADMSG;
        *ret_rsrp = rsrp;
        return 0;
}

bool at_cgpaddr_has_address(const char *line) {
        const char *addr = startswith(line ?: "", "+CGPADDR:");

        addr = addr ? strchr(addr, ',') : NULL;
        if (!addr)
                return false;
        addr += strspn(addr, ", \"");
        return !isempty(addr) && !startswith(addr, "0.0.0.0");
}
