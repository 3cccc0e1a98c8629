/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's configuration: one JSON file (default /etc/dfotad/dfotad.json) plus drop-ins, the
 * "*.json" files in "<path>.d/", merged in name order (a drop-in's top-level keys replace the
 * file's; objects such as "timeouts" and "records" are merged key by key). Every file is read
 * without blocking and only when it is a regular file of at most 1 MiB. Documented key by key in
 * README.md. */

#include "control-config.h"
#include "macro.h"
#include "modem-config.h"
#include "timeouts.h"

#define CONFIG_DEFAULT_PATH "/etc/dfotad/dfotad.json"
#define CONFIG_DEFAULT_STATE_DIRECTORY "/var/lib/dfotad"

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
