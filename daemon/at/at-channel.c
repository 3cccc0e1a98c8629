/* SPDX-License-Identifier: MIT */

#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <termios.h>
#include <time.h>

#include "at-channel.h"
#include "at-tokenizer.h"
#include "escape.h"
#include "fault.h"
#include "log.h"

#define AT_DEFAULT_TIMEOUT      (5 * USEC_PER_SEC)
#define AT_DEFAULT_RESYNC_QUIET (200 * USEC_PER_MSEC)
/* sd-event's default accuracy (250 ms) would swallow a whole quiet window. */
#define AT_TIMER_ACCURACY       (1 * USEC_PER_MSEC)
#define AT_RESYNC_PROBES_MAX    3
/* A module stuck in a loop must not grow one response without bound until its timeout. */
#define AT_RESPONSE_LINES_MAX   256
/* Reads done before a command is written or a probe is judged; bounded so that a port spewing
 * data cannot starve the loop. */
#define AT_READ_PENDING_MAX     16

static const char *const at_result_table[_AT_RESULT_MAX] = {
        [AT_RESULT_OK]        = "ok",
        [AT_RESULT_ERROR]     = "error",
        [AT_RESULT_CME_ERROR] = "cme-error",
        [AT_RESULT_CMS_ERROR] = "cms-error",
        [AT_RESULT_TIMEOUT]   = "timeout",
        [AT_RESULT_PORT_LOST] = "port-lost",
};

DEFINE_STRING_TABLE_LOOKUP(at_result, AtResult);

/* Whether "the reply to the command in flight" means the same thing to us and to the module.
 *
 * After a timeout it does not: the module may still answer the command we gave up on, and that
 * answer must not be taken for the next command's (the ModemManager mm-port-serial.c FIXME). The
 * way back rests on two facts: a module answers commands in the order it received them, and it
 * answers a bare "AT" at once when it is not busy. So:
 *
 *   DRAINING    drop everything but URCs until nothing else has arrived for resync_quiet (the late
 *               reply, if it comes soon, is dropped here);
 *   PROBING     write "AT"; its final result may still be the late reply's (it came just after
 *               the quiet window), so it proves nothing yet;
 *   CONFIRMING  if that final result was the late reply's, the probe's own echo or final result
 *               follows at once; only resync_quiet without either proves that the module has
 *               nothing left to say about anything we sent. Either one means "still out of step"
 *               and a fresh DRAINING.
 *
 * Queued commands are only written IN_STEP. Non-URC input keeps restarting the quiet window, but
 * never beyond default_timeout per phase, so a port that never stops talking still gets probed and,
 * after AT_RESYNC_PROBES_MAX failed attempts in a row, is reported lost. */
typedef enum SyncState {
        SYNC_IN_STEP,
        SYNC_DRAINING,
        SYNC_PROBING,
        SYNC_CONFIRMING,
} SyncState;

typedef struct AtCommand AtCommand;

struct AtCommand {
        AtCommand *next;
        uint64_t id;                /* 0 for our probes, which callers cannot cancel */
        char *command;              /* as given, for the trace */
        char *wire;                 /* command + "\r" */
        size_t wire_len;
        size_t written;
        char *response_prefix;
        usec_t timeout;
        bool sensitive;
        bool probe;
        bool cancelled;
        AtCommandCallback callback;
        void *userdata;
        char **lines;
        size_t n_lines;
        size_t n_lines_dropped;
};

typedef struct UrcRegistration {
        char *prefix;
        size_t prefix_len;
        AtUrcHandler handler;
        void *userdata;
} UrcRegistration;

struct AtChannel {
        sd_event *event;
        char *path;
        char *name;

        int fd;
        sd_event_source *io_source;
        sd_event_source *timeout_source;    /* the command in flight */
        sd_event_source *quiet_source;      /* resync: the end of a quiet window */
        sd_event_source *kick_source;       /* writes the next queued command */
        bool want_write;

        usec_t default_timeout;
        usec_t resync_quiet;

        AtTokenizer tokenizer;
        uint8_t read_buf[4096];

        AtCommand *current;
        AtCommand *queue;
        AtCommand **queue_tail;
        uint64_t last_id;

        SyncState sync;
        usec_t sync_phase_start;
        usec_t last_noise;
        unsigned failed_probes;

        UrcRegistration *urcs;
        size_t n_urcs;

        AtPortLostHandler port_lost_handler;
        void *port_lost_userdata;

        /* Any callback may free the channel: at_channel_free() then only detaches it, and the
         * memory goes when the event handler that called out unwinds. */
        unsigned dispatching;
        bool freed;
};

static char *empty_lines[] = { NULL };

static usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

static usec_t channel_now(AtChannel *ch) {
        struct timespec ts;
        uint64_t t;

        if (sd_event_now(ch->event, CLOCK_BOOTTIME, &t) >= 0)
                return t;

        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

int at_command_redact(const char *command, bool sensitive, char **ret) {
        static const char marker[] = "<redacted>";
        _cleanup_free_ char *buf = NULL;
        size_t keep = strlen(command), i = 0;
        char *o;

        if (sensitive) {
                const char *eq = strchr(command, '=');

                keep = eq ? (size_t) (eq - command) + 1 : 0;
        }

        /* Masking grows the text by at most 3 bytes per "://" (an empty password becomes "***"),
         * and each "://" is itself 3 bytes: twice the input always suffices. */
        buf = malloc(2 * keep + sizeof(marker));
        if (!buf)
                return -ENOMEM;
        o = buf;

        while (i < keep) {
                const char *sep = memmem(command + i, keep - i, "://", 3);
                size_t authority, end, at = SIZE_MAX, colon = SIZE_MAX;

                if (!sep) {
                        o = mempcpy(o, command + i, keep - i);
                        break;
                }

                /* RFC 3986 §3.2: the authority ends at the path, query or fragment; inside an AT
                 * command line the URL also ends at its closing quote. */
                authority = (size_t) (sep - command) + 3;
                end = authority + strcspn(command + authority, "/?#\"' \t");
                if (end > keep)
                        end = keep;

                /* The last '@': passwords with an unencoded '@' are common in pasted URLs. */
                for (size_t j = authority; j < end; j++)
                        if (command[j] == '@')
                                at = j;
                for (size_t j = authority; at != SIZE_MAX && j < at; j++)
                        if (command[j] == ':') {
                                colon = j;
                                break;
                        }

                if (colon == SIZE_MAX) {
                        o = mempcpy(o, command + i, authority - i);
                        i = authority;
                        continue;
                }

                o = mempcpy(o, command + i, colon + 1 - i);
                o = stpcpy(o, "***");
                i = at;
        }

        if (sensitive)
                o = stpcpy(o, marker);
        *o = '\0';

        *ret = TAKE_PTR(buf);
        return 0;
}

/* Control characters in the trace would be invisible or corrupt the log, and bytes >= 0x80 need
 * not be valid UTF-8: CR and LF by name, everything else unprintable as \xNN. */
static char *trace_escape(const char *s) {
        size_t n = strlen(s);
        char *buf, *o;

        buf = malloc(4 * n + 1);
        if (!buf)
                return NULL;

        o = buf;
        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) s[i];

                if (c == '\r')
                        o = stpcpy(o, "<CR>");
                else if (c == '\n')
                        o = stpcpy(o, "<LF>");
                else if (c >= ' ' && c < 0x7f)
                        *o++ = (char) c;
                else
                        o += sprintf(o, "\\x%02x", c);
        }
        *o = '\0';

        return buf;
}

static void channel_trace(AtChannel *ch, const char *direction, const char *text, bool sensitive, bool command) {
        _cleanup_free_ char *redacted = NULL, *escaped = NULL;

        if (log_get_max_level() < LOG_DEBUG)
                return;

        if (at_command_redact(text, sensitive, &redacted) < 0) {
                log_debug("%s: %s <out of memory>", ch->name, direction);
                return;
        }
        escaped = trace_escape(redacted);
        if (!escaped) {
                log_debug("%s: %s <out of memory>", ch->name, direction);
                return;
        }

        log_debug("%s: %s %s%s", ch->name, direction, escaped, command ? "<CR>" : "");
}

static AtCommand *command_free(AtCommand *cmd) {
        if (!cmd)
                return NULL;

        /* PINs and credentials should not outlive their use in freed heap memory. */
        if (cmd->sensitive) {
                if (cmd->command)
                        explicit_bzero(cmd->command, strlen(cmd->command));
                if (cmd->wire)
                        explicit_bzero(cmd->wire, cmd->wire_len);
        }
        free(cmd->command);
        free(cmd->wire);
        free(cmd->response_prefix);
        for (size_t i = 0; i < cmd->n_lines; i++)
                free(cmd->lines[i]);
        free(cmd->lines);
        free(cmd);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(AtCommand *, command_free);

static int command_new(const char *command, const AtCommandOptions *opts, usec_t default_timeout, AtCommand **ret) {
        _cleanup_(command_freep) AtCommand *cmd = NULL;
        size_t l = strlen(command);

        cmd = calloc(1, sizeof(AtCommand));
        if (!cmd)
                return -ENOMEM;

        cmd->sensitive = opts && opts->sensitive;
        cmd->timeout = opts && opts->timeout > 0 ? opts->timeout : default_timeout;

        cmd->command = strdup(command);
        cmd->wire = malloc(l + 2);
        if (!cmd->command || !cmd->wire)
                return -ENOMEM;
        memcpy(cmd->wire, command, l);
        cmd->wire[l] = '\r';
        cmd->wire[l + 1] = '\0';
        cmd->wire_len = l + 1;

        if (opts && !isempty(opts->response_prefix)) {
                cmd->response_prefix = strdup(opts->response_prefix);
                if (!cmd->response_prefix)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(cmd);
        return 0;
}

static void command_add_line(AtChannel *ch, AtCommand *cmd, const char *text) {
        _cleanup_free_ char *copy = NULL;
        char **lines;

        if (cmd->n_lines >= AT_RESPONSE_LINES_MAX) {
                cmd->n_lines_dropped++;
                return;
        }

        copy = strdup(text);
        lines = copy ? reallocarray(cmd->lines, cmd->n_lines + 2, sizeof(char *)) : NULL;
        if (!lines) {
                /* The caller still gets the final result; an incomplete response is worth a
                 * warning even in this quiet layer. */
                cmd->n_lines_dropped++;
                log_warning("%s: out of memory, dropping a response line", ch->name);
                return;
        }

        cmd->lines = lines;
        cmd->lines[cmd->n_lines++] = TAKE_PTR(copy);
        cmd->lines[cmd->n_lines] = NULL;
}

static void command_finish(AtChannel *ch, AtCommand *cmd, AtResult result, int error_code) {
        AtResponse response = {
                .result = result,
                .error_code = error_code,
                .lines = cmd->lines ?: empty_lines,
                .n_lines = cmd->n_lines,
                .written = cmd->written == cmd->wire_len,
        };

        if (cmd->n_lines_dropped > 0)
                log_debug("%s: %zu lines of the response were dropped", ch->name, cmd->n_lines_dropped);

        if (cmd->cancelled || !cmd->callback)
                return;

        cmd->callback(ch, &response, cmd->userdata);
}

static AtResult result_from_line_kind(AtLineKind kind) {
        switch (kind) {
        case AT_LINE_OK:
                return AT_RESULT_OK;
        case AT_LINE_ERROR:
                return AT_RESULT_ERROR;
        case AT_LINE_CME_ERROR:
                return AT_RESULT_CME_ERROR;
        case AT_LINE_CMS_ERROR:
                return AT_RESULT_CMS_ERROR;
        case AT_LINE_TEXT:
        case AT_LINE_ECHO:
        case AT_LINE_CONNECT:
        case AT_LINE_PROMPT:
        case AT_LINE_OVERLONG:
        case _AT_LINE_KIND_MAX:
        case _AT_LINE_KIND_INVALID:
                break;
        }
        return _AT_RESULT_INVALID;
}

static int channel_arm_timer(sd_event_source *s, usec_t when) {
        int r;

        if (when == USEC_INFINITY)
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);

        r = sd_event_source_set_time(s, when);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void channel_want_write(AtChannel *ch, bool b) {
        int r;

        if (ch->want_write == b || !ch->io_source)
                return;

        /* On failure a pending write stalls; the command's timeout and the resync recover. */
        r = sd_event_source_set_io_events(ch->io_source, EPOLLIN | (b ? EPOLLOUT : 0));
        if (r < 0) {
                log_debug_errno(r, "%s: failed to change the port's poll events, ignoring: %m", ch->name);
                return;
        }
        ch->want_write = b;
}

static void channel_close(AtChannel *ch) {
        ch->io_source = sd_event_source_disable_unref(ch->io_source);
        ch->timeout_source = sd_event_source_disable_unref(ch->timeout_source);
        ch->quiet_source = sd_event_source_disable_unref(ch->quiet_source);
        ch->kick_source = sd_event_source_disable_unref(ch->kick_source);
        ch->want_write = false;

        if (ch->fd >= 0) {
                /* Output the module never takes would make close() wait for it (closing_wait, 30 s
                 * on USB serial); it is only our own command, so drop it. */
                (void) tcflush(ch->fd, TCOFLUSH);
                (void) close(ch->fd);
                ch->fd = -EBADF;
        }

        at_tokenizer_reset(&ch->tokenizer);
}

/* The command in flight and then the queue, in the order they were sent. */
static AtCommand *channel_take_commands(AtChannel *ch) {
        AtCommand *list = ch->queue;

        if (ch->current) {
                ch->current->next = list;
                list = ch->current;
        }

        ch->current = NULL;
        ch->queue = NULL;
        ch->queue_tail = &ch->queue;
        return list;
}

static void channel_port_lost(AtChannel *ch, int error) {
        AtCommand *pending;

        /* Only event handlers get here, so a callback freeing the channel is deferred. */
        assert(ch->dispatching > 0);

        if (ch->fd < 0)
                return;

        log_debug_errno(error, "%s: port lost: %m", ch->name);

        /* Everything is detached before calling out: a callback that sends gets -ENOTCONN, and none
         * can see a half-torn queue. */
        channel_close(ch);
        ch->sync = SYNC_IN_STEP;
        pending = channel_take_commands(ch);

        while (pending) {
                _cleanup_(command_freep) AtCommand *cmd = pending;

                pending = cmd->next;
                if (!ch->freed && !cmd->probe)
                        command_finish(ch, cmd, AT_RESULT_PORT_LOST, -1);
        }

        if (!ch->freed && ch->port_lost_handler)
                ch->port_lost_handler(ch, error, ch->port_lost_userdata);
}

static void channel_on_line(const AtLine *line, void *userdata);
static void channel_noise(AtChannel *ch);

/* Returns > 0 if bytes were read, 0 if there were none, < 0 if the port is gone. */
static int channel_read(AtChannel *ch, uint32_t revents) {
        ssize_t n;

        n = read(ch->fd, ch->read_buf, sizeof(ch->read_buf));
        if (n < 0) {
                if (errno == EINTR)
                        return 0; /* level-triggered: we are called again */
                if (errno != EAGAIN) {
                        channel_port_lost(ch, -errno);
                        return -ENOTCONN;
                }
                /* Nothing buffered, yet a hangup or error: nothing more will ever come. */
                if (revents & EPOLLERR) {
                        channel_port_lost(ch, -EIO);
                        return -ENOTCONN;
                }
                if (revents & EPOLLHUP) {
                        channel_port_lost(ch, -EPIPE);
                        return -ENOTCONN;
                }
                return 0;
        }
        if (n == 0) {
                /* EOF on a tty: it was hung up (USB disconnect, module reboot). */
                channel_port_lost(ch, -EPIPE);
                return -ENOTCONN;
        }

        at_tokenizer_feed(&ch->tokenizer, ch->read_buf, (size_t) n, channel_on_line, ch);
        if (ch->fd < 0)
                return -ENOTCONN;

        /* A line still arriving: the port is not quiet. */
        if (ch->tokenizer.line_started)
                channel_noise(ch);
        return 1;
}

static void channel_read_pending(AtChannel *ch) {
        for (unsigned i = 0; i < AT_READ_PENDING_MAX && ch->fd >= 0; i++)
                if (channel_read(ch, 0) <= 0)
                        break;
}

static void channel_write(AtChannel *ch) {
        AtCommand *cmd = ch->current;

        while (cmd && cmd->written < cmd->wire_len) {
                ssize_t n;

                n = write(ch->fd, cmd->wire + cmd->written, cmd->wire_len - cmd->written);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                channel_want_write(ch, true);
                                return;
                        }
                        channel_port_lost(ch, -errno);
                        return;
                }
                if (n == 0) {
                        channel_want_write(ch, true);
                        return;
                }

                cmd->written += (size_t) n;
                if (cmd->written == cmd->wire_len && !cmd->probe)
                        /* Test kill point (fault.h): the module has the whole line now. */
                        fault_pointf("at-written:%.*s", (int) strcspn(cmd->command, "="), cmd->command);
        }

        channel_want_write(ch, false);
}

/* Before its CR is out the module cannot have answered it. */
static bool command_awaits_reply(const AtCommand *cmd) {
        return cmd && cmd->written == cmd->wire_len;
}

static bool channel_can_start(AtChannel *ch) {
        return ch->fd >= 0 && !ch->current && ch->sync == SYNC_IN_STEP && ch->queue;
}

static void channel_start(AtChannel *ch, AtCommand *cmd) {
        int r;

        assert(!ch->current);

        cmd->next = NULL;
        ch->current = cmd;
        channel_trace(ch, "-->", cmd->command, cmd->sensitive, true);

        r = channel_arm_timer(ch->timeout_source, usec_add(channel_now(ch), cmd->timeout));
        if (r < 0) {
                /* A command without its timer could wait forever: a channel that cannot keep that
                 * promise is of no use to anyone. */
                log_debug_errno(r, "%s: failed to arm the command timer: %m", ch->name);
                channel_port_lost(ch, r);
                return;
        }

        channel_write(ch);
}

static void channel_start_next(AtChannel *ch) {
        AtCommand *cmd;

        if (!channel_can_start(ch))
                return;

        /* Whatever the module sent before this command is written can never be part of its reply:
         * consume it now, with no command in flight (a stray second "OK" is dropped here). The
         * reads are bounded, so a port that never stops sending delays the command, not forever. */
        channel_read_pending(ch);
        if (!channel_can_start(ch))
                return;

        cmd = ch->queue;
        ch->queue = cmd->next;
        if (!ch->queue)
                ch->queue_tail = &ch->queue;

        channel_start(ch, cmd);
}

/* From event handlers only: if the deferred start cannot be scheduled, it starts at once. */
static void channel_schedule(AtChannel *ch) {
        if (!channel_can_start(ch))
                return;

        if (sd_event_source_set_enabled(ch->kick_source, SD_EVENT_ONESHOT) < 0)
                channel_start_next(ch);
}

static void channel_stop_command_io(AtChannel *ch) {
        (void) sd_event_source_set_enabled(ch->timeout_source, SD_EVENT_OFF);
        channel_want_write(ch, false);
}

/* Arms the quiet window to end resync_quiet after base, but never after this phase's limit. */
static void channel_arm_quiet(AtChannel *ch, usec_t base) {
        usec_t quiet_end = usec_add(base, ch->resync_quiet),
                limit = usec_add(ch->sync_phase_start, ch->default_timeout);
        int r;

        r = channel_arm_timer(ch->quiet_source, quiet_end < limit ? quiet_end : limit);
        if (r < 0) {
                log_debug_errno(r, "%s: failed to arm the resync timer: %m", ch->name);
                channel_port_lost(ch, r);
        }
}

static void channel_enter_phase(AtChannel *ch, SyncState sync) {
        usec_t now = channel_now(ch);

        ch->sync = sync;
        ch->sync_phase_start = now;
        ch->last_noise = now;
        channel_arm_quiet(ch, now);
}

static void channel_desync(AtChannel *ch) {
        log_debug("%s: out of step with the module, draining", ch->name);
        channel_enter_phase(ch, SYNC_DRAINING);
}

/* Input that is not a URC: the port is not quiet yet. */
static void channel_noise(AtChannel *ch) {
        if (ch->sync != SYNC_DRAINING && ch->sync != SYNC_CONFIRMING)
                return;

        ch->last_noise = channel_now(ch);
        channel_arm_quiet(ch, ch->last_noise);
}

static void channel_probe_failed(AtChannel *ch, const char *why) {
        ch->failed_probes++;
        log_debug("%s: resync attempt %u of %u failed: %s", ch->name, ch->failed_probes, AT_RESYNC_PROBES_MAX, why);

        if (ch->failed_probes >= AT_RESYNC_PROBES_MAX) {
                channel_port_lost(ch, -ETIMEDOUT);
                return;
        }

        channel_desync(ch);
}

static void channel_probe(AtChannel *ch) {
        AtCommand *probe;
        int r;

        r = command_new("AT", NULL, ch->default_timeout, &probe);
        if (r < 0) {
                channel_probe_failed(ch, "out of memory");
                return;
        }
        probe->probe = true;

        (void) sd_event_source_set_enabled(ch->quiet_source, SD_EVENT_OFF);
        /* A stale fragment of the late reply must not prefix the probe's answer. */
        at_tokenizer_reset(&ch->tokenizer);
        ch->sync = SYNC_PROBING;
        channel_start(ch, probe);
}

static void channel_probe_answered(AtChannel *ch, AtResult result) {
        if (result != AT_RESULT_OK) {
                channel_probe_failed(ch, "the probe was not answered with OK");
                return;
        }

        channel_enter_phase(ch, SYNC_CONFIRMING);
}

static void channel_in_step(AtChannel *ch) {
        (void) sd_event_source_set_enabled(ch->quiet_source, SD_EVENT_OFF);
        ch->sync = SYNC_IN_STEP;
        ch->failed_probes = 0;
        log_debug("%s: in step with the module again", ch->name);
        channel_schedule(ch);
}

static void channel_quiet_elapsed(AtChannel *ch) {
        bool quiet, limit;
        usec_t now;

        /* Bytes that arrived since the loop last looked count against the silence. */
        channel_read_pending(ch);
        if (ch->fd < 0)
                return;

        now = channel_now(ch);
        quiet = now >= usec_add(ch->last_noise, ch->resync_quiet);
        limit = now >= usec_add(ch->sync_phase_start, ch->default_timeout);

        switch (ch->sync) {
        case SYNC_DRAINING:
                if (!quiet && !limit) {
                        channel_arm_quiet(ch, ch->last_noise);
                        return;
                }
                if (!quiet)
                        log_debug("%s: the port does not go quiet, probing anyway", ch->name);
                channel_probe(ch);
                return;

        case SYNC_CONFIRMING:
                if (!quiet && !limit) {
                        channel_arm_quiet(ch, ch->last_noise);
                        return;
                }
                if (!quiet) {
                        channel_probe_failed(ch, "the port did not go quiet after the probe");
                        return;
                }
                channel_in_step(ch);
                return;

        case SYNC_IN_STEP:
        case SYNC_PROBING:
                return; /* a stale expiry */
        }
}

static void channel_complete(AtChannel *ch, AtResult result, int error_code) {
        _cleanup_(command_freep) AtCommand *cmd = TAKE_PTR(ch->current);

        channel_stop_command_io(ch);
        command_finish(ch, cmd, result, error_code);
        if (ch->fd >= 0)
                channel_schedule(ch);
}

static const UrcRegistration *channel_find_urc(AtChannel *ch, const char *text) {
        const UrcRegistration *best = NULL;

        for (size_t i = 0; i < ch->n_urcs; i++)
                if ((!best || ch->urcs[i].prefix_len > best->prefix_len) &&
                    strncmp(text, ch->urcs[i].prefix, ch->urcs[i].prefix_len) == 0)
                        best = &ch->urcs[i];

        return best;
}

static void channel_on_echo(AtChannel *ch) {
        switch (ch->sync) {
        case SYNC_IN_STEP:
        case SYNC_PROBING:
                return; /* our command coming back */
        case SYNC_DRAINING:
                channel_noise(ch);
                return;
        case SYNC_CONFIRMING:
                /* The probe's echo always comes before its OK: the OK we took was a late one. */
                channel_probe_failed(ch, "the probe's echo came after a final result");
                return;
        }
}

static void channel_on_final(AtChannel *ch, const AtLine *line) {
        AtResult result = result_from_line_kind(line->kind);
        AtCommand *cmd = ch->current;

        switch (ch->sync) {
        case SYNC_IN_STEP:
                if (!command_awaits_reply(cmd)) {
                        log_debug("%s: stray final result, dropped", ch->name);
                        return;
                }
                channel_complete(ch, result, line->error_code);
                return;

        case SYNC_DRAINING:
                channel_noise(ch);
                return;

        case SYNC_PROBING:
                if (!command_awaits_reply(cmd))
                        return;
                channel_stop_command_io(ch);
                ch->current = command_free(cmd);
                channel_probe_answered(ch, result);
                return;

        case SYNC_CONFIRMING:
                channel_probe_failed(ch, "a second final result followed the probe's");
                return;
        }
}

static void channel_on_text(AtChannel *ch, const AtLine *line) {
        const UrcRegistration *urc;
        AtCommand *cmd = ch->sync == SYNC_IN_STEP && command_awaits_reply(ch->current) ? ch->current : NULL;

        /* "+CPIN: READY" is both the answer to AT+CPIN? and a URC: while that command waits, the
         * line is its answer. */
        if (cmd && cmd->response_prefix && startswith(line->text, cmd->response_prefix)) {
                command_add_line(ch, cmd, line->text);
                return;
        }

        urc = channel_find_urc(ch, line->text);
        if (urc) {
                /* Copied out: the handler may register more handlers (moving the array) or free
                 * the channel. */
                AtUrcHandler handler = urc->handler;
                void *userdata = urc->userdata;

                handler(ch, line->text, userdata);
                return;
        }

        switch (ch->sync) {
        case SYNC_IN_STEP:
                if (!cmd) {
                        log_debug("%s: unsolicited line with no handler, dropped", ch->name);
                        return;
                }
                command_add_line(ch, cmd, line->text);
                return;
        case SYNC_DRAINING:
        case SYNC_CONFIRMING:
                channel_noise(ch);
                return;
        case SYNC_PROBING:
                return; /* the late reply's information lines */
        }
}

static void channel_on_line(const AtLine *line, void *userdata) {
        AtChannel *ch = userdata;
        _cleanup_free_ char *escaped = NULL;
        AtLine safe;

        /* An earlier line of this read lost the port, or a callback freed the channel. */
        if (ch->fd < 0)
                return;

        /* A module line is foreign text: escaped here, once, before anything logs it, records it
         * or hands it on (escape.h). The tokenizer took out C0 controls; what is left to do is
         * invalid UTF-8, C1 controls and backslashes, which a module line rarely has. */
        if (line->kind != AT_LINE_OVERLONG && !text_is_safe(line->text, line->length, SIZE_MAX)) {
                escaped = escape_foreign(line->text, line->length, 4 * AT_LINE_MAX + 64);
                if (!escaped)
                        return; /* out of memory: the line is lost, as if garbled */
                safe = *line;
                safe.text = escaped;
                safe.length = strlen(escaped);
                line = &safe;
        }

        switch (line->kind) {
        case AT_LINE_OVERLONG:
                log_debug("%s: <-- <overlong line, %zu bytes dropped>", ch->name, line->length);
                channel_noise(ch);
                return;

        case AT_LINE_ECHO:
                /* The echo repeats our command, which the "-->" line already showed as far as it
                 * may be shown. A late echo can no longer be matched to its command's sensitivity,
                 * so every echo loses its arguments (everything after '='). */
                channel_trace(ch, "<--", line->text, strchr(line->text, '='), false);
                channel_on_echo(ch);
                return;

        case AT_LINE_OK:
        case AT_LINE_ERROR:
        case AT_LINE_CME_ERROR:
        case AT_LINE_CMS_ERROR:
                channel_trace(ch, "<--", line->text, false, false);
                channel_on_final(ch, line);
                return;

        case AT_LINE_TEXT:
        case AT_LINE_CONNECT:   /* no data mode (yet): to the command, like any other line */
        case AT_LINE_PROMPT:
                channel_trace(ch, "<--", line->text, false, false);
                channel_on_text(ch, line);
                return;

        case _AT_LINE_KIND_MAX:
        case _AT_LINE_KIND_INVALID:
                return;
        }
}

static void channel_enter(AtChannel *ch) {
        ch->dispatching++;
}

static void channel_destroy(AtChannel *ch);

static int channel_leave(AtChannel *ch) {
        assert(ch->dispatching > 0);

        if (--ch->dispatching == 0 && ch->freed)
                channel_destroy(ch);
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AtChannel *ch = userdata;

        channel_enter(ch);

        if (revents & EPOLLOUT)
                channel_write(ch);

        if (ch->fd >= 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                (void) channel_read(ch, revents);

        return channel_leave(ch);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        AtChannel *ch = userdata;
        _cleanup_(command_freep) AtCommand *cmd = NULL;

        channel_enter(ch);

        cmd = TAKE_PTR(ch->current);
        if (!cmd)
                return channel_leave(ch);

        /* The rest of a partly written command is dropped; if the module holds a fragment of it,
         * the probe's line becomes garbage, is answered ERROR, and the next probe succeeds. */
        channel_want_write(ch, false);

        if (cmd->probe)
                channel_probe_failed(ch, "the probe timed out");
        else {
                log_debug("%s: command timed out", ch->name);
                channel_desync(ch);
                if (!ch->freed)
                        command_finish(ch, cmd, AT_RESULT_TIMEOUT, -1);
        }

        return channel_leave(ch);
}

static int on_quiet(sd_event_source *s, uint64_t usec, void *userdata) {
        AtChannel *ch = userdata;

        channel_enter(ch);
        channel_quiet_elapsed(ch);
        return channel_leave(ch);
}

static int on_kick(sd_event_source *s, void *userdata) {
        AtChannel *ch = userdata;

        channel_enter(ch);
        channel_start_next(ch);
        return channel_leave(ch);
}

static int tty_configure(int fd) {
        struct termios t;

        if (tcgetattr(fd, &t) < 0)
                return -errno;

        cfmakeraw(&t);
        t.c_cflag &= ~(CSTOPB | CRTSCTS);
        t.c_cflag |= CS8 | CLOCAL | CREAD;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        if (cfsetispeed(&t, B115200) < 0 || cfsetospeed(&t, B115200) < 0)
                return -errno;

        /* TCSANOW, and no tcflush(): URCs that came while nobody had the port open (the first
         * "+QIND" after a module reboot) are exactly what the caller needs to read. */
        if (tcsetattr(fd, TCSANOW, &t) < 0)
                return -errno;

        return 0;
}

static int channel_describe(AtChannel *ch, sd_event_source *s, const char *what) {
        char description[128];

        (void) snprintf(description, sizeof(description), "at-%s:%s", what, ch->name);
        return sd_event_source_set_description(s, description);
}

static int channel_add_timer(AtChannel *ch, sd_event_source **ret, sd_event_time_handler_t handler, const char *what) {
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *s = NULL;
        int r;

        r = sd_event_add_time(ch->event, &s, CLOCK_BOOTTIME, 0, AT_TIMER_ACCURACY, handler, ch);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = channel_describe(ch, s, what);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

int at_channel_open(sd_event *e, const char *path, const AtChannelOptions *opts, AtChannel **ret) {
        _cleanup_(at_channel_freep) AtChannel *ch = NULL;
        int r;

        if (!e || isempty(path) || !ret)
                return -EINVAL;

        ch = calloc(1, sizeof(AtChannel));
        if (!ch)
                return -ENOMEM;

        ch->fd = -EBADF;
        ch->queue_tail = &ch->queue;
        ch->event = sd_event_ref(e);
        ch->default_timeout = opts && opts->default_timeout > 0 ? opts->default_timeout : AT_DEFAULT_TIMEOUT;
        ch->resync_quiet = opts && opts->resync_quiet > 0 ? opts->resync_quiet : AT_DEFAULT_RESYNC_QUIET;
        at_tokenizer_init(&ch->tokenizer);

        ch->path = strdup(path);
        ch->name = strdup(opts && !isempty(opts->name) ? opts->name : path);
        if (!ch->path || !ch->name)
                return -ENOMEM;

        ch->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (ch->fd < 0)
                return -errno;

        r = tty_configure(ch->fd);
        if (r < 0)
                return r;

        r = sd_event_add_io(e, &ch->io_source, ch->fd, EPOLLIN, on_io, ch);
        if (r < 0)
                return r;
        r = channel_describe(ch, ch->io_source, "io");
        if (r < 0)
                return r;

        r = channel_add_timer(ch, &ch->timeout_source, on_timeout, "timeout");
        if (r < 0)
                return r;
        r = channel_add_timer(ch, &ch->quiet_source, on_quiet, "resync");
        if (r < 0)
                return r;

        r = sd_event_add_defer(e, &ch->kick_source, on_kick, ch);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(ch->kick_source, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = channel_describe(ch, ch->kick_source, "kick");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ch);
        return 0;
}

static void channel_destroy(AtChannel *ch) {
        for (size_t i = 0; i < ch->n_urcs; i++)
                free(ch->urcs[i].prefix);
        free(ch->urcs);
        free(ch->path);
        free(ch->name);
        sd_event_unref(ch->event);
        free(ch);
}

AtChannel *at_channel_free(AtChannel *ch) {
        AtCommand *pending;

        if (!ch || ch->freed)
                return NULL;

        channel_close(ch);

        pending = channel_take_commands(ch);
        while (pending) {
                AtCommand *next = pending->next;

                command_free(pending);
                pending = next;
        }

        ch->freed = true;
        if (ch->dispatching == 0)
                channel_destroy(ch);

        return NULL;
}

int at_channel_send(
                AtChannel *ch,
                const char *command,
                const AtCommandOptions *opts,
                AtCommandCallback callback,
                void *userdata,
                uint64_t *ret_id) {

        AtCommand *cmd;
        int r;

        if (!ch || isempty(command) || strpbrk(command, "\r\n"))
                return -EINVAL;
        if (ch->fd < 0)
                return -ENOTCONN;

        r = command_new(command, opts, ch->default_timeout, &cmd);
        if (r < 0)
                return r;

        /* Written from the event loop, never from here: the caller gets no callback (and no port
         * loss) in the middle of sending. */
        if (!ch->current && ch->sync == SYNC_IN_STEP && !ch->queue) {
                r = sd_event_source_set_enabled(ch->kick_source, SD_EVENT_ONESHOT);
                if (r < 0) {
                        command_free(cmd);
                        return r;
                }
        }

        cmd->id = ++ch->last_id;
        cmd->callback = callback;
        cmd->userdata = userdata;
        *ch->queue_tail = cmd;
        ch->queue_tail = &cmd->next;

        if (ret_id)
                *ret_id = cmd->id;
        return 0;
}

int at_channel_cancel(AtChannel *ch, uint64_t id) {
        if (!ch)
                return -EINVAL;

        if (ch->current && !ch->current->probe && !ch->current->cancelled && ch->current->id == id) {
                ch->current->cancelled = true;
                return 0;
        }

        for (AtCommand **p = &ch->queue; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        AtCommand *cmd = *p;

                        *p = cmd->next;
                        if (ch->queue_tail == &cmd->next)
                                ch->queue_tail = p;
                        command_free(cmd);
                        return 0;
                }

        return -ENOENT;
}

int at_channel_add_urc_handler(AtChannel *ch, const char *prefix, AtUrcHandler handler, void *userdata) {
        UrcRegistration *urcs;
        char *p;

        if (!ch || isempty(prefix) || !handler)
                return -EINVAL;

        urcs = reallocarray(ch->urcs, ch->n_urcs + 1, sizeof(UrcRegistration));
        if (!urcs)
                return -ENOMEM;
        ch->urcs = urcs;

        p = strdup(prefix);
        if (!p)
                return -ENOMEM;

        ch->urcs[ch->n_urcs++] = (UrcRegistration) {
                .prefix = p,
                .prefix_len = strlen(p),
                .handler = handler,
                .userdata = userdata,
        };
        return 0;
}

void at_channel_set_port_lost_handler(AtChannel *ch, AtPortLostHandler handler, void *userdata) {
        if (!ch)
                return;

        ch->port_lost_handler = handler;
        ch->port_lost_userdata = userdata;
}

bool at_channel_is_open(const AtChannel *ch) {
        return ch && ch->fd >= 0;
}

size_t at_channel_pending(const AtChannel *ch) {
        size_t n = 0;

        if (!ch)
                return 0;

        if (ch->current && !ch->current->probe && !ch->current->cancelled)
                n++;
        for (const AtCommand *c = ch->queue; c; c = c->next)
                n++;

        return n;
}

const char *at_channel_get_path(const AtChannel *ch) {
        return ch ? ch->path : NULL;
}
