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

#include "config.h"
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

        /* Optional. The modems changed (one identified, gone, or starting or ending a job): for
         * control planes that publish an inventory. */
        void (*modems_changed)(ControlPlane *cp);

        /* Optional. Whether the backend has reported on job id before (its status store knows it):
         * whose job a record that cannot be read was. */
        bool (*knows_job)(ControlPlane *cp, const char *id);

        /* Optional. The ended job id's record was pruned (config "records"): the backend drops
         * what it kept for it. */
        void (*job_pruned)(ControlPlane *cp, const char *id);

        /* Optional. The daemon stops (outside the event loop): say goodbye, bounded in time. */
        void (*stop)(ControlPlane *cp);

        ControlPlane *(*free)(ControlPlane *cp);
} ControlPlaneVTable;

struct ControlPlane {
        const ControlPlaneVTable *vtable;
        Manager *manager;
};

/* The local control plane: job documents renamed into an inbox directory (config "local.inbox"),
 * picked up through inotify. Its status store is the job record itself. */
int local_control_plane_new(Manager *m, const char *inbox, ControlPlane **ret);

/* The MQTT control plane (config "mqtt"; README "MQTT control plane"): the AWS IoT Jobs dialect or
 * the plain topic scheme, with a persisted status outbox under <state_directory>/outbox/mqtt.
 * config is borrowed from the manager's. Returns 0 or a negative errno. */
int mqtt_control_plane_new(Manager *m, const MqttConfig *config, ControlPlane **ret);

static inline ControlPlane *control_plane_free(ControlPlane *cp) {
        return cp ? cp->vtable->free(cp) : NULL;
}
