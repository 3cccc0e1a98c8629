/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's configuration: one JSON file (default /etc/dfotad/dfotad.json) plus drop-ins, the
 * "*.json" files in "<path>.d/", merged in name order (a drop-in's top-level keys replace the
 * file's; objects such as "timeouts" and "records" are merged key by key). Every file is read
 * without blocking and only when it is a regular file of at most 1 MiB. Documented key by key in
 * README.md. */

#include "control-config.h"
#include "macro.h"
#include "profile.h"

#define CONFIG_DEFAULT_PATH "/etc/dfotad/dfotad.json"
#define CONFIG_DEFAULT_STATE_DIRECTORY "/var/lib/dfotad"

/* All in microseconds; the config file gives seconds (fractions allowed, must be > 0). Defaults
 * are the guides' values. */
typedef struct Timeouts {
        usec_t at_command;              /* one AT command's final result; default 5 s */
        usec_t download_start;          /* OK of AT+QFOTADL -> FTPSTART/HTTPSTART; default 90 s (EC25&EC21 guide §3) */
        usec_t download;                /* *START -> *END: the whole download; default 1800 s (real modules stay silent for minutes) */
        usec_t port_return;             /* AT port gone -> back; default 300 s */
        usec_t first_urc_after_reboot;  /* port back -> first URC; default 90 s */
        usec_t urc_watchdog;            /* update phase, no URC for this long -> reset; default 240 s (EP06 guide, abnormalities chapter) */
        usec_t verify;                  /* END -> revision read back; default 300 s */
        usec_t state_write_retry;       /* a state file that could not be written is tried again this often; default 10 s */
} Timeouts;

typedef enum ResetMethod {
        RESET_METHOD_AT,                /* AT+CFUN=1,1 on the AT port */
        RESET_METHOD_COMMAND,           /* run reset_command (argv), e.g. a GPIO power-cycle script */
        _RESET_METHOD_MAX,
        _RESET_METHOD_INVALID = -EINVAL,
} ResetMethod;

/* AT+QICSGP's <contextID> range, as the UC20 TCP/IP AT manual gives it (listed as [1] in the
 * UMTS/HSPA DFOTA User Guide ch. 6; not among ../shared/seeds/). */
#define PDP_CID_MIN 1
#define PDP_CID_MAX 16
/* The APN limit set for this key by issue 3. */
#define PDP_APN_MAX 62
/* A cap of ours on username and password: no guide here gives one, and with it the whole
 * AT+QICSGP line stays below 350 bytes. */
#define PDP_CREDENTIAL_MAX 127

/* The PDP context a module that needs one (UC20/UC15: profile needs_pdp_context) downloads over:
 * AT+QICSGP=<cid>,1,"<apn>","<username>","<password>",<auth> and AT+QCFG="fota/cid",<cid>
 * (UMTS/HSPA DFOTA User Guide ch. 3). Config key "modems[].pdp". Every string is printable ASCII
 * without '"' (it is pasted into that command line). */
typedef struct PdpConfig {
        unsigned cid;                   /* "cid": 1..16, default 1 */
        char *apn;                      /* "apn": required, 1..PDP_APN_MAX bytes */
        char *username;                 /* "username": 1..PDP_CREDENTIAL_MAX bytes; may be NULL */
        char *password;                 /* read from "password_file" (or a systemd credential), trailing
                                         * newline stripped, at most PDP_CREDENTIAL_MAX bytes; may be NULL.
                                         * A secret: never logged, wiped when freed. */
        unsigned auth;                  /* "auth": 0 none, 1 pap, 2 chap, 3 pap-or-chap (AT+QICSGP <authentication>) */
        char *password_file;            /* where the password was read from (a credential resolved to its
                                         * full path), for messages; NULL without a password */
} PdpConfig;

PdpConfig *pdp_config_free(PdpConfig *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(PdpConfig *, pdp_config_free);

/* "none", "pap", "chap", "pap-or-chap" <-> 0..3 (AT+QICSGP <authentication>); -EINVAL when unknown. */
const char *pdp_auth_to_string(unsigned auth);
int pdp_auth_from_string(const char *s);

typedef struct ModemConfig {
        char *port;                     /* AT port path, e.g. /dev/ttyUSB2 */
        ModemFamily family;             /* _MODEM_FAMILY_INVALID: detect from ATI */
        PdpConfig *pdp;                 /* "pdp"; NULL when not configured */
} ModemConfig;

typedef struct Config {
        char *state_directory;          /* "state_directory"; default $STATE_DIRECTORY or /var/lib/dfotad */
        int log_level;                  /* "log_level"; syslog level, default LOG_INFO */
        ModemConfig *modems;            /* "modems" */
        size_t n_modems;
        Timeouts timeouts;              /* "timeouts" */
        ResetMethod reset_method;       /* "reset": "at" (default) or {"command": [argv...]}; the program is
                                         * checked at load time (exists, regular file, executable) */
        char **reset_command;           /* NULL-terminated argv for RESET_METHOD_COMMAND, else NULL */
        bool reset_try_at_first;        /* "reset": {"command": [...], "try_at_first": true}: AT+CFUN=1,1 first,
                                         * the program when the AT port cannot take it */
        usec_t records_max_age;         /* "records": {"max_age_days": 0..36500}: ended job records older than
                                         * this are pruned; default 90 days; 0: none */
        unsigned records_max_count;     /* "records": {"max_count": 0..1000000}: at most this many ended job
                                         * records are kept; default 1000; 0: none */
        bool hotplug;                   /* "hotplug": find USB modules through udev; default true */
        ControlPlanesConfig control_planes; /* "local", "mqtt" (control-config.h) */
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
