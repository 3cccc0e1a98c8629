/* SPDX-License-Identifier: MIT */
/* The scripted fake module of tests/unit/test-engine.c: see engine-script.h. */

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "at-parse.h"
#include "engine-script.h"
#include "log.h"
#include "string-util.h"

#define IMEI "861234567890123"

/* How long an EXPECT (or RESET) waits for the engine: it acts on a reply or a URC at once, so only
 * a stuck engine gets near this, and no passing scenario reaches SCRIPT_LONG_USEC. */
#define AWAIT_USEC (1 * USEC_PER_SEC)
/* The engine's timers are added with sd-event's default accuracy (250 ms), which lets the loop
 * fire them up to that late to coalesce wake-ups. A loop that wakes at least this often
 * dispatches every timer within this much of its time (sd_event_wait() looks at every clock's
 * due sources on each wake-up), so that 20 ms stays 20 ms. */
#define TICK_USEC (1 * MS)
/* What a WAIT allows beyond its timer's period, for a loaded machine (ASan). */
#define WAIT_MARGIN_USEC (500 * MS)

typedef struct Pending Pending;

struct Pending {
        Script *script;
        uint64_t id;
        char *command;
        AtCommandCallback callback;
        void *userdata;
        ScriptReply reply;
        sd_event_source *defer;     /* delivers the reply; NULL: none scripted (NO_REPLY) */
        Pending *next;
};

struct Script {
        sd_event *event;
        char dir[PATH_MAX];
        char jobs[PATH_MAX];
        char *record_path;

        const ScriptConfig *config;
        Timeouts timeouts;
        EngineEnv env;
        const ModemProfile *profile;
        Engine *engine;
        sd_event_source *free_defer;        /* the owner frees a finished engine from here */

        /* The fake port. */
        bool open;
        char *port_path;
        Pending *pending;                   /* commands in flight, in the order sent */
        uint64_t next_id;
        EngineResetCallback reset_callback;
        void *reset_userdata;
        bool reset_delivered;
        sd_event_source *reset_defer;
        EngineIdentifyCallback identify_callback;   /* an identification in flight */
        void *identify_userdata;
        unsigned identify_step;
        uint64_t identify_command;
        char *identified_model, *identified_revision, *identified_imei;

        char **sent;                        /* every command the module got, across restarts */
        size_t n_sent;

        /* The owner. */
        JobState states[64];                /* the states reported, a repeated one once */
        size_t n_states, n_states_checked;
        unsigned reports, reports_checked;
        unsigned finished;
        unsigned activity;                  /* commands, resets, reports, finished: what WAIT waits for */
        char last_activity[128];            /* the latest of them, for messages */
        usec_t driven_at;                   /* when the engine was last handed an event: a reply, a URC, ... */

        const Step *steps;
        size_t n_steps, cursor;
        bool failed;
        char error[1024];
};

_printf_(2, 3)
static void script_error(Script *s, const char *format, ...) {
        va_list ap;

        if (s->failed)
                return; /* the first error is the one that matters */
        s->failed = true;
        va_start(ap, format);
        (void) vsnprintf(s->error, sizeof s->error, format, ap);
        va_end(ap);
}

/* "step 12 (line 345)" of the scenario, for messages. */
static const char *step_name(const Script *s, size_t i, char buf[static 64]) {
        if (i >= s->n_steps)
                (void) snprintf(buf, 64, "after the last step");
        else
                (void) snprintf(buf, 64, "step %zu (test-engine.c:%d)", i, s->steps[i].line);
        return buf;
}

static const char *true_false(bool b) {
        return b ? "true" : "false";
}

static usec_t now_usec(void) {
        struct timespec ts;

        assert_return_code(clock_gettime(CLOCK_BOOTTIME, &ts), errno);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static usec_t timer_usec(const Script *s, ScriptTimer t) {
        switch (t) {
        case TIMER_DOWNLOAD_START: return s->timeouts.download_start;
        case TIMER_DOWNLOAD:       return s->timeouts.download;
        case TIMER_PORT_RETURN:    return s->timeouts.port_return;
        case TIMER_FIRST_URC:      return s->timeouts.first_urc_after_reboot;
        case TIMER_URC_WATCHDOG:   return s->timeouts.urc_watchdog;
        case TIMER_VERIFY:         return s->timeouts.verify;
        }
        return SCRIPT_LONG_USEC;
}

static bool command_matches(const char *command, const char *expected, bool prefix) {
        return prefix ? startswith(command, expected) != NULL : streq(command, expected);
}

static unsigned count_sent(const Script *s, const char *command, bool prefix) {
        unsigned n = 0;

        for (size_t i = 0; i < s->n_sent; i++)
                if (command_matches(s->sent[i], command, prefix))
                        n++;
        return n;
}

/* ---- the fake port (EnginePortOps) ------------------------------------------------------------ */

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->defer);
        free(p->command);
        free(p);
        return NULL;
}

static void pending_unlink(Script *s, Pending *p) {
        for (Pending **i = &s->pending; *i; i = &(*i)->next)
                if (*i == p) {
                        *i = p->next;
                        p->next = NULL;
                        return;
                }
}

static size_t pending_count(const Script *s) {
        size_t n = 0;

        for (const Pending *p = s->pending; p; p = p->next)
                n++;
        return n;
}

static void deliver(Pending *p, AtResult result, int error_code) {
        char *lines[REPLY_LINES_MAX + 1] = {};
        size_t n = 0;

        if (result != AT_RESULT_PORT_LOST)
                for (; n < REPLY_LINES_MAX && p->reply.lines[n]; n++)
                        lines[n] = (char *) p->reply.lines[n];

        p->callback(NULL, &(const AtResponse) {
                        .result = result,
                        .error_code = error_code,
                        .lines = lines,
                        .n_lines = n,
                        .written = true,
                }, p->userdata);
}

static int on_reply(sd_event_source *source, void *userdata) {
        Pending *p = userdata;
        Script *s = p->script;

        /* Out of the list first: the callback may send the next command. */
        s->driven_at = now_usec();
        pending_unlink(s, p);
        deliver(p, p->reply.result, p->reply.error_code);
        pending_free(p);
        return 0;
}

static int fake_send(void *port, const char *command, const AtCommandOptions *opts, AtCommandCallback cb, void *userdata,
                     uint64_t *ret_id) {
        Script *s = port;
        const Step *st = s->cursor < s->n_steps ? &s->steps[s->cursor] : NULL;
        Pending *p, **tail;
        char buf[64];
        char **l;
        unsigned n;

        assert_non_null(command);
        assert_non_null(cb);

        /* A closed port takes nothing (at-channel.h): the command never reaches the module. */
        if (!s->open)
                return -ENOTCONN;

        s->activity++;
        (void) snprintf(s->last_activity, sizeof s->last_activity, "sent %s", command);
        l = reallocarray(s->sent, s->n_sent + 1, sizeof(char *));
        assert_non_null(l);
        s->sent = l;
        s->sent[s->n_sent] = strdup(command);
        assert_non_null(s->sent[s->n_sent]);
        s->n_sent++;

        /* At most once per job, across every restart (brief "DFOTA rules"): a module that gets
         * AT+QFOTADL twice may brick itself. */
        n = count_sent(s, "AT+QFOTADL", true);
        if (n > 1)
                script_error(s, "%s: AT+QFOTADL sent %u times: %s", step_name(s, s->cursor, buf), n, command);

        if (!st || st->kind != STEP_EXPECT)
                script_error(s, "%s: unexpected command \"%s\"", step_name(s, s->cursor, buf), command);
        else if (!command_matches(command, st->text, st->prefix))
                script_error(s, "%s: expected \"%s\"%s, the engine sent \"%s\"", step_name(s, s->cursor, buf),
                             st->text, st->prefix ? "..." : "", command);

        p = calloc(1, sizeof(Pending));
        assert_non_null(p);
        *p = (Pending) {
                .script = s,
                .id = ++s->next_id,
                .command = strdup(command),
                .callback = cb,
                .userdata = userdata,
        };
        assert_non_null(p->command);
        for (tail = &s->pending; *tail; tail = &(*tail)->next)
                ;
        *tail = p;

        if (!s->failed) {
                p->reply = st->reply;
                s->cursor++;
                /* Never from inside send(): the real channel answers from the loop only. */
                if (!p->reply.none)
                        assert_return_code(sd_event_add_defer(s->event, &p->defer, on_reply, p), 0);
        }

        if (ret_id)
                *ret_id = p->id;
        return 0;
}

static void fake_cancel(void *port, uint64_t id) {
        Script *s = port;

        for (Pending *p = s->pending; p; p = p->next)
                if (p->id == id) {
                        pending_unlink(s, p);
                        pending_free(p);
                        return;
                }
}

static int on_reset_reply(sd_event_source *source, void *userdata) {
        Script *s = userdata;
        EngineResetCallback cb = s->reset_callback;

        s->reset_defer = sd_event_source_unref(s->reset_defer);
        s->reset_callback = NULL;
        s->driven_at = now_usec();
        if (cb)
                cb(s->reset_delivered, s->reset_delivered ? "AT+CFUN=1,1 written (fake port)" : "the fake port refused the reset",
                   s->reset_userdata);
        return 0;
}

static int fake_reset(void *port, EngineResetCallback cb, void *userdata) {
        Script *s = port;
        const Step *st = s->cursor < s->n_steps ? &s->steps[s->cursor] : NULL;
        char buf[64];

        assert_non_null(cb);
        s->activity++;
        (void) snprintf(s->last_activity, sizeof s->last_activity, "reset the module");

        if (s->reset_callback) {
                script_error(s, "%s: a second reset while one is on its way", step_name(s, s->cursor, buf));
                return -EBUSY;
        }
        if (!st || st->kind != STEP_RESET) {
                script_error(s, "%s: unexpected reset of the module", step_name(s, s->cursor, buf));
                return -EBUSY;
        }
        s->cursor++;

        s->reset_callback = cb;
        s->reset_userdata = userdata;
        s->reset_delivered = st->value;
        assert_return_code(sd_event_add_defer(s->event, &s->reset_defer, on_reset_reply, s), 0);
        return 0;
}

static void fake_reset_cancel(void *port) {
        Script *s = port;

        s->reset_callback = NULL;
        s->reset_defer = sd_event_source_disable_unref(s->reset_defer);
}

/* The identification (EnginePortOps.identify) is the modem's (modem.c, modem_identify()): ATE0,
 * ATI, AT+GSN, one after the other, over the same port, so the script expects the three commands
 * like any other. */
static const char *const identify_commands[] = { "ATE0", "ATI", "AT+GSN" };

static void identify_next(Script *s);

static void identify_done(Script *s, int error, const char *failed) {
        EngineIdentifyCallback cb = TAKE_PTR(s->identify_callback);

        s->identify_command = 0;
        if (cb)
                cb(error, failed, s->identified_model, s->identified_revision, s->identified_imei, s->identify_userdata);
        s->identified_model = mfree(s->identified_model);
        s->identified_revision = mfree(s->identified_revision);
        s->identified_imei = mfree(s->identified_imei);
}

static void on_identify_reply(AtChannel *ch, const AtResponse *r, void *userdata) {
        Script *s = userdata;
        char failed[64];
        int k = 0;

        s->identify_command = 0;
        if (r->result == AT_RESULT_PORT_LOST) {
                /* The port took the identification with it; no callback (engine.h). */
                s->identify_callback = NULL;
                return;
        }

        switch (s->identify_step) {
        case 0: /* a module that refuses ATE0 is still usable */
                break;
        case 1:
                k = r->result == AT_RESULT_OK ? at_parse_ati(r->lines, &s->identified_model, &s->identified_revision) : -EIO;
                break;
        case 2:
                k = r->result == AT_RESULT_OK ? at_parse_gsn(r->lines, &s->identified_imei) : -EIO;
                break;
        }
        if (k < 0) {
                (void) snprintf(failed, sizeof failed, "%s failed (%s)", identify_commands[s->identify_step],
                                at_result_to_string(r->result));
                identify_done(s, k, failed);
                return;
        }

        s->identify_step++;
        identify_next(s);
}

static void identify_next(Script *s) {
        char failed[64];
        int r;

        if (s->identify_step >= ELEMENTSOF(identify_commands)) {
                identify_done(s, 0, NULL);
                return;
        }

        r = fake_send(s, identify_commands[s->identify_step], NULL, on_identify_reply, s, &s->identify_command);
        if (r < 0) {
                (void) snprintf(failed, sizeof failed, "%s could not be sent (%s)", identify_commands[s->identify_step],
                                strerror(-r));
                identify_done(s, r, failed);
        }
}

static int fake_identify(void *port, EngineIdentifyCallback cb, void *userdata) {
        Script *s = port;

        assert_non_null(cb);
        if (s->identify_callback || s->identify_command != 0)
                return -EBUSY;
        if (!s->open)
                return -ENOTCONN;

        s->identify_callback = cb;
        s->identify_userdata = userdata;
        s->identify_step = 0;
        identify_next(s);
        return 0;
}

static void fake_identify_cancel(void *port) {
        Script *s = port;

        if (s->identify_command != 0)
                fake_cancel(s, s->identify_command);
        s->identify_command = 0;
        s->identify_callback = NULL;
        s->identified_model = mfree(s->identified_model);
        s->identified_revision = mfree(s->identified_revision);
        s->identified_imei = mfree(s->identified_imei);
}

static void fake_info(void *port, EnginePortInfo *ret) {
        Script *s = port;

        *ret = (EnginePortInfo) {
                .path = s->port_path,
                .imei = IMEI,
                .device = NULL,
                .profile = s->profile,
        };
}

static const EnginePortOps fake_port_ops = {
        .send = fake_send,
        .cancel = fake_cancel,
        .reset = fake_reset,
        .reset_cancel = fake_reset_cancel,
        .identify = fake_identify,
        .identify_cancel = fake_identify_cancel,
        .info = fake_info,
};

/* ---- the owner (EngineCallbacks) -------------------------------------------------------------- */

static JobRecord *load_disk(Script *s) {
        JobRecord *rec = NULL;
        int r;

        r = job_record_load(s->record_path, &rec);
        if (r < 0) {
                script_error(s, "cannot load the record %s: %s", s->record_path, strerror(-r));
                return NULL;
        }
        return rec;
}

static int on_free(sd_event_source *source, void *userdata) {
        Script *s = userdata;

        s->free_defer = sd_event_source_unref(s->free_defer);
        s->engine = engine_free(s->engine);
        return 0;
}

static void on_report(Engine *e, const JobRecord *record, void *userdata) {
        Script *s = userdata;
        _cleanup_(job_record_freep) JobRecord *d = NULL;

        s->activity++;
        s->reports++;
        (void) snprintf(s->last_activity, sizeof s->last_activity, "reported %s", job_state_to_string(record->state));

        if (e != s->engine || record != engine_get_record(e))
                script_error(s, "report %u: not from the current engine, or not its record", s->reports);
        if (s->n_states == 0 || s->states[s->n_states - 1] != record->state) {
                if (s->n_states >= ELEMENTSOF(s->states))
                        script_error(s, "more than %zu state changes reported", ELEMENTSOF(s->states));
                else
                        s->states[s->n_states++] = record->state;
        }

        /* "the record is saved already" (engine.h): the disk must say what the report says. */
        d = load_disk(s);
        if (!d)
                return;
        if (d->state != record->state || d->phase != record->phase || d->attempt != record->attempt ||
            d->last_end != record->last_end || d->progress != record->progress ||
            d->watchdog_resets != record->watchdog_resets || d->qfotadl_sent != record->qfotadl_sent ||
            d->has_module_error != record->has_module_error ||
            (d->has_module_error && d->module_error_code != record->module_error_code))
                script_error(s, "report %u (%s, phase %s, attempt %u, progress %u) before its record was saved "
                             "(the disk says %s, phase %s, attempt %u, progress %u)", s->reports,
                             job_state_to_string(record->state), dfota_phase_to_string(record->phase), record->attempt,
                             record->progress, job_state_to_string(d->state), dfota_phase_to_string(d->phase), d->attempt,
                             d->progress);
}

static void on_finished(Engine *e, void *userdata) {
        Script *s = userdata;

        s->activity++;
        s->finished++;
        (void) snprintf(s->last_activity, sizeof s->last_activity, "finished");
        if (s->finished > 1)
                script_error(s, "finished reported %u times", s->finished);
        if (!job_state_is_terminal(engine_get_record(e)->state))
                script_error(s, "finished in %s", job_state_to_string(engine_get_record(e)->state));
        /* Ended: nothing of the execution may still be on its way to the module or back (engine.h
         * engine_cancel(): "a command in flight is forgotten"). */
        if (s->pending || s->reset_callback || s->identify_callback)
                script_error(s, "finished with %zu commands%s still in flight", pending_count(s),
                             s->reset_callback ? " and a reset" : "");

        /* As the real owner does (modem.c, modem_engine_finished()): never from inside the call. */
        if (!s->free_defer)
                assert_return_code(sd_event_add_defer(s->event, &s->free_defer, on_free, s), 0);
}

static const EngineCallbacks callbacks = {
        .report = on_report,
        .finished = on_finished,
};

/* ---- the runner -------------------------------------------------------------------------------- */

/* Dispatches whatever is due now (replies, the owner's free, expired timers) until nothing is. */
static void settle(Script *s) {
        for (unsigned i = 0; i < 100000; i++) {
                int r = sd_event_run(s->event, 0);

                assert_return_code(r, -r);
                if (r == 0 || s->failed)
                        return;
        }
        script_error(s, "the event loop never goes idle");
}

static void run_for(Script *s, usec_t until, const unsigned *watch, unsigned from) {
        while (!s->failed && (!watch || *watch == from)) {
                usec_t n = now_usec();
                int r;

                if (n >= until)
                        return;
                r = sd_event_run(s->event, MIN(until - n, TICK_USEC));
                assert_return_code(r, -r);
        }
}

/* Runs the loop until the fake port has consumed step i (the engine sent or reset). */
static void await_step(Script *s, size_t i) {
        usec_t until = now_usec() + AWAIT_USEC;

        while (!s->failed && s->cursor == i) {
                usec_t n = now_usec();
                int r;

                if (n >= until)
                        return;
                r = sd_event_run(s->event, MIN(until - n, TICK_USEC));
                assert_return_code(r, -r);
        }
}

static void start_engine(Script *s, JobRecord *rec) {
        int r;

        s->driven_at = now_usec();
        r = engine_start(&s->env, &(const EnginePort) { .ops = &fake_port_ops, .userdata = s }, &callbacks, s, rec, &s->engine);
        if (r < 0) {
                job_record_free(rec);
                script_error(s, "engine_start(): %s", strerror(-r));
        }
}

static bool need_engine(Script *s, size_t i) {
        char buf[64];

        if (!s->engine)
                script_error(s, "%s: the engine has finished and was freed", step_name(s, i, buf));
        return s->engine;
}

static void check_fields(Script *s, size_t i, const JobRecord *rec, const char *where) {
        const ScriptCheck *c = &s->steps[i].check;
        int err = rec->has_module_error ? rec->module_error_code : -1;
        char buf[64];

        if (rec->state != c->state || rec->phase != c->phase || rec->qfotadl_sent != c->qfotadl_sent ||
            rec->attempt != c->attempt || rec->last_end != c->last_end || err != c->module_error)
                script_error(s, "%s: %s: state %s, phase %s, qfotadl_sent %s, attempt %u, last_end %d, module error %d; "
                             "expected %s, %s, %s, %u, %d, %d", step_name(s, i, buf), where,
                             job_state_to_string(rec->state), dfota_phase_to_string(rec->phase), true_false(rec->qfotadl_sent),
                             rec->attempt, rec->last_end, err,
                             job_state_to_string(c->state), dfota_phase_to_string(c->phase), true_false(c->qfotadl_sent),
                             c->attempt, c->last_end, c->module_error);
}

static void port_lost(Script *s, int error) {
        Pending *l = s->pending;

        /* As the AT channel does (at-channel.h): every pending command completes with PORT_LOST,
         * in the order sent, and then the owner hears of the loss. */
        s->open = false;
        s->pending = NULL;
        while (l) {
                Pending *p = l;

                l = p->next;
                p->defer = sd_event_source_disable_unref(p->defer);
                deliver(p, AT_RESULT_PORT_LOST, -1);
                pending_free(p);
        }
        engine_port_lost(s->engine, -error);
}

static void run_step(Script *s, size_t i) {
        const Step *st = &s->steps[i];
        _cleanup_(job_record_freep) JobRecord *d = NULL;
        char buf[64];

        if (IN_SET(st->kind, STEP_URC, STEP_PORT_LOST, STEP_PORT_OPENED, STEP_RESTART, STEP_CANCEL))
                s->driven_at = now_usec();

        switch (st->kind) {

        case STEP_EXPECT:
        case STEP_RESET:
                assert_true(false); /* consumed by the fake port */
                break;

        case STEP_URC:
                if (need_engine(s, i))
                        engine_on_urc(s->engine, st->text);
                break;

        case STEP_PORT_LOST:
                if (need_engine(s, i))
                        port_lost(s, st->value);
                break;

        case STEP_PORT_OPENED:
                if (!need_engine(s, i))
                        break;
                s->open = true;
                if (st->text)
                        assert_return_code(free_and_strdup(&s->port_path, st->text), 0);
                engine_port_opened(s->engine);
                break;

        case STEP_WAIT: {
                /* The timer was armed while the engine handled an event, the latest one or one
                 * before: measured from the latest, the engine must not act before half the
                 * period (a save's fsync may lie between the two). */
                usec_t period = timer_usec(s, st->timer), start = now_usec(), elapsed;
                unsigned from = s->activity;

                run_for(s, start + period + WAIT_MARGIN_USEC, &s->activity, from);
                elapsed = now_usec() - MIN(start, s->driven_at);
                s->driven_at = now_usec();
                if (s->failed)
                        break;
                if (s->activity == from)
                        script_error(s, "%s: the engine did nothing within %.0f ms (its timer: %.0f ms)", step_name(s, i, buf),
                                     (double) elapsed / MS, (double) period / MS);
                else if (elapsed < period / 2)
                        script_error(s, "%s: the engine %s after %.1f ms, before its timer (%.0f ms) could fire",
                                     step_name(s, i, buf), s->last_activity, (double) elapsed / MS, (double) period / MS);
                break;
        }

        case STEP_QUIET: {
                unsigned from = s->activity;

                run_for(s, now_usec() + (usec_t) st->value * MS, NULL, 0);
                if (s->activity != from)
                        script_error(s, "%s: the engine %s during %d ms of quiet", step_name(s, i, buf), s->last_activity, st->value);
                break;
        }

        case STEP_RESTART: {
                JobRecord *rec = NULL;
                int r;

                if (!need_engine(s, i))
                        break;
                /* A crash: what was not saved is lost. The new process has a new AT channel: what
                 * the old one had in flight is gone with it. */
                s->engine = engine_free(s->engine);
                while (s->pending) {
                        Pending *p = s->pending;

                        s->pending = p->next;
                        pending_free(p);
                }
                fake_reset_cancel(s);
                fake_identify_cancel(s);

                r = job_record_load(s->record_path, &rec);
                if (r < 0) {
                        script_error(s, "%s: job_record_load(): %s", step_name(s, i, buf), strerror(-r));
                        break;
                }
                start_engine(s, rec);
                break;
        }

        case STEP_CANCEL: {
                int r;

                if (!need_engine(s, i))
                        break;
                r = engine_cancel(s->engine, "canceled by the test");
                if (r != st->value)
                        script_error(s, "%s: engine_cancel() returned %d, expected %d", step_name(s, i, buf), r, st->value);
                break;
        }

        case STEP_CHECK:
                d = load_disk(s);
                if (!d)
                        break;
                check_fields(s, i, d, "on disk");
                if (s->engine)
                        check_fields(s, i, engine_get_record(s->engine), "in memory");
                break;

        case STEP_STATES: {
                size_t n = s->n_states - s->n_states_checked;
                bool same = n == st->n_states;

                for (size_t k = 0; same && k < n; k++)
                        same = s->states[s->n_states_checked + k] == st->states[k];
                if (!same) {
                        char got[512] = "", want[512] = "";

                        for (size_t k = s->n_states_checked; k < s->n_states; k++)
                                (void) strncat(got, job_state_to_string(s->states[k]), sizeof got - strlen(got) - 2), (void) strcat(got, " ");
                        for (size_t k = 0; k < st->n_states; k++)
                                (void) strncat(want, job_state_to_string(st->states[k]), sizeof want - strlen(want) - 2), (void) strcat(want, " ");
                        script_error(s, "%s: states reported: %s; expected: %s", step_name(s, i, buf), got, want);
                }
                s->n_states_checked = s->n_states;
                break;
        }

        case STEP_COUNT: {
                unsigned n = count_sent(s, st->text, st->prefix);

                if (n != (unsigned) st->value)
                        script_error(s, "%s: \"%s\"%s sent %u times, expected %d", step_name(s, i, buf), st->text,
                                     st->prefix ? "..." : "", n, st->value);
                break;
        }

        case STEP_IN_FLIGHT:
                if (pending_count(s) != (size_t) st->value)
                        script_error(s, "%s: %zu commands in flight, expected %d", step_name(s, i, buf), pending_count(s), st->value);
                break;

        case STEP_REPORTS:
                if (s->reports - s->reports_checked != (unsigned) st->value)
                        script_error(s, "%s: %u reports, expected %d", step_name(s, i, buf), s->reports - s->reports_checked, st->value);
                s->reports_checked = s->reports;
                break;

        case STEP_REASON:
                d = load_disk(s);
                if (d && (!d->reason || !strstr(d->reason, st->text)))
                        script_error(s, "%s: reason \"%s\" does not say \"%s\"", step_name(s, i, buf), strna(d->reason), st->text);
                break;

        case STEP_MODULE_ERROR:
                d = load_disk(s);
                if (d && (!d->has_module_error || d->module_error_kind != st->error_kind || d->module_error_code != st->value ||
                          !streq_ptr(d->module_error_meaning, st->text)))
                        script_error(s, "%s: module error %s %s %d \"%s\", expected %s %d \"%s\"", step_name(s, i, buf),
                                     true_false(d->has_module_error), module_error_kind_to_string(d->module_error_kind),
                                     d->module_error_code, strna(d->module_error_meaning),
                                     module_error_kind_to_string(st->error_kind), st->value, strna(st->text));
                break;

        case STEP_ATTEMPTS:
                d = load_disk(s);
                if (d && json_object_array_length(d->attempts) != (size_t) st->value)
                        script_error(s, "%s: %zu attempts recorded, expected %d", step_name(s, i, buf),
                                     json_object_array_length(d->attempts), st->value);
                break;

        case STEP_REVISION_AFTER:
                d = load_disk(s);
                if (d && !streq_ptr(d->revision_after, st->text))
                        script_error(s, "%s: revision_after %s, expected %s", step_name(s, i, buf), strna(d->revision_after), strna(st->text));
                break;

        case STEP_RESETS:
                d = load_disk(s);
                if (d && (d->watchdog_resets != (unsigned) st->value ||
                          (s->engine && engine_get_record(s->engine)->watchdog_resets != (unsigned) st->value)))
                        script_error(s, "%s: %u watchdog resets on disk, %u in memory, expected %d", step_name(s, i, buf),
                                     d->watchdog_resets, s->engine ? engine_get_record(s->engine)->watchdog_resets : 0, st->value);
                break;

        case STEP_PROGRESS:
                if (need_engine(s, i) && engine_get_record(s->engine)->progress != (unsigned) st->value)
                        script_error(s, "%s: progress %u, expected %d", step_name(s, i, buf), engine_get_record(s->engine)->progress, st->value);
                break;

        case STEP_PORT_PATH:
                d = load_disk(s);
                if (d && !streq_ptr(d->modem_port, st->text))
                        script_error(s, "%s: modem.port %s, expected %s", step_name(s, i, buf), strna(d->modem_port), st->text);
                break;
        }
}

static void end_checks(Script *s) {
        _cleanup_(job_record_freep) JobRecord *d = NULL;

        settle(s);
        if (s->failed)
                return;

        if (s->n_states_checked != s->n_states) {
                script_error(s, "after the last step: %zu reported state changes no STATES step checked (the first: %s)",
                             s->n_states - s->n_states_checked, job_state_to_string(s->states[s->n_states_checked]));
                return;
        }

        d = load_disk(s);
        if (!d)
                return;
        if (job_state_is_terminal(d->state)) {
                if (s->finished != 1 || s->engine)
                        script_error(s, "ended in %s: finished %u times, engine %s", job_state_to_string(d->state), s->finished,
                                     s->engine ? "not freed" : "freed");
                else if (s->pending || s->reset_callback)
                        script_error(s, "ended in %s with %zu commands%s still in flight", job_state_to_string(d->state),
                                     pending_count(s), s->reset_callback ? " and a reset" : "");
        } else if (s->finished != 0)
                script_error(s, "finished reported in %s", job_state_to_string(d->state));
}

static Job *make_job(const ScriptConfig *c) {
        _cleanup_free_ char *text = NULL, *err = NULL, *modem = NULL, *source = NULL;
        Job *j = NULL;

        if (c->model)
                assert_true(asprintf(&modem, "\"modem\": {\"model\": \"%s\"}, ", c->model) > 0);
        if (c->source_version)
                assert_true(asprintf(&source, "\"source_version\": \"%s\", ", c->source_version) > 0);
        assert_true(asprintf(&text, "{\"id\": \"job-1\", %s%s\"target_version\": \"%s\", \"package\": {\"url\": \"%s\"}}",
                             strempty(modem), strempty(source), c->target_version,
                             c->url ?: "http://fw.example.net/ec25.zip") > 0);
        if (job_parse(text, strlen(text), &j, &err) < 0)
                fail_msg("job rejected: %s", err);
        return j;
}

void script_run(Script *s, const ScriptConfig *c) {
        JobRecord *rec = NULL;
        usec_t *t[] = {
                &s->timeouts.at_command, &s->timeouts.download_start, &s->timeouts.download, &s->timeouts.port_return,
                &s->timeouts.first_urc_after_reboot, &s->timeouts.urc_watchdog, &s->timeouts.verify,
                &s->timeouts.state_write_retry,
        };
        char buf[64];

        s->config = c;
        s->steps = c->steps;
        s->n_steps = c->n_steps;
        s->timeouts = c->timeouts;
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (*t[i] == 0)
                        *t[i] = SCRIPT_LONG_USEC;
        s->env = (EngineEnv) {
                .event = s->event,
                .timeouts = &s->timeouts,
                .mm = NULL,
                .pdp = c->pdp,
        };
        s->profile = modem_profile_get(c->family);
        s->open = true;
        assert_return_code(free_and_strdup(&s->port_path, "/dev/ttyFAKE0"), 0);

        /* A new job, saved as its owner saves it before it is acknowledged. */
        assert_return_code(job_record_new(s->jobs, make_job(c), &rec), 0);
        assert_return_code(job_record_save_durable(rec), 0);
        s->record_path = strdup(rec->path);
        assert_non_null(s->record_path);
        start_engine(s, rec);

        while (!s->failed && s->cursor < s->n_steps) {
                const Step *st = &s->steps[s->cursor];
                size_t i = s->cursor;

                if (IN_SET(st->kind, STEP_EXPECT, STEP_RESET)) {
                        /* The fake port moves the cursor on when the engine sends or resets. */
                        await_step(s, i);
                        if (!s->failed && s->cursor == i)
                                script_error(s, "%s: the engine did not %s within %.0f ms", step_name(s, i, buf),
                                             st->kind == STEP_RESET ? "reset the module" : "send the command expected",
                                             (double) AWAIT_USEC / MS);
                        continue;
                }

                settle(s);
                if (s->failed)
                        break;
                s->cursor++;
                run_step(s, i);
        }
        if (!s->failed)
                end_checks(s);
        if (s->failed)
                fail_msg("%s", s->error);
}

/* ---- set-up ------------------------------------------------------------------------------------ */

int script_setup(void **state) {
        Script *s = calloc(1, sizeof(Script));
        const char *tmp = getenv("TMPDIR"), *level = getenv("DFOTAD_TEST_LOG_LEVEL");

        assert_non_null(s);
        /* Quiet by default: the scenarios provoke every warning the engine has. */
        log_set_max_level(level ? log_level_from_string(level) : LOG_ERR);

        assert_true(snprintf(s->dir, sizeof s->dir, "%s/test-engine-XXXXXX", tmp && *tmp ? tmp : "/tmp") < (int) sizeof s->dir);
        assert_non_null(mkdtemp(s->dir));
        assert_true(snprintf(s->jobs, sizeof s->jobs, "%s/jobs", s->dir) < (int) sizeof s->jobs);
        assert_return_code(sd_event_new(&s->event), 0);
        *state = s;
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

int script_teardown(void **state) {
        Script *s = *state;

        s->engine = engine_free(s->engine);
        while (s->pending) {
                Pending *p = s->pending;

                s->pending = p->next;
                pending_free(p);
        }
        fake_identify_cancel(s);
        s->reset_defer = sd_event_source_disable_unref(s->reset_defer);
        s->free_defer = sd_event_source_disable_unref(s->free_defer);
        s->event = sd_event_unref(s->event);
        for (size_t i = 0; i < s->n_sent; i++)
                free(s->sent[i]);
        free(s->sent);
        free(s->port_path);
        free(s->record_path);
        assert_int_equal(nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(s);
        return 0;
}
