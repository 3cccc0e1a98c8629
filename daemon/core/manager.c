/* SPDX-License-Identifier: MIT */

#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "queue.h"
#include "record-parent.h"
#include "fault.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "state-file.h"
#include "string-util.h"

static void manager_hotplug_port_added(const HotplugPort *port, void *userdata);
static void manager_hotplug_port_removed(const HotplugPort *port, void *userdata);

/* Ended records are pruned at start and then once a day. */
#define MANAGER_PRUNE_INTERVAL_USEC (24 * 3600 * USEC_PER_SEC)

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

/* ---- the seams: what the modems and their job queues tell the manager ---------------------- */

static void on_modem_changed(Modem *modem, void *userdata) {
        manager_update_status(userdata);
}

/* The "modems[]" entry that names a module found through udev by its IMEI or USB path. */
static const ModemConfig *manager_find_modem_config(Manager *m, const char *imei, const char *usb_name) {
        for (size_t i = 0; i < m->config->n_modems; i++) {
                const ModemConfig *c = &m->config->modems[i];

                if ((c->imei && streq_ptr(c->imei, imei)) || (c->usb_path && streq_ptr(c->usb_path, usb_name)))
                        return c;
        }
        return NULL;
}

static void on_modem_identified(Modem *modem, void *userdata) {
        Manager *m = userdata;

        /* A UC20 found through udev gets its PDP settings (and a family) from an entry that names
         * it by IMEI, now that AT+GSN said which module it is. */
        if (modem->hotplug && !modem->config) {
                const ModemConfig *c = manager_find_modem_config(m, modem->imei, NULL);

                if (c)
                        modem_set_config(modem, c);
        }
        manager_modem_identified(m, modem);
}

static bool on_modem_hand_over(Modem *modem, const char *urc, void *userdata) {
        return (urc ? manager_hand_over_port_on_urc(userdata, modem, urc) : manager_hand_over_port(userdata, modem)) > 0;
}

static void on_modem_released(Modem *modem, void *userdata) {
        manager_modem_released(userdata, modem);
}

static void on_modem_gone(Modem *modem, void *userdata) {
        manager_forget_modem(userdata, modem);
}

static const ModemCallbacks manager_modem_callbacks = {
        .changed = on_modem_changed,
        .identified = on_modem_identified,
        .hand_over = on_modem_hand_over,
        .released = on_modem_released,
        .gone = on_modem_gone,
};

static void on_queue_report(JobQueue *q, const JobRecord *record, void *userdata) {
        manager_report(userdata, record);
}

static void on_queue_changed(JobQueue *q, void *userdata) {
        manager_update_status(userdata);
}

static int on_queue_requeue(JobQueue *q, JobRecord *record, void *userdata) {
        return manager_queue(userdata, record);
}

/* Gives a modem its job side (queue.h): the modem owns it from here on. */
static int manager_attach_queue(Manager *m, Modem *modem) {
        return job_queue_attach(modem,
                                &(const JobQueueEnv) {
                                        .mm = m->mm,
                                },
                                &(const JobQueueCallbacks) {
                                        .report = on_queue_report,
                                        .changed = on_queue_changed,
                                        .requeue = on_queue_requeue,
                                },
                                m, NULL);
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

int manager_new(Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m) {
                config_free(config);
                return -ENOMEM;
        }
        m->config = config;

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

        m->modem_env = (ModemEnv) {
                .event = m->event,
                .timeouts = &config->timeouts,
                .reset = &config->reset,
        };
        m->modems = calloc(MAX(config->n_modems, 1U), sizeof(Modem *));
        if (!m->modems)
                return -ENOMEM;
        for (size_t i = 0; i < config->n_modems; i++) {
                Modem *modem;

                if (!config->modems[i].port)
                        continue; /* a module found through udev, by IMEI or USB path */
                r = modem_new(&m->modem_env, &manager_modem_callbacks, m, &config->modems[i], &modem);
                if (r < 0)
                        return r;
                m->modems[m->n_modems++] = modem;
                r = manager_attach_queue(m, modem);
                if (r < 0)
                        return r;
        }

        if (config->hotplug) {
                _cleanup_strv_free_ char **static_ports = calloc(config->n_modems + 1, sizeof(char *));

                if (!static_ports)
                        return -ENOMEM;
                for (size_t i = 0, j = 0; i < config->n_modems; i++) {
                        if (!config->modems[i].port)
                                continue;
                        static_ports[j] = strdup(config->modems[i].port);
                        if (!static_ports[j++])
                                return -ENOMEM;
                }
                r = hotplug_new(m->event, static_ports,
                                &(const HotplugCallbacks) {
                                        .port_added = manager_hotplug_port_added,
                                        .port_removed = manager_hotplug_port_removed,
                                },
                                m, &m->hotplug);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up udev hotplug: %m");
        }

        manager_host_init(m);

        r = control_planes_new(&m->host, &config->control_planes, &m->planes, &m->n_planes);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

static Modem *manager_find_modem_by_port(Manager *m, const char *port) {
        for (size_t i = 0; i < m->n_modems; i++)
                if (streq_ptr(m->modems[i]->port, port))
                        return m->modems[i];
        return NULL;
}

static Modem *manager_find_modem_by_usb(Manager *m, const char *usb_path) {
        for (size_t i = 0; i < m->n_modems; i++)
                if (m->modems[i]->usb_path && streq_ptr(m->modems[i]->usb_path, usb_path))
                        return m->modems[i];
        return NULL;
}

int manager_add_modem(Manager *m, Modem *modem) {
        Modem **l;
        int r;

        if (!job_queue_of(modem)) {
                r = manager_attach_queue(m, modem);
                if (r < 0)
                        return r;
        }

        l = reallocarray(m->modems, m->n_modems + 1, sizeof(Modem *));
        if (!l)
                return -ENOMEM;
        m->modems = l;
        m->modems[m->n_modems++] = modem;

        if (m->started)
                (void) modem_start(modem);
        manager_update_status(m);
        return 0;
}

static int on_forget_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        for (size_t i = 0; i < m->n_forgotten; i++)
                modem_free(m->forgotten[i]);
        free(m->forgotten);
        m->forgotten = NULL;
        m->n_forgotten = 0;
        manager_update_status(m);
        return 0;
}

void manager_forget_modem(Manager *m, Modem *modem) {
        Modem **l;
        size_t i;
        int r;

        for (i = 0; i < m->n_modems; i++)
                if (m->modems[i] == modem)
                        break;
        if (i >= m->n_modems)
                return; /* forgotten already */

        l = reallocarray(m->forgotten, m->n_forgotten + 1, sizeof(Modem *));
        if (!l) {
                log_error_errno(-ENOMEM, "Cannot forget modem %s, keeping it: %m", strna(modem_name(modem)));
                return;
        }
        m->forgotten = l;

        memmove(m->modems + i, m->modems + i + 1, (m->n_modems - i - 1) * sizeof(Modem *));
        m->n_modems--;
        modem_disable(modem);
        m->forgotten[m->n_forgotten++] = modem;

        /* The caller may be inside the modem's own callbacks (its channel's, its timers'): freed
         * when the loop gets here next, as the job queue does with a finished engine. */
        if (!m->forget_defer) {
                r = sd_event_add_defer(m->event, &m->forget_defer, on_forget_defer, m);
                if (r < 0)
                        log_error_errno(r, "Failed to schedule freeing a modem, it is freed at exit: %m");
                else
                        (void) sd_event_source_set_description(m->forget_defer, "manager-forget");
        } else
                (void) sd_event_source_set_enabled(m->forget_defer, SD_EVENT_ONESHOT);

        manager_update_status(m);
}

/* A modem that waits, since a restart, for a module with this AT port name. */
static Modem *manager_find_detached_modem(Manager *m, const char *devnode) {
        for (size_t i = 0; i < m->n_modems; i++) {
                Modem *d = m->modems[i];

                if (d->hotplug && !d->usb_path && modem_is_waiting_for_port(d) && streq_ptr(d->port, devnode))
                        return d;
        }
        return NULL;
}

/* HotplugCallbacks.port_added: finds the modem of the port's USB device (or the modem that waits,
 * since a restart, for a module with this port name), or creates one, and hands it the port. */
static void manager_hotplug_port_added(const HotplugPort *port, void *userdata) {
        Manager *m = userdata;

        Modem *modem;
        int r;

        modem = manager_find_modem_by_usb(m, port->usb_path);
        if (!modem) {
                modem = manager_find_detached_modem(m, port->devnode);
                if (modem)
                        log_info("Modem %s: %s is the AT port the job of the restart waits for",
                                 strna(port->usb_name), port->devnode);
        }
        if (!modem) {
                const ModemProfile *p = port->family >= 0 ? modem_profile_get(port->family) : NULL;

                r = modem_new_hotplug(&m->modem_env, &manager_modem_callbacks, m,
                                      manager_find_modem_config(m, NULL, port->usb_name), port, &modem);
                if (r < 0) {
                        log_error_errno(r, "Modem %s: cannot serve %s: %m", strna(port->usb_name), port->devnode);
                        return;
                }
                if (port->vendor != 0)
                        log_info("Modem %s: new module %04x:%04x, family %s, at %s",
                                 strna(port->usb_name), port->vendor, port->product,
                                 p ? p->name : "detected from ATI", strna(port->usb_path));
                else /* a tty a local rule marks, without a USB parent */
                        log_info("Modem %s: new module, family %s, at %s",
                                 strna(port->usb_name), p ? p->name : "detected from ATI", strna(port->usb_path));

                r = manager_add_modem(m, modem);
                if (r < 0) {
                        log_error_errno(r, "Modem %s: cannot serve %s: %m", strna(port->usb_name), port->devnode);
                        modem_free(modem);
                        return;
                }
        }

        (void) modem_port_added(modem, port);
}

/* HotplugCallbacks.port_removed (port is what hotplug knew of it; sysfs may be gone): the
 * module's modem loses it; another AT port of the module, if any, takes over. */
static void manager_hotplug_port_removed(const HotplugPort *port, void *userdata) {
        Manager *m = userdata;

        const HotplugPort *alt = NULL;
        Modem *modem;

        modem = manager_find_modem_by_usb(m, port->usb_path);
        if (!modem)
                return;

        if (m->hotplug)
                alt = hotplug_find_port(m->hotplug, port->usb_path);

        if (modem_port_removed(modem, port->syspath, alt != NULL) > 0 && alt)
                (void) modem_port_added(modem, alt);
}

int manager_hand_over_port(Manager *m, Modem *from) {
        for (size_t i = 0; i < m->n_modems; i++) {
                Modem *to = m->modems[i];
                const JobRecord *rec;
                const char *imei;

                if (to == from || !to->hotplug || to->port_present || !modem_is_waiting_for_port(to))
                        continue;

                rec = job_queue_current(job_queue_of(to));
                imei = to->imei ?: rec ? rec->modem_imei : NULL;
                if (!streq_ptr(imei, from->imei))
                        continue;

                log_info("Modem %s: IMEI %s is the module job %s waits for",
                         strna(modem_name(from)), from->imei, rec ? job_record_name(rec) : "(none)");
                modem_take_port(to, from);
                manager_forget_modem(m, from);
                return 1;
        }
        return 0;
}

int manager_hand_over_port_on_urc(Manager *m, Modem *from, const char *line) {
        Modem *candidate = NULL;

        for (size_t i = 0; i < m->n_modems; i++) {
                Modem *to = m->modems[i];
                const JobRecord *rec;
                const char *imei;

                if (to == from || !to->hotplug || to->port_present || !modem_is_waiting_for_port(to))
                        continue;

                rec = job_queue_current(job_queue_of(to));
                if (!rec || !rec->qfotadl_sent)
                        continue; /* not updating: it answers AT, and its IMEI decides */

                imei = to->imei ?: rec->modem_imei;
                if (from->imei && imei && !streq(imei, from->imei))
                        continue;

                if (candidate)
                        return 0; /* several: only the IMEI can tell */
                candidate = to;
        }
        if (!candidate)
                return 0;

        log_info("Modem %s: sends DFOTA URCs (%s) and job %s is the only one waiting for its module; it continues on %s",
                 strna(modem_name(from)), line, job_record_name(job_queue_current(job_queue_of(candidate))), from->port);

        modem_take_port(candidate, from);
        manager_forget_modem(m, from);
        /* The URC was the module's first word on the port: the job must see it too. */
        modem_deliver_urc(candidate, line);
        return 1;
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

/* ---- modules on hold: the module of a record that could not be read ---- */

static bool hold_matches(const struct ModuleHold *h, const Modem *modem) {
        if (!h->port && !h->imei)
                return true;
        return (h->imei && streq_ptr(h->imei, modem->imei)) || (h->port && streq_ptr(h->port, modem->port));
}

/* Puts the module of rec on hold (record.h "module_hold"): whichever modem it is now, and
 * whichever it turns out to be once identified. */
static void manager_hold_module(Manager *m, const JobRecord *rec) {
        struct ModuleHold *l, h = {};

        for (size_t i = 0; i < m->n_holds; i++)
                if (streq(m->holds[i].record_path, rec->path))
                        return; /* seen twice in one walk: the stand-in was written into the directory being read */

        l = reallocarray(m->holds, m->n_holds + 1, sizeof(struct ModuleHold));
        if (!l) {
                (void) log_error_errno(-ENOMEM, "Out of memory: %m");
                return;
        }
        m->holds = l;

        if (free_and_strdup(&h.port, rec->modem_port) < 0 || free_and_strdup(&h.imei, rec->modem_imei) < 0 ||
            free_and_strdup(&h.record_path, rec->path) < 0) {
                free(h.port);
                free(h.imei);
                free(h.record_path);
                (void) log_error_errno(-ENOMEM, "Out of memory: %m");
                return;
        }
        m->holds[m->n_holds++] = h;

        log_ctx_notice(&((LogContext) { .job_id = rec->job->id, .modem = rec->modem_port, .imei = rec->modem_imei }),
                       "Job %s: its module (%s) takes no new job until it answers normally outside an update",
                       job_record_name(rec), h.port || h.imei ? strna(h.imei ?: h.port) : "not known: every module");

        for (size_t i = 0; i < m->n_modems; i++)
                if (m->modems[i]->identified && hold_matches(&h, m->modems[i]))
                        modem_hold(m->modems[i]);
}

static void manager_hold_done(Manager *m, size_t i) {
        struct ModuleHold *h = &m->holds[i];
        _cleanup_(job_record_freep) JobRecord *rec = NULL;

        /* The record says the hold is over, so that a restart does not hold the module again. */
        if (job_record_load(h->record_path, &rec) >= 0 && rec->module_hold) {
                rec->module_hold = false;
                (void) job_record_add_history(rec, "its module answers normally outside an update: it takes jobs again");
                (void) job_record_save(rec);
        }

        free(h->port);
        free(h->imei);
        free(h->record_path);
        memmove(m->holds + i, m->holds + i + 1, (m->n_holds - i - 1) * sizeof(struct ModuleHold));
        m->n_holds--;
}

void manager_modem_released(Manager *m, Modem *modem) {
        for (size_t i = m->n_holds; i > 0; i--) {
                struct ModuleHold *h = &m->holds[i - 1];
                bool others = false;

                if (!hold_matches(h, modem))
                        continue;

                /* A hold on every module ends when none of them is held any more. */
                if (!h->port && !h->imei)
                        for (size_t j = 0; j < m->n_modems; j++)
                                if (m->modems[j] != modem && m->modems[j]->hold)
                                        others = true;
                if (!others)
                        manager_hold_done(m, i - 1);
        }
}

/* ---- jobs on several modules: the parent record (record-parent.h) ---- */

static void manager_update_parent(Manager *m, const JobRecord *exec) {
        _cleanup_(job_record_freep) JobRecord *p = NULL;

        if (job_record_parent_update(m->jobs_directory, exec, &p) > 0)
                manager_report(m, p);
}

void manager_report(Manager *m, const JobRecord *record) {
        ControlPlane *cp = control_plane_find(m->planes, m->n_planes, record->control_plane);
        int r;

        if (cp) {
                r = cp->vtable->report(cp, record);
                if (r < 0)
                        log_warning_errno(r, "Job %s: control plane %s could not take the status, it will retry: %m",
                                          job_record_name(record), cp->vtable->name);
        }

        if (record->execution)
                manager_update_parent(m, record);

        manager_update_status(m);
}

/* An execution that never started ends (REJECTED, or CANCELED while queued): on disk before the
 * control plane hears of it. Returns 0 or a negative errno (nothing changed). */
static int manager_end_unstarted(Manager *m, JobRecord *rec, JobState s, const char *reason) {
        int r;

        r = job_record_transition(rec, s, rec->phase, reason, JOB_TRANSITION_DURABLE | JOB_TRANSITION_REASON, NULL);
        if (r < 0)
                return r;
        manager_report(m, rec);
        return 0;
}

static void manager_reject(Manager *m, JobRecord *rec, const char *reason) {
        (void) manager_end_unstarted(m, rec, JOB_REJECTED, reason);
}

/* Takes the records of job id out of the pending list and cancels them; records that already sent
 * AT+QFOTADL (resumed ones) stay, and so does one whose CANCELED record cannot be saved. Returns
 * how many were canceled, -EBUSY if one stayed for AT+QFOTADL, or the error of a failed save. */
static int cancel_in_list(Manager *m, JobRecord **l, size_t *n, const char *id, const char *reason) {
        int canceled = 0, error = 0, r;
        bool busy = false;

        for (size_t i = 0; i < *n; ) {
                JobRecord *rec = l[i];

                if (!streq(rec->job->id, id)) {
                        i++;
                        continue;
                }
                if (rec->qfotadl_sent) {
                        busy = true;
                        i++;
                        continue;
                }
                r = manager_end_unstarted(m, rec, JOB_CANCELED, reason);
                if (r < 0) {
                        error = r;
                        i++;
                        continue;
                }
                memmove(l + i, l + i + 1, (*n - i - 1) * sizeof(JobRecord *));
                (*n)--;
                job_record_free(rec);
                canceled++;
        }
        return busy ? -EBUSY : error < 0 ? error : canceled;
}

int manager_cancel_job(Manager *m, const char *id, const char *reason) {
        bool found = false, busy = false;
        int error = 0, r;

        for (size_t i = 0; i <= m->n_modems; i++) {
                r = i < m->n_modems ? job_queue_cancel(job_queue_of(m->modems[i]), id, reason) :
                                      cancel_in_list(m, m->pending, &m->n_pending, id, reason);
                if (r != 0)
                        found = true;
                if (r == -EBUSY)
                        busy = true;
                else if (r < 0)
                        error = r;
        }

        manager_update_status(m);
        if (busy)
                return -EBUSY;
        if (error < 0)
                /* A CANCELED record could not be saved: that execution is not canceled. */
                return error;
        if (found)
                return 0;
        return job_record_exists(m->jobs_directory, id) ? -EALREADY : -ENOENT;
}

bool manager_job_exists(Manager *m, const char *id) {
        return job_record_exists(m->jobs_directory, id);
}

static void record_set_modem(JobRecord *rec, const Modem *modem) {
        (void) job_record_set_module(rec, modem->port, modem->profile ? modem->profile->name : NULL, modem->model, NULL, modem->imei);
}

static int manager_enqueue_on(Modem *modem, JobRecord *rec) {
        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .modem = modem->port, .imei = modem->imei, .state = "QUEUED" }),
                     "Job %s: queued on %s%s", job_record_name(rec), modem->port,
                     modem_is_busy(modem) ? " (modem busy, waiting its turn)" : "");
        return job_queue_push(job_queue_of(modem), rec);
}

static void execution_records_free(JobRecord **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                job_record_free(l[i]);
        free(l);
}

/* The job matches several modules: one execution record per module, saved before the parent lists
 * them (a crash in between leaves the parent QUEUED without executions, dispatched again at the
 * next start onto the same file names). The set of modules is fixed here. Returns 1 (rec freed,
 * the executions queued), or a negative errno with rec untouched. */
static int manager_dispatch_several(Manager *m, JobRecord *rec, Modem **matches, size_t n) {
        _cleanup_(json_object_putp) json_object *executions = NULL;
        _cleanup_free_ char *imeis = NULL;
        JobRecord **l;
        size_t len = 0, n_saved = 0;
        FILE *f;
        int r;

        l = calloc(n, sizeof(JobRecord *));
        executions = json_object_new_array();
        f = open_memstream(&imeis, &len);
        if (!l || !executions || !f) {
                if (f)
                        (void) fclose(f);
                free(l);
                return -ENOMEM;
        }

        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_object_putp) json_object *e = NULL;

                fprintf(f, "%s%s", i > 0 ? ", " : "", matches[i]->imei);

                r = job_record_new_execution(m->jobs_directory, rec->job, matches[i]->imei, &l[i]);
                if (r < 0)
                        goto fail;
                record_set_modem(l[i], matches[i]);
                r = free_and_strdup(&l[i]->control_plane, rec->control_plane);
                if (r < 0)
                        goto fail;
                r = job_record_save(l[i]);
                if (r < 0)
                        goto fail;
                n_saved++;

                r = job_record_parent_entry_new(l[i], &e);
                if (r < 0)
                        goto fail;
                if (json_object_array_add(executions, e) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                TAKE_PTR(e);
        }
        if (fclose(f) != 0 || !imeis) {
                f = NULL;
                r = -ENOMEM;
                goto fail;
        }
        f = NULL;

        rec->executions = json_object_get(executions);
        {
                _cleanup_free_ char *detail = NULL;

                if (asprintf(&detail, "on %zu modules: %s", n, imeis) < 0)
                        detail = NULL;
                (void) job_record_add_history(rec, detail);
        }
        r = job_record_save(rec);
        if (r < 0) {
                json_object_put(rec->executions);
                rec->executions = NULL;
                goto fail;
        }

        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .state = "QUEUED" }),
                     "Job %s: runs on %zu modules (IMEI %s)", rec->job->id, n, imeis);
        manager_report(m, rec);
        job_record_free(rec);

        for (size_t i = 0; i < n; i++)
                if (manager_enqueue_on(matches[i], l[i]) < 0) {
                        (void) log_error_errno(-ENOMEM, "Job %s: cannot queue it, out of memory: %m", job_record_name(l[i]));
                        job_record_free(l[i]);
                }
        free(l);
        return 1;

fail:
        if (f)
                (void) fclose(f);
        /* No parent lists them: they must not be resumed as jobs of their own at the next start. */
        for (size_t i = 0; i < n_saved; i++)
                (void) unlink(l[i]->path);
        execution_records_free(l, n);
        return r;
}

/* Finds the modem(s) for a queued record. Returns 1 when queued on a modem, or split into
 * executions queued on each matching module (ownership passed), 0 when it must wait for modems to
 * be identified (ownership stays), or ends it as REJECTED (-ENXIO, ownership stays with the
 * caller, who frees it). An execution record only ever goes to the module of its IMEI. */
static int manager_dispatch(Manager *m, JobRecord *rec) {
        const Job *job = rec->job;
        _cleanup_free_ Modem **matches = NULL;
        size_t n_match = 0;
        bool unidentified = false;
        _cleanup_free_ char *reason = NULL;
        int r;

        matches = calloc(MAX(m->n_modems, 1U), sizeof(Modem *));
        if (!matches)
                return -ENOMEM;

        for (size_t i = 0; i < m->n_modems; i++) {
                if (!m->modems[i]->identified)
                        unidentified = true;
                else if (modem_matches_job(m->modems[i], job) &&
                         (!rec->execution || streq_ptr(m->modems[i]->imei, rec->execution)))
                        matches[n_match++] = m->modems[i];
        }

        if (n_match == 1) {
                record_set_modem(rec, matches[0]);
                (void) job_record_save(rec);
                return manager_enqueue_on(matches[0], rec) < 0 ? -ENOMEM : 1;
        }

        if (n_match > 1 && !rec->execution) {
                const char *dup = NULL;

                /* Each execution is named by its module's IMEI: two ports of one module (or a module
                 * without one) cannot be told apart. */
                for (size_t i = 0; i < n_match && !dup; i++) {
                        if (!matches[i]->imei)
                                dup = "(none)";
                        for (size_t j = 0; j < i && !dup; j++)
                                if (streq(matches[i]->imei, matches[j]->imei))
                                        dup = matches[i]->imei;
                }
                if (!dup) {
                        r = manager_dispatch_several(m, rec, matches, n_match);
                        if (r > 0)
                                return r;
                        (void) asprintf(&reason, "modem: cannot record the executions on %zu modules: %s",
                                        n_match, strerror(-r));
                } else
                        (void) asprintf(&reason, "modem: the job matches %zu modems, not all with their own IMEI (%s); select one with modem.imei",
                                        n_match, dup);
        } else if (n_match > 1)
                (void) asprintf(&reason, "modem: %zu modems report IMEI %s", n_match, rec->execution);
        else if (unidentified)
                return 0;
        else if (rec->execution)
                (void) asprintf(&reason, "modem.imei: no modem with IMEI %s", rec->execution);
        else if (job->modem_imei)
                (void) asprintf(&reason, "modem.imei: no modem with IMEI %s", job->modem_imei);
        else if (job->modem_model)
                (void) asprintf(&reason, "modem.model: no modem of model %s", job->modem_model);
        else
                (void) asprintf(&reason, "modem: no modem whose model matches target_version %s", job->target_version);

        manager_reject(m, rec, reason ?: "modem: no matching modem");
        return -ENXIO;
}

static int manager_add_pending(Manager *m, JobRecord *rec) {
        JobRecord **p;

        p = reallocarray(m->pending, m->n_pending + 1, sizeof(JobRecord *));
        if (!p)
                return -ENOMEM;
        m->pending = p;
        m->pending[m->n_pending++] = rec;
        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .state = "QUEUED" }),
                     "Job %s: waiting until the modems are identified", job_record_name(rec));
        manager_update_status(m);
        return 0;
}

int manager_queue(Manager *m, JobRecord *rec) {
        int r;

        r = manager_dispatch(m, rec);
        if (r == 0) {
                r = manager_add_pending(m, rec);
                if (r < 0)
                        job_record_free(rec);
                return r;
        }
        if (r < 0)
                job_record_free(rec);
        return 0;
}

void manager_modem_identified(Manager *m, Modem *modem) {
        JobRecord **pending;

        for (size_t i = 0; i < m->n_holds && !modem->hold; i++)
                if (hold_matches(&m->holds[i], modem))
                        modem_hold(modem);

        pending = TAKE_PTR(m->pending);
        size_t n = m->n_pending;

        m->n_pending = 0;
        for (size_t i = 0; i < n; i++)
                (void) manager_queue(m, pending[i]);
        free(pending);
        manager_update_status(m);
}

/* A job id usable as a record name, from a document that has none. */
static char *sanitize_id(const char *s) {
        char *id = strndup(isempty(s) ? "unnamed" : s, JOB_ID_MAX);

        if (!id)
                return NULL;
        for (char *c = id; *c; c++)
                if (!job_id_char_is_valid(*c))
                        *c = '_';
        return id;
}

/* The id of an invalid document if it has a valid one, else the fallback. */
static char *rejected_document_id(const char *text, const char *fallback) {
        json_object *o = json_tokener_parse(text), *v;
        char *id = NULL;

        if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "id", &v) &&
            json_object_is_type(v, json_type_string)) {
                const char *s = json_object_get_string(v);

                if (job_id_is_valid(s))
                        id = strdup(s);
        }
        json_object_put(o);

        return id ?: sanitize_id(fallback);
}

/* Records a job that is REJECTED before it ran: an invalid document (why), under job->id. */
static int manager_record_rejected(Manager *m, ControlPlane *origin, Job *job, const char *why) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        int r;

        if (job_record_exists(m->jobs_directory, job->id)) {
                log_warning("Job %s: a job with this id exists already; the new document is ignored", job->id);
                job_free(job);
                return -EEXIST;
        }

        r = job_record_new(m->jobs_directory, job, &rec);
        if (r < 0)
                return r;
        r = free_and_strdup(&rec->control_plane, origin->vtable->name);
        if (r < 0)
                return r;

        return manager_end_unstarted(m, rec, JOB_REJECTED, why);
}

static int manager_submit(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *fallback_id, bool force) {
        _cleanup_(job_freep) Job *job = NULL;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *why = NULL;
        int r;

        r = job_parse(text, size, &job, &why);
        if (r == -ENOMEM)
                return r;

        if (r < 0) {
                job = calloc(1, sizeof(Job));
                if (!job)
                        return -ENOMEM;
                /* The id inside is looked for only in a document small enough to be parsed. */
                job->id = force ? strdup(fallback_id) :
                          job_document_check(text, size, NULL) >= 0 ? rejected_document_id(text, fallback_id) :
                          sanitize_id(fallback_id);
                if (!job->id)
                        return -ENOMEM;
                return manager_record_rejected(m, origin, TAKE_PTR(job), why ?: "(document): invalid");
        }

        if (force && !streq(job->id, fallback_id)) {
                log_notice("Job %s: the control plane names the job %s; that name is used", job->id, fallback_id);
                r = free_and_strdup(&job->id, fallback_id);
                if (r < 0)
                        return r;
        }

        if (job_record_exists(m->jobs_directory, job->id)) {
                log_warning("Job %s: a job with this id exists already; the new document is ignored", job->id);
                return -EEXIST;
        }

        r = job_record_new(m->jobs_directory, TAKE_PTR(job), &rec);
        if (r < 0)
                return r;
        r = free_and_strdup(&rec->control_plane, origin->vtable->name);
        if (r < 0)
                return r;

        /* Durable before the control plane forgets the order: a record that only exists in memory
         * would be lost with the process, and the order with it. */
        r = job_record_save_durable(rec);
        if (r < 0)
                return log_error_errno(r, "Job %s: cannot save its record, the control plane keeps the order: %m", rec->job->id);
        fault_point("saved:QUEUED");

        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .state = "QUEUED", .message_id = DFOTAD_MESSAGE_JOB_STATE }),
                     "Job %s: -> QUEUED (from %s, target %s)", rec->job->id, origin->vtable->name, rec->job->target_version);
        manager_report(m, rec);

        return manager_queue(m, TAKE_PTR(rec));
}

int manager_submit_job(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *fallback_id) {
        return manager_submit(m, origin, text, size, fallback_id, false);
}

int manager_submit_job_as(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *id) {
        return manager_submit(m, origin, text, size, id, true);
}

int manager_reject_job(Manager *m, ControlPlane *origin, const char *id, const char *reason) {
        _cleanup_(job_freep) Job *job = NULL;

        job = calloc(1, sizeof(Job));
        if (!job)
                return -ENOMEM;
        job->id = sanitize_id(id);
        if (!job->id)
                return -ENOMEM;

        return manager_record_rejected(m, origin, TAKE_PTR(job), reason);
}

/* Re-derives a parent's entries from its executions' records. */
static void manager_resume_parent(Manager *m, JobRecord *p) {
        if (job_record_parent_resume(m->jobs_directory, p) > 0)
                manager_report(m, p);
}

/* Unfinished executions from the last run: back onto their modem, before the ports open. */

/* The first plane, in list order, whose status store knows job id; NULL when none does (the
 * caller then falls back to CONTROL_PLANE_FALLBACK, which has no status store to ask). */
static ControlPlane *manager_control_plane_knowing(Manager *m, const char *id) {
        for (size_t i = 0; i < m->n_planes; i++)
                if (m->planes[i]->vtable->knows_job && m->planes[i]->vtable->knows_job(m->planes[i], id))
                        return m->planes[i];
        return NULL;
}

/* A record that cannot be read (issue 9 item 10): moved aside, its job ends FAILED on its control
 * plane, and its module, which may be in the middle of an update, is held. */
static void manager_record_damaged(Manager *m, const char *path, const char *why) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *text = NULL, *aside = NULL;
        int r;

        /* What is left of it, for its control plane and its module (bounded like every read). */
        (void) state_file_read(path, RECORD_FILE_MAX, &text, NULL);

        r = job_record_set_aside(path, &aside);
        if (r < 0) {
                log_error_errno(r, "Job record %s cannot be read (%s) nor moved aside: %m", path, why);
                return;
        }

        r = job_record_new_damaged(path, text, why, aside, &rec);
        if (r < 0) {
                log_error_errno(r, "Job record %s cannot be read (%s); moved aside to %s: %m", path, why, aside);
                return;
        }
        if (!rec->control_plane) {
                ControlPlane *cp = manager_control_plane_knowing(m, rec->job->id);

                (void) free_and_strdup(&rec->control_plane, cp ? cp->vtable->name : CONTROL_PLANE_FALLBACK);
        }

        r = job_record_save(rec);
        if (r < 0)
                log_error_errno(r, "Job %s: cannot save the record that replaces the damaged one, retrying: %m", job_record_name(rec));

        log_ctx_error(&((LogContext) {
                              .job_id = rec->job->id,
                              .modem = rec->modem_port,
                              .imei = rec->modem_imei,
                              .state = "FAILED",
                              .message_id = DFOTAD_MESSAGE_JOB_FAILED,
                      }),
                      "Job %s: -> FAILED (%s)", job_record_name(rec), rec->reason);
        manager_report(m, rec);
        manager_hold_module(m, rec);
}

/* ---- pruning ended records (config "records") ---- */

typedef struct PruneCandidate {
        char *id;
        usec_t updated_at;
} PruneCandidate;

static int prune_candidate_compare(const void *a, const void *b) {
        const PruneCandidate *x = a, *y = b;

        /* Newest first: what is kept is a prefix. */
        return x->updated_at > y->updated_at ? -1 : x->updated_at < y->updated_at;
}

/* Ended jobs beyond records.max_count (newest kept) or older than records.max_age go, with their
 * executions; the id stays taken (job_record_prune()). Takes the candidates. */
static void manager_prune(Manager *m, PruneCandidate *l, size_t n) {
        usec_t now = now_realtime();
        _cleanup_free_ char **ids = NULL;
        size_t n_ids = 0;
        int r;

        if (n > 0)
                qsort(l, n, sizeof(PruneCandidate), prune_candidate_compare);

        ids = calloc(MAX(n, 1U), sizeof(char *));
        if (!ids) {
                (void) log_error_errno(-ENOMEM, "Cannot prune ended job records: %m");
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                bool too_many = m->config->records_max_count > 0 && i >= m->config->records_max_count;
                bool too_old = m->config->records_max_age > 0 && l[i].updated_at + m->config->records_max_age < now;

                if (too_many || too_old)
                        ids[n_ids++] = l[i].id;
        }
        if (n_ids == 0)
                goto finish;

        r = job_record_prune(m->jobs_directory, ids, n_ids);
        if (r < 0)
                log_warning_errno(r, "Cannot prune every ended job record: %m");
        for (size_t i = 0; i < n_ids; i++) {
                for (size_t k = 0; k < m->n_planes; k++)
                        if (m->planes[k]->vtable->job_pruned)
                                m->planes[k]->vtable->job_pruned(m->planes[k], ids[i]);
        }
        log_info("Pruned %zu ended job record(s) (records.max_count %u, records.max_age_days %g); their ids stay taken",
                 n_ids, m->config->records_max_count, (double) m->config->records_max_age / (24.0 * 3600 * USEC_PER_SEC));

finish:
        for (size_t i = 0; i < n; i++)
                free(l[i].id);
        free(l);
}

typedef struct ResumeSet {
        Manager *manager;
        JobRecord **records;        /* unfinished, to resume */
        size_t n_records;
        PruneCandidate *prune;      /* ended jobs (not executions) */
        size_t n_prune;
        bool resume;                /* false: only collect prune candidates */
} ResumeSet;

static int resume_add_prune_candidate(ResumeSet *set, const JobRecord *rec) {
        PruneCandidate *l;

        if (rec->execution)
                return 0; /* pruned with its job */

        l = reallocarray(set->prune, set->n_prune + 1, sizeof(PruneCandidate));
        if (!l)
                return -ENOMEM;
        set->prune = l;
        set->prune[set->n_prune] = (PruneCandidate) { .id = strdup(rec->job->id), .updated_at = rec->updated_at };
        if (!set->prune[set->n_prune].id)
                return -ENOMEM;
        set->n_prune++;
        return 0;
}

static int resume_collect(const char *path, JobRecord **recp, const char *why, void *userdata) {
        ResumeSet *set = userdata;
        JobRecord **l;

        if (!*recp) {
                if (set->resume)
                        manager_record_damaged(set->manager, path, why);
                return 0;
        }

        if (job_state_is_terminal((*recp)->state)) {
                if ((*recp)->module_hold) {
                        if (set->resume)
                                manager_hold_module(set->manager, *recp);
                        return 0; /* its module is held: not pruned */
                }
                return resume_add_prune_candidate(set, *recp);
        }

        if (!set->resume)
                return 0;

        l = reallocarray(set->records, set->n_records + 1, sizeof(JobRecord *));
        if (!l)
                return -ENOMEM;
        set->records = l;
        set->records[set->n_records++] = TAKE_PTR(*recp);
        return 0;
}

static void resume_set_done(ResumeSet *set) {
        for (size_t i = 0; i < set->n_records; i++)
                job_record_free(set->records[i]);
        free(set->records);
        for (size_t i = 0; i < set->n_prune; i++)
                free(set->prune[i].id);
        free(set->prune);
}

static int on_prune_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        ResumeSet set = { .manager = m };
        int r;

        /* One walk a day, one record at a time in memory. */
        r = job_record_foreach(m->jobs_directory, resume_collect, &set);
        if (r < 0) {
                log_warning_errno(r, "Cannot walk the job records to prune them, trying again tomorrow: %m");
                resume_set_done(&set);
        } else
                manager_prune(m, TAKE_PTR(set.prune), set.n_prune);

        (void) sd_event_source_set_time_relative(s, MANAGER_PRUNE_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int manager_resume(Manager *m) {
        ResumeSet set = { .manager = m, .resume = true };
        JobRecord **records;
        size_t n;
        int r;

        /* One record at a time in memory; only the unfinished ones are kept, in creation order. */
        r = job_record_foreach(m->jobs_directory, resume_collect, &set);
        if (r < 0) {
                resume_set_done(&set);
                return log_error_errno(r, "Cannot load job records from %s: %m", m->jobs_directory);
        }
        manager_prune(m, TAKE_PTR(set.prune), set.n_prune);
        records = set.records;
        n = set.n_records;
        job_record_sort(records, n);

        for (size_t i = 0; i < n; i++) {
                JobRecord *rec = TAKE_PTR(records[i]);
                Modem *modem;

                if (job_state_is_terminal(rec->state)) {
                        job_record_free(rec);
                        continue;
                }

                /* A job on several modules runs nothing itself: its executions are resumed as
                 * records of their own. Ones that ended while we were down are accounted now. */
                if (rec->executions) {
                        manager_resume_parent(m, rec);
                        job_record_free(rec);
                        continue;
                }

                modem = rec->modem_port ? manager_find_modem_by_port(m, rec->modem_port) : NULL;

                if (rec->state == JOB_QUEUED && !modem) {
                        (void) manager_add_pending(m, rec);
                        continue;
                }

                /* A USB module that is not there now (rebooting in the middle of its update) or
                 * is under another name: a modem waits for it with the job, by this port name or,
                 * once a module is identified, by IMEI; port_return bounds the wait. */
                if (!modem && m->hotplug && rec->modem_port) {
                        r = modem_new_detached(&m->modem_env, &manager_modem_callbacks, m,
                                               rec->modem_port, rec->modem_imei, rec->modem_model, rec->modem_family, &modem);
                        if (r >= 0) {
                                r = manager_add_modem(m, modem);
                                if (r < 0)
                                        modem = modem_free(modem);
                        }
                        if (r < 0) {
                                log_error_errno(r, "Job %s: cannot wait for its module: %m", job_record_name(rec));
                                modem = NULL;
                        } else
                                log_ctx_info(&((LogContext) { .job_id = rec->job->id, .modem = rec->modem_port, .imei = rec->modem_imei }),
                                             "Job %s: waiting for its module (AT port %s, IMEI %s) to appear",
                                             job_record_name(rec), rec->modem_port, strna(rec->modem_imei));
                }

                if (!modem) {
                        (void) job_record_transition(rec, JOB_FAILED, rec->phase, "its modem is no longer in the configuration",
                                                     JOB_TRANSITION_REASON, NULL);
                        manager_report(m, rec);
                        job_record_free(rec);
                        continue;
                }

                if (rec->state == JOB_QUEUED && !rec->qfotadl_sent)
                        r = job_queue_push(job_queue_of(modem), rec);
                else
                        r = job_queue_resume(job_queue_of(modem), rec);
                if (r < 0) {
                        log_error_errno(r, "Job %s: failed to resume it: %m", job_record_name(rec));
                        job_record_free(rec);
                }
        }

        free(records);
        return 0;
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

        r = sd_event_add_time_relative(m->event, &m->prune_timer, CLOCK_BOOTTIME, MANAGER_PRUNE_INTERVAL_USEC, 0, on_prune_timer, m);
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
