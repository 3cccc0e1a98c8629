/* SPDX-License-Identifier: MIT */

#include "string-util.h"

int free_and_strdup(char **p, const char *s) {
        char *copy = NULL;

        /* Copy first: s may be *p itself. */
        if (s) {
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
        }

        free(*p);
        *p = copy;
        return 0;
}

char **strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
        return NULL;
}

char *secret_free(char *s) {
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
        return NULL;
}
