/* SPDX-License-Identifier: MIT */

#include <ctype.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/wait.h>

#include "engine.h"
#include "log.h"
#include "string-util.h"
#include "manager.h"
#include "at-parse.h"
#include "modem.h"

/* How often an absent or silent port is retried when no inotify event says it is back. */
#define MODEM_RETRY_USEC (1 * USEC_PER_SEC)

extern char **environ;

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

/* Storage for the fields of one log entry about a modem. */
typedef struct ModemLogFields {
        char prefix[128];           /* "Modem 1-1.2: " for a hotplug modem, "" for a static port */
        char usb_path[320];         /* "DFOTAD_USB_PATH=/devices/..." */
        const char *extra[2];
} ModemLogFields;

const char *modem_name(const Modem *m) {
        return m->usb_name ?: m->port;
}

/* A hotplug modem's entries start with "Modem <USB path>: ", so that one module can be followed
 * across its port names; the journal also gets DFOTAD_USB_PATH=. A static port's entries are
 * named by the port, in the context, as before. */
static void modem_log_ctx(const Modem *m, LogContext *ctx, ModemLogFields *f) {
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

#define log_modem(m, level, error, format, ...)                                 \
        ({                                                                      \
                LogContext _ctx;                                                \
                ModemLogFields _f;                                              \
                modem_log_ctx((m), &_ctx, &_f);                                 \
                log_ctx_full_errno(&_ctx, (level), (error), "%s" format, _f.prefix, ##__VA_ARGS__); \
        })

static void modem_set_port_state(Modem *m, ModemPortState s) {
        if (m->port_state == s)
                return;

        log_modem(m, LOG_DEBUG, 0, "Port %s -> %s", modem_port_state_to_string(m->port_state), modem_port_state_to_string(s));
        m->port_state = s;
        manager_update_status(m->manager);
}

static int modem_watch_path(Modem *m);
static int modem_try_open(Modem *m);
static void modem_probe_start(Modem *m);
static void modem_start_next(Modem *m);
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
        m->probe_command = 0;
        if (m->hold_timer)
                (void) sd_event_source_set_enabled(m->hold_timer, SD_EVENT_OFF);
        modem_set_port_state(m, MODEM_PORT_ABSENT);

        if (m->engine)
                engine_port_lost(m->engine, error);
}

static void on_port_lost(AtChannel *ch, int error, void *userdata) {
        Modem *m = userdata;

        log_modem(m, LOG_INFO, error, "AT port %s is gone: %m", m->port);

        modem_port_gone(m, error);
        (void) modem_watch_path(m);
}

static void on_urc(AtChannel *ch, const char *line, void *userdata) {
        Modem *m = userdata;

        if (m->engine) {
                engine_on_urc(m->engine, line);
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
                if (m->hotplug && !m->engine && m->n_queue == 0 &&
                    manager_hand_over_port_on_urc(m->manager, m, line) > 0)
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

        if (m->engine) {
                if (m->hotplug)
                        log_modem(m, LOG_INFO, 0, "job %s resumes on AT port %s",
                                  job_record_name(engine_get_record(m->engine)), m->port);
                modem_set_port_state(m, MODEM_PORT_ENGINE);
                engine_port_opened(m->engine);
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

static void modem_probe_next(Modem *m);

static void on_probe_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Modem *m = userdata;
        const ProbeStep *step = &probe_steps[m->probe_step];
        int k;

        m->probe_command = 0;

        if (r->result == AT_RESULT_PORT_LOST)
                return; /* on_port_lost() takes it from here */

        k = step->process(m, r);
        if (k < 0) {
                log_modem(m, LOG_WARNING, k, "Identification failed at %s (%s), retrying: %m",
                          step->command, at_result_to_string(r->result));
                (void) modem_arm_retry(m);
                return;
        }

        m->probe_step++;
        modem_probe_next(m);
}

static void modem_identified(Modem *m) {
        const ModemProfile *p;

        /* The module came back under another USB path (re-enumerated on another port of a hub):
         * its IMEI says whose job is waiting for it. */
        if (m->hotplug && m->imei && !m->engine && m->n_queue == 0 &&
            manager_hand_over_port(m->manager, m) > 0)
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
        manager_modem_identified(m->manager, m);
        modem_hold_arm(m);
        modem_start_next(m);
}

static void modem_probe_next(Modem *m) {
        int r;

        if (m->probe_step >= ELEMENTSOF(probe_steps)) {
                modem_identified(m);
                return;
        }

        r = modem_send(m, probe_steps[m->probe_step].command, NULL, on_probe_reply, m, &m->probe_command);
        if (r < 0) {
                log_modem(m, LOG_WARNING, r, "Failed to send %s: %m", probe_steps[m->probe_step].command);
                (void) modem_arm_retry(m);
        }
}

static void modem_probe_start(Modem *m) {
        if (!m->channel)
                return;

        modem_set_port_state(m, MODEM_PORT_PROBING);
        m->probe_step = 0;
        modem_probe_next(m);
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

static const char *const modem_reset_result_table[_MODEM_RESET_RESULT_MAX] = {
        [MODEM_RESET_SENT_AT]       = "sent-at",
        [MODEM_RESET_RAN_COMMAND]   = "ran-command",
        [MODEM_RESET_NOT_DELIVERED] = "not-delivered",
};

DEFINE_STRING_TABLE_LOOKUP(modem_reset_result, ModemResetResult);

static int on_reset_defer(sd_event_source *s, void *userdata) {
        Modem *m = userdata;
        ModemResetCallback cb = m->reset_callback;
        void *ud = m->reset_userdata;
        _cleanup_free_ char *detail = TAKE_PTR(m->reset_detail);

        m->reset_defer = sd_event_source_disable_unref(m->reset_defer);
        m->reset_callback = NULL;
        m->reset_userdata = NULL;
        if (cb)
                cb(m, m->reset_result, strna(detail), ud);
        return 0;
}

/* Reports the reset's outcome from the event loop: never from inside modem_reset() or the AT
 * channel's own callback. */
static void modem_reset_done(Modem *m, ModemResetResult result, const char *format, ...) _printf_(3, 4);
static void modem_reset_done(Modem *m, ModemResetResult result, const char *format, ...) {
        va_list ap;
        int r;

        m->reset_result = result;
        free(m->reset_detail);
        va_start(ap, format);
        if (vasprintf(&m->reset_detail, format, ap) < 0)
                m->reset_detail = NULL;
        va_end(ap);

        r = sd_event_add_defer(m->event, &m->reset_defer, on_reset_defer, m);
        if (r < 0) {
                log_modem(m, LOG_ERR, r, "Failed to report a reset: %m");
                m->reset_callback = NULL;
                return;
        }
        (void) sd_event_source_set_description(m->reset_defer, "modem-reset");
}

static int on_reset_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Modem *m = userdata;
        const char *program = m->manager->config->reset_command[0];
        _cleanup_free_ char *why = TAKE_PTR(m->reset_why);
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;

        m->reset_child = sd_event_source_disable_unref(m->reset_child);
        if (ok)
                log_modem(m, LOG_INFO, 0, "Reset command %s finished", program);
        else
                log_modem(m, LOG_WARNING, 0, "Reset command %s failed (%s %d)", program,
                          si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);

        /* The reset counts only if the program says it did it: one that failed reset nothing. */
        if (ok)
                modem_reset_done(m, MODEM_RESET_RAN_COMMAND, "%s%s%s ran", strempty(why), why ? "; " : "", program);
        else
                modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "%s%s%s failed (%s %d)", strempty(why), why ? "; " : "", program,
                                 si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
        return 0;
}

/* Starts the reset program; its exit reports the reset (why: what came before it, for the log).
 * Returns 0 or a negative errno (nothing started, nothing reported). */
static int modem_run_reset_command(Modem *m, const char *why) {
        const Config *c = m->manager->config;
        posix_spawnattr_t attr;
        sigset_t none;
        pid_t pid;
        int r;

        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return -r;
        /* The child must not inherit our blocked SIGCHLD/SIGTERM/SIGINT mask. */
        sigemptyset(&none);
        (void) posix_spawnattr_setsigmask(&attr, &none);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        r = posix_spawn(&pid, c->reset_command[0], NULL, &attr, c->reset_command, environ);
        (void) posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_modem(m, LOG_ERR, r, "Failed to run reset command %s: %m", c->reset_command[0]);

        r = free_and_strdup(&m->reset_why, why);
        if (r >= 0)
                r = sd_event_add_child(m->event, &m->reset_child, pid, WEXITED, on_reset_child, m);
        if (r < 0) {
                /* Started, but we cannot learn how it ended: it counts, said so. */
                log_modem(m, LOG_WARNING, r, "Cannot watch the reset command, counting it as done: %m");
                modem_reset_done(m, MODEM_RESET_RAN_COMMAND, "%s%s%s started (not watched)", strempty(why), why ? "; " : "", c->reset_command[0]);
                return 0;
        }
        (void) sd_event_source_set_description(m->reset_child, "modem-reset-child");
        return 0;
}

/* AT did not reset the module (why): the program, if there is one, is the fallback. */
static void modem_reset_fallback(Modem *m, const char *why) {
        const Config *c = m->manager->config;

        if (!c->reset_command) {
                modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "AT+CFUN=1,1 did not reach the module (%s) and no reset.command is configured", why);
                return;
        }
        _cleanup_free_ char *before = NULL;

        if (asprintf(&before, "AT+CFUN=1,1 did not reach the module (%s)", why) < 0)
                before = NULL;
        if (modem_run_reset_command(m, before) < 0)
                modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "AT+CFUN=1,1 did not reach the module (%s) and %s could not be started",
                                 why, c->reset_command[0]);
}

static void on_reset_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Modem *m = userdata;
        const Config *c = m->manager->config;

        log_modem(m, LOG_DEBUG, 0, "AT+CFUN=1,1: %s%s", at_result_to_string(r->result), r->written ? "" : " (not written)");

        if (!r->written) {
                /* Queued behind the channel's resynchronisation with a module that does not answer,
                 * and the port given up on: it never left. */
                modem_reset_fallback(m, r->result == AT_RESULT_PORT_LOST ? "the AT port was lost before it could be written" :
                                        "it could not be written");
                return;
        }

        switch (r->result) {
        case AT_RESULT_OK:
                modem_reset_done(m, MODEM_RESET_SENT_AT, "AT+CFUN=1,1 answered OK");
                return;
        case AT_RESULT_PORT_LOST:
                /* A module that reboots at once drops its port before it answers. */
                modem_reset_done(m, MODEM_RESET_SENT_AT, "AT+CFUN=1,1 written; the AT port went away (the module restarts)");
                return;
        case AT_RESULT_TIMEOUT:
                /* Written, not answered: a module in recovery mode may take no AT command at all
                 * (reference modem.md §0). With a program to fall back on, that decides; without,
                 * the command did reach the port, and that is all AT can do. */
                if (c->reset_command) {
                        modem_reset_fallback(m, "written, but not answered");
                        return;
                }
                modem_reset_done(m, MODEM_RESET_SENT_AT, "AT+CFUN=1,1 written but not answered (the module may not take AT in recovery mode)");
                return;
        case AT_RESULT_ERROR:
        case AT_RESULT_CME_ERROR:
        case AT_RESULT_CMS_ERROR:
                modem_reset_fallback(m, "the module answered it with an error");
                return;
        case _AT_RESULT_MAX:
        case _AT_RESULT_INVALID:
                break;
        }
        modem_reset_fallback(m, "no result");
}

int modem_reset(Modem *m, ModemResetCallback callback, void *userdata) {
        const Config *c = m->manager->config;
        int r;

        if (m->reset_callback || m->reset_defer || m->reset_child)
                return -EBUSY;

        m->reset_callback = callback;
        m->reset_userdata = userdata;

        if (c->reset_method == RESET_METHOD_COMMAND && !c->reset_try_at_first) {
                r = modem_run_reset_command(m, NULL);
                if (r < 0)
                        modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "%s could not be started (%s)", c->reset_command[0], strerror(-r));
                return 0;
        }

        /* AT+CFUN=1,1: full functionality with a reset of the module (TS 27.007 §8.2). */
        r = modem_send(m, "AT+CFUN=1,1", NULL, on_reset_reply, m, NULL);
        if (r < 0)
                modem_reset_fallback(m, r == -ENOTCONN ? "the AT port is gone" : strerror(-r));
        return 0;
}

void modem_reset_cancel(Modem *m) {
        m->reset_callback = NULL;
        m->reset_userdata = NULL;
}

/* ---- hold ---- */

static int on_hold_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Modem *m = userdata;
        char buf[32];

        (void) snprintf(buf, sizeof buf, "%g s", (double) m->timeouts->first_urc_after_reboot / USEC_PER_SEC);
        log_modem(m, LOG_NOTICE, 0, "The module answers normally and sent no DFOTA URC for %s: it takes jobs again", buf);
        m->hold = false;
        m->hold_timer = sd_event_source_disable_unref(m->hold_timer);
        manager_modem_released(m->manager, m);
        modem_start_next(m);
        manager_update_status(m->manager);
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

/* ---- the engine's view of the module (EnginePortOps) ---------------------------------------- */

static int modem_port_send(void *port, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata, uint64_t *ret_id) {
        return modem_send(port, command, opts, cb, userdata, ret_id);
}

static void modem_port_cancel(void *port, uint64_t id) {
        modem_cancel(port, id);
}

static void on_engine_reset(Modem *m, ModemResetResult result, const char *detail, void *userdata) {
        EngineResetCallback cb = m->engine_reset_callback;

        m->engine_reset_callback = NULL;
        if (cb)
                cb(IN_SET(result, MODEM_RESET_SENT_AT, MODEM_RESET_RAN_COMMAND), detail, userdata);
}

static int modem_port_reset(void *port, EngineResetCallback cb, void *userdata) {
        Modem *m = port;
        int r;

        r = modem_reset(m, on_engine_reset, userdata);
        if (r < 0)
                return r;
        m->engine_reset_callback = cb;
        return 0;
}

static void modem_port_reset_cancel(void *port) {
        Modem *m = port;

        m->engine_reset_callback = NULL;
        modem_reset_cancel(m);
}

static void modem_port_info(void *port, EnginePortInfo *ret) {
        Modem *m = port;

        *ret = (EnginePortInfo) {
                .path = m->port,
                .imei = m->imei,
                .device = m->usb_syspath,
                .profile = m->profile,
        };
}

static const EnginePortOps modem_port_ops = {
        .send = modem_port_send,
        .cancel = modem_port_cancel,
        .reset = modem_port_reset,
        .reset_cancel = modem_port_reset_cancel,
        .info = modem_port_info,
};

static void on_engine_report(Engine *e, const JobRecord *record, void *userdata) {
        Modem *m = userdata;

        manager_report(m->manager, record);
}

static void on_engine_finished(Engine *e, void *userdata) {
        modem_engine_finished(userdata);
}

static int modem_engine_start(Modem *m, JobRecord *record) {
        return engine_start(&(const EngineEnv) {
                                    .event = m->event,
                                    .timeouts = m->timeouts,
                                    .mm = m->manager->mm,
                                    .pdp = m->config ? m->config->pdp : NULL,
                            },
                            &(const EnginePort) { .ops = &modem_port_ops, .userdata = m },
                            &(const EngineCallbacks) { .report = on_engine_report, .finished = on_engine_finished },
                            m, record, &m->engine);
}

static void modem_start_next(Modem *m) {
        JobRecord *rec;
        int r;

        if (m->engine || m->hold || !m->identified || m->port_state != MODEM_PORT_READY || m->n_queue == 0)
                return;

        /* Out of the queue only once the engine has it (it takes the record on success only). */
        rec = m->queue[0];
        modem_set_port_state(m, MODEM_PORT_ENGINE);
        r = modem_engine_start(m, rec);
        if (r < 0) {
                log_modem(m, LOG_ERR, r, "Failed to start job execution: %m");
                modem_set_port_state(m, MODEM_PORT_READY);
                return;
        }
        memmove(m->queue, m->queue + 1, (m->n_queue - 1) * sizeof(JobRecord *));
        m->n_queue--;
}

static int modem_queue_push(Modem *m, JobRecord *record, bool front) {
        JobRecord **q;

        q = reallocarray(m->queue, m->n_queue + 1, sizeof(JobRecord *));
        if (!q)
                return -ENOMEM;
        m->queue = q;

        if (front) {
                memmove(m->queue + 1, m->queue, m->n_queue * sizeof(JobRecord *));
                m->queue[0] = record;
        } else
                m->queue[m->n_queue] = record;
        m->n_queue++;
        return 0;
}

int modem_enqueue(Modem *m, JobRecord *record) {
        int r;

        r = modem_queue_push(m, record, false);
        if (r < 0)
                return r;

        modem_start_next(m);
        manager_update_status(m->manager);
        return 0;
}

int modem_resume(Modem *m, JobRecord *record) {
        int r;

        /* The family ATI showed before the restart: without it a resumed job would run with the
         * generic profile, its error tables and its retry rules (a BC26 would wait for reboots
         * and retries it never does). */
        if (!m->profile && record->modem_family) {
                ModemFamily f = modem_family_from_string(record->modem_family);

                if (f >= 0) {
                        m->profile = modem_profile_get(f);
                        log_modem(m, LOG_INFO, 0, "family %s, as detected before the restart", m->profile->name);
                }
        }

        if (m->engine)
                /* Two unfinished executions on one modem can only come from a damaged state
                 * directory; run them one after the other. */
                return modem_queue_push(m, record, true);

        r = modem_engine_start(m, record);
        if (r < 0)
                return r;

        if (m->channel) {
                m->probe_command = 0;
                modem_set_port_state(m, MODEM_PORT_ENGINE);
                engine_port_opened(m->engine);
        }
        return 0;
}

static void modem_check_gone(Modem *m);

static int on_finish_defer(sd_event_source *s, void *userdata) {
        Modem *m = userdata;

        m->finish_defer = sd_event_source_unref(m->finish_defer);

        /* What the engine read back with ATI is the module's revision now: the inventory says so
         * at once, not only after the identification below. */
        if (m->engine) {
                const JobRecord *rec = engine_get_record(m->engine);

                if (rec->revision_after)
                        (void) free_and_strdup(&m->revision, rec->revision_after);
        }
        m->engine = engine_free(m->engine);

        if (m->channel)
                /* Refresh the identity: the revision has (or has not) changed. */
                modem_probe_start(m);
        else {
                modem_set_port_state(m, MODEM_PORT_ABSENT);
                /* E.g. the module did not come back within port_return: nothing keeps it. */
                modem_check_gone(m);
        }

        manager_update_status(m->manager);
        return 0;
}

void modem_engine_finished(Modem *m) {
        int r;

        if (m->finish_defer)
                return;

        /* Called from inside the engine's own callbacks: free it from a defer source. */
        r = sd_event_add_defer(m->event, &m->finish_defer, on_finish_defer, m);
        if (r < 0) {
                log_modem(m, LOG_ERR, r, "Failed to schedule the end of a job execution: %m");
                return;
        }
        (void) sd_event_source_set_description(m->finish_defer, "modem-finish");
}

bool modem_is_busy(const Modem *m) {
        return m->engine || m->n_queue > 0;
}

/* Quectel revisions start with the model without its punctuation: ATI "RM500Q-GL" runs
 * "RM500QGLABR11A06M4G", "EC25" runs "EC25EFAR06A01M4G" (RG50xQ FOTA note §2.1, EC25&EC21 guide
 * §2.1: ATI gives both). */
static bool revision_matches_model(const char *revision, const char *model) {
        const char *r = revision;

        for (const char *c = model; *c; c++) {
                if (!isalnum((unsigned char) *c))
                        continue;
                if (toupper((unsigned char) *c) != toupper((unsigned char) *r))
                        return false;
                r++;
        }
        return r != revision;
}

bool modem_matches_job(const Modem *m, const Job *job) {
        if (!m->identified)
                return false;

        if (job->modem_imei)
                return streq_ptr(m->imei, job->modem_imei);

        if (!m->model)
                return false;

        if (job->modem_model)
                return strcasecmp(m->model, job->modem_model) == 0;

        return revision_matches_model(job->target_version, m->model);
}

char *modem_describe(const Modem *m) {
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

        if (m->engine) {
                const JobRecord *rec = engine_get_record(m->engine);
                r = asprintf(&s, "%s: %s %s %u%%", name, job_record_name(rec), job_state_to_string(rec->state), rec->progress);
        } else if (m->identified)
                r = asprintf(&s, "%s: %s %s %s%s", name, m->hold ? "on hold" : "idle", strna(m->model), strna(m->revision),
                             m->n_queue > 0 ? " (jobs queued)" : "");
        else
                r = asprintf(&s, "%s: %s", name, modem_port_state_to_string(m->port_state));

        return r < 0 ? NULL : s;
}

static Modem *modem_alloc(Manager *manager, const ModemConfig *config, ModemFamily family) {
        Modem *m;

        m = calloc(1, sizeof(Modem));
        if (!m)
                return NULL;

        *m = (Modem) {
                .manager = manager,
                .event = manager->event,
                .timeouts = &manager->config->timeouts,
                .config = config,
                .configured_family = family,
                /* A known family is known before the module answers: a job resumed after a restart
                 * runs with it, without an identification probe. */
                .profile = family >= 0 ? modem_profile_get(family) : NULL,
                .port_state = MODEM_PORT_ABSENT,
        };
        return m;
}

int modem_new(Manager *manager, const ModemConfig *config, Modem **ret) {
        _cleanup_(modem_freep) Modem *m = NULL;

        m = modem_alloc(manager, config, config->family);
        if (!m)
                return -ENOMEM;

        m->port = strdup(config->port);
        if (!m->port)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

int modem_new_hotplug(Manager *manager, const HotplugPort *port, Modem **ret) {
        _cleanup_(modem_freep) Modem *m = NULL;

        m = modem_alloc(manager, NULL, port->family);
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

int modem_new_detached(Manager *manager, const JobRecord *record, Modem **ret) {
        _cleanup_(modem_freep) Modem *m = NULL;

        if (isempty(record->modem_port))
                return -EINVAL;

        m = modem_alloc(manager, NULL, modem_family_from_string(record->modem_family));
        if (!m)
                return -ENOMEM;

        m->hotplug = true;
        if (free_and_strdup(&m->port, record->modem_port) < 0 ||
            free_and_strdup(&m->imei, record->modem_imei) < 0 ||
            free_and_strdup(&m->model, record->modem_model) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

static int on_absent_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Modem *m = userdata;
        JobRecord **queue = TAKE_PTR(m->queue);
        size_t n = m->n_queue;
        char buf[32];

        m->n_queue = 0;
        (void) snprintf(buf, sizeof buf, "%g s", (double) m->timeouts->port_return / USEC_PER_SEC);
        log_modem(m, LOG_WARNING, 0, "the module did not come back within %s; %zu queued job(s) go back to dispatch", buf, n);

        /* Forgotten first, so that dispatch does not pick this modem again. */
        manager_forget_modem(m->manager, m);
        for (size_t i = 0; i < n; i++)
                (void) manager_queue(m->manager, queue[i]);
        free(queue);
        return 0;
}

/* A hotplug modem without its port: forgotten when nothing keeps it, else its queued jobs wait for
 * the module as long as a running job would (port_return). A running engine has its own timer. */
static void modem_check_gone(Modem *m) {
        int r;

        if (!m->hotplug || m->port_present || m->channel || m->engine || m->finish_defer)
                return;

        if (m->n_queue == 0) {
                log_modem(m, LOG_INFO, 0, "forgotten (AT port %s gone, no job)", m->port);
                manager_forget_modem(m->manager, m);
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
        log_modem(m, LOG_INFO, 0, "%zu queued job(s) wait for the module to come back", m->n_queue);
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
        manager_update_status(m->manager);

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
        manager_update_status(m->manager);

        if (!replacement)
                modem_check_gone(m);
        return 1;
}

void modem_take_port(Modem *to, Modem *from) {
        int r;

        log_modem(to, LOG_INFO, 0, "the module came back as %s; job %s continues on its AT port %s",
                  modem_name(from), to->engine ? job_record_name(engine_get_record(to->engine)) : "(none)", from->port);

        /* One channel per port: from's is closed before to opens the node. */
        from->channel = at_channel_free(from->channel);
        from->probe_command = 0;
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
        manager_update_status(to->manager);

        if (!to->serving || !to->port_present)
                return;

        r = modem_try_open(to);
        if (r < 0 && r != -ENOENT)
                log_modem(to, LOG_NOTICE, r, "Cannot open AT port %s yet, retrying: %m", to->port);
}

void modem_disable(Modem *m) {
        m->channel = at_channel_free(m->channel);
        m->probe_command = 0;
        m->path_watch = sd_event_source_disable_unref(m->path_watch);
        m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
        m->absent_timer = sd_event_source_disable_unref(m->absent_timer);
        m->port_present = false;
}

bool modem_is_waiting_for_port(const Modem *m) {
        return m->engine && !m->channel;
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

        m->engine = engine_free(m->engine);
        m->finish_defer = sd_event_source_disable_unref(m->finish_defer);
        m->reset_defer = sd_event_source_disable_unref(m->reset_defer);
        m->reset_child = sd_event_source_disable_unref(m->reset_child);
        free(m->reset_detail);
        free(m->reset_why);
        m->hold_timer = sd_event_source_disable_unref(m->hold_timer);
        m->channel = at_channel_free(m->channel);
        m->path_watch = sd_event_source_disable_unref(m->path_watch);
        m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
        m->absent_timer = sd_event_source_disable_unref(m->absent_timer);

        for (size_t i = 0; i < m->n_queue; i++)
                job_record_free(m->queue[i]);
        free(m->queue);

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
