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

/* Frees a secret (a password), overwriting it first, so that it does not outlive its use in freed
 * heap memory. s may be NULL. Returns NULL. */
char *erase_and_free(char *s);

/* An IMEI as AT+GSN gives it and job documents and the config name it: 15 digits (3GPP TS 23.003
 * §6.2.1). */
bool imei_is_valid(const char *s);
