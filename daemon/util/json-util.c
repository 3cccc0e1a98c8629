/* SPDX-License-Identifier: MIT */

#include <stdint.h>
#include <stdio.h>

#include "escape.h"
#include "json-util.h"
#include "reason.h"

int json_parse_strict(const char *text, size_t size, const char *field, json_object **ret, char **reterr) {
        enum json_tokener_error jerr;
        json_tokener *tok;
        json_object *o;
        size_t end, line = 1, column = 1;

        if (size >= INT32_MAX)
                return reason_set(reterr, -EINVAL, field, "too large");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;

        /* UTF-8 validation: whatever we parse is written back into records and status updates,
         * which must stay valid JSON (RFC 8259 §8.1). */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        /* Including the terminating NUL tells the tokener that the input ends there: without it,
         * a truncated document is "continue", not an error. */
        o = json_tokener_parse_ex(tok, text, (int) size + 1);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        if (o && end >= size) {
                *ret = o;
                return 0;
        }
        json_object_put(o);

        for (size_t i = 0; i < end && i < size; i++)
                if (text[i] == '\n') {
                        line++;
                        column = 1;
                } else
                        column++;

        return reason_set(reterr, -EINVAL, field, "not valid JSON: %s at line %zu, column %zu",
                          jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "unexpected data after the value",
                          line, column);
}

/* "<prefix>.<key>", or "<key>" at the top. */
static char *json_path(const char *prefix, const char *key) {
        char *p = NULL;

        if (!prefix)
                return strdup(key);
        return asprintf(&p, "%s.%s", prefix, key) < 0 ? NULL : p;
}

/* The parser of f for value v (json-c's NULL is a JSON null), under prefix. */
static int json_dispatch_one(json_object *v, const char *prefix, const JsonField *f, void *base, char **reterr) {
        _cleanup_free_ char *path = json_path(prefix, f->key);

        if (!path)
                return -ENOMEM;
        return f->parse(v, path, (uint8_t *) base + f->offset, reterr);
}

static int json_dispatch_missing(const char *prefix, const JsonField *f, char **reterr) {
        _cleanup_free_ char *path = json_path(prefix, f->key);

        if (!path)
                return -ENOMEM;
        return reason_set(reterr, -EINVAL, path, "missing");
}

int json_dispatch_table(
                json_object *o,
                const char *prefix,
                const JsonField *table,
                size_t n,
                JsonDispatchFlags flags,
                void *base,
                char **reterr) {

        int r;

        if (!json_object_is_type(o, json_type_object))
                return reason_set(reterr, -EINVAL, prefix, "must be a JSON object");

        if (flags & JSON_DISPATCH_ALLOW_UNKNOWN) {
                /* Walks the table, not the object: the keys it does not know are never looked at. */
                for (size_t i = 0; i < n; i++) {
                        json_object *v;

                        if (!json_object_object_get_ex(o, table[i].key, &v) ||
                            (!v && (flags & JSON_DISPATCH_NULL_IS_ABSENT))) {
                                if (table[i].required)
                                        return json_dispatch_missing(prefix, &table[i], reterr);
                                continue;
                        }
                        r = json_dispatch_one(v, prefix, &table[i], base, reterr);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        /* In the sender's order, so that the first thing wrong in the text is what is reported. */
        json_object_object_foreach(o, key, v) {
                const JsonField *f = NULL;

                for (size_t i = 0; i < n && !f; i++)
                        if (streq(table[i].key, key))
                                f = &table[i];
                if (!f) {
                        /* The key is the sender's text: it reaches the reason escaped and cut. */
                        _cleanup_free_ char *k = flags & JSON_DISPATCH_CALLER_ESCAPES ? strdup(key) :
                                                 escape_foreign_str(key, ESCAPE_KEY_MAX);
                        _cleanup_free_ char *path = NULL;

                        if (!k)
                                return -ENOMEM;
                        path = json_path(prefix, k);
                        if (!path)
                                return -ENOMEM;
                        return reason_set(reterr, -EINVAL, path, "unknown field");
                }
                if (!v && (flags & JSON_DISPATCH_NULL_IS_ABSENT))
                        continue;
                r = json_dispatch_one(v, prefix, f, base, reterr);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n; i++) {
                json_object *value;

                if (table[i].required &&
                    (!json_object_object_get_ex(o, table[i].key, &value) || (!value && (flags & JSON_DISPATCH_NULL_IS_ABSENT))))
                        return json_dispatch_missing(prefix, &table[i], reterr);
        }

        return 0;
}
