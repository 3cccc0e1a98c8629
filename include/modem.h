/* SPDX-License-Identifier: MIT */
#pragma once

/* One object per physical module (layer 2): its identity (model, revision, IMEI), its family
 * profile, its current AT port, which comes and goes across the module's reboots, and its queue of
 * job executions. A static port is watched by path: when the AT port disappears (EOF/EIO/HUP on
 * the tty), the modem waits for the path to reappear (inotify on the parent directory, plus a
 * retry timer for file systems without inotify events) and reopens it.
 *
 * A hotplug modem (found through udev, see hotplug.h) is one physical USB device; its AT port is
 * whatever tty udev last announced for it (ttyUSB2, after a reboot perhaps ttyUSB6). The manager
 * hands it each port with modem_port_added() and takes it away with modem_port_removed(); after a
 * hangup it reopens the same node only while udev has not said the tty is gone. Unplugged while
 * idle, it asks the manager to forget it. */

#include <systemd/sd-event.h>

#include "at-channel.h"
#include "engine.h"
#include "config.h"
#include "hotplug.h"
#include "profile.h"
#include "record.h"

typedef struct Manager Manager;
typedef struct Engine Engine;
typedef struct Modem Modem;

/* What became of a reset (modem_reset()). */
typedef enum ModemResetResult {
        MODEM_RESET_SENT_AT,        /* AT+CFUN=1,1 was written to the AT port in full */
        MODEM_RESET_RAN_COMMAND,    /* the configured reset program ran and exited with status 0 */
        MODEM_RESET_NOT_DELIVERED,  /* neither: the AT port took no command and there is no program (or it failed to start) */
        _MODEM_RESET_RESULT_MAX,
        _MODEM_RESET_RESULT_INVALID = -EINVAL,
} ModemResetResult;

DECLARE_STRING_TABLE_LOOKUP(modem_reset_result, ModemResetResult);

/* detail: what happened, for the log ("AT+CFUN=1,1 written", "the AT port is gone; /usr/bin/x
 * started"); borrowed for the call. */
typedef void (*ModemResetCallback)(Modem *m, ModemResetResult result, const char *detail, void *userdata);

typedef enum ModemPortState {
        MODEM_PORT_ABSENT,          /* no AT port: waiting for the path */
        MODEM_PORT_PROBING,         /* port open, identifying the module (ATE0, ATI, AT+GSN) */
        MODEM_PORT_READY,           /* port open and module identified */
        MODEM_PORT_ENGINE,          /* port open, owned by a running job execution */
        _MODEM_PORT_STATE_MAX,
        _MODEM_PORT_STATE_INVALID = -EINVAL,
} ModemPortState;

DECLARE_STRING_TABLE_LOOKUP(modem_port_state, ModemPortState);

struct Modem {
        Manager *manager;
        sd_event *event;
        const Timeouts *timeouts;   /* borrowed from the manager's config */

        const ModemConfig *config;  /* borrowed from the manager's config; NULL for a hotplug modem */
        char *port;                 /* AT port path: the configured one, or the last node udev announced */
        ModemFamily configured_family; /* _MODEM_FAMILY_INVALID: detect */
        const ModemProfile *profile;   /* the configured family's from the start, else NULL until identified */

        bool serving;               /* modem_start() was called: ports are opened as they come */
        ModemPortState port_state;
        AtChannel *channel;         /* NULL while the port is absent */
        sd_event_source *path_watch;/* inotify on the port's directory */
        sd_event_source *retry_timer;
        sd_event_source *finish_defer; /* frees a finished engine outside its own callbacks */
        uint64_t probe_command;     /* id of the identification command in flight, 0 if none */
        unsigned probe_step;

        char *model;                /* ATI line 2, e.g. "EC25" */
        char *revision;             /* ATI "Revision: ..." */
        char *imei;                 /* AT+GSN */
        bool identified;

        bool hold;                  /* takes no new job until it answers normally outside an update */
        sd_event_source *hold_timer;/* identified and silent this long: the hold ends */

        /* The reset in progress (modem_reset()), reported once through reset_callback. */
        ModemResetCallback reset_callback;
        void *reset_userdata;
        sd_event_source *reset_defer;
        sd_event_source *reset_child;   /* the reset program runs; its exit status says whether it counts */
        char *reset_why;                /* what came before the program, for the report */
        ModemResetResult reset_result;
        char *reset_detail;
        EngineResetCallback engine_reset_callback; /* the engine's, behind reset_callback */

        Engine *engine;             /* the running job execution, or NULL */
        JobRecord **queue;          /* queued job executions, FIFO, owned */
        size_t n_queue;

        /* Hotplug only (all NULL/false for a static port). */
        bool hotplug;
        char *usb_path;             /* devpath of the usb_device: the identity; NULL for a modem waiting
                                     * for a module it has not seen since a restart (modem_new_detached) */
        char *usb_syspath;          /* syspath of the usb_device */
        char *usb_name;             /* its sysname, e.g. "1-1.2": the modem's name in the log and STATUS= */
        char *port_syspath;         /* the tty in use or last used; NULL before the first */
        bool port_present;          /* udev has not announced the removal of port_syspath */
        sd_event_source *absent_timer; /* queued jobs and no port: hands them back after port_return */
};

/* Creates the modem for a configured port and starts serving it (opens the port or waits for it).
 * Returns 0 or a negative errno. */
int modem_new(Manager *manager, const ModemConfig *config, Modem **ret);
Modem *modem_free(Modem *m);

/* Creates a modem for the module of a port found through udev, named and identified by its USB
 * device (not yet serving: hand it the port with modem_port_added()). port->family, from the udev
 * rules or the built-in table, is used as a configured family would be; _MODEM_FAMILY_INVALID:
 * detected from ATI. Returns 0 or -ENOMEM. */
int modem_new_hotplug(Manager *manager, const HotplugPort *port, Modem **ret);

/* Creates a hotplug modem for a job execution that was running before a restart and whose module
 * is not present now (or not under the port name the record has): it waits with the resumed
 * engine for a module with the record's AT port name or IMEI (see manager_hotplug_port_added()
 * and modem_take_port()). Returns 0, -EINVAL when the record names no port, or -ENOMEM. */
int modem_new_detached(Manager *manager, const JobRecord *record, Modem **ret);

/* udev announced an AT port of this modem's module. Opens it (once serving, see modem_start()),
 * unless the modem already uses another present port. A running engine resumes through
 * engine_port_opened(); an idle modem identifies the module, retrying until it answers. Returns 1
 * when the modem took the port, 0 when it keeps the one it has, -ENOMEM. */
int modem_port_added(Modem *m, const HotplugPort *port);

/* udev announced the removal of the tty at syspath. When it is the port in use: closes the channel
 * (if a hangup has not done so already) and reports the loss to the engine exactly once, then
 * waits for udev. Unless replacement (another AT port of the module follows at once), a modem with
 * nothing to do asks the manager to forget it, and queued jobs wait timeouts.port_return for the
 * module before they go back to the manager. Returns 1 when it was the port in use, 0 otherwise. */
int modem_port_removed(Modem *m, const char *syspath, bool replacement);

/* Hands the AT port of from (a hotplug modem with nothing to do, just identified by the same IMEI,
 * or sending DFOTA URCs) to to (a modem waiting for its port with a running engine): the module
 * came back under another USB path, or after a restart under another name. from's channel is
 * closed before to opens the port, and to takes from's USB identity; the caller forgets from. */
void modem_take_port(Modem *to, Modem *from);

/* Makes a modem inert before it is forgotten: closes the port, stops every event source. */
void modem_disable(Modem *m);

/* A running engine, and no port. */
bool modem_is_waiting_for_port(const Modem *m);

/* The modem's name in the log: the USB sysname of a hotplug modem, else the AT port path. */
const char *modem_name(const Modem *m);

/* Opens the AT port, or starts waiting for it. Call after modem_resume() of unfinished records, so
 * that a module in the middle of an update is not probed. Returns 0. */
int modem_start(Modem *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Modem *, modem_free);

/* Queues a job execution for this modem (ownership of record passes to the modem on success). It
 * starts when the modem is identified, idle and not on hold. Returns 0 or -ENOMEM. */
int modem_enqueue(Modem *m, JobRecord *record);

/* Attaches a job execution that was running before a restart, ahead of the queue (ownership of
 * record passes on success only). A modem whose family is not known yet (not configured, not
 * identified since the start) takes the one the record names: the family detected from ATI before
 * the restart. Returns 0 or a negative errno. */
int modem_resume(Modem *m, JobRecord *record);

/* Sends a command on the modem's AT port; *ret_id (may be NULL) for at_channel_cancel().
 * -ENOTCONN when the port is absent. */
int modem_send(Modem *m, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata, uint64_t *ret_id);

/* Forgets the callback of a command sent with modem_send() (no-op if the port is gone). */
void modem_cancel(Modem *m, uint64_t id);

/* Resets the module through the configured method (config "reset"): AT+CFUN=1,1 on the AT port
 * (TS 27.007 §8.2), the configured program, or AT+CFUN=1,1 with the program as the fallback when
 * the command cannot be written (the AT port is gone, or the channel is still trying to get back in
 * step with a module that does not answer). callback is called once, from the event loop, with what
 * was really done: a reset counts only when it was delivered. Returns 0, or -EBUSY while another
 * reset is in progress. */
int modem_reset(Modem *m, ModemResetCallback callback, void *userdata);

/* Forgets the callback of the reset in progress (its owner goes away). */
void modem_reset_cancel(Modem *m);

/* The module takes no new job until it answers normally outside an update: identified (ATE0, ATI,
 * AT+GSN answered) and then no DFOTA URC for timeouts.first_urc_after_reboot. The manager is told
 * when that holds (manager_modem_released()). */
void modem_hold(Modem *m);

/* Called by the engine when it ended (record terminal, already saved and reported). Frees the
 * engine, re-identifies the module if its port is open, and starts the next queued job. */
void modem_engine_finished(Modem *m);

/* Whether the modem matches a job's selector: IMEI equal, model equal (case-insensitive), or with
 * no selector, target_version starting with the modem's model. Unidentified modems never match. */
bool modem_matches_job(const Modem *m, const Job *job);

/* One-line description for STATUS=: "ttyUSB2: idle EC25 EC25EFAR06A01M4G" or the job's state; a
 * hotplug modem is named by its USB path: "1-1.2 ttyUSB2: job-1 UPDATING 40%", and without its
 * port "1-1.2 ttyUSB2 (gone): job-1 WAITING_FOR_MODEM 0%". */
char *modem_describe(const Modem *m);

/* Busy = running or queued job executions. */
bool modem_is_busy(const Modem *m);

