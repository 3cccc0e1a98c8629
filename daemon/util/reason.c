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
