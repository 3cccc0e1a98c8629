/* SPDX-License-Identifier: MIT */
#pragma once

/* The root object (layer 5): owns the event loop, the configuration, the modems and the control
 * planes, and wires them: job documents from a control plane become records queued on the right
 * modem; status of every execution goes back to the control plane that submitted it and into
 * sd_notify's STATUS=. */

#include <systemd/sd-event.h>

#include "config.h"
#include "control-plane.h"
#include "hotplug.h"
#include "modem.h"
#include "modemmanager.h"

typedef struct Manager Manager;

struct Manager {
        sd_event *event;
        Config *config;
        char *jobs_directory;       /* <state_directory>/jobs */

        ModemEnv modem_env;         /* what every modem is given (config values) */
        Modem **modems;             /* static ports first (config order), then hotplug modems */
        size_t n_modems;

        Hotplug *hotplug;           /* NULL with "hotplug": false */
        Modem **forgotten;          /* removed from modems, freed by forget_defer */
        size_t n_forgotten;
        sd_event_source *forget_defer;
        bool started;               /* manager_start() done: new modems start serving at once */

        ControlPlaneHost host;      /* what every control plane sees of the manager (control-plane.h) */
        ControlPlane **planes;      /* the configured control planes, in control_planes_new()'s order */
        size_t n_planes;

        MmClient *mm;               /* keeps ModemManager off modules being upgraded; NULL: never asked */

        JobRecord **pending;        /* valid jobs no modem could take yet (modems not identified) */
        size_t n_pending;

        /* Modules that take no new job until they answer normally outside an update: the module of
         * a record that could not be read (record.h "module_hold"). */
        struct ModuleHold {
                char *port;         /* the module's AT port, or NULL */
                char *imei;         /* its IMEI, or NULL; neither: every module */
                char *record_path;  /* the record that stands in for the damaged one */
        } *holds;
        size_t n_holds;

        char *last_status;          /* last STATUS= sent */
        sd_event_source *prune_timer; /* ended records are pruned daily (config "records") */
};

/* Takes ownership of config on success. Returns 0 or a negative errno. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Resumes unfinished records, opens the modems, starts the control planes, then sends READY=1.
 * Returns 0 or a negative errno. */
int manager_start(Manager *m);

/* Runs the loop until SIGTERM/SIGINT. Returns the loop's exit code. */
int manager_run(Manager *m);

/* The control planes' calls, behind ControlPlaneHost (control-plane.h), whose members submit,
 * submit_as, reject, job_exists and cancel document what these do and return; manager.c's host
 * adapters only add m. */
int manager_submit_job(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *fallback_id);
int manager_submit_job_as(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *id);
int manager_reject_job(Manager *m, ControlPlane *origin, const char *id, const char *reason);
bool manager_job_exists(Manager *m, const char *id);
int manager_cancel_job(Manager *m, const char *id, const char *reason);

/* The single exit of every status change: saved record -> control plane + STATUS=. The report of
 * an execution of a job on several modules also updates, saves and reports the job's parent
 * record (record.h). */
void manager_report(Manager *m, const JobRecord *record);

/* A modem was identified; pending jobs may now find their modem. A modem a hold applies to (see
 * Manager.holds) is put on hold first (modem_hold()). */
void manager_modem_identified(Manager *m, Modem *modem);

/* A modem on hold answered normally outside an update (modem_hold()): the holds on it end, and
 * the records that held it say so. */
void manager_modem_released(Manager *m, Modem *modem);

/* Sends STATUS= with what each modem is doing, if it changed. */
void manager_update_status(Manager *m);

/* Adds a modem, with its job queue (queue.h), and, once the manager has started, starts it.
 * Ownership of modem passes on success only. Returns 0 or -ENOMEM. */
int manager_add_modem(Manager *m, Modem *modem);

/* Takes a modem out of the list at once (nothing dispatches to it or finds it any more), makes it
 * inert and frees it from a defer source: safe from inside the modem's own callbacks. */
void manager_forget_modem(Manager *m, Modem *modem);

/* A job record goes through dispatch: queued on a matching modem, pending until the modems are
 * identified, or rejected (recorded, reported and freed). Ownership of record passes on success
 * only. Returns 0 or -ENOMEM. */
int manager_queue(Manager *m, JobRecord *record);

/* From a hotplug modem just identified (IMEI known, nothing to do): if another modem waits for its
 * port with a running engine and has this IMEI, the port goes to that one and from is forgotten.
 * Returns 1 when handed over, 0 otherwise. */
int manager_hand_over_port(Manager *m, Modem *from);

/* From a hotplug modem with nothing to do that received a DFOTA URC (line): a module in the middle
 * of its update, which may not answer AT and so never be identified. If exactly one modem waits
 * for its port with a running engine past AT+QFOTADL (and no known IMEI contradicts), the port goes
 * to that one, with the URC, and from is forgotten. Returns 1 when handed over, 0 otherwise. */
int manager_hand_over_port_on_urc(Manager *m, Modem *from, const char *line);
