/* SPDX-License-Identifier: MIT */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "fault.h"

static struct {
        bool parsed;
        char *point;                /* NULL: no kill point */
        unsigned long at, seen;
} fault;

static void fault_parse(void) {
        const char *e = getenv("DFOTAD_TEST_KILL_AT"), *n;

        fault.parsed = true;
        if (isempty(e))
                return;

        n = strrchr(e, '@');
        fault.at = n ? strtoul(n + 1, NULL, 10) : 1;
        if (fault.at == 0)
                fault.at = 1;
        fault.point = n ? strndup(e, (size_t) (n - e)) : strdup(e);
}

void fault_point(const char *point) {
        if (!fault.parsed)
                fault_parse();
        if (!fault.point || !streq(fault.point, point))
                return;

        if (++fault.seen < fault.at)
                return;

        (void) fprintf(stderr, "dfotad: test kill point %s reached (pass %lu): SIGKILL\n", point, fault.seen);
        (void) raise(SIGKILL);
}

void fault_pointf(const char *format, ...) {
        _cleanup_free_ char *point = NULL;
        va_list ap;
        int r;

        if (!fault.parsed)
                fault_parse();
        if (!fault.point)
                return;

        va_start(ap, format);
        r = vasprintf(&point, format, ap);
        va_end(ap);
        if (r >= 0)
                fault_point(point);
}
