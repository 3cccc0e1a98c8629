/* SPDX-License-Identifier: MIT */
#pragma once

/* The control-plane layer (layer 4): backends that turn the outside world's orders into job
 * documents and job status back into the outside world's messages. Every backend (local inbox
 * now; MQTT and HTTPS later) implements this one interface. Orders come in through
 * manager_submit_job(); status goes out through ->report() on every transition of a job execution
 * the backend submitted (the record carries the backend's name, so that status keeps flowing to
 * the right backend after a restart). A job on several modules reports each execution (the record's
 * "execution" is the module's IMEI, "modem" says which module) and its parent record, whose
 * "executions" aggregate them (record.h). */

#include "record.h"

typedef struct Manager Manager;
typedef struct ControlPlane ControlPlane;

typedef struct ControlPlaneVTable {
        const char *name;           /* stored in records as "control_plane", e.g. "local" */

        /* Starts serving (subscribe, watch, connect). Returns 0 or a negative errno. */
        int (*start)(ControlPlane *cp);

        /* Reports the current status of a job execution (record borrowed for the call). Called on
         * every state change and on progress steps. A backend that cannot deliver now must keep the
         * update and deliver it later; it never blocks. Returns 0 or a negative errno (logged). */
        int (*report)(ControlPlane *cp, const JobRecord *record);

        ControlPlane *(*free)(ControlPlane *cp);
} ControlPlaneVTable;

struct ControlPlane {
        const ControlPlaneVTable *vtable;
        Manager *manager;
};

/* The local control plane: job documents renamed into an inbox directory (config "local.inbox"),
 * picked up through inotify. Its status store is the job record itself. */
int local_control_plane_new(Manager *m, const char *inbox, ControlPlane **ret);

static inline ControlPlane *control_plane_free(ControlPlane *cp) {
        return cp ? cp->vtable->free(cp) : NULL;
}
