/* SPDX-License-Identifier: MIT */

#include <assert.h>
#include <stdio.h>

#include "log.h"
#include "queue.h"
#include "string-util.h"

struct JobQueue {
        Modem *modem;               /* the owner */
        JobQueueEnv env;
        JobQueueCallbacks callbacks;
        void *userdata;

        Engine *engine;             /* the running job execution, or NULL */
        JobRecord **queue;          /* queued job executions, FIFO, owned */
        size_t n_queue;

        sd_event_source *finish_defer;  /* frees a finished engine outside its own callbacks */
        EngineResetCallback reset_callback;       /* the engine's, behind modem_reset() */
        EngineIdentifyCallback identify_callback; /* the engine's, behind modem_identify() */
};

static void job_queue_changed(JobQueue *q) {
        if (q->callbacks.changed)
                q->callbacks.changed(q, q->userdata);
}

/* ---- the engine's view of the module (EnginePortOps over the Modem) ----------------------------- */

static int queue_port_send(void *port, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata, uint64_t *ret_id) {
        JobQueue *q = port;

        return modem_send(q->modem, command, opts, cb, userdata, ret_id);
}

static void queue_port_cancel(void *port, uint64_t id) {
        JobQueue *q = port;

        modem_cancel(q->modem, id);
}

static void on_modem_reset(Modem *m, ModemResetResult result, const char *detail, void *userdata) {
        JobQueue *q = job_queue_of(m);
        EngineResetCallback cb;

        assert(q);
        cb = TAKE_PTR(q->reset_callback);
        /* A reset counts only when it reached the module (engine.h EngineResetCallback). */
        if (cb)
                cb(IN_SET(result, MODEM_RESET_SENT_AT, MODEM_RESET_RAN_COMMAND), detail, userdata);
}

static int queue_port_reset(void *port, EngineResetCallback cb, void *userdata) {
        JobQueue *q = port;
        int r;

        r = modem_reset(q->modem, on_modem_reset, userdata);
        if (r < 0)
                return r;
        q->reset_callback = cb;
        return 0;
}

static void queue_port_reset_cancel(void *port) {
        JobQueue *q = port;

        q->reset_callback = NULL;
        modem_reset_cancel(q->modem);
}

static void on_modem_identified(Modem *m, int error, const char *failed, void *userdata) {
        JobQueue *q = job_queue_of(m);
        EngineIdentifyCallback cb;

        assert(q);
        cb = TAKE_PTR(q->identify_callback);
        if (cb)
                cb(error, failed, m->model, m->revision, m->imei, userdata);
}

static int queue_port_identify(void *port, EngineIdentifyCallback cb, void *userdata) {
        JobQueue *q = port;
        int r;

        r = modem_identify(q->modem, on_modem_identified, userdata);
        if (r < 0)
                return r;
        q->identify_callback = cb;
        return 0;
}

static void queue_port_identify_cancel(void *port) {
        JobQueue *q = port;

        q->identify_callback = NULL;
        modem_identify_cancel(q->modem);
}

static void queue_port_info(void *port, EnginePortInfo *ret) {
        JobQueue *q = port;
        const Modem *m = q->modem;

        *ret = (EnginePortInfo) {
                .path = m->port,
                .imei = m->imei,
                .device = m->usb_syspath,
                .profile = m->profile,
        };
}

static const EnginePortOps queue_port_ops = {
        .send = queue_port_send,
        .cancel = queue_port_cancel,
        .reset = queue_port_reset,
        .reset_cancel = queue_port_reset_cancel,
        .identify = queue_port_identify,
        .identify_cancel = queue_port_identify_cancel,
        .info = queue_port_info,
};

/* ---- engines --------------------------------------------------------------------------------- */

static void on_engine_report(Engine *e, const JobRecord *record, void *userdata) {
        JobQueue *q = userdata;

        if (q->callbacks.report)
                q->callbacks.report(q, record, q->userdata);
}

static int on_finish_defer(sd_event_source *s, void *userdata) {
        JobQueue *q = userdata;

        q->finish_defer = sd_event_source_disable_unref(q->finish_defer);

        /* What the engine read back with ATI is the module's revision now: the inventory says so
         * at once, not only after the identification that follows. */
        if (q->engine) {
                const JobRecord *rec = engine_get_record(q->engine);

                if (rec->revision_after)
                        (void) modem_set_revision(q->modem, rec->revision_after);
        }
        q->engine = engine_free(q->engine);

        /* Identified again if its port is open, then ready for the next job (on_modem_ready). */
        modem_unclaim(q->modem);
        job_queue_changed(q);
        return 0;
}

static void on_engine_finished(Engine *e, void *userdata) {
        JobQueue *q = userdata;
        int r;

        if (q->finish_defer)
                return;

        /* Called from inside the engine's own callbacks: freed from a defer source. */
        r = sd_event_add_defer(q->modem->event, &q->finish_defer, on_finish_defer, q);
        if (r < 0) {
                log_error_errno(r, "Modem %s: failed to schedule the end of a job execution: %m", modem_name(q->modem));
                return;
        }
        (void) sd_event_source_set_description(q->finish_defer, "queue-finish");
}

static int job_queue_start_engine(JobQueue *q, JobRecord *record) {
        return engine_start(&(const EngineEnv) {
                                    .event = q->modem->event,
                                    .timeouts = q->modem->timeouts,
                                    .mm = q->env.mm,
                                    /* The module's "modems[]" entry, by port, USB path or IMEI. */
                                    .pdp = q->modem->config ? q->modem->config->pdp : NULL,
                            },
                            &(const EnginePort) { .ops = &queue_port_ops, .userdata = q },
                            &(const EngineCallbacks) { .report = on_engine_report, .finished = on_engine_finished },
                            q, record, &q->engine);
}

static void job_queue_start_next(JobQueue *q) {
        JobRecord *rec;
        int r;

        if (q->engine || q->n_queue == 0 || !modem_is_ready_for_job(q->modem))
                return;

        /* Out of the queue only once the engine has it (it takes the record on success only). */
        rec = q->queue[0];
        modem_claim(q->modem);
        r = job_queue_start_engine(q, rec);
        if (r < 0) {
                log_error_errno(r, "Modem %s: failed to start a job execution: %m", modem_name(q->modem));
                modem_unclaim(q->modem);
                return;
        }
        memmove(q->queue, q->queue + 1, (q->n_queue - 1) * sizeof(JobRecord *));
        q->n_queue--;
        job_queue_changed(q);
}

static int job_queue_insert(JobQueue *q, JobRecord *record, bool front) {
        JobRecord **l;

        l = reallocarray(q->queue, q->n_queue + 1, sizeof(JobRecord *));
        if (!l)
                return -ENOMEM;
        q->queue = l;

        if (front) {
                memmove(q->queue + 1, q->queue, q->n_queue * sizeof(JobRecord *));
                q->queue[0] = record;
        } else
                q->queue[q->n_queue] = record;
        q->n_queue++;
        return 0;
}

int job_queue_push(JobQueue *q, JobRecord *record) {
        int r;

        r = job_queue_insert(q, record, false);
        if (r < 0)
                return r;

        job_queue_start_next(q);
        job_queue_changed(q);
        return 0;
}

int job_queue_resume(JobQueue *q, JobRecord *record) {
        int r;

        (void) modem_adopt_family(q->modem, record->modem_family);

        if (q->engine)
                /* Two unfinished executions on one modem can only come from a damaged state
                 * directory; run them one after the other. */
                return job_queue_insert(q, record, true);

        modem_claim(q->modem);
        r = job_queue_start_engine(q, record);
        if (r < 0) {
                modem_unclaim(q->modem);
                return r;
        }

        if (modem_has_port(q->modem))
                engine_port_opened(q->engine);
        return 0;
}

/* ---- the modem's client ------------------------------------------------------------------------ */

static void on_modem_ready(Modem *m, void *userdata) {
        job_queue_start_next(userdata);
}

static void on_modem_port_opened(Modem *m, void *userdata) {
        JobQueue *q = userdata;

        if (q->engine)
                engine_port_opened(q->engine);
}

static void on_modem_port_lost(Modem *m, int error, void *userdata) {
        JobQueue *q = userdata;

        if (q->engine)
                engine_port_lost(q->engine, error);
}

static void on_modem_urc(Modem *m, const char *line, void *userdata) {
        JobQueue *q = userdata;

        if (q->engine)
                engine_on_urc(q->engine, line);
}

static bool on_modem_has_queued(const Modem *m, void *userdata) {
        JobQueue *q = userdata;

        return q->n_queue > 0;
}

static void on_modem_absent(Modem *m, void *userdata) {
        JobQueue *q = userdata;
        JobRecord **l = TAKE_PTR(q->queue);
        size_t n = q->n_queue;

        q->n_queue = 0;
        for (size_t i = 0; i < n; i++) {
                int r = q->callbacks.requeue ? q->callbacks.requeue(q, l[i], q->userdata) : -EOPNOTSUPP;

                if (r < 0) {
                        log_error_errno(r, "Job %s: cannot dispatch it again: %m", job_record_name(l[i]));
                        job_record_free(l[i]);
                }
        }
        free(l);
        job_queue_changed(q);
}

static JobQueue *job_queue_free(JobQueue *q) {
        if (!q)
                return NULL;

        q->engine = engine_free(q->engine);
        q->finish_defer = sd_event_source_disable_unref(q->finish_defer);
        for (size_t i = 0; i < q->n_queue; i++)
                job_record_free(q->queue[i]);
        free(q->queue);
        free(q);
        return NULL;
}

static void on_modem_destroy(void *userdata) {
        job_queue_free(userdata);
}

static const ModemClient job_queue_client = {
        .ready = on_modem_ready,
        .port_opened = on_modem_port_opened,
        .port_lost = on_modem_port_lost,
        .urc = on_modem_urc,
        .has_queued = on_modem_has_queued,
        .absent = on_modem_absent,
        .destroy = on_modem_destroy,
};

int job_queue_attach(Modem *m, const JobQueueEnv *env, const JobQueueCallbacks *callbacks, void *userdata, JobQueue **ret) {
        JobQueue *q;

        q = calloc(1, sizeof(JobQueue));
        if (!q)
                return -ENOMEM;
        *q = (JobQueue) {
                .modem = m,
                .env = *env,
                .callbacks = *callbacks,
                .userdata = userdata,
        };
        modem_set_client(m, &job_queue_client, q);
        if (ret)
                *ret = q;
        return 0;
}

JobQueue *job_queue_of(const Modem *m) {
        return modem_get_client(m, &job_queue_client);
}

Modem *job_queue_modem(const JobQueue *q) {
        return q->modem;
}

const JobRecord *job_queue_current(const JobQueue *q) {
        return q->engine ? engine_get_record(q->engine) : NULL;
}

bool job_queue_is_busy(const JobQueue *q) {
        return q->engine || q->n_queue > 0;
}

static void queue_report_record(const JobRecord *record, void *userdata) {
        JobQueue *q = userdata;

        if (q->callbacks.report)
                q->callbacks.report(q, record, q->userdata);
}

int job_queue_cancel(JobQueue *q, const char *id, const char *reason) {
        const JobRecord *cur = job_queue_current(q);
        int canceled = 0, error = 0, r;
        bool busy = false;

        if (cur && streq(cur->job->id, id)) {
                r = engine_cancel(q->engine, reason);
                if (r == -EBUSY)
                        busy = true;
                else if (r >= 0)
                        canceled++;
        }

        r = job_record_list_cancel(q->queue, &q->n_queue, id, reason, q->modem->port, queue_report_record, q);
        if (r == -EBUSY)
                busy = true;
        else if (r < 0)
                error = r;
        else
                canceled += r;

        if (canceled > 0 || busy)
                job_queue_changed(q);
        return busy ? -EBUSY : error < 0 ? error : canceled;
}

int job_queue_flush(JobQueue *q) {
        return q->engine ? engine_flush(q->engine) : 0;
}

char *job_queue_describe(const JobQueue *q) {
        const JobRecord *rec = job_queue_current(q);
        _cleanup_free_ char *job = NULL;

        if (rec && asprintf(&job, "%s %s %u%%", job_record_name(rec), job_state_to_string(rec->state), rec->progress) < 0)
                return NULL;
        return modem_describe(q->modem, job);
}
