/* SPDX-License-Identifier: MIT */
/* The manager's set of modems (core): the modems of the configured ports and those udev found,
 * each with its job queue; udev's ports routed to them; a module that came back under another name
 * handed its port; modems forgotten outside their own callbacks; modules on hold. */

#include <stdio.h>

#include "fault.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "manager-internal.h"
#include "queue.h"
#include "record-parent.h"
#include "state-file.h"
#include "string-util.h"

static bool hold_matches(const struct ModuleHold *h, const Modem *modem);

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

        /* A module a hold applies to is put on hold before any job can find it. */
        for (size_t i = 0; i < m->n_holds && !modem->hold; i++)
                if (hold_matches(&m->holds[i], modem))
                        modem_hold(modem);

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

Modem *manager_find_modem_by_port(Manager *m, const char *port) {
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

/* The running job of to, if to is another hotplug modem than from that waits for its module's
 * port (the module went away and has not come back under its USB path), else NULL. */
static const JobRecord *waiting_job(const Modem *to, const Modem *from) {
        if (to == from || !to->hotplug || to->port_present || !modem_is_waiting_for_port(to))
                return NULL;
        return job_queue_current(job_queue_of(to));
}

int manager_hand_over_port(Manager *m, Modem *from) {
        for (size_t i = 0; i < m->n_modems; i++) {
                Modem *to = m->modems[i];
                const JobRecord *rec = waiting_job(to, from);
                const char *imei;

                if (!rec)
                        continue;

                imei = to->imei ?: rec->modem_imei;
                if (!streq_ptr(imei, from->imei))
                        continue;

                log_info("Modem %s: IMEI %s is the module job %s waits for",
                         strna(modem_name(from)), from->imei, job_record_name(rec));
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
                const JobRecord *rec = waiting_job(to, from);
                const char *imei;

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


/* ---- modules on hold: the module of a record that could not be read ---- */

static bool hold_matches(const struct ModuleHold *h, const Modem *modem) {
        if (!h->port && !h->imei)
                return true;
        return (h->imei && streq_ptr(h->imei, modem->imei)) || (h->port && streq_ptr(h->port, modem->port));
}

/* Puts the module of rec on hold (record.h "module_hold"): whichever modem it is now, and
 * whichever it turns out to be once identified. */
void manager_hold_module(Manager *m, const JobRecord *rec) {
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


int manager_setup_modems(Manager *m) {
        const Config *config = m->config;
        int r;

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
        return 0;
}

int manager_add_detached_modem(Manager *m, const JobRecord *rec, Modem **ret) {
        _cleanup_(modem_freep) Modem *modem = NULL;
        int r;

        r = modem_new_detached(&m->modem_env, &manager_modem_callbacks, m,
                               rec->modem_port, rec->modem_imei, rec->modem_model, rec->modem_family, &modem);
        if (r < 0)
                return r;
        r = manager_add_modem(m, modem);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(modem);
        return 0;
}
