/* SPDX-License-Identifier: MIT */
#pragma once

/* The DFOTA engine (layer 3): one job execution on one modem, driven by the module's URCs, the
 * port coming and going, and the phase timers. Every transition goes through one funnel that
 * persists the record atomically, logs it with structured fields and hands the status to the
 * control-plane layer.
 *
 * The sequence (EC25&EC21 DFOTA User Guide §2.3, §3; EP06 guide, abnormalities chapter; brief
 * "DFOTA rules"):
 *   QUEUED -> PREFLIGHT (ATE0, ATI, AT+GSN, the family's checks; source_version, model and URL
 *   checked: a mismatch is REJECTED and nothing is sent)
 *   -> AT+QFOTADL=<url>, at most once per job, recorded as sent *before* it is written
 *   -> DOWNLOADING (FTPSTART/HTTPSTART within download_start; *END within download)
 *   -> DOWNLOADED (the module reboots: WAITING_FOR_MODEM until the port returns, then the first URC
 *      within first_urc_after_reboot)
 *   -> UPDATING (START, UPDATING,<pct>; no URC for urc_watchdog -> reset through the configured
 *      method, counted; END,<err!=0> -> the module reboots and retries, attempts counted to the
 *      profile's max_attempts)
 *   -> VERIFYING (the module reboots into normal mode; ATI's revision must equal target_version)
 *   -> SUCCEEDED, or FAILED with the module's code and its meaning from the family's tables. */

#include "modem.h"
#include "record.h"

/* Creates the engine for record on modem m and starts (or, for a record that was already past
 * QUEUED when the daemon stopped, resumes) it. The engine takes ownership of record on success.
 * Returns 0 or -ENOMEM. The engine reports its end through modem_engine_finished().
 *
 * A resume reads typed record fields only (record.h): "phase" says where to go on and which wait
 * applies (after AT+QFOTADL was recorded but before any URC: download_start, and the command may
 * never have reached the module; a download: download; after a reboot or an END with attempts
 * left: first_urc_after_reboot; an attempt: urc_watchdog; the end: verify), "last_end" whether
 * the next START is a new attempt, "modem.family" the profile. AT+QFOTADL is never sent for a
 * record that says it was sent. */
int engine_start(Modem *m, JobRecord *record, Engine **ret);

Engine *engine_free(Engine *e);

/* Whether the engine knows how to run and judge a preflight check (its command, the prefix of its
 * answer, the judge); true for every PreflightCheck (tests/unit/test-engine.c). */
bool engine_preflight_check_known(PreflightCheck c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free);

/* Events from the modem layer. */
void engine_port_opened(Engine *e);             /* the AT port is (back) open */
void engine_port_lost(Engine *e, int error);    /* the AT port disappeared; error: negative errno */
void engine_on_urc(Engine *e, const char *line);/* +QIND and boot URCs (RDY) */

const JobRecord *engine_get_record(const Engine *e);

/* Saves the record as it is now (progress below the persistence step included). For shutdown. */
int engine_flush(Engine *e);

/* Ends the execution with CANCELED and reason, if AT+QFOTADL has not been sent (a command in
 * flight is forgotten, ModemManager gets the module back). Returns 0, -EBUSY when AT+QFOTADL was
 * sent (the module upgrades by itself; the execution goes on), or -EALREADY when it has ended. */
int engine_cancel(Engine *e, const char *reason);
