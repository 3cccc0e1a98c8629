/* SPDX-License-Identifier: MIT */

#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "fileio.h"
#include "log.h"
#include "manager-internal.h"
#include "queue.h"
#include "state-file.h"
#include "string-util.h"

static void on_state_health(int error, const char *path, void *userdata) {
        Manager *m = userdata;

        if (error < 0)
                log_ctx_full_errno(&((LogContext) { .message_id = DFOTAD_MESSAGE_STATE_UNWRITABLE }), LOG_ERR, error,
                                   "State directory %s cannot be written (%s: %m); keeping what cannot be written in memory "
                                   "and trying again every %g s; AT+QFOTADL is not sent meanwhile",
                                   m->config->state_directory, path, (double) m->config->timeouts.state_write_retry / USEC_PER_SEC);
        else
                log_ctx_full_errno(&((LogContext) { .message_id = DFOTAD_MESSAGE_STATE_WRITABLE }), LOG_NOTICE, 0,
                                   "State directory %s can be written again; every change is on disk", m->config->state_directory);
        manager_update_status(m);
}

/* ---- the control planes' host (control-plane.h): thin adapters around the manager_*() calls ---- */

static int host_submit(ControlPlane *origin, const char *text, size_t size, const char *fallback_id, void *userdata) {
        return manager_submit_job(userdata, origin, text, size, fallback_id);
}

static int host_submit_as(ControlPlane *origin, const char *text, size_t size, const char *id, void *userdata) {
        return manager_submit_job_as(userdata, origin, text, size, id);
}

static int host_reject(ControlPlane *origin, const char *id, const char *reason, void *userdata) {
        return manager_reject_job(userdata, origin, id, reason);
}

static bool host_job_exists(const char *id, void *userdata) {
        return manager_job_exists(userdata, id);
}

static int host_cancel(const char *id, const char *reason, void *userdata) {
        return manager_cancel_job(userdata, id, reason);
}

static int host_inventory(ControlPlaneModem **ret, size_t *ret_n, void *userdata) {
        Manager *m = userdata;
        ControlPlaneModem *l;

        l = calloc(MAX(m->n_modems, 1U), sizeof(ControlPlaneModem));
        if (!l)
                return -ENOMEM;

        for (size_t i = 0; i < m->n_modems; i++) {
                const Modem *modem = m->modems[i];
                const JobRecord *rec = job_queue_current(job_queue_of(modem));

                l[i] = (ControlPlaneModem) {
                        .port = modem->port,
                        .imei = modem->imei,
                        .model = modem->model,
                        .revision = modem->revision,
                        .family = modem->profile ? modem->profile->name : NULL,
                        /* A job keeps its module "busy" also while the module reboots without a port. */
                        .state = rec ? CONTROL_PLANE_MODEM_BUSY :
                                 !modem->channel ? CONTROL_PLANE_MODEM_ABSENT :
                                 !modem->identified ? CONTROL_PLANE_MODEM_IDENTIFYING :
                                 CONTROL_PLANE_MODEM_IDLE,
                        .job_id = rec ? rec->job->id : NULL,
                        .job_state = rec ? rec->state : _JOB_STATE_INVALID,
                };
        }

        *ret = l;
        *ret_n = m->n_modems;
        return 0;
}

/* Before the planes are created: they keep a pointer to it. */
static void manager_host_init(Manager *m) {
        m->host = (ControlPlaneHost) {
                .event = m->event,
                .state_directory = m->config->state_directory,
                .jobs_directory = m->jobs_directory,
                .state_write_retry = m->config->timeouts.state_write_retry,
                .submit = host_submit,
                .submit_as = host_submit_as,
                .reject = host_reject,
                .job_exists = host_job_exists,
                .cancel = host_cancel,
                .inventory = host_inventory,
                .userdata = m,
        };
}

static int manager_setup(Manager *m);

int manager_new(Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->config = config;

        r = manager_setup(m);
        if (r < 0) {
                /* The config stays the caller's (macro.h): freed last by manager_free(), it is
                 * taken back first. */
                TAKE_PTR(m->config);
                return r;
        }

        *ret = TAKE_PTR(m);
        return 0;
}

static int manager_setup(Manager *m) {
        const Config *config = m->config;
        int r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;

        r = sd_event_set_signal_exit(m->event, true);
        if (r < 0)
                return r;

        /* WATCHDOG=1 at half of WATCHDOG_USEC, whenever the service manager asks for it. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the service watchdog, ignoring: %m");

        /* Every state file goes through state-file.c: what the disk refuses is retried, and the
         * operator hears of it (STATUS=, the journal). */
        r = state_file_setup(m->event, config->timeouts.state_write_retry, on_state_health, m);
        if (r < 0)
                return r;

        /* ModemManager is asked to keep off a module while it is being upgraded. */
        r = mm_client_new(m->event, &m->mm);
        if (r < 0)
                return r;

        if (asprintf(&m->jobs_directory, "%s/jobs", config->state_directory) < 0)
                return -ENOMEM;

        r = mkdir_p(m->jobs_directory);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", m->jobs_directory);

        r = manager_setup_modems(m);
        if (r < 0)
                return r;

        manager_host_init(m);

        return control_planes_new(&m->host, &config->control_planes, &m->planes, &m->n_planes);
}

void manager_update_status(Manager *m) {
        _cleanup_free_ char *status = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&status, &len);
        if (!f)
                return;

        if (state_file_health() < 0)
                fprintf(f, "State directory not writable (%s); ", strerror(-state_file_health()));
        if (m->n_modems == 0)
                fputs(m->hotplug ? "No modems found; watching udev" : "No modems configured", f);
        for (size_t i = 0; i < m->n_modems; i++) {
                _cleanup_free_ char *d = job_queue_describe(job_queue_of(m->modems[i]));
                fprintf(f, "%s%s", i > 0 ? "; " : "", strna(d));
        }
        if (m->n_pending > 0)
                fprintf(f, "; %zu job(s) waiting for their modem", m->n_pending);
        if (fclose(f) != 0 || !status)
                return;

        if (streq_ptr(status, m->last_status))
                return;

        (void) sd_notifyf(false, "STATUS=%s", status);
        free(m->last_status);
        m->last_status = TAKE_PTR(status);

        /* STATUS= names every modem with its state: when it changes, so does an inventory. */
        for (size_t i = 0; i < m->n_planes; i++)
                if (m->planes[i]->vtable->modems_changed)
                        m->planes[i]->vtable->modems_changed(m->planes[i]);
}

int manager_start(Manager *m) {
        int r;

        /* The modules present now first: a resumed job finds its module by port name. */
        if (m->hotplug) {
                r = hotplug_start(m->hotplug);
                if (r < 0)
                        return r;
        } else
                log_info("Hotplug: disabled in the configuration; serving the configured ports only");

        r = manager_resume(m);
        if (r < 0)
                return r;

        r = sd_event_add_time_relative(m->event, &m->prune_timer, CLOCK_BOOTTIME, MANAGER_PRUNE_INTERVAL_USEC, 0, manager_on_prune_timer, m);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the timer that prunes ended job records: %m");
        (void) sd_event_source_set_description(m->prune_timer, "manager-prune");

        for (size_t i = 0; i < m->n_modems; i++) {
                r = modem_start(m->modems[i]);
                if (r < 0)
                        return r;
        }
        m->started = true;

        /* After the resume, in list order (control-plane.c): the local inbox first, then the MQTT
         * outbox replays what the last run could not deliver before new work comes in. */
        for (size_t i = 0; i < m->n_planes; i++) {
                r = m->planes[i]->vtable->start(m->planes[i]);
                if (r < 0)
                        return r;
        }

        manager_update_status(m);
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", strna(m->last_status));
        log_info("dfotad " DFOTAD_VERSION " serving %zu modem(s); state in %s", m->n_modems, m->config->state_directory);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        log_info("Stopping; unfinished jobs resume at the next start");

        /* Flush progress that was below the persistence step. */
        for (size_t i = 0; i < m->n_modems; i++)
                (void) job_queue_flush(job_queue_of(m->modems[i]));

        for (size_t i = 0; i < m->n_planes; i++)
                if (m->planes[i]->vtable->stop)
                        m->planes[i]->vtable->stop(m->planes[i]);

        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        /* The state files' health handler and retry timer go first: the last flush below must not
         * call back into a manager whose modems are freed. */
        (void) state_file_setup(NULL, 0, NULL, NULL);

        /* udev first: no more ports handed to modems being freed. */
        m->hotplug = hotplug_free(m->hotplug);
        for (size_t i = 0; i < m->n_modems; i++)
                modem_free(m->modems[i]);
        free(m->modems);
        for (size_t i = 0; i < m->n_forgotten; i++)
                modem_free(m->forgotten[i]);
        free(m->forgotten);
        m->forget_defer = sd_event_source_disable_unref(m->forget_defer);
        m->prune_timer = sd_event_source_disable_unref(m->prune_timer);
        for (size_t i = 0; i < m->n_pending; i++)
                job_record_free(m->pending[i]);
        free(m->pending);
        for (size_t i = 0; i < m->n_holds; i++) {
                free(m->holds[i].port);
                free(m->holds[i].imei);
                free(m->holds[i].record_path);
        }
        free(m->holds);

        /* After every modem: their engines hold inhibitions. */
        m->mm = mm_client_free(m->mm);

        m->planes = control_planes_free(m->planes, m->n_planes);
        /* Last: what the disk refused so far gets one more try, and the log names what is lost. */
        (void) state_file_flush();
        sd_event_unref(m->event);
        config_free(m->config);
        free(m->jobs_directory);
        free(m->last_status);
        free(m);
        return NULL;
}
