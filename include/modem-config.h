/* SPDX-License-Identifier: MIT */
#pragma once

/* The modem layer's settings, as plain values: parsed from the config file by core (config.c,
 * README "Configuration") and given to each Modem at creation (modem.h ModemEnv). */

#include "pdp.h"
#include "profile.h"

typedef enum ResetMethod {
        RESET_METHOD_AT,                /* AT+CFUN=1,1 on the AT port */
        RESET_METHOD_COMMAND,           /* run reset_command (argv), e.g. a GPIO power-cycle script */
        _RESET_METHOD_MAX,
        _RESET_METHOD_INVALID = -EINVAL,
} ResetMethod;

/* How a module is reset when the DFOTA engine's watchdog gives up waiting (modem_reset()). */
typedef struct ResetConfig {
        ResetMethod method;             /* "at" (default) or "command" */
        char **command;                 /* NULL-terminated argv for RESET_METHOD_COMMAND, else NULL */
        bool try_at_first;              /* AT+CFUN=1,1 first, the program when the AT port cannot take it */
} ResetConfig;

/* Config key "modems[]": one module, named by exactly one of port, imei or usb_path. */
typedef struct ModemConfig {
        char *port;                     /* "port": a static AT port path, e.g. /dev/ttyS1; or NULL */
        char *imei;                     /* "imei": a module found through udev, once AT+GSN says so; or NULL */
        char *usb_path;                 /* "usb_path": a module found through udev at this USB path ("1-1.2"); or NULL */
        ModemFamily family;             /* "family"; _MODEM_FAMILY_INVALID: detect from ATI */
        PdpConfig *pdp;                 /* "pdp"; NULL when not configured */
} ModemConfig;
