/* SPDX-License-Identifier: MIT */
/* Resetting a module (modem_reset(), modem.h): AT+CFUN=1,1 on its AT port, the configured
 * program, or the first with the second as the fallback; reported once, from the loop, with what
 * was really done. */

#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "modem-internal.h"
#include "string-util.h"

extern char **environ;

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
        const char *program = m->reset_config->command[0];
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
        const ResetConfig *c = m->reset_config;
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
        r = posix_spawn(&pid, c->command[0], NULL, &attr, c->command, environ);
        (void) posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_modem(m, LOG_ERR, r, "Failed to run reset command %s: %m", c->command[0]);

        r = free_and_strdup(&m->reset_why, why);
        if (r >= 0)
                r = sd_event_add_child(m->event, &m->reset_child, pid, WEXITED, on_reset_child, m);
        if (r < 0) {
                /* Started, but we cannot learn how it ended: it counts, said so. */
                log_modem(m, LOG_WARNING, r, "Cannot watch the reset command, counting it as done: %m");
                modem_reset_done(m, MODEM_RESET_RAN_COMMAND, "%s%s%s started (not watched)", strempty(why), why ? "; " : "", c->command[0]);
                return 0;
        }
        (void) sd_event_source_set_description(m->reset_child, "modem-reset-child");
        return 0;
}

/* AT did not reset the module (why): the program, if there is one, is the fallback. */
static void modem_reset_fallback(Modem *m, const char *why) {
        const ResetConfig *c = m->reset_config;

        if (!c->command) {
                modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "AT+CFUN=1,1 did not reach the module (%s) and no reset.command is configured", why);
                return;
        }
        _cleanup_free_ char *before = NULL;

        if (asprintf(&before, "AT+CFUN=1,1 did not reach the module (%s)", why) < 0)
                before = NULL;
        if (modem_run_reset_command(m, before) < 0)
                modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "AT+CFUN=1,1 did not reach the module (%s) and %s could not be started",
                                 why, c->command[0]);
}

static void on_reset_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Modem *m = userdata;
        const ResetConfig *c = m->reset_config;

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
                if (c->command) {
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
        const ResetConfig *c = m->reset_config;
        int r;

        if (m->reset_callback || m->reset_defer || m->reset_child)
                return -EBUSY;

        m->reset_callback = callback;
        m->reset_userdata = userdata;

        if (c->method == RESET_METHOD_COMMAND && !c->try_at_first) {
                r = modem_run_reset_command(m, NULL);
                if (r < 0)
                        modem_reset_done(m, MODEM_RESET_NOT_DELIVERED, "%s could not be started (%s)", c->command[0], strerror(-r));
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

