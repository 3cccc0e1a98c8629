/* SPDX-License-Identifier: MIT */

#include <stdint.h>

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
