/* SPDX-License-Identifier: MIT */

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/inotify.h>

#include "log.h"
#include "string-util.h"
#include "at-parse.h"
#include "modem-internal.h"

/* How often an absent or silent port is retried when no inotify event says it is back. */
#define MODEM_RETRY_USEC (1 * USEC_PER_SEC)

static const char *const modem_port_state_table[_MODEM_PORT_STATE_MAX] = {
        [MODEM_PORT_ABSENT]  = "absent",
        [MODEM_PORT_PROBING] = "probing",
        [MODEM_PORT_READY]   = "ready",
        [MODEM_PORT_ENGINE]  = "engine",
};

DEFINE_STRING_TABLE_LOOKUP(modem_port_state, ModemPortState);

/* Lines a module sends by itself while it boots. They are registered as URCs so that they never
 * end up among the information lines of a command sent right after the port came back (EC25:
 * "RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"; reference modem.md §2.4). */
static const char *const boot_urc_prefixes[] = {
        "RDY",
        "+CFUN:",
        "+CPIN:",
        "+QUSIM:",
        "+QIND:",
        "POWERED DOWN",
        /* BC26: the last line of its boot ROM, the one sign on its UART that it restarted (a
         * family's boot lines: profile.h). */
        "Leaving the BROM",
};

const char *modem_name(const Modem *m) {
        return m->usb_name ?: m->port;
}

/* A hotplug modem's entries start with "Modem <USB path>: ", so that one module can be followed
 * across its port names; the journal also gets DFOTAD_USB_PATH=. A static port's entries are
 * named by the port, in the context, as before. */
void modem_log_ctx(const Modem *m, LogContext *ctx, ModemLogFields *f) {
        f->prefix[0] = '\0';
        f->extra[0] = NULL;
        if (m->hotplug)
                (void) snprintf(f->prefix, sizeof f->prefix, "Modem %s: ", strna(modem_name(m)));
        if (m->usb_path) {
                (void) snprintf(f->usb_path, sizeof f->usb_path, "DFOTAD_USB_PATH=%s", m->usb_path);
                f->extra[0] = f->usb_path;
                f->extra[1] = NULL;
        }

        *ctx = (LogContext) {
                .modem = m->port,
                .imei = m->imei,
                .extra = f->extra,
        };
}

/* ---- upward traffic: to the owner (ModemCallbacks) and to the job side (ModemClient) -------- */

static void modem_changed(Modem *m) {
        if (m->callbacks.changed)
                m->callbacks.changed(m, m->userdata);
}

static bool modem_client_has_queued(const Modem *m) {
        return m->client && m->client->has_queued && m->client->has_queued(m, m->client_userdata);
}

bool modem_is_busy(const Modem *m) {
        return m->claimed || modem_client_has_queued(m);
}

static void modem_set_port_state(Modem *m, ModemPortState s) {
        if (m->port_state == s)
                return;

        log_modem(m, LOG_DEBUG, 0, "Port %s -> %s", modem_port_state_to_string(m->port_state), modem_port_state_to_string(s));
        m->port_state = s;
        modem_changed(m);
}

static int modem_watch_path(Modem *m);
static int modem_try_open(Modem *m);
static void modem_probe_start(Modem *m);
static void modem_offer(Modem *m);
static void modem_hold_arm(Modem *m);

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Modem *m = userdata;

        if (m->port_state == MODEM_PORT_ABSENT)
                (void) modem_try_open(m);
        else if (m->port_state == MODEM_PORT_PROBING && m->probe_command == 0)
                modem_probe_start(m);

        return 0;
}

static int modem_arm_retry(Modem *m) {
        int r;

        if (m->retry_timer) {
                r = sd_event_source_set_time_relative(m->retry_timer, MODEM_RETRY_USEC);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(m->retry_timer, SD_EVENT_ONESHOT);
        }

        r = sd_event_add_time_relative(m->event, &m->retry_timer, CLOCK_BOOTTIME, MODEM_RETRY_USEC, 0, on_retry_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->retry_timer, "modem-retry");
        return 0;
}

static int on_path_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Modem *m = userdata;
        _cleanup_free_ char *copy = strdup(m->port);

        if (!copy)
                return 0;
        if (ev->len > 0 && !streq(ev->name, basename(copy)))
                return 0;

        if (m->port_state == MODEM_PORT_ABSENT)
                (void) modem_try_open(m);
        return 0;
}

static int modem_watch_path(Modem *m) {
        _cleanup_free_ char *dir = NULL;
        int r;

        /* A hotplug modem learns from udev when its port comes back, and under which name; until
         * udev says the tty is gone, the timer retries the node it has (a hangup without a
         * removal: the device is still there). */
        if (m->hotplug)
                return m->port_present ? modem_arm_retry(m) : 0;

        dir = strdup(m->port);
        if (!dir)
                return -ENOMEM;

        if (!m->path_watch) {
                /* IN_CREATE: devtmpfs creating /dev/ttyUSB2; IN_MOVED_TO: a symlink renamed into
                 * place (how the simulator and udev's by-id links appear); IN_ATTRIB: permissions
                 * fixed up by udev after the node appeared. */
                r = sd_event_add_inotify(m->event, &m->path_watch, dirname(dir),
                                         IN_CREATE | IN_MOVED_TO | IN_ATTRIB, on_path_event, m);
                if (r < 0)
                        log_modem(m, LOG_WARNING, r, "Cannot watch the directory of %s, polling instead: %m", m->port);
                else
                        (void) sd_event_source_set_description(m->path_watch, "modem-path");
        }

        return modem_arm_retry(m);
}

static void modem_stop_watch(Modem *m) {
        m->path_watch = sd_event_source_disable_unref(m->path_watch);
        if (m->retry_timer)
                (void) sd_event_source_set_enabled(m->retry_timer, SD_EVENT_OFF);
}

/* The port is gone: the channel saw a hangup, or udev announced the removal. Whichever comes first
 * closes the channel and tells the engine; the other finds no channel and adds nothing, so the
 * engine hears of each loss once and no second channel can exist on the port. */
static void modem_port_gone(Modem *m, int error) {
        if (!m->channel)
                return;

        m->channel = at_channel_free(m->channel);
        modem_identify_cancel(m);
        if (m->hold_timer)
                (void) sd_event_source_set_enabled(m->hold_timer, SD_EVENT_OFF);
        modem_set_port_state(m, MODEM_PORT_ABSENT);

        if (m->claimed && m->client)
                m->client->port_lost(m, error, m->client_userdata);
}

static void on_port_lost(AtChannel *ch, int error, void *userdata) {
        Modem *m = userdata;

        log_modem(m, LOG_INFO, error, "AT port %s is gone: %m", m->port);

        modem_port_gone(m, error);
        (void) modem_watch_path(m);
}

static void on_urc(AtChannel *ch, const char *line, void *userdata) {
        Modem *m = userdata;

        if (m->claimed && m->client) {
                m->client->urc(m, line, m->client_userdata);
                return;
        }

        if (startswith(line, "+QIND:") && strstr(line, "FOTA")) {
                if (m->hold && m->hold_timer) {
                        log_modem(m, LOG_NOTICE, 0, "On hold and still sending DFOTA URCs (%s): the hold goes on", line);
                        modem_hold_arm(m);
                }
                /* A module in the middle of its update sends URCs but may not answer AT, so it may
                 * never be identified: if one job alone waits for a module that went away (the
                 * daemon restarted, or the module came back on another USB path), this is it. */
                if (m->hotplug && !modem_is_busy(m) && m->callbacks.hand_over &&
                    m->callbacks.hand_over(m, line, m->userdata))
                        return;
                log_modem(m, LOG_NOTICE, 0, "DFOTA URC with no job running on this modem: %s", line);
        } else
                log_modem(m, LOG_DEBUG, 0, "URC: %s", line);
}

static int modem_try_open(Modem *m) {
        _cleanup_(at_channel_freep) AtChannel *ch = NULL;
        int r;

        if (m->channel)
                return 0;

        r = at_channel_open(m->event, m->port,
                            &(AtChannelOptions) {
                                    .default_timeout = m->timeouts->at_command,
                                    .name = m->port,
                            },
                            &ch);
        if (r < 0) {
                log_modem(m, LOG_DEBUG, r, "Cannot open %s yet: %m", m->port);
                (void) modem_watch_path(m);
                return r;
        }

        for (size_t i = 0; i < ELEMENTSOF(boot_urc_prefixes); i++) {
                r = at_channel_add_urc_handler(ch, boot_urc_prefixes[i], on_urc, m);
                if (r < 0)
                        return log_modem(m, LOG_ERR, r, "Failed to register URC handler: %m");
        }
        at_channel_set_port_lost_handler(ch, on_port_lost, m);

        m->channel = TAKE_PTR(ch);
        modem_stop_watch(m);
        log_modem(m, LOG_INFO, 0, "AT port %s opened", m->port);

        if (m->claimed) {
                if (m->hotplug)
                        log_modem(m, LOG_INFO, 0, "the job resumes on AT port %s", m->port);
                modem_set_port_state(m, MODEM_PORT_ENGINE);
                if (m->client)
                        m->client->port_opened(m, m->client_userdata);
        } else
                modem_probe_start(m);

        return 0;
}

/* Identification: ATE0 (echo is back on after every reboot: it is not saved), ATI, AT+GSN. */
typedef struct ProbeStep {
        const char *command;
        int (*process)(Modem *m, const AtResponse *r);
} ProbeStep;

static int probe_echo(Modem *m, const AtResponse *r) {
        /* The tokenizer drops echo anyway; a module that refuses ATE0 is still usable. */
        return 0;
}

static int probe_ati(Modem *m, const AtResponse *r) {
        _cleanup_free_ char *model = NULL, *revision = NULL;
        int k;

        if (r->result != AT_RESULT_OK)
                return -EIO;

        k = at_parse_ati(r->lines, &model, &revision);
        if (k < 0)
                return k;

        free(m->model);
        m->model = TAKE_PTR(model);
        free(m->revision);
        m->revision = TAKE_PTR(revision);
        return 0;
}

static int probe_gsn(Modem *m, const AtResponse *r) {
        _cleanup_free_ char *imei = NULL;
        int k;

        if (r->result != AT_RESULT_OK)
                return -EIO;

        k = at_parse_gsn(r->lines, &imei);
        if (k < 0)
                return k;

        free(m->imei);
        m->imei = TAKE_PTR(imei);
        return 0;
}

static const ProbeStep probe_steps[] = {
        { "ATE0",   probe_echo },
        { "ATI",    probe_ati  },
        { "AT+GSN", probe_gsn  },
};

static void modem_identify_next(Modem *m);

static void modem_identify_done(Modem *m, int error, const char *failed) {
        ModemIdentifyCallback cb = TAKE_PTR(m->identify_callback);
        void *userdata = TAKE_PTR(m->identify_userdata);

        m->probe_command = 0;
        if (cb)
                cb(m, error, failed, userdata);
}

static void on_probe_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Modem *m = userdata;
        const ProbeStep *step = &probe_steps[m->probe_step];
        _cleanup_free_ char *failed = NULL;
        int k;

        m->probe_command = 0;

        if (r->result == AT_RESULT_PORT_LOST) {
                /* on_port_lost() takes it from here; the identification is forgotten. */
                m->identify_callback = NULL;
                m->identify_userdata = NULL;
                return;
        }

        k = step->process(m, r);
        if (k < 0) {
                if (asprintf(&failed, "%s failed (%s)", step->command, at_result_to_string(r->result)) < 0)
                        failed = NULL;
                modem_identify_done(m, k, failed ?: step->command);
                return;
        }

        m->probe_step++;
        modem_identify_next(m);
}

static void modem_identify_next(Modem *m) {
        int r;

        if (m->probe_step >= ELEMENTSOF(probe_steps)) {
                modem_identify_done(m, 0, NULL);
                return;
        }

        r = modem_send(m, probe_steps[m->probe_step].command, NULL, on_probe_reply, m, &m->probe_command);
        if (r < 0) {
                _cleanup_free_ char *failed = NULL;

                if (asprintf(&failed, "%s could not be sent (%s)", probe_steps[m->probe_step].command, strerror(-r)) < 0)
                        failed = NULL;
                modem_identify_done(m, r, failed ?: probe_steps[m->probe_step].command);
        }
}

int modem_identify(Modem *m, ModemIdentifyCallback callback, void *userdata) {
        if (m->identify_callback || m->probe_command != 0)
                return -EBUSY;
        if (!m->channel)
                return -ENOTCONN;

        m->identify_callback = callback;
        m->identify_userdata = userdata;
        m->probe_step = 0;
        modem_identify_next(m);
        return 0;
}

void modem_identify_cancel(Modem *m) {
        if (m->probe_command != 0)
                modem_cancel(m, m->probe_command);
        m->probe_command = 0;
        m->identify_callback = NULL;
        m->identify_userdata = NULL;
}

static void modem_identified(Modem *m) {
        const ModemProfile *p;

        /* The module came back under another USB path (re-enumerated on another port of a hub):
         * its IMEI says whose job is waiting for it. */
        if (m->hotplug && m->imei && !modem_is_busy(m) && m->callbacks.hand_over &&
            m->callbacks.hand_over(m, NULL, m->userdata))
                return;

        if (m->configured_family >= 0)
                p = modem_profile_get(m->configured_family);
        else {
                p = modem_profile_from_model(m->model);
                if (p->family == MODEM_FAMILY_GENERIC)
                        log_modem(m, LOG_NOTICE, 0,
                                  "Module model \"%s\" matches no known family; using the conservative \"%s\" profile",
                                  strna(m->model), p->name);
        }

        if (m->profile != p || !m->identified)
                log_modem(m, LOG_INFO, 0, "Module %s, revision %s, IMEI %s, family %s",
                          strna(m->model), strna(m->revision), strna(m->imei), p->name);

        m->profile = p;
        m->identified = true;
        modem_set_port_state(m, MODEM_PORT_READY);
        if (m->callbacks.identified)
                m->callbacks.identified(m, m->userdata);
        modem_hold_arm(m);
        modem_offer(m);
}

/* The modem's own identification (not claimed): retried until the module answers. */
static void on_probe_identified(Modem *m, int error, const char *failed, void *userdata) {
        if (error < 0) {
                log_modem(m, LOG_WARNING, error, "Identification failed: %s, retrying: %m", failed);
                (void) modem_arm_retry(m);
                return;
        }
        modem_identified(m);
}

static void modem_probe_start(Modem *m) {
        int r;

        if (!m->channel)
                return;

        modem_set_port_state(m, MODEM_PORT_PROBING);
        modem_identify_cancel(m);
        r = modem_identify(m, on_probe_identified, NULL);
        if (r < 0)
                (void) modem_arm_retry(m);
}

int modem_send(Modem *m, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata, uint64_t *ret_id) {
        if (!m->channel)
                return -ENOTCONN;

        return at_channel_send(m->channel, command, opts, cb, userdata, ret_id);
}

void modem_cancel(Modem *m, uint64_t id) {
        if (m->channel && id != 0)
                (void) at_channel_cancel(m->channel, id);
}

/* ---- hold ---- */

static int on_hold_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Modem *m = userdata;
        char buf[32];

        (void) snprintf(buf, sizeof buf, "%g s", (double) m->timeouts->first_urc_after_reboot / USEC_PER_SEC);
        log_modem(m, LOG_NOTICE, 0, "The module answers normally and sent no DFOTA URC for %s: it takes jobs again", buf);
        m->hold = false;
        m->hold_timer = sd_event_source_disable_unref(m->hold_timer);
        if (m->callbacks.released)
                m->callbacks.released(m, m->userdata);
        modem_offer(m);
        modem_changed(m);
        return 0;
}

/* Identified and on hold: the hold ends after first_urc_after_reboot without a DFOTA URC (a module
 * that was in the middle of an update says so in that time once it reboots). */
static void modem_hold_arm(Modem *m) {
        int r;

        if (!m->hold || !m->identified || !m->channel)
                return;

        if (m->hold_timer) {
                r = sd_event_source_set_time_relative(m->hold_timer, m->timeouts->first_urc_after_reboot);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->hold_timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time_relative(m->event, &m->hold_timer, CLOCK_BOOTTIME, m->timeouts->first_urc_after_reboot, 0,
                                               on_hold_timer, m);
                if (r >= 0)
                        (void) sd_event_source_set_description(m->hold_timer, "modem-hold");
        }
        if (r < 0)
                log_modem(m, LOG_ERR, r, "Failed to arm the hold timer: %m");
}

void modem_hold(Modem *m) {
        if (!m->hold)
                log_modem(m, LOG_NOTICE, 0, "On hold: a job record of this module could not be read, and the module may be "
                          "in the middle of an update; it takes no new job until it answers normally outside one");
        m->hold = true;
        modem_hold_arm(m);
}

/* ---- the job side ------------------------------------------------------------------------ */

bool modem_is_ready_for_job(const Modem *m) {
        return !m->claimed && !m->hold && m->identified && m->port_state == MODEM_PORT_READY;
}

/* Ready for a job: the job side may start its next one. */
static void modem_offer(Modem *m) {
        if (modem_is_ready_for_job(m) && m->client && m->client->ready)
                m->client->ready(m, m->client_userdata);
}

void modem_set_client(Modem *m, const ModemClient *client, void *userdata) {
        assert(!m->client);
        m->client = client;
        m->client_userdata = userdata;
}

void *modem_get_client(const Modem *m, const ModemClient *client) {
        return m->client == client ? m->client_userdata : NULL;
}

void modem_claim(Modem *m) {
        m->claimed = true;
        if (m->channel) {
                /* The identification in flight, if any, is the job's business now. */
                modem_identify_cancel(m);
                modem_set_port_state(m, MODEM_PORT_ENGINE);
        }
        modem_changed(m);
}

static void modem_check_gone(Modem *m);

void modem_unclaim(Modem *m) {
        m->claimed = false;
        if (m->channel)
                /* Refresh the identity: the revision has (or has not) changed. */
                modem_probe_start(m);
        else {
                modem_set_port_state(m, MODEM_PORT_ABSENT);
                /* E.g. the module did not come back within port_return: nothing keeps it. */
                modem_check_gone(m);
        }
        modem_changed(m);
}

int modem_adopt_family(Modem *m, const char *family) {
        ModemFamily f;

        /* The family ATI showed before the restart: without it a resumed job would run with the
         * generic profile, its error tables and its retry rules (a BC26 would wait for reboots
         * and retries it never does). */
        if (m->profile || !family)
                return 0;
        f = modem_family_from_string(family);
        if (f < 0)
                return f;
        m->profile = modem_profile_get(f);
        log_modem(m, LOG_INFO, 0, "family %s, as detected before the restart", m->profile->name);
        return 0;
}

void modem_set_config(Modem *m, const ModemConfig *config) {
        m->config = config;
        if (config->family < 0 || config->family == m->configured_family)
                return;

        m->configured_family = config->family;
        if (!m->claimed || !m->profile) {
                m->profile = modem_profile_get(config->family);
                log_modem(m, LOG_INFO, 0, "family %s, as configured for this module", m->profile->name);
        }
}

int modem_set_revision(Modem *m, const char *revision) {
        return free_and_strdup(&m->revision, revision);
}

bool modem_has_port(const Modem *m) {
        return m->channel;
}

void modem_deliver_urc(Modem *m, const char *line) {
        if (m->channel)
                on_urc(m->channel, line, m);
}


char *modem_describe(const Modem *m, const char *job) {
        const char *tty = strrchr(m->port, '/') ? strrchr(m->port, '/') + 1 : m->port;
        _cleanup_free_ char *hotplug_name = NULL;
        const char *name = tty;
        char *s = NULL;
        int r;

        if (m->hotplug) {
                if (asprintf(&hotplug_name, "%s %s%s", m->usb_name ?: "(not seen yet)", tty,
                             m->port_present || !m->port_syspath ? "" : " (gone)") < 0)
                        return NULL;
                name = hotplug_name;
        }

        if (job)
                r = asprintf(&s, "%s: %s", name, job);
        else if (m->identified)
                r = asprintf(&s, "%s: %s %s %s%s", name, m->hold ? "on hold" : "idle", strna(m->model), strna(m->revision),
                             modem_client_has_queued(m) ? " (jobs queued)" : "");
        else
                r = asprintf(&s, "%s: %s", name, modem_port_state_to_string(m->port_state));

        return r < 0 ? NULL : s;
}

static Modem *modem_alloc(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata,
                          const ModemConfig *config, ModemFamily family) {
        Modem *m;

        m = calloc(1, sizeof(Modem));
        if (!m)
                return NULL;

        *m = (Modem) {
                .event = env->event,
                .timeouts = env->timeouts,
                .reset_config = env->reset,
                .callbacks = *callbacks,
                .userdata = userdata,
                .config = config,
                .configured_family = family,
                /* A known family is known before the module answers: a job resumed after a restart
                 * runs with it, without an identification probe. */
                .profile = family >= 0 ? modem_profile_get(family) : NULL,
                .port_state = MODEM_PORT_ABSENT,
        };
        return m;
}

int modem_new(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata, const ModemConfig *config, Modem **ret) {
        _cleanup_(modem_freep) Modem *m = NULL;

        m = modem_alloc(env, callbacks, userdata, config, config->family);
        if (!m)
                return -ENOMEM;

        m->port = strdup(config->port);
        if (!m->port)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

int modem_new_hotplug(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata, const ModemConfig *config,
                      const HotplugPort *port, Modem **ret) {
        _cleanup_(modem_freep) Modem *m = NULL;

        m = modem_alloc(env, callbacks, userdata, config,
                        config && config->family >= 0 ? config->family : port->family);
        if (!m)
                return -ENOMEM;

        m->hotplug = true;
        if (free_and_strdup(&m->port, port->devnode) < 0 ||
            free_and_strdup(&m->usb_path, port->usb_path) < 0 ||
            free_and_strdup(&m->usb_syspath, port->usb_syspath) < 0 ||
            free_and_strdup(&m->usb_name, port->usb_name) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

int modem_new_detached(const ModemEnv *env, const ModemCallbacks *callbacks, void *userdata, const char *port,
                       const char *imei, const char *model, const char *family, Modem **ret) {
        _cleanup_(modem_freep) Modem *m = NULL;

        if (isempty(port))
                return -EINVAL;

        m = modem_alloc(env, callbacks, userdata, NULL, family ? modem_family_from_string(family) : _MODEM_FAMILY_INVALID);
        if (!m)
                return -ENOMEM;

        m->hotplug = true;
        if (free_and_strdup(&m->port, port) < 0 ||
            free_and_strdup(&m->imei, imei) < 0 ||
            free_and_strdup(&m->model, model) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

static int on_absent_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Modem *m = userdata;
        char buf[32];

        m->absent_timer = sd_event_source_disable_unref(m->absent_timer);
        (void) snprintf(buf, sizeof buf, "%g s", (double) m->timeouts->port_return / USEC_PER_SEC);
        log_modem(m, LOG_WARNING, 0, "the module did not come back within %s; its queued jobs go back to dispatch", buf);

        /* Forgotten first, so that dispatch does not pick this modem again; freed only later, from
         * the owner's defer source. */
        if (m->callbacks.gone)
                m->callbacks.gone(m, m->userdata);
        if (m->client && m->client->absent)
                m->client->absent(m, m->client_userdata);
        return 0;
}

/* A hotplug modem without its port: forgotten when nothing keeps it, else its queued jobs wait for
 * the module as long as a running job would (port_return). A running engine has its own timer. */
static void modem_check_gone(Modem *m) {
        int r;

        if (!m->hotplug || m->port_present || m->channel || m->claimed)
                return;

        if (!modem_client_has_queued(m)) {
                log_modem(m, LOG_INFO, 0, "forgotten (AT port %s gone, no job)", m->port);
                if (m->callbacks.gone)
                        m->callbacks.gone(m, m->userdata);
                return;
        }

        if (m->absent_timer)
                return;
        r = sd_event_add_time_relative(m->event, &m->absent_timer, CLOCK_BOOTTIME, m->timeouts->port_return, 0, on_absent_timer, m);
        if (r < 0) {
                log_modem(m, LOG_ERR, r, "Failed to arm the port return timer: %m");
                return;
        }
        (void) sd_event_source_set_description(m->absent_timer, "modem-absent");
        log_modem(m, LOG_INFO, 0, "queued jobs wait for the module to come back");
}

int modem_port_added(Modem *m, const HotplugPort *port) {
        int r;

        if (m->port_present && m->port_syspath && !streq(m->port_syspath, port->syspath)) {
                log_modem(m, LOG_DEBUG, 0, "keeps AT port %s; %s not used", m->port, port->devnode);
                return 0;
        }

        if (m->port_present && m->channel && streq_ptr(m->port_syspath, port->syspath))
                return 1; /* the same port announced again ("change", or seen by both monitor and enumeration) */

        if (free_and_strdup(&m->port, port->devnode) < 0 ||
            free_and_strdup(&m->port_syspath, port->syspath) < 0)
                return log_modem(m, LOG_ERR, -ENOMEM, "Out of memory: %m");
        /* A modem that waited for its module since a restart has met it: this is its identity now. */
        if (!m->usb_path &&
            (free_and_strdup(&m->usb_path, port->usb_path) < 0 ||
             free_and_strdup(&m->usb_syspath, port->usb_syspath) < 0 ||
             free_and_strdup(&m->usb_name, port->usb_name) < 0))
                return log_modem(m, LOG_ERR, -ENOMEM, "Out of memory: %m");

        m->port_present = true;
        m->absent_timer = sd_event_source_disable_unref(m->absent_timer);
        log_modem(m, LOG_INFO, 0, "AT port %s appeared", m->port);
        modem_changed(m);

        if (!m->serving)
                return 1; /* modem_start() opens it */

        /* Whatever channel there is belongs to a node udev replaced. */
        modem_port_gone(m, -ENODEV);

        r = modem_try_open(m);
        if (r < 0 && r != -ENOENT)
                log_modem(m, LOG_NOTICE, r, "Cannot open AT port %s yet, retrying: %m", m->port);
        return 1;
}

int modem_port_removed(Modem *m, const char *syspath, bool replacement) {
        if (!m->port_present || !streq_ptr(m->port_syspath, syspath))
                return 0;

        m->port_present = false;
        modem_stop_watch(m);
        log_modem(m, LOG_INFO, 0, "AT port %s removed", m->port);

        /* On real hardware the channel has usually seen the hangup already; if not, this is it. */
        modem_port_gone(m, -ENODEV);
        modem_changed(m);

        if (!replacement)
                modem_check_gone(m);
        return 1;
}

void modem_take_port(Modem *to, Modem *from) {
        int r;

        log_modem(to, LOG_INFO, 0, "the module came back as %s; the job continues on its AT port %s",
                  modem_name(from), from->port);

        /* One channel per port: from's is closed before to opens the node. */
        from->channel = at_channel_free(from->channel);
        modem_identify_cancel(from);
        modem_stop_watch(from);

        if (free_and_strdup(&to->port, from->port) < 0 ||
            free_and_strdup(&to->port_syspath, from->port_syspath) < 0 ||
            free_and_strdup(&to->usb_path, from->usb_path) < 0 ||
            free_and_strdup(&to->usb_syspath, from->usb_syspath) < 0 ||
            free_and_strdup(&to->usb_name, from->usb_name) < 0) {
                (void) log_modem(to, LOG_ERR, -ENOMEM, "Out of memory: %m");
                return;
        }
        to->port_present = from->port_present;
        from->port_present = false;
        to->absent_timer = sd_event_source_disable_unref(to->absent_timer);
        modem_changed(to);

        if (!to->serving || !to->port_present)
                return;

        r = modem_try_open(to);
        if (r < 0 && r != -ENOENT)
                log_modem(to, LOG_NOTICE, r, "Cannot open AT port %s yet, retrying: %m", to->port);
}

void modem_disable(Modem *m) {
        m->channel = at_channel_free(m->channel);
        modem_identify_cancel(m);
        m->path_watch = sd_event_source_disable_unref(m->path_watch);
        m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
        m->absent_timer = sd_event_source_disable_unref(m->absent_timer);
        m->port_present = false;
}

bool modem_is_waiting_for_port(const Modem *m) {
        return m->claimed && !m->channel;
}

int modem_start(Modem *m) {
        int r;

        m->serving = true;

        /* A hotplug modem opens what udev announced; a modem waiting since a restart waits. */
        if (m->hotplug && !m->port_present)
                return 0;

        r = modem_try_open(m);
        if (r < 0 && r != -ENOENT)
                log_modem(m, LOG_WARNING, r, "Cannot open AT port %s, waiting for it: %m", m->port);
        return 0;
}

Modem *modem_free(Modem *m) {
        if (!m)
                return NULL;

        /* The job side goes first: its engine may still forget a command on the channel. */
        if (m->client && m->client->destroy)
                m->client->destroy(m->client_userdata);
        m->client = NULL;
        m->reset_defer = sd_event_source_disable_unref(m->reset_defer);
        m->reset_child = sd_event_source_disable_unref(m->reset_child);
        free(m->reset_detail);
        free(m->reset_why);
        m->hold_timer = sd_event_source_disable_unref(m->hold_timer);
        m->channel = at_channel_free(m->channel);
        m->path_watch = sd_event_source_disable_unref(m->path_watch);
        m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
        m->absent_timer = sd_event_source_disable_unref(m->absent_timer);

        free(m->port);
        free(m->usb_path);
        free(m->usb_syspath);
        free(m->usb_name);
        free(m->port_syspath);
        free(m->model);
        free(m->revision);
        free(m->imei);
        free(m);
        return NULL;
}
