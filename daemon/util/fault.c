/* SPDX-License-Identifier: MIT */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "fault.h"

typedef struct FaultSpec {
        const char *env;
        int signal;
        char *point;                /* NULL: none */
        unsigned long at, seen;
} FaultSpec;

static struct {
        bool parsed;
        FaultSpec specs[2];
} fault = {
        .specs = {
                { .env = "DFOTAD_TEST_KILL_AT", .signal = SIGKILL },
                { .env = "DFOTAD_TEST_STOP_AT", .signal = SIGSTOP },
        },
};

static void fault_parse(void) {
        fault.parsed = true;

        for (size_t i = 0; i < ELEMENTSOF(fault.specs); i++) {
                FaultSpec *f = &fault.specs[i];
                const char *e = getenv(f->env), *n;

                if (isempty(e))
                        continue;
                n = strrchr(e, '@');
                f->at = n ? strtoul(n + 1, NULL, 10) : 1;
                if (f->at == 0)
                        f->at = 1;
                f->point = n ? strndup(e, (size_t) (n - e)) : strdup(e);
        }
}

static bool fault_enabled(void) {
        if (!fault.parsed)
                fault_parse();
        return fault.specs[0].point || fault.specs[1].point;
}

void fault_point(const char *point) {
        if (!fault_enabled())
                return;

        for (size_t i = 0; i < ELEMENTSOF(fault.specs); i++) {
                FaultSpec *f = &fault.specs[i];

                if (!f->point || !streq(f->point, point) || ++f->seen != f->at)
                        continue;
                (void) fprintf(stderr, "dfotad: test point %s reached (pass %lu): %s\n", point, f->seen,
                               f->signal == SIGKILL ? "SIGKILL" : "SIGSTOP");
                (void) raise(f->signal);
        }
}

void fault_pointf(const char *format, ...) {
        _cleanup_free_ char *point = NULL;
        va_list ap;
        int r;

        if (!fault_enabled())
                return;

        va_start(ap, format);
        r = vasprintf(&point, format, ap);
        va_end(ap);
        if (r >= 0)
                fault_point(point);
}
