/* SPDX-License-Identifier: MIT */
#pragma once

/* One object per physical module (layer 2): its identity (model, revision, IMEI), its family
 * profile, its current AT port, which comes and goes across the module's reboots, and its queue of
 * job executions. A static port is watched by path: when the AT port disappears (EOF/EIO/HUP on
 * the tty), the modem waits for the path to reappear (inotify on the parent directory, plus a
 * retry timer for file systems without inotify events) and reopens it. */

#include <systemd/sd-event.h>

#include "at-channel.h"
#include "config.h"
#include "profile.h"
#include "record.h"

typedef struct Manager Manager;
typedef struct Engine Engine;
typedef struct Modem Modem;

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

        const ModemConfig *config;  /* borrowed from the manager's config */
        char *port;                 /* configured AT port path */
        ModemFamily configured_family; /* _MODEM_FAMILY_INVALID: detect */
        const ModemProfile *profile;   /* NULL until identified */

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

        Engine *engine;             /* the running job execution, or NULL */
        JobRecord **queue;          /* queued job executions, FIFO, owned */
        size_t n_queue;
};

/* Creates the modem for a configured port and starts serving it (opens the port or waits for it).
 * Returns 0 or a negative errno. */
int modem_new(Manager *manager, const ModemConfig *config, Modem **ret);
Modem *modem_free(Modem *m);

/* Opens the AT port, or starts waiting for it. Call after modem_resume() of unfinished records, so
 * that a module in the middle of an update is not probed. Returns 0. */
int modem_start(Modem *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Modem *, modem_free);

/* Queues a job execution for this modem (ownership of record passes to the modem, also on
 * failure). It starts when the modem is identified and idle. Returns 0 or -ENOMEM. */
int modem_enqueue(Modem *m, JobRecord *record);

/* Attaches a job execution that was running before a restart, ahead of the queue. */
int modem_resume(Modem *m, JobRecord *record);

/* Sends a command on the modem's AT port; *ret_id (may be NULL) for at_channel_cancel().
 * -ENOTCONN when the port is absent. */
int modem_send(Modem *m, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata, uint64_t *ret_id);

/* Forgets the callback of a command sent with modem_send() (no-op if the port is gone). */
void modem_cancel(Modem *m, uint64_t id);

/* Resets the module through the configured method (config "reset"): AT+CFUN=1,1 on the AT port, or
 * the configured command, run asynchronously. Returns 0 when the reset was issued. */
int modem_reset(Modem *m);

/* Called by the engine when it ended (record terminal, already saved and reported). Frees the
 * engine, re-identifies the module if its port is open, and starts the next queued job. */
void modem_engine_finished(Modem *m);

/* Whether the modem matches a job's selector: IMEI equal, model equal (case-insensitive), or with
 * no selector, target_version starting with the modem's model. Unidentified modems never match. */
bool modem_matches_job(const Modem *m, const Job *job);

/* One-line description for STATUS=: "ttyUSB2: idle EC25 EC25EFAR06A01M4G" or the job's state. */
char *modem_describe(const Modem *m);

/* Busy = running or queued job executions. */
bool modem_is_busy(const Modem *m);

/* Parses the information lines of ATI (Quectel: "Quectel", "<model>", "Revision: <revision>").
 * Lines that are neither (boot noise that slipped in) are skipped. Returns 0 and newly allocated
 * strings (either output may be NULL to skip it), -EBADMSG when there is no "Revision:" line, or
 * -ENOMEM. */
int modem_parse_ati(char *const *lines, char **ret_model, char **ret_revision);

/* Parses AT+GSN's lines: the first line of 14-17 digits. Returns 0, -EBADMSG or -ENOMEM. */
int modem_parse_gsn(char *const *lines, char **ret_imei);
