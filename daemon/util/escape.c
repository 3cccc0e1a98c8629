/* SPDX-License-Identifier: MIT */

#include <stdio.h>

#include "escape.h"

size_t utf8_sequence_length(const unsigned char *s, size_t n, uint32_t *ret_cp) {
        uint32_t cp, min;
        size_t len;

        if (n == 0)
                return 0;

        if (s[0] < 0x80)
                len = 1, cp = s[0], min = 0;
        else if ((s[0] & 0xe0) == 0xc0)
                len = 2, cp = s[0] & 0x1f, min = 0x80;
        else if ((s[0] & 0xf0) == 0xe0)
                len = 3, cp = s[0] & 0x0f, min = 0x800;
        else if ((s[0] & 0xf8) == 0xf0)
                len = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;

        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }

        /* RFC 3629 §3: no overlong forms, no surrogates, nothing above U+10FFFF. */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;

        if (ret_cp)
                *ret_cp = cp;
        return len;
}

/* C0 but TAB, DEL and the C1 controls (U+0080..U+009F, which some terminals obey as ESC
 * sequences). A TAB breaks no line and drives no terminal: modules put it between fields. */
static bool codepoint_is_control(uint32_t cp) {
        return (cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp < 0xa0);
}

/* The escaped form of the character at s: writes it to out (at least 17 bytes) and returns its
 * length; *ret_consumed gets the input bytes it stands for. */
static size_t escape_one(const unsigned char *s, size_t n, char out[static 17], size_t *ret_consumed) {
        uint32_t cp;
        size_t len = utf8_sequence_length(s, n, &cp);

        if (len == 0) {
                *ret_consumed = 1;
                return (size_t) snprintf(out, 17, "\\x%02x", s[0]);
        }
        *ret_consumed = len;

        if (cp == '\\')
                return (size_t) snprintf(out, 17, "\\\\");
        if (cp == '\r')
                return (size_t) snprintf(out, 17, "\\r");
        if (cp == '\n')
                return (size_t) snprintf(out, 17, "\\n");
        if (codepoint_is_control(cp)) {
                /* Each byte of the sequence, as the bytes came. */
                size_t k = 0;

                for (size_t i = 0; i < len; i++)
                        k += (size_t) snprintf(out + k, 17 - k, "\\x%02x", s[i]);
                return k;
        }

        memcpy(out, s, len);
        return len;
}

char *escape_foreign(const char *s, size_t n, size_t max) {
        const unsigned char *u = (const unsigned char *) s;
        char tail[48], piece[17];
        size_t total = 0, limit, o = 0;
        char *buf;

        if (max < 32)
                max = 32;

        for (size_t i = 0, consumed; i < n; i += consumed)
                total += escape_one(u + i, n - i, piece, &consumed);

        /* Too long: as much as fits before a tail that says how much there was. */
        limit = max;
        if (total > max)
                limit = max - (size_t) snprintf(tail, sizeof tail, "...(%zu bytes)", n);

        buf = malloc(MIN(total, max) + 1);
        if (!buf)
                return NULL;

        for (size_t i = 0, consumed; i < n; i += consumed) {
                size_t k = escape_one(u + i, n - i, piece, &consumed);

                if (o + k > limit)
                        break;
                memcpy(buf + o, piece, k);
                o += k;
        }
        if (total > max)
                o = stpcpy(buf + o, tail) - buf;

        buf[o] = '\0';
        return buf;
}

bool text_is_safe(const char *s, size_t n, size_t max) {
        const unsigned char *u = (const unsigned char *) s;

        if (n > max)
                return false;

        for (size_t i = 0; i < n; ) {
                uint32_t cp;
                size_t len = utf8_sequence_length(u + i, n - i, &cp);

                if (len == 0 || cp == '\\' || codepoint_is_control(cp))
                        return false;
                i += len;
        }
        return true;
}
