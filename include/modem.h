/* SPDX-License-Identifier: MIT */
#pragma once

/* One object per physical module (layer 2): its identity (model, revision, IMEI), its family
 * profile, its current AT port, which comes and goes across the module's reboots, and its queue of
 * job executions. A static port is watched by path: when the AT port disappears (EOF/EIO/HUP on
 * the tty), the modem waits for the path to reappear (inotify on the parent directory, plus a
 * retry timer for file systems without inotify events) and reopens it.
 *
 * A hotplug modem (found through udev, see hotplug.h) is one physical USB device; its AT port is
 * whatever tty udev last announced for it (ttyUSB2, after a reboot perhaps ttyUSB6). The owner
 * hands it each port with modem_port_added() and takes it away with modem_port_removed(); after a
 * hangup it reopens the same node only while udev has not said the tty is gone. Unplugged while
 * idle, it asks its owner to forget it.
 *
 * The modem knows nothing above it: its owner (core) hears of it through ModemCallbacks, and its
 * job side (dfota/queue.c: the queue and the running DFOTA engine) through ModemClient. */

#include <systemd/sd-event.h>

#include "at-channel.h"
#include "hotplug.h"
#include "modem-config.h"
#include "timeouts.h"

typedef struct Modem Modem;

/* What a modem is given at creation and borrows for its life. */
typedef struct ModemEnv {
        sd_event *event;
        const Timeouts *timeouts;   /* at_command, port_return, first_urc_after_reboot (the hold) */
        const ResetConfig *reset;   /* how modem_reset() resets the module */
} ModemEnv;

/* Upward traffic to the modem's owner (core: the modem set), callback + userdata. Every member
 * may be NULL. */
typedef struct ModemCallbacks {
        /* What STATUS= or an inventory shows of the modem changed. */
        void (*changed)(Modem *m, void *userdata);
        /* The module answered ATE0, ATI and AT+GSN: model, revision, IMEI and profile are known. */
        void (*identified)(Modem *m, void *userdata);
        /* A hotplug modem with nothing to do was identified (urc NULL: its IMEI is known) or sent a
         * DFOTA URC (urc: the line): the owner may hand its port to a modem that waits for this
         * module (modem_take_port()) and forget m. Returns true when it did. */
        bool (*hand_over)(Modem *m, const char *urc, void *userdata);
        /* The hold ended (modem_hold()): the module answers normally outside an update. */
        void (*released)(Modem *m, void *userdata);
        /* Forget this modem: a hotplug module gone with nothing to do, or not back within
         * port_return. The owner takes it out of its set at once and frees it later (never from
         * inside this call). */
        void (*gone)(Modem *m, void *userdata);
} ModemCallbacks;

/* The job side of a modem (dfota/queue.c), one per modem, attached with modem_set_client(). While
 * the port is claimed (modem_claim()), the port's events go to it instead of the identification. */
typedef struct ModemClient {
        /* Identified, port open, not on hold, not claimed: a job may start now. */
        void (*ready)(Modem *m, void *userdata);
        /* Claimed: the AT port is open (again). */
        void (*port_opened)(Modem *m, void *userdata);
        /* Claimed: the AT port is gone (error: negative errno), reported once per loss. */
        void (*port_lost)(Modem *m, int error, void *userdata);
        /* Claimed: a URC (+QIND, boot lines such as RDY). */
        void (*urc)(Modem *m, const char *line, void *userdata);
        /* Whether jobs wait in the queue (a modem with queued jobs is busy and not forgotten). */
        bool (*has_queued)(const Modem *m, void *userdata);
        /* The module did not come back within port_return while jobs were queued; the modem is
         * being forgotten (ModemCallbacks.gone was called): hand the jobs back. */
        void (*absent)(Modem *m, void *userdata);
        /* The modem is freed: free userdata. */
        void (*destroy)(void *userdata);
} ModemClient;

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

/* How an identification went (modem_identify()): error 0, and m->model, m->revision and m->imei
 * are set; or a negative errno and failed says which step, e.g. "ATI failed (ERROR)". */
typedef void (*ModemIdentifyCallback)(Modem *m, int error, const char *failed, void *userdata);

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
        sd_event *event;
        const Timeouts *timeouts;   /* borrowed (ModemEnv) */
        const ResetConfig *reset_config; /* borrowed (ModemEnv) */
        ModemCallbacks callbacks;
        void *userdata;
        const ModemClient *client;  /* the job side, NULL until attached */
        void *client_userdata;
        bool claimed;               /* a job execution owns the port (modem_claim()) */

        const ModemConfig *config;  /* its "modems[]" entry (borrowed): by port, or for a hotplug modem by
                                     * USB path or IMEI (modem_set_config()); NULL: none */
        char *port;                 /* AT port path: the configured one, or the last node udev announced */
        ModemFamily configured_family; /* _MODEM_FAMILY_INVALID: detect */
        const ModemProfile *profile;   /* the configured family's from the start, else NULL until identified */

        bool serving;               /* modem_start() was called: ports are opened as they come */
        ModemPortState port_state;
        AtChannel *channel;         /* NULL while the port is absent */
        sd_event_source *path_watch;/* inotify on the port's directory */
        sd_event_source *retry_timer;
        uint64_t probe_command;     /* id of the identification command in flight, 0 if none */
        unsigned probe_step;
        ModemIdentifyCallback identify_callback; /* the identification in flight (modem_identify()) */
        void *identify_userdata;

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

/* Creates the modem for a configured port (not yet serving: modem_start()). env, callbacks and
 * config are borrowed for the modem's life (callbacks is copied). Returns 0 or -ENOMEM. */
int modem_new(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata, const ModemConfig *config, Modem **ret);
Modem *modem_free(Modem *m);

/* Creates a modem for the module of a port found through udev, named and identified by its USB
 * device (not yet serving: hand it the port with modem_port_added()). config: the "modems[]" entry
 * with its USB path, or NULL. Its family, else port->family (from the udev rules or the built-in
 * table), is used as a configured family would be; _MODEM_FAMILY_INVALID: detected from ATI.
 * Returns 0 or -ENOMEM. */
int modem_new_hotplug(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata, const ModemConfig *config,
                      const HotplugPort *port, Modem **ret);

/* Creates a hotplug modem for a job execution that was running before a restart and whose module
 * is not present now (or not under the port name the record has): it waits with the resumed
 * execution for a module with this AT port name or IMEI (the owner routes udev's ports and hands
 * ports over with modem_take_port()). port, imei, model and family (a family name, NULL:
 * detect) come from the record; copied. Returns 0, -EINVAL when port is empty, or -ENOMEM. */
int modem_new_detached(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata, const char *port,
                       const char *imei, const char *model, const char *family, Modem **ret);

/* udev announced an AT port of this modem's module. Opens it (once serving, see modem_start()),
 * unless the modem already uses another present port. A claimed port goes to the job side
 * (ModemClient.port_opened); an idle modem identifies the module, retrying until it answers. Returns 1
 * when the modem took the port, 0 when it keeps the one it has, -ENOMEM. */
int modem_port_added(Modem *m, const HotplugPort *port);

/* udev announced the removal of the tty at syspath. When it is the port in use: closes the channel
 * (if a hangup has not done so already) and reports the loss to the job side exactly once
 * (ModemClient.port_lost), then waits for udev. Unless replacement (another AT port of the module
 * follows at once), a modem with nothing to do asks its owner to forget it (ModemCallbacks.gone),
 * and queued jobs wait timeouts.port_return for the module before they go back
 * (ModemClient.absent). Returns 1 when it was the port in use, 0 otherwise. */
int modem_port_removed(Modem *m, const char *syspath, bool replacement);

/* Hands the AT port of from (a hotplug modem with nothing to do, just identified by the same IMEI,
 * or sending DFOTA URCs) to to (a modem waiting for its port with a claimed port): the module
 * came back under another USB path, or after a restart under another name. from's channel is
 * closed before to opens the port, and to takes from's USB identity; the caller forgets from. */
void modem_take_port(Modem *to, Modem *from);

/* Makes a modem inert before it is forgotten: closes the port, stops every event source. */
void modem_disable(Modem *m);

/* Claimed by a job execution, and no port. */
bool modem_is_waiting_for_port(const Modem *m);

/* The modem's name in the log: the USB sysname of a hotplug modem, else the AT port path. */
const char *modem_name(const Modem *m);

/* Opens the AT port, or starts waiting for it. Call after the job side resumed unfinished records
 * (job_queue_resume()), so that a module in the middle of an update is not probed. Returns 0. */
int modem_start(Modem *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Modem *, modem_free);

/* Attaches the job side (one per modem, before modem_start(); client borrowed, userdata freed
 * through client->destroy when the modem is freed). */
void modem_set_client(Modem *m, const ModemClient *client, void *userdata);

/* The job side's userdata, if client is the one attached (a type check for its owner), else NULL. */
void *modem_get_client(const Modem *m, const ModemClient *client);

/* Identified, port open, not on hold, not claimed: a job may start now. */
bool modem_is_ready_for_job(const Modem *m);

/* A job execution takes the port: the identification stops, the port's events go to the job side
 * until modem_unclaim(). */
void modem_claim(Modem *m);

/* The job execution ended (or never started): the module is identified again if its port is
 * open (its revision may have changed; ModemClient.ready follows), else the modem waits for it or,
 * a hotplug modem with nothing to do, is forgotten. */
void modem_unclaim(Modem *m);

/* A modem whose family is not known yet (not configured, not identified since the start) takes
 * family (a family name: the one ATI showed before a restart). Returns 0, or -EINVAL when the name
 * is unknown. */
int modem_adopt_family(Modem *m, const char *family);

/* The config entry that names this module by IMEI or USB path ("modems[]"; borrowed): its family
 * replaces the detected one (unless a job runs with a profile already), and its "pdp" is what the
 * module's jobs set up. */
void modem_set_config(Modem *m, const ModemConfig *config);

/* The revision the module runs, as a job read it back (ATI after an update). Returns 0 or -ENOMEM. */
int modem_set_revision(Modem *m, const char *revision);

/* Whether the AT port is open. */
bool modem_has_port(const Modem *m);

/* Handles line as if the module had sent it now (the first URC of a module whose port was handed
 * over to m). */
void modem_deliver_urc(Modem *m, const char *line);

/* The module's identification, the one sequence for the modem's own probe and the DFOTA engine's
 * preflight: ATE0 (echo is back on after every reboot: it is not saved), ATI (model and revision:
 * EC25&EC21 guide §2.1, RG50xQ FOTA note §2.1), AT+GSN (IMEI, TS 27.007 §5.4). Sets m->model,
 * m->revision and m->imei and calls callback once, from the event loop, unless the port is lost
 * first (then it is forgotten) or modem_identify_cancel(). Returns 0, -ENOTCONN without a port, or
 * -EBUSY while another identification runs. */
int modem_identify(Modem *m, ModemIdentifyCallback callback, void *userdata);

/* Forgets the identification in flight, if any. */
void modem_identify_cancel(Modem *m);

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
 * AT+GSN answered) and then no DFOTA URC for timeouts.first_urc_after_reboot. The owner is told
 * when that holds (ModemCallbacks.released). */
void modem_hold(Modem *m);

/* One-line description for STATUS=: "ttyUSB2: idle EC25 EC25EFAR06A01M4G", or with job (what
 * the running execution is doing, e.g. "job-1 UPDATING 40%", from the job side) "ttyUSB2: job-1
 * UPDATING 40%"; a hotplug modem is named by its USB path: "1-1.2 ttyUSB2: ...", and without its
 * port "1-1.2 ttyUSB2 (gone): ...". Returns a new string or NULL (out of memory). */
char *modem_describe(const Modem *m, const char *job);

/* Busy = claimed, or jobs queued (ModemClient.has_queued). */
bool modem_is_busy(const Modem *m);

