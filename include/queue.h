/* SPDX-License-Identifier: MIT */
#pragma once

/* The job side of one modem (dfota layer): its FIFO of job executions and the DFOTA engine that
 * runs the head one. It attaches itself to the Modem as its ModemClient (modem.h), so that the
 * modem below never knows what a job or an engine is: the modem says when it is ready for a job
 * and passes on its port's events while an execution has claimed the port; the queue starts
 * engines, gives them the port (EnginePortOps over modem_send()/modem_reset()) and frees them
 * when they end, from a defer source. It reports upward through JobQueueCallbacks.
 *
 * Ownership: a queue belongs to its modem (freed with it, through ModemClient.destroy); records
 * pushed or resumed belong to the queue on success only. */

#include "engine.h"
#include "modem.h"
#include "record.h"

typedef struct JobQueue JobQueue;

/* What the engines of this queue are given (EngineEnv) besides the modem's own (its loop, its
 * timeouts, its "modems[]" entry's "pdp"): borrowed for the queue's life. */
typedef struct JobQueueEnv {
        MmClient *mm;               /* keeps ModemManager off the module; NULL: never asked */
} JobQueueEnv;

/* Upward traffic to the queue's owner (core), callback + userdata. */
typedef struct JobQueueCallbacks {
        /* A job execution's record changed in a way the control plane must hear of (saved
         * already; borrowed for the call). Also for queued records that end before they start. */
        void (*report)(JobQueue *q, const JobRecord *record, void *userdata);
        /* What STATUS= shows of this queue changed (a job started, ended or was queued). */
        void (*changed)(JobQueue *q, void *userdata);
        /* The module did not come back within port_return and its modem is being forgotten: the
         * queued record goes back to dispatch. Ownership of record passes on success (0) only; on
         * a negative errno the queue frees it. */
        int (*requeue)(JobQueue *q, JobRecord *record, void *userdata);
} JobQueueCallbacks;

/* Creates the job side of modem m and attaches it (modem_set_client()); the modem owns it from
 * then on. env and callbacks are borrowed/copied as documented above. *ret (borrowed) may be
 * NULL. Returns 0 or -ENOMEM. */
int job_queue_attach(Modem *m, const JobQueueEnv *env, const JobQueueCallbacks *callbacks, void *userdata, JobQueue **ret);

/* The queue attached to m, or NULL. */
JobQueue *job_queue_of(const Modem *m);

/* The modem the queue serves. */
Modem *job_queue_modem(const JobQueue *q);

/* Queues a job execution (ownership of record passes on success only). It starts when the modem is
 * identified, idle and not on hold (modem_is_ready_for_job()). Returns 0 or -ENOMEM. */
int job_queue_push(JobQueue *q, JobRecord *record);

/* Attaches a job execution that was running before a restart, ahead of the queue (ownership of
 * record passes on success only): the modem adopts the family the record names if it knows none
 * (modem_adopt_family()), the port is claimed, and the engine resumes from the record's typed
 * fields (engine.h). Returns 0 or a negative errno. */
int job_queue_resume(JobQueue *q, JobRecord *record);

/* The running execution's record, or NULL. */
const JobRecord *job_queue_current(const JobQueue *q);

/* Whether an execution runs or records wait. */
bool job_queue_is_busy(const JobQueue *q);

/* Cancels every execution of job id here (engine_cancel() for the running one; queued ones that
 * never sent AT+QFOTADL end CANCELED with reason, durably, and are reported). Returns the number
 * canceled, 0 when the queue holds no such job, -EBUSY when one had sent AT+QFOTADL (it goes on),
 * or the negative errno of a CANCELED record that could not be saved (that job stays queued). */
int job_queue_cancel(JobQueue *q, const char *id, const char *reason);

/* Saves the running execution's record as it is (progress below the persistence step included).
 * For shutdown. Returns 0 or a negative errno. */
int job_queue_flush(JobQueue *q);

/* The modem's line for STATUS= (modem_describe() with the running job's state). Returns a new
 * string or NULL. */
char *job_queue_describe(const JobQueue *q);
