/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the Modem's files (modem.c: port, identification, hold, job side; modem-reset.c: the
 * reset). Not a public interface. */

#include <stdio.h>

#include "log.h"
#include "modem.h"

/* Storage for the fields of one log entry about a modem. */
typedef struct ModemLogFields {
        char prefix[128];           /* "Modem 1-1.2: " for a hotplug modem, "" for a static port */
        char usb_path[320];         /* "DFOTAD_USB_PATH=/devices/..." */
        const char *extra[2];
} ModemLogFields;

/* Fills *ctx (and the storage *f it points into) for a log line about m. */
void modem_log_ctx(const Modem *m, LogContext *ctx, ModemLogFields *f);

#define log_modem(m, level, error, format, ...)                                 \
        ({                                                                      \
                LogContext _ctx;                                                \
                ModemLogFields _f;                                              \
                modem_log_ctx((m), &_ctx, &_f);                                 \
                log_ctx_full_errno(&_ctx, (level), (error), "%s" format, _f.prefix, ##__VA_ARGS__); \
        })
