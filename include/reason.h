/* SPDX-License-Identifier: MIT */
#pragma once

/* Human-readable reasons for rejected input (config keys, job fields, record fields, URLs): every
 * reason names the place at fault first, "package.url: contains '\"'". */

#include <stdarg.h>

#include "macro.h"

/* A reason is at most this many bytes. */
#define REASON_MAX 1024

/* Sets *reterr to a newly allocated "<field>: <message>", or just "<message>" when field is NULL,
 * cut to REASON_MAX bytes (at a character boundary, ending "..."), freeing what *reterr held. reterr may be NULL (nothing is allocated). Returns error (a negative
 * errno), or -ENOMEM when the reason could not be allocated. */
int reason_set(char **reterr, int error, const char *field, const char *format, ...) _printf_(4, 5);

/* The same with a va_list. */
int reason_setv(char **reterr, int error, const char *field, const char *format, va_list ap) _printf_(4, 0);
