/* SPDX-License-Identifier: MIT */

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>

/* We send the caller's CODE_FILE=/CODE_LINE=/CODE_FUNC=; without this, sd_journal_sendv() is a
 * macro that adds a second set naming this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static int log_max_level = LOG_INFO;
static bool log_to_journal = false;

/* The syslog names, as systemd's LogLevelMax= and journalctl -p spell them. */
static const char *const log_level_table[] = {
        [LOG_EMERG]   = "emerg",
        [LOG_ALERT]   = "alert",
        [LOG_CRIT]    = "crit",
        [LOG_ERR]     = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE]  = "notice",
        [LOG_INFO]    = "info",
        [LOG_DEBUG]   = "debug",
};

/* What a person reading stderr sees: "err" is jargon there. */
static const char *const log_level_label_table[] = {
        [LOG_EMERG]   = "emergency",
        [LOG_ALERT]   = "alert",
        [LOG_CRIT]    = "critical",
        [LOG_ERR]     = "error",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE]  = "notice",
        [LOG_INFO]    = "info",
        [LOG_DEBUG]   = "debug",
};

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(log_level_table))
                return NULL;
        return log_level_table[level];
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;

        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';

        if (streq(s, "error"))
                return LOG_ERR;

        for (size_t i = 0; i < ELEMENTSOF(log_level_table); i++)
                if (streq(log_level_table[i], s))
                        return (int) i;

        return -EINVAL;
}

void log_set_journal(bool journal) {
        log_to_journal = journal;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_setup(void) {
        const char *e;
        unsigned long long dev, ino;
        struct stat st;
        int n = 0;

        /* journald sets JOURNAL_STREAM for the stream it connects to stdout/stderr. It is inherited
         * by children whose stderr goes elsewhere (a shell redirect, a test harness), so it only
         * counts if it still names our fd 2. */
        log_to_journal = false;

        e = getenv("JOURNAL_STREAM");
        if (!e)
                return;

        if (sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
                return;

        if (fstat(STDERR_FILENO, &st) < 0)
                return;

        log_to_journal = st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

/* Replaces every "%m" in format by strerror(error), with any '%' in that text doubled so that it
 * stays literal, and leaves "%%m" (a literal "%m") alone. Returns NULL on OOM. */
static char *format_expand_m(const char *format, int error) {
        char errbuf[256];
        const char *msg = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        if (!strstr(format, "%m"))
                return strdup(format);

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        for (const char *p = format; *p; p++) {
                if (p[0] != '%') {
                        fputc(p[0], f);
                        continue;
                }

                if (p[1] == 'm') {
                        if (!msg)
                                msg = strerror_r(error, errbuf, sizeof(errbuf));
                        for (const char *q = msg; *q; q++) {
                                if (*q == '%')
                                        fputc('%', f);
                                fputc(*q, f);
                        }
                        p++;
                        continue;
                }

                /* Copy "%%" as a pair, so that its second '%' cannot start a "%m". */
                fputc('%', f);
                if (p[1] == '%') {
                        fputc('%', f);
                        p++;
                }
        }

        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }

        return buf;
}

static char *format_message(int error, const char *format, va_list ap) {
        _cleanup_free_ char *fmt = NULL;
        char *s;

        fmt = format_expand_m(format, error);
        if (!fmt)
                return NULL;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
#pragma GCC diagnostic pop

        return s;
}

/* One write() per line: lines from one process never interleave, and a short write on a pipe is
 * only possible past PIPE_BUF, in which case we finish the line. */
static void write_full_stderr(const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(STDERR_FILENO, s, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                s += k;
                n -= (size_t) k;
        }
}

static void log_to_stderr(int level, const LogContext *ctx, const char *message) {
        const char *modem = ctx ? ctx->modem : NULL, *job_id = ctx ? ctx->job_id : NULL;
        _cleanup_free_ char *line = NULL;
        int n;

        n = asprintf(&line, "dfotad: %s: %s%s%s%s%s%s\n",
                     log_level_label_table[level],
                     modem || job_id ? "[" : "",
                     modem ?: "",
                     modem && job_id ? " " : "",
                     job_id ?: "",
                     modem || job_id ? "] " : "",
                     message);
        if (n < 0)
                return;

        write_full_stderr(line, (size_t) n);
}

/* The fields we format ourselves; the caller's "extra" fields are passed through as they are. */
#define LOG_JOURNAL_OWN_FIELDS_MAX 13

static int iovec_put_printf(struct iovec *iov, size_t *n, const char *format, ...) _printf_(3, 4);
static int iovec_put_printf(struct iovec *iov, size_t *n, const char *format, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        iov[(*n)++] = (struct iovec) { .iov_base = s, .iov_len = (size_t) k };
        return 0;
}

static int log_to_journal_send(
                int level,
                int error,
                const LogContext *ctx,
                const char *file,
                int line,
                const char *func,
                const char *message) {

        struct {
                const char *name;
                const char *value;
        } ctx_fields[] = {
                { "DFOTAD_MODEM",        ctx ? ctx->modem : NULL        },
                { "DFOTAD_MODEM_IMEI",   ctx ? ctx->imei : NULL         },
                { "DFOTAD_JOB_ID",       ctx ? ctx->job_id : NULL       },
                { "DFOTAD_STATE",        ctx ? ctx->state : NULL        },
                { "DFOTAD_MODULE_ERROR", ctx ? ctx->module_error : NULL },
                { "MESSAGE_ID",          ctx ? ctx->message_id : NULL   },
        };
        _cleanup_free_ struct iovec *iov = NULL;
        size_t n_extra = 0, n_own = 0, n;
        int r = 0;

        if (ctx && ctx->extra)
                while (ctx->extra[n_extra])
                        n_extra++;

        iov = calloc(LOG_JOURNAL_OWN_FIELDS_MAX + n_extra, sizeof(struct iovec));
        if (!iov)
                return -ENOMEM;

        if (iovec_put_printf(iov, &n_own, "MESSAGE=%s", message) < 0 ||
            iovec_put_printf(iov, &n_own, "PRIORITY=%i", level) < 0 ||
            iovec_put_printf(iov, &n_own, "SYSLOG_IDENTIFIER=dfotad") < 0 ||
            iovec_put_printf(iov, &n_own, "CODE_FILE=%s", file) < 0 ||
            iovec_put_printf(iov, &n_own, "CODE_LINE=%i", line) < 0 ||
            iovec_put_printf(iov, &n_own, "CODE_FUNC=%s", func) < 0 ||
            (error != 0 && iovec_put_printf(iov, &n_own, "ERRNO=%i", error) < 0)) {
                r = -ENOMEM;
                goto finish;
        }

        for (size_t i = 0; i < ELEMENTSOF(ctx_fields); i++)
                if (ctx_fields[i].value &&
                    iovec_put_printf(iov, &n_own, "%s=%s", ctx_fields[i].name, ctx_fields[i].value) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }

        n = n_own;
        for (size_t i = 0; i < n_extra; i++)
                iov[n++] = (struct iovec) {
                        .iov_base = (char *) ctx->extra[i],
                        .iov_len = strlen(ctx->extra[i]),
                };

        r = sd_journal_sendv(iov, (int) n);

finish:
        for (size_t i = 0; i < n_own; i++)
                free(iov[i].iov_base);
        return r;
}

int log_internal(
                int level,
                int error,
                const LogContext *ctx,
                const char *file,
                int line,
                const char *func,
                const char *format, ...) {

        _cleanup_free_ char *message = NULL;
        int saved_errno = errno;
        va_list ap;

        error = abs(error);
        level = LOG_PRI(level);

        if (level > log_max_level)
                goto finish;

        va_start(ap, format);
        message = format_message(error, format, ap);
        va_end(ap);

        /* __FILE__ is the path the build passed to the compiler ("../daemon/x.c" from build/,
         * "../../src/dfotad/daemon/x.c" from elsewhere): report it relative to the source tree. */
        const char *p = strstr(file, "daemon/");
        if (p)
                file = p;

        /* Out of memory: the unformatted text still says which message it was. */
        if (log_to_journal && log_to_journal_send(level, error, ctx, file, line, func, message ?: format) >= 0)
                goto finish;

        log_to_stderr(level, ctx, message ?: format);

finish:
        errno = saved_errno;
        return -error;
}
