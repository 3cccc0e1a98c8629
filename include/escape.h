/* SPDX-License-Identifier: MIT */
#pragma once

/* Foreign text made safe, once, where it enters: keys and ids of job documents, MQTT topics, the
 * control plane's error codes, file names in the inbox, lines from the module. What comes out may
 * go into a log line (stderr or journal), a record and a status update as it is:
 *  - valid UTF-8, so that a record and a status stay valid JSON;
 *  - no control character (C0 but TAB, DEL, C1): CR and LF as \r \n, other bytes and invalid
 *    UTF-8 as \xNN, so that a journal line cannot be forged ("...\r\nJob x: VERIFYING ->
 *    SUCCEEDED") and a terminal cannot be driven by ESC sequences;
 *  - a backslash as \\, so that the escapes stay unambiguous;
 *  - at most max bytes (a character is never cut); what does not fit is replaced by
 *    "...(<n> bytes)" with n the length of the whole input. */

#include "macro.h"

/* Escape caps, in bytes of output. */
#define ESCAPE_KEY_MAX   64         /* a JSON key or a job id quoted in a reason */
#define ESCAPE_LINE_MAX  256        /* a module line, a topic, a file name, an error text */

/* Escapes the n bytes at s (NULs included; s need not be NUL-terminated) into a new string of at
 * most max bytes (max >= 32). Returns NULL only when out of memory. */
char *escape_foreign(const char *s, size_t n, size_t max);

/* The same for a NUL-terminated string; NULL s gives NULL. */
static inline char *escape_foreign_str(const char *s, size_t max) {
        return s ? escape_foreign(s, strlen(s), max) : NULL;
}

/* Whether s (n bytes) is already what escape_foreign() would return unchanged: printable ASCII
 * without backslash, or valid UTF-8 without control characters, and at most max bytes. */
bool text_is_safe(const char *s, size_t n, size_t max);

/* Length of the valid UTF-8 sequence (1..4 bytes) starting at s with n bytes available, or 0 when
 * s does not start one (overlong forms, surrogates and code points above U+10FFFF included).
 * *ret_cp (may be NULL) gets the code point. */
size_t utf8_sequence_length(const unsigned char *s, size_t n, uint32_t *ret_cp);
