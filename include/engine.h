/* SPDX-License-Identifier: MIT */
#pragma once

/* The DFOTA engine (layer 3): one job execution on one modem, driven by the module's URCs, the
 * port coming and going, and the phase timers. Every transition goes through the record's funnel
 * (job_record_transition(): history, atomic save, structured log line), then to the owner through
 * EngineCallbacks. The engine knows no Modem and no Manager: it reaches the module through
 * EnginePortOps (dfota/queue.c provides them over the Modem, tests/unit/engine-script.c over a
 * scripted fake) and is given its loop, timeouts and settings as an EngineEnv.
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

#include <systemd/sd-event.h>

#include "at-channel.h"
#include "modemmanager.h"
#include "pdp.h"
#include "profile.h"
#include "record.h"
#include "timeouts.h"

typedef struct Engine Engine;

/* What the engine is given at creation and borrows for its life: the loop, the waits, and what
 * its module needs set up. */
typedef struct EngineEnv {
        sd_event *event;
        const Timeouts *timeouts;   /* the phase timers (timeouts.h) */
        MmClient *mm;               /* keeps ModemManager off the module; NULL: never asked */
        const PdpConfig *pdp;       /* the module's PDP context (UC20/UC15, profile needs_pdp_context); NULL: none configured */
} EngineEnv;

/* The module as the engine sees it now, borrowed until the engine returns to the loop. */
typedef struct EnginePortInfo {
        const char *path;           /* the AT port's path now (it may change across a reboot: ttyUSB2 -> ttyUSB6) */
        const char *imei;           /* the module's IMEI as identified, or NULL */
        const char *device;         /* the physical device's sysfs path (ModemManager's uid), or NULL for a static port */
        const ModemProfile *profile;/* the module's family profile, or NULL when unknown (the generic one applies) */
} EnginePortInfo;

/* Whether a reset (EnginePortOps.reset) reached the module: AT+CFUN=1,1 written or the configured
 * program ran (delivered), or neither. detail says what happened, for the log; borrowed. */
typedef void (*EngineResetCallback)(bool delivered, const char *detail, void *userdata);

/* How the module's identification went (EnginePortOps.identify): error 0 with model, revision and
 * imei (borrowed for the call; each may be NULL when the module did not say), or a negative errno
 * and failed saying which step, e.g. "ATI failed (ERROR)". */
typedef void (*EngineIdentifyCallback)(int error, const char *failed, const char *model, const char *revision,
                                       const char *imei, void *userdata);

/* How the engine reaches its module's AT port, provided by its owner (dfota/queue.c over the
 * Modem; tests/unit/test-engine.c over a scripted fake). port is EnginePort.userdata. */
typedef struct EnginePortOps {
        /* Sends command, as at_channel_send(); *ret_id for cancel. -ENOTCONN while the port is absent. */
        int (*send)(void *port, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata, uint64_t *ret_id);
        /* Forgets the callback of a command sent with send(). */
        void (*cancel)(void *port, uint64_t id);
        /* Resets the module through the configured method; cb once, from the loop. 0 or -EBUSY. */
        int (*reset)(void *port, EngineResetCallback cb, void *userdata);
        /* Forgets the callback of the reset in progress. */
        void (*reset_cancel)(void *port);
        /* Identifies the module: ATE0, ATI, AT+GSN, the same sequence the modem identifies it with
         * (modem_identify()); cb once, from the loop, unless the port is lost first or
         * identify_cancel(). 0, -ENOTCONN while the port is absent, -EBUSY. */
        int (*identify)(void *port, EngineIdentifyCallback cb, void *userdata);
        /* Forgets the identification in flight. */
        void (*identify_cancel)(void *port);
        /* Fills *ret with the module as known now. */
        void (*info)(void *port, EnginePortInfo *ret);
} EnginePortOps;

typedef struct EnginePort {
        const EnginePortOps *ops;
        void *userdata;
} EnginePort;

/* Upward traffic, to the engine's owner (callback + userdata). */
typedef struct EngineCallbacks {
        /* The record changed in a way the control plane must hear of (a transition, a progress
         * step, an attempt): the record is saved already; borrowed for the call. */
        void (*report)(Engine *e, const JobRecord *record, void *userdata);
        /* The execution ended (record terminal, saved and reported). The owner frees the engine,
         * but not from inside this call: from a defer source. */
        void (*finished)(Engine *e, void *userdata);
} EngineCallbacks;

/* Creates the engine for record and starts (or, for a record that was already past QUEUED when
 * the daemon stopped, resumes) it. env, port and callbacks are copied; what they point to is
 * borrowed for the engine's life. The engine takes ownership of record on success. *ret is set
 * before the first callback can run (a fresh start on an open port may end at once: a REJECTED
 * preflight), so that the owner's callbacks find it. Returns 0 or -ENOMEM.
 *
 * A resume reads typed record fields only (record.h): "phase" says where to go on and which wait
 * applies (after AT+QFOTADL was recorded but before any URC: download_start, and the command may
 * never have reached the module; a download: download; after a reboot or an END with attempts
 * left: first_urc_after_reboot; an attempt: urc_watchdog; the end: verify), "last_end" whether
 * the next START is a new attempt, "modem.family" the profile. AT+QFOTADL is never sent for a
 * record that says it was sent. */
int engine_start(const EngineEnv *env, const EnginePort *port, const EngineCallbacks *callbacks, void *userdata,
                 JobRecord *record, Engine **ret);

Engine *engine_free(Engine *e);

/* Whether the engine knows how to run and judge a preflight check (its command, the prefix of its
 * answer, the judge); true for every PreflightCheck (tests/unit/test-engine.c). */
bool engine_preflight_check_known(PreflightCheck c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free);

/* Events from the module, through the owner. */
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
