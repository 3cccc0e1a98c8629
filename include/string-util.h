/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Replaces *p with a copy of s (NULL allowed: *p becomes NULL), freeing the old value; s may be *p
 * itself. Returns 0, or -ENOMEM with *p untouched. */
int free_and_strdup(char **p, const char *s);
