/* SPDX-License-Identifier: MIT */
#pragma once

/* json-c helpers shared by the configuration, job documents and records. */

#include <json-c/json.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

/* Parses text (size bytes, NUL-terminated) as exactly one JSON value in json-c's strict mode:
 * trailing data and truncated input are errors. Returns 0 and a new reference in *ret, -EINVAL
 * with *reterr set to "[<field>: ]not valid JSON: <json-c's reason> at line L, column C" (see
 * reason_set()), or -ENOMEM. */
int json_parse_strict(const char *text, size_t size, const char *field, json_object **ret, char **reterr);
