/* SPDX-License-Identifier: MIT */

#include <stdarg.h>
#include <stdio.h>

#include "reason.h"

int reason_setv(char **reterr, int error, const char *field, const char *format, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        char *s;

        if (!reterr)
                return error;

        if (vasprintf(&msg, format, ap) < 0)
                return -ENOMEM;

        if (!field)
                s = TAKE_PTR(msg);
        else if (asprintf(&s, "%s: %s", field, msg) < 0)
                return -ENOMEM;

        /* Whatever a caller quoted into it, a reason stays a reason (the parts that came from
         * outside were escaped and cut where they were received: this only bounds the sum). */
        if (strlen(s) > REASON_MAX) {
                size_t n = REASON_MAX - 3;

                while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                        n--;
                strcpy(s + n, "...");
        }

        free(*reterr);
        *reterr = s;
        return error;
}

int reason_set(char **reterr, int error, const char *field, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = reason_setv(reterr, error, field, format, ap);
        va_end(ap);
        return r;
}
