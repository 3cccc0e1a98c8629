/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging. Under journald (JOURNAL_STREAM names our stderr) every entry is sent with
 * sd_journal_sendv() carrying PRIORITY=, CODE_FILE=, CODE_LINE=, CODE_FUNC=, SYSLOG_IDENTIFIER=dfotad
 * and the DFOTAD_* fields of its LogContext; otherwise a readable line goes to stderr:
 *
 *     dfotad: <level>: [<modem> <job_id>] message
 *
 * The message IDs of operator-relevant events are explained in systemd/dfotad.catalog. */

#include <syslog.h>

#include "macro.h"

#define DFOTAD_MESSAGE_JOB_STATE          "9d4fa92622f243d3bac4a96a33ab63c5"
#define DFOTAD_MESSAGE_JOB_SUCCEEDED      "a3109c6c49054dabb6a222e10e84eebb"
#define DFOTAD_MESSAGE_JOB_FAILED         "817c940d19104fe19cbf9df8f1b8a1da"
#define DFOTAD_MESSAGE_JOB_REJECTED       "e4989df359a04b7fb6dfeaba7737140d"
#define DFOTAD_MESSAGE_WATCHDOG_RESET     "b8775dde3fec483da0a8f79012454bbb"
#define DFOTAD_MESSAGE_PORT_LOST          "81efb2a843fb40ad882a6a61cb1a47e3"
#define DFOTAD_MESSAGE_MODULE_ERROR       "59011fb1a4e948c4a64bf0f40351ec07"
#define DFOTAD_MESSAGE_QFOTADL_SENT       "1c6fca05bbe4440884ee0df7a64d8962"
#define DFOTAD_MESSAGE_CP_CONNECTED      "f7152f8692684b0bb52f71140dae5967"
#define DFOTAD_MESSAGE_CP_UNREACHABLE    "0be49d68b6e8451a9192c5c14a47a9ee"
#define DFOTAD_MESSAGE_CP_JOB_ENDED      "f8947c9a89304dec9554ffa8858fd48a"
#define DFOTAD_MESSAGE_STATE_UNWRITABLE  "9b08a7c782864b5583c99225b6a2128d"
#define DFOTAD_MESSAGE_STATE_WRITABLE    "a381b5db5c88475f8e43531ac8960cb8"

/* Structured context of an entry. Every field may be NULL and is then omitted. Borrowed: the
 * strings only need to live for the duration of the call. */
typedef struct LogContext {
        const char *modem;          /* DFOTAD_MODEM=: the modem's AT port path */
        const char *imei;           /* DFOTAD_MODEM_IMEI= */
        const char *job_id;         /* DFOTAD_JOB_ID= */
        const char *state;          /* DFOTAD_STATE= */
        const char *module_error;   /* DFOTAD_MODULE_ERROR=: the module's code, e.g. "701" */
        const char *message_id;     /* MESSAGE_ID=: one of DFOTAD_MESSAGE_* */
        const char *const *extra;   /* NULL-terminated list of further "KEY=value" journal fields */
} LogContext;

/* Chooses the journal or stderr (by comparing JOURNAL_STREAM's device:inode with fd 2). Call once
 * at start, before any other log call; without it, stderr is used. */
void log_setup(void);

/* Forces the target: true = journal, false = stderr. For tests. */
void log_set_journal(bool journal);

/* Entries with a level numerically above max_level (LOG_DEBUG..LOG_EMERG from <syslog.h>) are
 * dropped. Default LOG_INFO. */
void log_set_max_level(int level);
int log_get_max_level(void);

/* "debug", "info", "notice", "warning", "err" (also "error"), "crit", "alert", "emerg", or a
 * digit 0-7. Returns the syslog level, or -EINVAL. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

/* Emits one entry. error is a (positive or negative) errno or 0; "%m" in format expands to its
 * strerror(). Returns -abs(error) (so `return log_error_errno(r, ...)` propagates r), or 0 when
 * error is 0. errno is preserved. */
int log_internal(
                int level,
                int error,
                const LogContext *ctx,
                const char *file,
                int line,
                const char *func,
                const char *format, ...) _printf_(7, 8);

#define log_ctx_full_errno(ctx, level, error, ...) \
        log_internal((level), (error), (ctx), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_full_errno(level, error, ...) log_ctx_full_errno(NULL, level, error, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...)  log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_ctx_debug(ctx, ...)   log_ctx_full_errno(ctx, LOG_DEBUG, 0, __VA_ARGS__)
#define log_ctx_info(ctx, ...)    log_ctx_full_errno(ctx, LOG_INFO, 0, __VA_ARGS__)
#define log_ctx_notice(ctx, ...)  log_ctx_full_errno(ctx, LOG_NOTICE, 0, __VA_ARGS__)
#define log_ctx_warning(ctx, ...) log_ctx_full_errno(ctx, LOG_WARNING, 0, __VA_ARGS__)
#define log_ctx_error(ctx, ...)   log_ctx_full_errno(ctx, LOG_ERR, 0, __VA_ARGS__)
#define log_ctx_warning_errno(ctx, e, ...) log_ctx_full_errno(ctx, LOG_WARNING, e, __VA_ARGS__)
#define log_ctx_error_errno(ctx, e, ...)   log_ctx_full_errno(ctx, LOG_ERR, e, __VA_ARGS__)
