/* SPDX-License-Identifier: MIT */

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "escape.h"
#include "job.h"
#include "json-util.h"
#include "reason.h"
#include "string-util.h"

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_QUEUED]            = "QUEUED",
        [JOB_PREFLIGHT]         = "PREFLIGHT",
        [JOB_DOWNLOADING]       = "DOWNLOADING",
        [JOB_DOWNLOADED]        = "DOWNLOADED",
        [JOB_UPDATING]          = "UPDATING",
        [JOB_VERIFYING]         = "VERIFYING",
        [JOB_WAITING_FOR_MODEM] = "WAITING_FOR_MODEM",
        [JOB_SUCCEEDED]         = "SUCCEEDED",
        [JOB_FAILED]            = "FAILED",
        [JOB_REJECTED]          = "REJECTED",
        [JOB_CANCELED]          = "CANCELED",
};

DEFINE_STRING_TABLE_LOOKUP(job_state, JobState);

static const char *const job_delivery_table[_JOB_DELIVERY_MAX] = {
        [JOB_DELIVERY_MODEM] = "modem",
        [JOB_DELIVERY_HOST]  = "host",
};

DEFINE_STRING_TABLE_LOOKUP(job_delivery, JobDelivery);

bool job_id_char_is_valid(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool job_id_is_valid(const char *s) {
        size_t n = 0;

        if (!s)
                return false;
        for (; s[n]; n++)
                if (n >= JOB_ID_MAX || !job_id_char_is_valid(s[n]))
                        return false;
        return n > 0;
}

bool job_state_is_terminal(JobState s) {
        switch (s) {
        case JOB_SUCCEEDED:
        case JOB_FAILED:
        case JOB_REJECTED:
        case JOB_CANCELED:
                return true;
        case JOB_QUEUED:
        case JOB_PREFLIGHT:
        case JOB_DOWNLOADING:
        case JOB_DOWNLOADED:
        case JOB_UPDATING:
        case JOB_VERIFYING:
        case JOB_WAITING_FOR_MODEM:
        case _JOB_STATE_MAX:
        case _JOB_STATE_INVALID:
                return false;
        }
        return false;
}

#define job_reason(reterr, field, ...) reason_set(reterr, -EINVAL, field, __VA_ARGS__)

/* A part of a URL quoted in a reason is cut here: the URL passed the character checks (printable
 * ASCII, so nothing to escape), but not yet any length check. */
#define URL_ECHO_MAX 32

static bool char_is_ascii_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool char_is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A character as it may appear in a reason: the reason ends up in logs and in the control plane,
 * so it must not carry the control characters it complains about. */
static const char *char_repr(char c, char buf[static 16]) {
        if (c >= 0x21 && c <= 0x7e)
                snprintf(buf, 16, "'%c'", c);
        else
                snprintf(buf, 16, "byte 0x%02x", (unsigned char) c);
        return buf;
}

/* RFC 3986 §3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]". Of these only an IPv6 address
 * is taken: no module's URL parser is known to handle an IPvFuture literal or an RFC 6874 zone id
 * ("[fe80::1%25eth0]", which names an interface of the host that wrote it, not of the module).
 * literal is the text between the brackets, n bytes. */
static int url_check_ip_literal(const char *literal, size_t n, char **reterr) {
        char buf[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        struct in_addr a4;

        if (n == 0)
                return job_reason(reterr, NULL, "has an empty IP literal \"[]\"");
        if (IN_SET(literal[0], 'v', 'V'))
                return job_reason(reterr, NULL, "has an IPvFuture literal (\"[v...]\", RFC 3986 section 3.2.2), which no module takes");
        if (memchr(literal, '%', n))
                return job_reason(reterr, NULL, "has a zone id in its IP literal (\"%%25...\", RFC 6874), which no module takes");
        if (n < sizeof(buf)) {
                memcpy(buf, literal, n);
                buf[n] = '\0';

                if (inet_pton(AF_INET6, buf, &a6) == 1)
                        return 0;
                if (inet_pton(AF_INET, buf, &a4) == 1)
                        return job_reason(reterr, NULL, "has an IPv4 address in brackets (brackets are for IPv6 addresses; write it without them)");
        }

        return job_reason(reterr, NULL, "has an IP literal that is not an IPv6 address");
}

static int url_check_syntax(const char *url, char **reterr) {
        /* RFC 3986 §2.2 reserved (gen-delims, sub-delims) and §2.3 unreserved, besides ALPHA/DIGIT. */
        static const char rfc3986_chars[] = "-._~" ":/?#[]@" "!$&'()*+,;=";
        static const char *const schemes[] = { "ftp", "http", "https" };
        const char *authority, *host, *host_end, *at, *port, *rest;
        size_t scheme_len, authority_len;
        bool known = false;
        char buf[16];

        if (isempty(url))
                return job_reason(reterr, NULL, "is empty");

        for (size_t i = 0; url[i]; i++) {
                unsigned char c = (unsigned char) url[i];

                if (c >= 0x80)
                        return job_reason(reterr, NULL, "contains a non-ASCII byte at offset %zu", i);
                if (c <= 0x20 || c == 0x7f)
                        return job_reason(reterr, NULL, "contains a control character or space at offset %zu", i);
                if (c == '"')
                        return job_reason(reterr, NULL, "contains '\"'");
                if (c == '%') {
                        if (!char_is_hex(url[i + 1]) || !char_is_hex(url[i + 2]))
                                return job_reason(reterr, NULL, "bad percent-encoding at offset %zu", i);
                        i += 2;
                        continue;
                }
                if (!char_is_ascii_alnum((char) c) && !strchr(rfc3986_chars, c))
                        return job_reason(reterr, NULL, "contains '%c' which RFC 3986 does not allow", c);
        }

        /* A path in the module's own file system; modem_profile_check_url() checks its prefix. */
        if (url[0] == '/')
                return 0;

        /* A file in the UFS of a UC20/UC15: AT+QFOTADL="UFS:delta.bin" (UMTS/HSPA DFOTA User Guide
         * §3.3). Not a URI scheme but the module's own drive prefix, so no "//" and no '/' at all
         * are needed; what follows must be an RFC 3986 path (RFC 3986 §3.3: pchar and '/'), which
         * leaves out '?', '#', '[' and ']' (the loop above has checked the rest). Upper case only, as the module prints it (AT+QFLST, reference
         * modem.md §4.4). */
        rest = startswith(url, "UFS:");
        if (rest) {
                size_t n;

                if (isempty(rest))
                        return job_reason(reterr, NULL, "has no file name after \"UFS:\"");
                n = strcspn(rest, "?#[]");
                if (rest[n] != '\0')
                        return job_reason(reterr, NULL, "contains '%c' which a UFS: file name cannot have", rest[n]);
                return 0;
        }

        /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
        scheme_len = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
        if (scheme_len == 0 || url[scheme_len] != ':' || (url[0] >= '0' && url[0] <= '9') || strchr("+-.", url[0]))
                return job_reason(reterr, NULL, "is neither an ftp://, http:// or https:// URL nor a local file (an absolute path or UFS:<name>)");

        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strlen(schemes[i]) == scheme_len && strncasecmp(url, schemes[i], scheme_len) == 0)
                        known = true;
        if (!known)
                return job_reason(reterr, NULL, "unsupported scheme \"%.*s%s\" (ftp, http, https, or a local file: an absolute path or UFS:<name>)",
                                  (int) MIN(scheme_len, URL_ECHO_MAX), url, scheme_len > URL_ECHO_MAX ? "..." : "");

        authority = startswith(url + scheme_len + 1, "//");
        if (!authority)
                return job_reason(reterr, NULL, "\"%.*s%s:\" is not followed by \"//\"", (int) MIN(scheme_len, URL_ECHO_MAX), url,
                                  scheme_len > URL_ECHO_MAX ? "..." : "");

        /* RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ] */
        authority_len = strcspn(authority, "/?#");
        at = memrchr(authority, '@', authority_len);
        if (at && scheme_len != 3)
                /* The guides give user:password@ for FTP only (EC25&EC21 DFOTA User Guide §3.1, §3.2). */
                return job_reason(reterr, NULL, "user information (\"...@\") is only supported in ftp:// URLs");

        host = at ? at + 1 : authority;
        if (host[0] == '[') {
                int r;

                host_end = memchr(host, ']', (size_t) (authority + authority_len - host));
                if (!host_end)
                        return job_reason(reterr, NULL, "has an IP literal without ']'");
                r = url_check_ip_literal(host + 1, (size_t) (host_end - host - 1), reterr);
                if (r < 0)
                        return r;
                host_end++;
        } else {
                size_t n;

                host_end = host + strcspn(host, ":/?#");

                /* RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ). The loop
                 * above let every other character through but '[' and ']' ('@' ends the userinfo). */
                n = strcspn(host, "[]");
                if (host + n < host_end)
                        return job_reason(reterr, NULL, "has '%c' in its host name (brackets only enclose a whole IPv6 address)", host[n]);
        }

        if (host_end == host)
                return job_reason(reterr, NULL, "has no host");

        port = host_end;
        if (port < authority + authority_len) {
                size_t n = (size_t) (authority + authority_len - port) - 1;
                unsigned long p = 0;

                if (port[0] != ':')
                        return job_reason(reterr, NULL, "has %s after the host", char_repr(port[0], buf));
                port++;

                if (n > 0 && n <= 5 && strspn(port, "0123456789") >= n)
                        p = strtoul(port, NULL, 10);
                if (p < 1 || p > 65535)
                        return job_reason(reterr, NULL, "has a bad port \"%.*s%s\" (1-65535)", (int) MIN(n, URL_ECHO_MAX), port,
                                          n > URL_ECHO_MAX ? "..." : "");
        }

        return 0;
}

int job_check_url_syntax(const char *url, char **reterr) {
        _cleanup_free_ char *reason = NULL;
        int r;

        r = url_check_syntax(url, &reason);
        if (r < 0 && reterr)
                *reterr = TAKE_PTR(reason);
        return r;
}

/* How one key of the document is parsed: into the Job at offset; field is the key's path. */
/* json-c accepts "\u0000" in strings; C strings would silently end there. */
static int job_get_string(json_object *v, const char *field, const char **ret, char **reterr) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return job_reason(reterr, field, "must be a string");

        s = json_object_get_string(v);
        if (strlen(s) != (size_t) json_object_get_string_len(v))
                return job_reason(reterr, field, "contains a NUL character");

        *ret = s;
        return 0;
}

static int job_parse_id(json_object *v, const char *field, void *data, char **reterr) {
        const char *s;
        size_t n;
        char buf[16];
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        if (s[0] == '\0')
                return job_reason(reterr, field, "is empty");

        for (n = 0; s[n] && job_id_char_is_valid(s[n]); n++)
                ;
        if (s[n] != '\0')
                return job_reason(reterr, field, "contains %s at offset %zu (allowed: A-Z a-z 0-9 _ -)",
                                  char_repr(s[n], buf), n);
        if (n > JOB_ID_MAX)
                return job_reason(reterr, field, "is longer than %i characters", JOB_ID_MAX);

        return free_and_strdup(data, s);
}

/* Printable ASCII, space included. */
static int job_check_printable(const char *s, const char *field, bool allow_quote, char **reterr) {
        char buf[16];

        for (size_t i = 0; s[i]; i++)
                if (s[i] < 0x20 || s[i] > 0x7e || (s[i] == '"' && !allow_quote))
                        return job_reason(reterr, field, "contains %s at offset %zu", char_repr(s[i], buf), i);

        return 0;
}

static int job_parse_version(json_object *v, const char *field, void *data, char **reterr) {
        const char *s;
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        if (s[0] == '\0')
                return job_reason(reterr, field, "is empty");
        if (strlen(s) > 64)
                return job_reason(reterr, field, "is longer than 64 characters");

        r = job_check_printable(s, field, /* allow_quote= */ false, reterr);
        if (r < 0)
                return r;

        return free_and_strdup(data, s);
}

static int job_parse_imei(json_object *v, const char *field, void *data, char **reterr) {
        const char *s;
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        if (!imei_is_valid(s))
                return job_reason(reterr, field, "must be 15 digits");

        return free_and_strdup(data, s);
}

static int job_parse_model(json_object *v, const char *field, void *data, char **reterr) {
        const char *s;
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        if (s[0] == '\0')
                return job_reason(reterr, field, "is empty");

        r = job_check_printable(s, field, /* allow_quote= */ true, reterr);
        if (r < 0)
                return r;

        return free_and_strdup(data, s);
}

static int job_parse_url(json_object *v, const char *field, void *data, char **reterr) {
        _cleanup_free_ char *why = NULL;
        const char *s;
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        r = job_check_url_syntax(s, &why);
        if (r < 0)
                return why ? job_reason(reterr, field, "%s", why) : r;

        return free_and_strdup(data, s);
}

static int job_parse_sha256(json_object *v, const char *field, void *data, char **reterr) {
        char **sha256 = data;
        const char *s;
        char *copy;
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        if (strlen(s) != 64)
                return job_reason(reterr, field, "must be 64 hexadecimal digits");
        for (size_t i = 0; i < 64; i++)
                if (!char_is_hex(s[i]))
                        return job_reason(reterr, field, "must be 64 hexadecimal digits");

        copy = strdup(s);
        if (!copy)
                return -ENOMEM;

        /* One spelling, so that comparing with a computed digest is a strcmp(). */
        for (char *p = copy; *p; p++)
                if (*p >= 'A' && *p <= 'F')
                        *p = (char) (*p - 'A' + 'a');

        free(*sha256);
        *sha256 = copy;
        return 0;
}

static int job_parse_size(json_object *v, const char *field, void *data, char **reterr) {
        uint64_t *size = data;

        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0)
                return job_reason(reterr, field, "must be an integer > 0 (bytes)");

        /* json-c keeps integers above INT64_MAX as unsigned; get_int64() would clamp them. */
        *size = json_object_get_uint64(v);
        return 0;
}

static int job_parse_delivery(json_object *v, const char *field, void *data, char **reterr) {
        JobDelivery *delivery = data, d;
        const char *s;
        int r;

        r = job_get_string(v, field, &s, reterr);
        if (r < 0)
                return r;

        d = job_delivery_from_string(s);
        if (d < 0)
                return job_reason(reterr, field, "must be \"modem\" or \"host\"");

        *delivery = d;
        return 0;
}

static const JsonField modem_fields[] = {
        { "imei",  job_parse_imei,  offsetof(Job, modem_imei)  },
        { "model", job_parse_model, offsetof(Job, modem_model) },
};

static int job_parse_modem(json_object *v, const char *field, void *data, char **reterr) {
        Job *j = data;
        int r;

        r = json_dispatch_table(v, field, modem_fields, ELEMENTSOF(modem_fields), JSON_DISPATCH_NULL_IS_ABSENT, j, reterr);
        if (r < 0)
                return r;

        if (j->modem_imei && j->modem_model)
                return job_reason(reterr, field, "give either \"imei\" or \"model\", not both");
        if (!j->modem_imei && !j->modem_model)
                return job_reason(reterr, field, "needs \"imei\" or \"model\" (or leave \"modem\" out)");

        return 0;
}

static const JsonField package_fields[] = {
        { "url",    job_parse_url,    offsetof(Job, url)    },
        { "sha256", job_parse_sha256, offsetof(Job, sha256) },
        { "size",   job_parse_size,   offsetof(Job, size)   },
};

static int job_parse_package(json_object *v, const char *field, void *data, char **reterr) {
        Job *j = data;
        int r;

        r = json_dispatch_table(v, field, package_fields, ELEMENTSOF(package_fields), JSON_DISPATCH_NULL_IS_ABSENT, j, reterr);
        if (r < 0)
                return r;

        if (!j->url)
                return job_reason(reterr, "package.url", "missing");

        return 0;
}

static const JsonField job_fields[] = {
        { "id",             job_parse_id,       offsetof(Job, id)             },
        { "modem",          job_parse_modem,    0                             },
        { "source_version", job_parse_version,  offsetof(Job, source_version) },
        { "target_version", job_parse_version,  offsetof(Job, target_version) },
        { "package",        job_parse_package,  0                             },
        { "delivery",       job_parse_delivery, offsetof(Job, delivery)       },
};

/* prefix is NULL for the top level. */
int job_from_json(json_object *o, Job **ret, char **reterr) {
        _cleanup_(job_freep) Job *j = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        j->delivery = JOB_DELIVERY_MODEM;

        /* The top level is named, so that the reason says what was wrong with what. */
        if (!json_object_is_type(o, json_type_object))
                r = job_reason(&reason, "(document)", "must be a JSON object");
        else
                r = json_dispatch_table(o, NULL, job_fields, ELEMENTSOF(job_fields), JSON_DISPATCH_NULL_IS_ABSENT, j, &reason);
        if (r >= 0) {
                if (!j->id)
                        r = job_reason(&reason, "id", "missing");
                else if (!j->target_version)
                        r = job_reason(&reason, "target_version", "missing");
                else if (!j->url)
                        r = job_reason(&reason, "package", "missing");
                else if (j->delivery == JOB_DELIVERY_HOST && (!j->sha256 || j->size == 0))
                        /* dfotad verifies what it downloaded before it hands it to the module. */
                        r = job_reason(&reason, "delivery", "\"host\" requires package.sha256 and package.size");
        }
        if (r < 0) {
                if (reterr)
                        *reterr = TAKE_PTR(reason);
                return r;
        }

        *ret = TAKE_PTR(j);
        return 0;
}

int job_document_check(const char *text, size_t size, char **reterr) {
        const char *nul;

        if (size > JOB_DOCUMENT_MAX)
                return reason_set(reterr, -EFBIG, "(document)", "is %zu bytes, more than the %u a job document may have",
                                  size, JOB_DOCUMENT_MAX);

        nul = memchr(text, '\0', size);
        if (nul)
                return job_reason(reterr, "(document)", "contains a NUL byte at offset %zu", (size_t) (nul - text));

        return 0;
}

int job_parse(const char *text, size_t size, Job **ret, char **reterr) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        r = job_document_check(text, size, &reason);
        if (r >= 0)
                r = json_parse_strict(text, size, "(document)", &o, &reason);
        if (r >= 0)
                r = job_from_json(o, ret, &reason);
        if (r < 0 && reterr)
                *reterr = TAKE_PTR(reason);

        return r;
}

static int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int json_add_string(json_object *o, const char *key, const char *s) {
        return s ? json_add(o, key, json_object_new_string(s)) : 0;
}

json_object *job_to_json(const Job *j) {
        json_object *o, *modem = NULL, *package;

        o = json_object_new_object();
        if (!o)
                return NULL;

        if (json_add_string(o, "id", j->id) < 0)
                goto fail;

        if (j->modem_imei || j->modem_model) {
                modem = json_object_new_object();
                if (json_add(o, "modem", modem) < 0 ||
                    json_add_string(modem, "imei", j->modem_imei) < 0 ||
                    json_add_string(modem, "model", j->modem_model) < 0)
                        goto fail;
        }

        if (json_add_string(o, "source_version", j->source_version) < 0 ||
            json_add_string(o, "target_version", j->target_version) < 0)
                goto fail;

        /* Without a url this is what the manager keeps of a rejected document: its id. */
        if (j->url) {
                package = json_object_new_object();
                if (json_add(o, "package", package) < 0 ||
                    json_add_string(package, "url", j->url) < 0 ||
                    json_add_string(package, "sha256", j->sha256) < 0 ||
                    (j->size > 0 && json_add(package, "size", json_object_new_uint64(j->size)) < 0))
                        goto fail;
        }

        if (json_add_string(o, "delivery", job_delivery_to_string(j->delivery)) < 0)
                goto fail;

        return o;

fail:
        json_object_put(o);
        return NULL;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;

        free(j->id);
        free(j->modem_imei);
        free(j->modem_model);
        free(j->source_version);
        free(j->target_version);
        free(j->url);
        free(j->sha256);
        free(j);
        return NULL;
}
