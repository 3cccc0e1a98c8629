/* SPDX-License-Identifier: MIT */

#include <strings.h>

#include "escape.h"
#include "fuzz-util.h"
#include "job-rules.h"

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool all_digits(const char *s) {
        return s[0] && strspn(s, "0123456789") == strlen(s);
}

void rules_check_url(const char *url) {
        const char *authority, *host;
        size_t n, scheme;

        fuzz_assert(url && url[0]);
        for (size_t i = 0; url[i]; i++) {
                char c = url[i];

                fuzz_assert(c > 0x20 && c < 0x7f);
                fuzz_assert(c != '"');
                if (c == '%') {
                        fuzz_assert(is_hex(url[i + 1]) && is_hex(url[i + 2]));
                        continue;
                }
                fuzz_assert(is_alnum(c) || strchr("-._~:/?#[]@!$&'()*+,;=", c));
        }

        if (url[0] == '/')
                return;
        if (strncmp(url, "UFS:", 4) == 0) {
                fuzz_assert(url[4] != '\0');
                fuzz_assert(!strpbrk(url + 4, "?#[]"));
                return;
        }

        scheme = strcspn(url, ":");
        fuzz_assert((scheme == 3 && strncasecmp(url, "ftp", 3) == 0) ||
                    (scheme == 4 && strncasecmp(url, "http", 4) == 0) ||
                    (scheme == 5 && strncasecmp(url, "https", 5) == 0));
        fuzz_assert(strncmp(url + scheme, "://", 3) == 0);

        authority = url + scheme + 3;
        n = strcspn(authority, "/?#");
        host = authority;
        for (size_t i = 0; i < n; i++)
                if (authority[i] == '@')
                        host = authority + i + 1;
        /* user:password@ is for ftp:// only (EC25&EC21 DFOTA User Guide §3.1). */
        fuzz_assert(host == authority || scheme == 3);
        /* A host, not nothing before the port or the path. */
        fuzz_assert(host < authority + n && host[0] != ':');
}

static void check_printable(const char *s, size_t max, bool allow_quote) {
        fuzz_assert(s);
        fuzz_assert(strlen(s) >= 1 && strlen(s) <= max);
        for (size_t i = 0; s[i]; i++) {
                fuzz_assert(s[i] >= 0x20 && s[i] <= 0x7e);
                fuzz_assert(allow_quote || s[i] != '"');
        }
}

void rules_check_job(const Job *j) {
        fuzz_assert(j->id);
        fuzz_assert(strlen(j->id) >= 1 && strlen(j->id) <= JOB_ID_MAX);
        fuzz_assert(strspn(j->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(j->id));

        /* "modem": exactly one of imei and model. */
        fuzz_assert(!(j->modem_imei && j->modem_model));
        if (j->modem_imei)
                fuzz_assert(strlen(j->modem_imei) == 15 && all_digits(j->modem_imei));
        if (j->modem_model)
                check_printable(j->modem_model, SIZE_MAX, true);

        if (j->source_version)
                check_printable(j->source_version, 64, false);
        check_printable(j->target_version, 64, false);

        rules_check_url(j->url);

        if (j->sha256) {
                fuzz_assert(strlen(j->sha256) == 64);
                fuzz_assert(strspn(j->sha256, "0123456789abcdef") == 64);
        }

        fuzz_assert(j->delivery >= 0 && j->delivery < _JOB_DELIVERY_MAX);
        if (j->delivery == JOB_DELIVERY_HOST)
                fuzz_assert(j->sha256 && j->size > 0);
}

void rules_check_reason(const char *reason) {
        size_t n;

        fuzz_assert(reason);
        n = strlen(reason);
        for (size_t i = 0; i < n; ) {
                size_t k = utf8_sequence_length((const unsigned char *) reason + i, n - i, NULL);
                unsigned char c = (unsigned char) reason[i];

                if (k == 0 || (k == 1 && c != '\t' && (c < 0x20 || c == 0x7f))) {
                        _cleanup_free_ char *shown = escape_foreign(reason, n, 4096);

                        fuzz_fail("a reason is not safe to log (byte 0x%02x at offset %zu): %s", c, i, strna(shown));
                }
                i += k;
        }
}
