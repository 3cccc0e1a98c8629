/* SPDX-License-Identifier: MIT */
#pragma once

/* A pure AT tokenizer: bytes from the AT port in, classified lines out. No I/O, no allocation, no
 * timers; it keeps at most one partial line between calls.
 *
 * Rules (3GPP TS 27.007 §5 / V.250 framing, as real Quectel modules bend them):
 *  - A line ends at CR or LF. "\r\n", "\r\r\n" (echo on), "\n" alone and empty lines all work;
 *    empty lines produce nothing.
 *  - NUL and other C0 control bytes (except TAB), and DEL, are removed; leading bytes that are
 *    not visible ASCII (blanks, bytes >= 0x80) are skipped (binary garbage before a URC, seen on
 *    ports after a reboot). Bytes >= 0x80 inside a line are kept (forum-mangled typographic
 *    quotes are UTF-8). Trailing blanks are removed.
 *  - A line longer than AT_LINE_MAX bytes (counted after the removals above, before trailing
 *    blanks are trimmed) is discarded whole and reported once as AT_LINE_OVERLONG, with the
 *    number of bytes dropped, so the caller can log it.
 *  - "> " at the start of a line, with no line end, is a prompt (AT+CMGS and friends).
 *  - Final result codes are classified from a table (at-tokenizer.c), not by ad-hoc matching. */

#include "macro.h"

#define AT_LINE_MAX 1024

typedef enum AtLineKind {
        AT_LINE_TEXT,               /* anything else: information response or URC */
        AT_LINE_ECHO,               /* starts with "AT" (any case): the module echoing our command */
        AT_LINE_OK,                 /* final result "OK" */
        AT_LINE_ERROR,              /* final result "ERROR" */
        AT_LINE_CME_ERROR,          /* final result "+CME ERROR: <n>" */
        AT_LINE_CMS_ERROR,          /* final result "+CMS ERROR: <n>" */
        AT_LINE_CONNECT,            /* intermediate result "CONNECT" (data mode follows) */
        AT_LINE_PROMPT,             /* "> " */
        AT_LINE_OVERLONG,           /* a line of more than AT_LINE_MAX bytes was dropped */
        _AT_LINE_KIND_MAX,
        _AT_LINE_KIND_INVALID = -EINVAL,
} AtLineKind;

DECLARE_STRING_TABLE_LOOKUP(at_line_kind, AtLineKind);

typedef struct AtLine {
        AtLineKind kind;
        const char *text;           /* NUL-terminated, trailing spaces removed; valid during the callback only */
        size_t length;              /* strlen(text); for AT_LINE_OVERLONG: bytes dropped */
        int error_code;             /* for CME/CMS ERROR: the number, or -1 when the module sent text */
} AtLine;

typedef void (*AtLineHandler)(const AtLine *line, void *userdata);

typedef struct AtTokenizer {
        char buf[AT_LINE_MAX + 1];
        size_t len;
        size_t overlong;            /* bytes dropped from the current overlong line, 0 if none */
        bool line_started;          /* saw a printable ASCII byte in the current line */
} AtTokenizer;

void at_tokenizer_init(AtTokenizer *t);

/* Feeds n bytes; calls handler(line, userdata) for each complete line, in order. The handler must
 * not call at_tokenizer_feed() on the same tokenizer. */
void at_tokenizer_feed(AtTokenizer *t, const void *data, size_t n, AtLineHandler handler, void *userdata);

/* Drops a partial line (after a port was reopened). */
void at_tokenizer_reset(AtTokenizer *t);

/* Classifies one complete line (no CR/LF). Fills *ret_error_code for CME/CMS errors (-1 if the
 * module gave text rather than a number), else sets it to -1. */
AtLineKind at_line_classify(const char *line, int *ret_error_code);
