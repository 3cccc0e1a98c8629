/* SPDX-License-Identifier: MIT */
#pragma once

/* The root object (layer 5): owns the event loop, the configuration, the modems and the control
 * planes, and wires them: job documents from a control plane become records queued on the right
 * modem; status of every execution goes back to the control plane that submitted it and into
 * sd_notify's STATUS=. */

#include <systemd/sd-event.h>

#include "config.h"
#include "control-plane.h"
#include "modem.h"

struct Manager {
        sd_event *event;
        Config *config;
        char *jobs_directory;       /* <state_directory>/jobs */

        Modem **modems;
        size_t n_modems;

        ControlPlane *local;

        JobRecord **pending;        /* valid jobs no modem could take yet (modems not identified) */
        size_t n_pending;

        char *last_status;          /* last STATUS= sent */
};

/* Takes ownership of config. Returns 0 or a negative errno. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Resumes unfinished records, opens the modems, starts the control planes, then sends READY=1.
 * Returns 0 or a negative errno. */
int manager_start(Manager *m);

/* Runs the loop until SIGTERM/SIGINT. Returns the loop's exit code. */
int manager_run(Manager *m);

/* A control plane hands in a job document (text as received). fallback_id names the record when
 * the document carries no usable id. The document is validated; an invalid one is recorded as
 * REJECTED with the field named. Returns 0 when the document was recorded (accepted or rejected)
 * and the control plane may forget it; -EEXIST when a record with that id exists already (the
 * order is a duplicate and must not run twice); another negative errno when nothing could be
 * recorded (the control plane must keep the order and retry). */
int manager_submit_job(Manager *m, ControlPlane *origin, const char *text, const char *fallback_id);

/* The single exit of every status change: saved record -> control plane + STATUS=. */
void manager_report(Manager *m, const JobRecord *record);

/* A modem was identified; pending jobs may now find their modem. */
void manager_modem_identified(Manager *m, Modem *modem);

/* Sends STATUS= with what each modem is doing, if it changed. */
void manager_update_status(Manager *m);
