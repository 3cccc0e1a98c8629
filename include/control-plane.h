/* SPDX-License-Identifier: MIT */
#pragma once

/* The control-plane layer (layer 4): backends that turn the outside world's orders into job
 * documents and job status back into the outside world's messages. Every backend (local inbox,
 * MQTT; HTTPS later) fills in one interface, ControlPlaneVTable, and sees the rest of the daemon
 * only through ControlPlaneHost: what the core gives every plane at creation (the event loop, the
 * state directory, the job records' directory) and the calls it may make upward (hand in, reject
 * or cancel a job, ask whether a job exists, read the modems' inventory). No control plane knows
 * the Manager, a Modem or an Engine.
 *
 * Status goes out through ->report() on every transition of a job execution the backend submitted
 * (the record carries the backend's name, so that status keeps flowing to the right backend after
 * a restart). A job on several modules reports each execution (the record's "execution" is the
 * module's IMEI, "modem" says which module) and its parent record, whose "executions" aggregate
 * them (record.h).
 *
 * The planes are a list (control_planes_new()), built from one table of constructors in
 * control-plane.c, in that table's order: it is the order they start in, are asked in, and stop
 * in. A new plane is a row in that table and a member of ControlPlanesConfig (control-config.h). */

#include <systemd/sd-event.h>

#include "control-config.h"
#include "job.h"
#include "record.h"

typedef struct ControlPlane ControlPlane;

/* What a module is doing, as an inventory says it. */
typedef enum ControlPlaneModemState {
        CONTROL_PLANE_MODEM_IDLE,           /* identified, no job */
        CONTROL_PLANE_MODEM_BUSY,           /* runs a job, also while the module reboots without a port */
        CONTROL_PLANE_MODEM_ABSENT,         /* no AT port open now */
        CONTROL_PLANE_MODEM_IDENTIFYING,    /* port open, identity not read yet */
        _CONTROL_PLANE_MODEM_STATE_MAX,
        _CONTROL_PLANE_MODEM_STATE_INVALID = -EINVAL,
} ControlPlaneModemState;

/* "idle", "busy", "absent", "identifying". */
DECLARE_STRING_TABLE_LOOKUP(control_plane_modem_state, ControlPlaneModemState);

/* One module in an inventory snapshot (ControlPlaneHost.inventory). The strings are borrowed from
 * the core; NULL when not known (yet). */
typedef struct ControlPlaneModem {
        const char *port;               /* its AT port path */
        const char *imei;
        const char *model;
        const char *revision;
        const char *family;             /* its profile's name (profile.h) */
        ControlPlaneModemState state;
        const char *job_id;             /* the job it runs; NULL when none */
        JobState job_state;             /* that job's state; meaningful only with job_id */
} ControlPlaneModem;

/* What the core gives every control plane at creation: borrowed, it outlives every plane. The
 * callbacks are called with userdata as their last argument; origin is the calling plane itself
 * (its name goes into the record, and its ->report() receives the job's status from then on).
 * The control_plane_*() helpers below fill in both. */
typedef struct ControlPlaneHost {
        sd_event *event;                /* the daemon's one event loop */
        const char *state_directory;    /* config "state_directory": a plane's own files go below it */
        const char *jobs_directory;     /* <state_directory>/jobs: the job records (record.h) */
        usec_t state_write_retry;       /* config "timeouts.state_write_retry": how soon to try again what the
                                         * disk refused */

        /* A control plane hands in a job document (text: size bytes as received, NUL-terminated
         * after them; borrowed). fallback_id names the record when the document carries no usable
         * id. The document is checked (size, NUL bytes) before it is parsed, then validated; an
         * invalid one is recorded as REJECTED with the field named. Returns 0 when the document
         * was recorded (accepted or rejected) and the control plane may forget it; -EEXIST when a
         * record with that id exists already (the order is a duplicate and must not run twice);
         * another negative errno when nothing could be recorded (the control plane must keep the
         * order and retry). */
        int (*submit)(ControlPlane *origin, const char *text, size_t size, const char *fallback_id, void *userdata);

        /* As submit(), but the job is recorded under id (valid: [A-Za-z0-9_-]{1,64}) whatever the
         * document says: for control planes whose own protocol names the job (the AWS IoT job id,
         * the plain dialect's topic). A document "id" that differs is replaced, with a notice. */
        int (*submit_as)(ControlPlane *origin, const char *text, size_t size, const char *id, void *userdata);

        /* A control plane received an order it cannot even hand in as a document (a file in the
         * inbox that is a directory or a FIFO, a document too large to be kept, a job id its
         * protocol cannot carry): the job is recorded as REJECTED with reason, under id made valid
         * (characters outside [A-Za-z0-9_-] become '_', cut to 64), so that it is never taken
         * again. reason must already be safe to log (escape.h). Returns as submit(). */
        int (*reject)(ControlPlane *origin, const char *id, const char *reason, void *userdata);

        /* Whether a record of job id exists (the job was taken, whatever became of it). */
        bool (*job_exists)(const char *id, void *userdata);

        /* The control plane canceled job id: every execution of it that has not sent AT+QFOTADL
         * ends CANCELED with reason (reported like any transition). Returns 0 when something was
         * canceled and nothing else runs, -EBUSY when an execution had sent AT+QFOTADL (it goes
         * on: the module upgrades by itself), -EALREADY when the job has ended, -ENOENT when there
         * is no such job, or another negative errno when a CANCELED record could not be saved (that
         * execution is not canceled and runs when its turn comes). */
        int (*cancel)(const char *id, const char *reason, void *userdata);

        /* A snapshot of the modules, in the core's order (configured ports first, then hotplugged
         * ones). Returns 0 with a newly allocated array of *ret_n entries in *ret (free() it; its
         * strings are borrowed and stay valid until the caller returns to the event loop or calls
         * the host again), or -ENOMEM with nothing written. */
        int (*inventory)(ControlPlaneModem **ret, size_t *ret_n, void *userdata);

        void *userdata;
} ControlPlaneHost;

typedef struct ControlPlaneVTable {
        const char *name;           /* stored in records as "control_plane", e.g. "local" */

        /* Starts serving (subscribe, watch, connect). Returns 0 or a negative errno. */
        int (*start)(ControlPlane *cp);

        /* Reports the current status of a job execution (record borrowed for the call). Called on
         * every state change and on progress steps. A backend that cannot deliver now must keep the
         * update and deliver it later; it never blocks. Returns 0 or a negative errno (logged). */
        int (*report)(ControlPlane *cp, const JobRecord *record);

        /* Optional. The modems changed (one identified, gone, or starting or ending a job): for
         * control planes that publish an inventory (ControlPlaneHost.inventory). */
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
        const ControlPlaneHost *host;   /* borrowed */
};

/* Calls into the host on behalf of cp (the ControlPlaneHost members of the same names). */
static inline int control_plane_submit_job(ControlPlane *cp, const char *text, size_t size, const char *fallback_id) {
        return cp->host->submit(cp, text, size, fallback_id, cp->host->userdata);
}
static inline int control_plane_submit_job_as(ControlPlane *cp, const char *text, size_t size, const char *id) {
        return cp->host->submit_as(cp, text, size, id, cp->host->userdata);
}
static inline int control_plane_reject_job(ControlPlane *cp, const char *id, const char *reason) {
        return cp->host->reject(cp, id, reason, cp->host->userdata);
}
static inline bool control_plane_job_exists(ControlPlane *cp, const char *id) {
        return cp->host->job_exists(id, cp->host->userdata);
}
static inline int control_plane_cancel_job(ControlPlane *cp, const char *id, const char *reason) {
        return cp->host->cancel(id, reason, cp->host->userdata);
}
static inline int control_plane_inventory(ControlPlane *cp, ControlPlaneModem **ret, size_t *ret_n) {
        return cp->host->inventory(ret, ret_n, cp->host->userdata);
}

/* The local control plane: job documents renamed into an inbox directory (config "local.inbox"),
 * picked up through inotify. Its status store is the job record itself. host is borrowed and must
 * outlive the plane; inbox is copied. Returns 0 or -ENOMEM. */
int local_control_plane_new(const ControlPlaneHost *host, const char *inbox, ControlPlane **ret);

/* The MQTT control plane (config "mqtt"; README "MQTT control plane"): the AWS IoT Jobs dialect or
 * the plain topic scheme, with a persisted status outbox under <state_directory>/outbox/mqtt.
 * host and config are borrowed and must outlive the plane. Returns 0 or a negative errno. */
int mqtt_control_plane_new(const ControlPlaneHost *host, const MqttConfig *config, ControlPlane **ret);

static inline ControlPlane *control_plane_free(ControlPlane *cp) {
        return cp ? cp->vtable->free(cp) : NULL;
}

/* The planes the configuration asks for, in the order of control-plane.c's table (local first:
 * it starts first). Each row's constructor takes its member of config (borrowed; it must outlive
 * the planes) and creates nothing when that member says the plane is not configured. host is
 * borrowed and must outlive the planes. Returns 0 with a newly allocated array in *ret and its
 * length in *ret_n (free both with control_planes_free()), or a negative errno (logged) with
 * nothing created. */
int control_planes_new(const ControlPlaneHost *host, const ControlPlanesConfig *config, ControlPlane ***ret, size_t *ret_n);

/* Frees the n planes and the array (NULL with 0 allowed). Returns NULL. */
ControlPlane **control_planes_free(ControlPlane **planes, size_t n);

/* The plane named name (ControlPlaneVTable.name), or NULL. */
ControlPlane *control_plane_find(ControlPlane *const *planes, size_t n, const char *name);

/* The plane a job belongs to when nothing says whose it is (a damaged record that names no plane
 * and that no plane knows): the local one, which is always there and keeps no status store of
 * its own besides the record. */
#define CONTROL_PLANE_FALLBACK "local"
