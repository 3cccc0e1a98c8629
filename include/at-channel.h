/* SPDX-License-Identifier: MIT */
#pragma once

/* The AT channel: owns one tty (the module's AT port) on an sd-event loop.
 *
 *  - Opened O_RDWR|O_NOCTTY|O_NONBLOCK|O_CLOEXEC, raw termios, 115200 8N1, no flow control. Modem
 *    control ioctls are not used (ptys reject them).
 *  - One command in flight; further commands queue in order. Each has its own timeout.
 *  - Final results: OK, ERROR, +CME ERROR: <n>, +CMS ERROR: <n> (V.250 §5.7, TS 27.007 §9.2).
 *  - After a timeout the channel is out of step with the module: a late reply must never answer the
 *    next command. It drains input until the port has been quiet for resync_quiet, then sends a
 *    bare "AT" probe and waits until its OK has been followed by resync_quiet of silence; an echo
 *    or a second final result in that window means the OK was the late reply's, and it starts
 *    over. Only URCs do not break the silence, and no wait lasts longer than default_timeout.
 *    Queued commands wait meanwhile; URCs are still dispatched. Three failed probes in a row
 *    (no OK, no silence, or a timeout) report the port lost with -ETIMEDOUT. The reasoning is in
 *    at-channel.c, SyncState.
 *  - Nothing that arrived before a command was written in full (its CR out) is part of its
 *    response: a stray final result between two commands is dropped. (What is still unread when
 *    the command is due is read first, up to 64 KiB, so a port that never stops sending cannot
 *    hold the queue up.)
 *  - Every line from the module is foreign text and is handed on escaped (escape.h): valid UTF-8,
 *    no control character, backslashes doubled. What callers and the log see is that text.
 *  - URCs are dispatched by line prefix to registered handlers, also while a command is in
 *    flight. A line that starts with the running command's response_prefix belongs to the command
 *    even if a URC handler matches too ("+CPIN: READY" is both).
 *  - Port loss (EOF, EIO, ENODEV, EPOLLHUP/EPOLLERR, a failed write, or a failed resync) closes the
 *    fd and releases its event sources, completes every pending command with AT_RESULT_PORT_LOST
 *    in the order they were sent (sends from those callbacks get -ENOTCONN), then calls the
 *    port-lost handler. The object stays allocated until its owner frees it.
 *  - The wire trace ("<name>: --> AT+CSQ<CR>", "<name>: <-- +CSQ: 23,99") is logged at debug
 *    level; see at_command_redact() for what commands sent with .sensitive show. Echoes lose
 *    everything after '=', and URL passwords are always masked. */

#include <systemd/sd-event.h>

#include "macro.h"

typedef struct AtChannel AtChannel;

typedef enum AtResult {
        AT_RESULT_OK,
        AT_RESULT_ERROR,
        AT_RESULT_CME_ERROR,
        AT_RESULT_CMS_ERROR,
        AT_RESULT_TIMEOUT,
        AT_RESULT_PORT_LOST,
        _AT_RESULT_MAX,
        _AT_RESULT_INVALID = -EINVAL,
} AtResult;

DECLARE_STRING_TABLE_LOOKUP(at_result, AtResult);

typedef struct AtResponse {
        AtResult result;
        int error_code;             /* CME/CMS error number, -1 if none or textual */
        char **lines;               /* information lines (echo removed), NULL-terminated, never NULL; borrowed
                                     * during the callback. On TIMEOUT/PORT_LOST: the lines received so far. */
        size_t n_lines;
        bool written;               /* the whole command line (its CR included) went out to the port: the
                                     * module has it, whether it answered or not */
} AtResponse;

/* Called exactly once per command sent, unless the channel is freed first or the command is
 * cancelled. Never called from inside at_channel_send(), only from the event loop. The callback
 * may send further commands and may free the channel. */
typedef void (*AtCommandCallback)(AtChannel *ch, const AtResponse *response, void *userdata);
/* line: the whole URC line, sanitized by the tokenizer; borrowed. May free the channel. */
typedef void (*AtUrcHandler)(AtChannel *ch, const char *line, void *userdata);
/* error: negative errno (-ENODEV, -EIO, -EPIPE for EOF/hangup, -ETIMEDOUT after failed resync). */
typedef void (*AtPortLostHandler)(AtChannel *ch, int error, void *userdata);

typedef struct AtChannelOptions {
        usec_t default_timeout;     /* for commands sent with timeout 0; default 5 s */
        usec_t resync_quiet;        /* silence needed to consider the port drained; default 200 ms */
        const char *name;           /* for log lines; default: the path */
} AtChannelOptions;

typedef struct AtCommandOptions {
        usec_t timeout;             /* 0: the channel default */
        const char *response_prefix;/* e.g. "+CPIN:"; may be NULL */
        bool sensitive;             /* redact the arguments in the trace */
} AtCommandOptions;

/* Opens path and attaches it to e. opts may be NULL for defaults. Returns 0 and the channel in
 * *ret, or a negative errno from open()/tcsetattr() (-ENOENT when the port is not there). */
int at_channel_open(sd_event *e, const char *path, const AtChannelOptions *opts, AtChannel **ret);

/* Closes the port (if still open) and frees. Pending commands are dropped without callbacks.
 * Safe to call from inside any of the channel's callbacks. Returns NULL. */
AtChannel *at_channel_free(AtChannel *ch);
DEFINE_TRIVIAL_CLEANUP_FUNC(AtChannel *, at_channel_free);

/* command without the trailing "\r", e.g. "AT+QFOTADL=\"http://h/p.zip\"". Copies what it needs.
 * opts and callback may be NULL. *ret_id (may be NULL) identifies the command for
 * at_channel_cancel(). The command is written from the event loop once the ones before it have
 * completed and the channel is in step with the module.
 * Returns 0, -ENOTCONN when the port is closed, -EINVAL for an empty command or one containing
 * CR/LF, or -ENOMEM. */
int at_channel_send(
                AtChannel *ch,
                const char *command,
                const AtCommandOptions *opts,
                AtCommandCallback callback,
                void *userdata,
                uint64_t *ret_id);

/* Drops a queued command, or forgets the callback of the one in flight (its reply is then still
 * consumed and discarded). Returns 0 or -ENOENT. */
int at_channel_cancel(AtChannel *ch, uint64_t id);

/* Registers a handler for lines starting with prefix (e.g. "+QIND:", "RDY"). Several handlers may
 * be registered; the longest matching prefix wins (the first registered, among equals). Returns 0,
 * -EINVAL for an empty prefix, or -ENOMEM. */
int at_channel_add_urc_handler(AtChannel *ch, const char *prefix, AtUrcHandler handler, void *userdata);

void at_channel_set_port_lost_handler(AtChannel *ch, AtPortLostHandler handler, void *userdata);

/* True while the fd is open. */
bool at_channel_is_open(const AtChannel *ch);

/* Number of commands queued or in flight. */
size_t at_channel_pending(const AtChannel *ch);

const char *at_channel_get_path(const AtChannel *ch);

/* The form of a command line that may be logged, as the wire trace shows it: with sensitive, only
 * the part up to and including the first '=' followed by "<redacted>" (just "<redacted>" if there
 * is no '='); always, the password of every URL ("scheme://user:PASSWORD@host") replaced by
 * "***". Pure. Returns 0 and a new string in *ret, or -ENOMEM. */
int at_command_redact(const char *command, bool sensitive, char **ret);
