/* SPDX-License-Identifier: MIT */

#include <limits.h>

#include "at-tokenizer.h"

static const char *const at_line_kind_table[_AT_LINE_KIND_MAX] = {
        [AT_LINE_TEXT]      = "text",
        [AT_LINE_ECHO]      = "echo",
        [AT_LINE_OK]        = "ok",
        [AT_LINE_ERROR]     = "error",
        [AT_LINE_CME_ERROR] = "cme-error",
        [AT_LINE_CMS_ERROR] = "cms-error",
        [AT_LINE_CONNECT]   = "connect",
        [AT_LINE_PROMPT]    = "prompt",
        [AT_LINE_OVERLONG]  = "overlong",
};

DEFINE_STRING_TABLE_LOOKUP(at_line_kind, AtLineKind);

typedef enum ResultCodeMatch {
        MATCH_EXACT,                /* the whole line */
        MATCH_PREFIX,               /* the line starts with it; the rest is the code's argument */
} ResultCodeMatch;

/* Result codes, V.250 §5.7.1 and TS 27.007 §9.2. A module that invents its own final result gets
 * a line here, not a branch in the code. */
static const struct {
        const char *text;
        ResultCodeMatch match;
        AtLineKind kind;
} result_code_table[] = {
        { "OK",           MATCH_EXACT,  AT_LINE_OK        },
        { "ERROR",        MATCH_EXACT,  AT_LINE_ERROR     },
        { "+CME ERROR:",  MATCH_PREFIX, AT_LINE_CME_ERROR },
        { "+CMS ERROR:",  MATCH_PREFIX, AT_LINE_CMS_ERROR },
        { "CONNECT",      MATCH_EXACT,  AT_LINE_CONNECT   },
        { "CONNECT ",     MATCH_PREFIX, AT_LINE_CONNECT   }, /* V.250 "CONNECT <text>", e.g. a rate */
};

/* "+CME ERROR: <err>": numeric in +CMEE=1 mode, verbose text in +CMEE=2 mode (and from modules
 * that ignore +CMEE, e.g. "+CME ERROR: SIM not inserted"). Text, an empty argument and numbers
 * that do not fit an int all give -1: the caller still learns it was a CME error. */
static int parse_error_code(const char *s) {
        long v = 0;

        s += strspn(s, " \t");
        if (*s < '0' || *s > '9')
                return -1;

        for (; *s >= '0' && *s <= '9'; s++) {
                v = v * 10 + (*s - '0');
                if (v > INT_MAX)
                        return -1;
        }

        return *s == '\0' ? (int) v : -1;
}

AtLineKind at_line_classify(const char *line, int *ret_error_code) {
        int code = -1;

        for (size_t i = 0; i < ELEMENTSOF(result_code_table); i++) {
                const char *rest = NULL;
                AtLineKind kind = result_code_table[i].kind;

                switch (result_code_table[i].match) {
                case MATCH_EXACT:
                        if (!streq(line, result_code_table[i].text))
                                continue;
                        break;
                case MATCH_PREFIX:
                        rest = startswith(line, result_code_table[i].text);
                        if (!rest)
                                continue;
                        break;
                }

                if (rest && (kind == AT_LINE_CME_ERROR || kind == AT_LINE_CMS_ERROR))
                        code = parse_error_code(rest);
                if (ret_error_code)
                        *ret_error_code = code;
                return kind;
        }

        if (ret_error_code)
                *ret_error_code = -1;

        /* V.250 §5.2.1: a command line starts with "AT" or "at"; modules also accept (and echo)
         * "At" and "aT". No final result or Quectel URC starts that way. */
        if ((line[0] == 'A' || line[0] == 'a') && (line[1] == 'T' || line[1] == 't'))
                return AT_LINE_ECHO;

        return AT_LINE_TEXT;
}

void at_tokenizer_init(AtTokenizer *t) {
        *t = (AtTokenizer) { .len = 0 };
}

void at_tokenizer_reset(AtTokenizer *t) {
        t->len = 0;
        t->overlong = 0;
        t->line_started = false;
}

static bool is_removed_control(uint8_t c) {
        return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_visible_ascii(uint8_t c) {
        return c > ' ' && c < 0x7f;
}

static void emit(AtLineKind kind, const char *text, size_t length, int error_code, AtLineHandler handler, void *userdata) {
        AtLine line = {
                .kind = kind,
                .text = text,
                .length = length,
                .error_code = error_code,
        };

        handler(&line, userdata);
}

static void tokenizer_end_line(AtTokenizer *t, AtLineHandler handler, void *userdata) {
        size_t overlong = t->overlong, len = t->len;
        AtLineKind kind;
        int code;

        /* Reset before calling out, so the handler sees a tokenizer ready for the next line (and may
         * reset it); the text stays valid in buf until the next byte is fed. */
        at_tokenizer_reset(t);

        if (overlong > 0) {
                t->buf[0] = '\0';
                emit(AT_LINE_OVERLONG, t->buf, overlong, -1, handler, userdata);
                return;
        }
        if (len == 0)
                return;

        /* Cannot reach zero: a line only starts at a visible character. */
        while (t->buf[len - 1] == ' ' || t->buf[len - 1] == '\t')
                len--;
        t->buf[len] = '\0';

        kind = at_line_classify(t->buf, &code);
        emit(kind, t->buf, len, code, handler, userdata);
}

void at_tokenizer_feed(AtTokenizer *t, const void *data, size_t n, AtLineHandler handler, void *userdata) {
        const uint8_t *p = data;

        for (size_t i = 0; i < n; i++) {
                uint8_t c = p[i];

                if (c == '\r' || c == '\n') {
                        tokenizer_end_line(t, handler, userdata);
                        continue;
                }
                if (is_removed_control(c))
                        continue;

                if (!t->line_started) {
                        if (!is_visible_ascii(c))
                                continue;
                        t->line_started = true;
                }

                if (t->overlong > 0) {
                        t->overlong++;
                        continue;
                }
                if (t->len >= AT_LINE_MAX) {
                        t->overlong = t->len + 1;
                        t->len = 0;
                        continue;
                }

                t->buf[t->len++] = (char) c;

                /* TS 27.005 §3.5.1: the prompt is "<CR><LF><greater_than><space>" and no line end
                 * follows until we send the data, so it must be recognised as it arrives. */
                if (t->len == 2 && t->buf[0] == '>' && t->buf[1] == ' ') {
                        at_tokenizer_reset(t);
                        t->buf[2] = '\0';
                        emit(AT_LINE_PROMPT, t->buf, 2, -1, handler, userdata);
                }
        }
}
