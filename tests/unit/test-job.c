/* SPDX-License-Identifier: MIT */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "job.h"

/* Documents are written with ' for " to keep them readable; \\' gives an escaped quote. */
static char *doc(const char *s) {
        char *d = strdup(s);

        assert_non_null(d);
        for (char *p = d; *p; p++)
                if (*p == '\'')
                        *p = '"';
        return d;
}

static int parse_doc(const char *s, Job **ret, char **reterr) {
        _cleanup_free_ char *text = doc(s);

        return job_parse(text, strlen(text), ret, reterr);
}

/* The example of ../shared/product.md "The job document", without its comments. */
#define EXAMPLE_SHA256 "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define EXAMPLE                                                                 \
        "{'id': 'job-2026-11-eu-ec25-a02',"                                     \
        " 'modem': {'imei': '861234567890123'},"                                \
        " 'source_version': 'EC25EFAR06A01M4G',"                                \
        " 'target_version': 'EC25EFAR06A02M4G',"                                \
        " 'package': {'url': 'https://fw.example.net/ec25/a01-a02.zip',"        \
        "             'sha256': '" EXAMPLE_SHA256 "', 'size': 1234567},"        \
        " 'delivery': 'modem'}"

static void test_example(void **state) {
        _cleanup_(job_freep) Job *j = NULL;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(parse_doc(EXAMPLE, &j, &err), 0);
        assert_null(err);
        assert_string_equal(j->id, "job-2026-11-eu-ec25-a02");
        assert_string_equal(j->modem_imei, "861234567890123");
        assert_null(j->modem_model);
        assert_string_equal(j->source_version, "EC25EFAR06A01M4G");
        assert_string_equal(j->target_version, "EC25EFAR06A02M4G");
        assert_string_equal(j->url, "https://fw.example.net/ec25/a01-a02.zip");
        /* Lower-cased on parse. */
        assert_string_equal(j->sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_int_equal(j->size, 1234567);
        assert_int_equal(j->delivery, JOB_DELIVERY_MODEM);
}

static void test_minimal_and_selectors(void **state) {
        static const struct {
                const char *doc;
                const char *imei, *model;
                JobDelivery delivery;
        } cases[] = {
                { "{'id':'a','target_version':'V2','package':{'url':'/data/ufs/u.zip'}}",
                  NULL, NULL, JOB_DELIVERY_MODEM },
                { "{'id':'A_b-9','modem':{'model':'EC25'},'target_version':'V2','package':{'url':'ftp://h/u.zip'}}",
                  NULL, "EC25", JOB_DELIVERY_MODEM },
                { "{'id':'a','modem':{'imei':'000000000000000'},'target_version':'V2','package':{'url':'http://h/u'}}",
                  "000000000000000", NULL, JOB_DELIVERY_MODEM },
                /* UMTS/HSPA DFOTA User Guide §3.3: a file in a UC20's UFS. */
                { "{'id':'a','modem':{'model':'UC20'},'target_version':'V2','package':{'url':'UFS:delta.bin'}}",
                  NULL, "UC20", JOB_DELIVERY_MODEM },
                /* Explicit nulls are the same as leaving optional fields out. */
                { "{'id':'a','modem':null,'source_version':null,'target_version':'V2',"
                  "'package':{'url':'http://h/u','sha256':null,'size':null},'delivery':null}",
                  NULL, NULL, JOB_DELIVERY_MODEM },
                { "{'id':'a','target_version':'V2','delivery':'host',"
                  "'package':{'url':'https://h/u','size':10,'sha256':'" EXAMPLE_SHA256 "'}}",
                  NULL, NULL, JOB_DELIVERY_HOST },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(job_freep) Job *j = NULL;
                _cleanup_free_ char *err = NULL;
                int r;

                r = parse_doc(cases[i].doc, &j, &err);
                if (r < 0)
                        fail_msg("case %zu: rejected: %s", i, err);
                assert_true(streq_ptr(j->modem_imei, cases[i].imei));
                assert_true(streq_ptr(j->modem_model, cases[i].model));
                assert_int_equal(j->delivery, cases[i].delivery);
                assert_null(j->source_version);
        }
}

static void test_rejections(void **state) {
        static const struct {
                const char *doc;
                const char *reason;     /* the reason must start with this */
        } cases[] = {
                /* (document) */
                { "{'id': 'a',",                             "(document): not valid JSON: " },
                { "{'id':'a','target_version':'V','package':{'url':'/x'}} trailing", "(document): not valid JSON: " },
                { "",                                        "(document): not valid JSON: " },
                { "[]",                                      "(document): must be a JSON object" },
                { "'job'",                                   "(document): must be a JSON object" },
                { "{'id':'a','target_version':'V','package':{'url':'/x'},'priority':1}", "priority: unknown field" },
                /* id */
                { "{'target_version':'V','package':{'url':'/x'}}",                "id: missing" },
                { "{'id':'','target_version':'V','package':{'url':'/x'}}",        "id: is empty" },
                { "{'id':7,'target_version':'V','package':{'url':'/x'}}",         "id: must be a string" },
                { "{'id':'a/b','target_version':'V','package':{'url':'/x'}}",     "id: contains '/' at offset 1" },
                { "{'id':'a b','target_version':'V','package':{'url':'/x'}}",     "id: contains byte 0x20 at offset 1" },
                { "{'id':'a\\u0000b','target_version':'V','package':{'url':'/x'}}", "id: contains a NUL character" },
                { "{'id':'0123456789012345678901234567890123456789012345678901234567890123X',"
                  "'target_version':'V','package':{'url':'/x'}}",                  "id: is longer than 64 characters" },
                /* modem */
                { "{'id':'a','modem':'EC25','target_version':'V','package':{'url':'/x'}}",   "modem: must be a JSON object" },
                { "{'id':'a','modem':{},'target_version':'V','package':{'url':'/x'}}",       "modem: needs \"imei\" or \"model\"" },
                { "{'id':'a','modem':{'imei':'861234567890123','model':'EC25'},'target_version':'V','package':{'url':'/x'}}",
                                                                                            "modem: give either" },
                { "{'id':'a','modem':{'serial':'1'},'target_version':'V','package':{'url':'/x'}}", "modem.serial: unknown field" },
                { "{'id':'a','modem':{'imei':'86123456789012'},'target_version':'V','package':{'url':'/x'}}",
                                                                                            "modem.imei: must be 15 digits" },
                { "{'id':'a','modem':{'imei':'8612345678901234'},'target_version':'V','package':{'url':'/x'}}",
                                                                                            "modem.imei: must be 15 digits" },
                { "{'id':'a','modem':{'imei':'86123456789012x'},'target_version':'V','package':{'url':'/x'}}",
                                                                                            "modem.imei: must be 15 digits" },
                { "{'id':'a','modem':{'imei':861234567890123},'target_version':'V','package':{'url':'/x'}}",
                                                                                            "modem.imei: must be a string" },
                { "{'id':'a','modem':{'model':''},'target_version':'V','package':{'url':'/x'}}", "modem.model: is empty" },
                { "{'id':'a','modem':{'model':'EC\\t25'},'target_version':'V','package':{'url':'/x'}}",
                                                                                            "modem.model: contains byte 0x09" },
                /* versions */
                { "{'id':'a','package':{'url':'/x'}}",                                     "target_version: missing" },
                { "{'id':'a','target_version':'','package':{'url':'/x'}}",                 "target_version: is empty" },
                { "{'id':'a','target_version':'V\\'2','package':{'url':'/x'}}",            "target_version: contains '\"' at offset 1" },
                { "{'id':'a','target_version':'V\\r\\nAT','package':{'url':'/x'}}",        "target_version: contains byte 0x0d" },
                { "{'id':'a','target_version':'01234567890123456789012345678901234567890123456789012345678901234',"
                  "'package':{'url':'/x'}}",                                               "target_version: is longer than 64" },
                { "{'id':'a','source_version':['V1'],'target_version':'V','package':{'url':'/x'}}", "source_version: must be a string" },
                { "{'id':'a','source_version':'V\\u00e91','target_version':'V','package':{'url':'/x'}}", "source_version: contains byte 0xc3" },
                /* package */
                { "{'id':'a','target_version':'V'}",                                       "package: missing" },
                { "{'id':'a','target_version':'V','package':'http://h/x'}",                "package: must be a JSON object" },
                { "{'id':'a','target_version':'V','package':{}}",                          "package.url: missing" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','md5':'0'}}",      "package.md5: unknown field" },
                { "{'id':'a','target_version':'V','package':{'url':1}}",                   "package.url: must be a string" },
                { "{'id':'a','target_version':'V','package':{'url':'http://h/x\\'+AT'}}",  "package.url: contains '\"'" },
                { "{'id':'a','target_version':'V','package':{'url':'http://h/x\\r\\nAT+CFUN=0'}}",
                                                                                            "package.url: contains a control character or space at offset 10" },
                { "{'id':'a','target_version':'V','package':{'url':'gopher://h/x'}}",      "package.url: unsupported scheme \"gopher\"" },
                { "{'id':'a','target_version':'V','package':{'url':'UFS:'}}",              "package.url: has no file name after \"UFS:\"" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','sha256':'abc'}}", "package.sha256: must be 64 hexadecimal digits" },
                { "{'id':'a','target_version':'V','package':{'url':'/x',"
                  "'sha256':'g" EXAMPLE_SHA256 "'}}",                                      "package.sha256: must be 64 hexadecimal digits" },
                { "{'id':'a','target_version':'V','package':{'url':'/x',"
                  "'sha256':'" EXAMPLE_SHA256 "0'}}",                                      "package.sha256: must be 64 hexadecimal digits" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','size':0}}",       "package.size: must be an integer > 0" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','size':-5}}",      "package.size: must be an integer > 0" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','size':1.5}}",     "package.size: must be an integer > 0" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','size':'10'}}",    "package.size: must be an integer > 0" },
                /* delivery */
                { "{'id':'a','target_version':'V','package':{'url':'/x'},'delivery':'usb'}", "delivery: must be \"modem\" or \"host\"" },
                { "{'id':'a','target_version':'V','package':{'url':'/x'},'delivery':true}",  "delivery: must be a string" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','size':1},'delivery':'host'}",
                                                                                            "delivery: \"host\" requires package.sha256 and package.size" },
                { "{'id':'a','target_version':'V','package':{'url':'/x','sha256':'" EXAMPLE_SHA256 "'},'delivery':'host'}",
                                                                                            "delivery: \"host\" requires package.sha256 and package.size" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL;
                Job *j = NULL;
                int r;

                r = parse_doc(cases[i].doc, &j, &err);
                if (r != -EINVAL || !err || !startswith(err, cases[i].reason))
                        fail_msg("case %zu (%s): r=%i reason=\"%s\", want \"%s...\"",
                                 i, cases[i].doc, r, strna(err), cases[i].reason);
                /* *ret is written only on success. */
                assert_null(j);
                assert_int_equal(parse_doc(cases[i].doc, &j, NULL), -EINVAL);
                assert_null(j);
        }
}

static void test_url_syntax(void **state) {
        static const struct {
                const char *url;
                const char *reason;     /* NULL: accepted */
        } cases[] = {
                { "https://fw.example.net/ec25/a01-a02.zip", NULL },
                { "http://fw.example.net:8080/a.zip?x=1&y=2#frag", NULL },
                { "HTTPS://fw.example.net/a.zip", NULL },
                { "Http://h/a", NULL },
                { "ftp://user:pass@host:21/x", NULL },
                { "FtP://user:p%40ss@host/x", NULL },
                { "ftp://host/x", NULL },
                { "http://[2001:db8::1]:80/x", NULL },
                /* RFC 3986 §3.2.2 IP-literal: every IPv6 address form (RFC 4291 §2.2) */
                { "http://[::1]/x", NULL },
                { "http://[::]/x", NULL },
                { "https://[2001:DB8:0:0:8:800:200C:417A]/x", NULL },
                { "http://[::ffff:192.0.2.1]:8080/x", NULL },
                { "ftp://user:pass@[2001:db8::7]:21/x", NULL },
                { "http://[2001:db8::1]", NULL },
                { "http://[2001:db8::1]?q", NULL },
                /* the longest IPv6 address text there is (45 characters, INET6_ADDRSTRLEN - 1) */
                { "http://[0000:0000:0000:0000:0000:ffff:192.168.100.100]/x", NULL },
                { "http://h", NULL },
                { "/data/ufs/update.zip", NULL },
                /* UMTS/HSPA DFOTA User Guide §3.3: AT+QFOTADL="UFS:delta.bin" — no '/' needed. */
                { "UFS:delta.bin", NULL },
                { "UFS:d", NULL },
                { "UFS:dir/delta.bin", NULL },
                { "UFS:a-b_c.~!$&'()*+,;=:@%41", NULL },   /* every RFC 3986 path character */
                { "UFS:", "has no file name after \"UFS:\"" },
                { "UFS:delta.bin?x=1", "contains '?' which a UFS: file name cannot have" },
                { "UFS:delta#1", "contains '#' which a UFS: file name cannot have" },
                { "UFS:[x]", "contains '[' which a UFS: file name cannot have" },
                { "UFS:a]", "contains ']' which a UFS: file name cannot have" },
                { "UFS:delta bin", "contains a control character or space at offset 9" },
                { "UFS:delta\"", "contains '\"'" },
                { "UFS:a%zz", "bad percent-encoding at offset 5" },
                { "UFS:a<b", "contains '<' which RFC 3986 does not allow" },
                { "ufs:delta.bin", "unsupported scheme \"ufs\"" },
                { "UFS//delta.bin", "is neither" },
                { "http://h/x;type=a", NULL },                    /* ';' is an RFC 3986 sub-delim */
                { "http://h/a%20b%2F", NULL },
                { "http://h/!$&'()*+,=~_.-:@", NULL },
                { "", "is empty" },
                { "http://h/x\"", "contains '\"'" },
                { "http://h/x\r\nAT+CFUN=0", "contains a control character or space at offset 10" },
                { "http://h/a b", "contains a control character or space at offset 10" },
                { "http://h/\t", "contains a control character or space at offset 9" },
                { "http://h/\x7f", "contains a control character or space at offset 9" },
                { "http://h/\xc3\xa9t\xc3\xa9", "contains a non-ASCII byte at offset 9" },
                { "http://h/a%zz", "bad percent-encoding at offset 10" },
                { "http://h/a%2", "bad percent-encoding at offset 10" },
                { "http://h/a%", "bad percent-encoding at offset 10" },
                { "http://h/a<b", "contains '<' which RFC 3986 does not allow" },
                { "http://h/a>b", "contains '>' which RFC 3986 does not allow" },
                { "http://h/a\\b", "contains '\\' which RFC 3986 does not allow" },
                { "http://h/a{b", "contains '{' which RFC 3986 does not allow" },
                { "http://h/a|b", "contains '|' which RFC 3986 does not allow" },
                { "http://h/a^b", "contains '^' which RFC 3986 does not allow" },
                { "http://h/a`b", "contains '`' which RFC 3986 does not allow" },
                { "gopher://h/x", "unsupported scheme \"gopher\" (ftp, http, https, or a local file: an absolute path or UFS:<name>)" },
                { "file:///etc/passwd", "unsupported scheme \"file\"" },
                { "httpx://h/x", "unsupported scheme \"httpx\"" },
                { "fw.example.net/a.zip", "is neither an ftp://, http:// or https:// URL nor a local file (an absolute path or UFS:<name>)" },
                { "data/ufs/a.zip", "is neither" },
                { "1http://h/x", "is neither" },
                { "http:/h/x", "\"http:\" is not followed by \"//\"" },
                { "http:///x", "has no host" },
                { "http://:80/x", "has no host" },
                { "ftp://user:pass@/x", "has no host" },
                { "http://user:pass@h/x", "user information (\"...@\") is only supported in ftp:// URLs" },
                { "http://h:99999/x", "has a bad port \"99999\"" },
                { "http://h:0/x", "has a bad port \"0\"" },
                { "http://h:/x", "has a bad port \"\"" },
                { "http://h:8a/x", "has a bad port \"8a\"" },
                { "http://[::1/x", "has an IP literal without ']'" },
                { "http://[::1]x/y", "has 'x' after the host" },
                /* IP literals that are not an IPv6 address */
                { "http://[]", "has an empty IP literal \"[]\"" },
                { "http://[]/x", "has an empty IP literal \"[]\"" },
                { "http://[]:80/x", "has an empty IP literal \"[]\"" },
                { "ftp://user:pw@[]/x", "has an empty IP literal \"[]\"" },
                { "http://[192.0.2.1]/x", "has an IPv4 address in brackets" },
                { "http://[127.0.0.1]:80/x", "has an IPv4 address in brackets" },
                { "http://[fe80::1%25eth0]/x", "has a zone id in its IP literal" },
                { "http://[fe80::1%25]/x", "has a zone id in its IP literal" },
                { "http://[v1.x]/x", "has an IPvFuture literal" },
                { "http://[V7.fe80::1+en0]/x", "has an IPvFuture literal" },
                { "http://[example.net]/x", "has an IP literal that is not an IPv6 address" },
                { "http://[::1::2]/x", "has an IP literal that is not an IPv6 address" },
                { "http://[2001:db8::g]/x", "has an IP literal that is not an IPv6 address" },
                { "http://[1:2:3:4:5:6:7:8:9]/x", "has an IP literal that is not an IPv6 address" },
                /* 46 characters, one more than the longest IPv6 address text */
                { "http://[0000:0000:0000:0000:0000:ffff:192.168.100.1000]/x", "has an IP literal that is not an IPv6 address" },
                { "http://[[::1]]/x", "has an IP literal that is not an IPv6 address" },
                /* brackets outside an IP literal */
                { "http://h[::1]/x", "has '[' in its host name" },
                { "http://h]/x", "has ']' in its host name" },
                { "ftp://u:p@fw[1].example/x", "has '[' in its host name" },
                /* an empty host after the user information */
                { "ftp://user:pw@/x", "has no host" },
                { "ftp://user:pw@", "has no host" },
                { "ftp://user:pw@:21/x", "has no host" },
                { "ftp://user:pw@?x", "has no host" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL;
                int r;

                r = job_check_url_syntax(cases[i].url, &err);
                /* The reason is optional. */
                assert_int_equal(job_check_url_syntax(cases[i].url, NULL), r);
                if (!cases[i].reason) {
                        if (r != 0)
                                fail_msg("case %zu \"%s\": rejected: %s", i, cases[i].url, strna(err));
                        assert_null(err);
                } else if (r != -EINVAL || !err || !startswith(err, cases[i].reason))
                        fail_msg("case %zu \"%s\": r=%i reason=\"%s\", want \"%s...\"",
                                 i, cases[i].url, r, strna(err), cases[i].reason);
        }
}

static void assert_job_equal(const Job *a, const Job *b) {
        assert_string_equal(a->id, b->id);
        assert_true(streq_ptr(a->modem_imei, b->modem_imei));
        assert_true(streq_ptr(a->modem_model, b->modem_model));
        assert_true(streq_ptr(a->source_version, b->source_version));
        assert_string_equal(a->target_version, b->target_version);
        assert_string_equal(a->url, b->url);
        assert_true(streq_ptr(a->sha256, b->sha256));
        assert_int_equal(a->size, b->size);
        assert_int_equal(a->delivery, b->delivery);
}

static void test_round_trip(void **state) {
        static const char *const docs[] = {
                EXAMPLE,
                "{'id':'a','modem':{'model':'EC21'},'target_version':'V 2','package':{'url':'/data/ufs/u.zip'}}",
                "{'id':'b','target_version':'V2','delivery':'host',"
                "'package':{'url':'ftp://u:p@h:21/x','size':18446744073709551615,'sha256':'" EXAMPLE_SHA256 "'}}",
        };

        for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
                _cleanup_(job_freep) Job *a = NULL, *b = NULL;
                _cleanup_free_ char *err = NULL, *text = NULL;
                json_object *o;

                if (parse_doc(docs[i], &a, &err) < 0)
                        fail_msg("doc %zu rejected: %s", i, err);

                o = job_to_json(a);
                assert_non_null(o);
                text = strdup(json_object_to_json_string(o));
                assert_non_null(text);
                json_object_put(o);

                if (job_parse(text, strlen(text), &b, &err) < 0)
                        fail_msg("doc %zu: job_to_json() output rejected: %s: %s", i, text, err);
                assert_job_equal(a, b);
        }
}

static void test_job_state_table(void **state) {
        static const char *const names[_JOB_STATE_MAX] = {
                "QUEUED", "PREFLIGHT", "DOWNLOADING", "DOWNLOADED", "UPDATING", "VERIFYING",
                "WAITING_FOR_MODEM", "SUCCEEDED", "FAILED", "REJECTED", "CANCELED",
        };
        static const bool terminal[_JOB_STATE_MAX] = {
                [JOB_SUCCEEDED] = true, [JOB_FAILED] = true, [JOB_REJECTED] = true, [JOB_CANCELED] = true,
        };

        for (JobState s = 0; s < _JOB_STATE_MAX; s++) {
                assert_string_equal(job_state_to_string(s), names[s]);
                assert_int_equal(job_state_from_string(names[s]), s);
                assert_int_equal(job_state_is_terminal(s), terminal[s]);
        }
        assert_null(job_state_to_string(_JOB_STATE_MAX));
        assert_null(job_state_to_string(_JOB_STATE_INVALID));
        assert_int_equal(job_state_from_string("queued"), -EINVAL);
        assert_int_equal(job_state_from_string(NULL), -EINVAL);

        assert_string_equal(job_delivery_to_string(JOB_DELIVERY_MODEM), "modem");
        assert_string_equal(job_delivery_to_string(JOB_DELIVERY_HOST), "host");
        assert_int_equal(job_delivery_from_string("host"), JOB_DELIVERY_HOST);
        assert_int_equal(job_delivery_from_string("Host"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_example),
                cmocka_unit_test(test_minimal_and_selectors),
                cmocka_unit_test(test_rejections),
                cmocka_unit_test(test_url_syntax),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_job_state_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
