/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's waits, as plain values: read from the config (core, config key "timeouts") and
 * given to every layer that waits (the modem, the DFOTA engine, the control planes) at creation. */

#include "macro.h"

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
