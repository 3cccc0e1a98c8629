/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Replaces *p with a copy of s (NULL allowed: *p becomes NULL), freeing the old value; s may be *p
 * itself. Returns 0, or -ENOMEM with *p untouched. */
int free_and_strdup(char **p, const char *s);

/* Frees a NULL-terminated array of strings and the strings (l may be NULL). Returns NULL, so that
 * "l = strv_free(l);" clears the pointer. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Frees a secret (a password; s may be NULL) after overwriting it, so that it does not outlive its
 * use in freed heap memory. Returns NULL. */
char *secret_free(char *s);
