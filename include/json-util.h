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

/* One key of a JSON object and where its value goes: parse() gets the value, the key's path
 * ("package.url", "modems[0].port") for its messages, and base + offset. It returns 0, or a
 * negative errno with *reterr set (-EINVAL: "<path>: <what is wrong>"). */
typedef int (*JsonFieldParser)(json_object *v, const char *path, void *data, char **reterr);

typedef struct JsonField {
        const char *key;
        JsonFieldParser parse;
        size_t offset;
        bool required;              /* absent: "<path>: missing" */
} JsonField;

/* What the three kinds of JSON dfotad reads differ by. */
typedef enum JsonDispatchFlags {
        /* Keys the table does not have are ignored (records: a newer dfotad's keys, so that a
         * downgrade still resumes its jobs); without it they are "<path>: unknown field". */
        JSON_DISPATCH_ALLOW_UNKNOWN = 1 << 0,
        /* An explicit null is the same as the key left out (job documents: control planes fill
         * templates); without it null goes to the parser like any value. */
        JSON_DISPATCH_NULL_IS_ABSENT = 1 << 1,
        /* An unknown key is quoted as it is, because the caller escapes its messages as a whole
         * (config_load(): configuration messages quote values too); without it the key is
         * escaped and cut here (escape.h), so that it cannot forge a log line. */
        JSON_DISPATCH_CALLER_ESCAPES = 1 << 2,
} JsonDispatchFlags;

/* Walks object o with table (n entries): every key goes to its parser with base. prefix is the
 * path of o (NULL at the top). Returns 0, -EINVAL with *reterr set ("<prefix>: must be a JSON object", an
 * unknown or missing key, or what a parser said), or -ENOMEM. Parsers that already ran keep what
 * they wrote when a later key fails: the caller frees the half-filled object. */
int json_dispatch_table(
                json_object *o,
                const char *prefix,
                const JsonField *table,
                size_t n,
                JsonDispatchFlags flags,
                void *base,
                char **reterr);
