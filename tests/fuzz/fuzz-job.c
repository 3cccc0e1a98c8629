/* SPDX-License-Identifier: MIT */

/* Job documents (job.h: job_document_check(), job_parse()), the bytes as a control plane receives
 * them. A document the daemon accepts satisfies README.md "Submit a job" as job-rules.c writes it
 * out independently (id alphabet and length, IMEI digits, printable versions without '"', a URL
 * from RFC 3986 with an allowed scheme and a host or a local file, sha256 hex, "host" delivery with
 * sha256 and size); a document with a NUL byte is never accepted; a refused one gets a reason that
 * is safe to log (valid UTF-8, no control characters). An accepted job serialised (job_to_json())
 * parses back to the same job. */

#include "fuzz-util.h"
#include "job-rules.h"
#include "json-util.h"

static void check_same(const Job *a, const Job *b) {
        fuzz_assert(streq(a->id, b->id));
        fuzz_assert(streq_ptr(a->modem_imei, b->modem_imei));
        fuzz_assert(streq_ptr(a->modem_model, b->modem_model));
        fuzz_assert(streq_ptr(a->source_version, b->source_version));
        fuzz_assert(streq(a->target_version, b->target_version));
        fuzz_assert(streq(a->url, b->url));
        fuzz_assert(streq_ptr(a->sha256, b->sha256));
        fuzz_assert(a->size == b->size);
        fuzz_assert(a->delivery == b->delivery);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(job_freep) Job *j = NULL, *again = NULL;
        _cleanup_free_ char *text = NULL, *reason = NULL;
        const char *s;
        int r;

        fuzz_setup();

        text = fuzz_strndup0(data, size);
        if (!text)
                return 0;

        r = job_parse(text, size, &j, &reason);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                fuzz_assert(r == -EINVAL || r == -EFBIG);
                fuzz_assert(!j);
                rules_check_reason(reason);
                return 0;
        }
        fuzz_assert(r == 0 && j);
        fuzz_assert(!memchr(data, '\0', size));
        fuzz_assert(size <= JOB_DOCUMENT_MAX);
        rules_check_job(j);

        o = job_to_json(j);
        fuzz_assert(o);
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        fuzz_assert(s);
        r = job_parse(s, strlen(s), &again, NULL);
        if (r < 0)
                fuzz_fail("job_to_json() of an accepted job does not parse: %d: %s", r, s);
        check_same(j, again);
        return 0;
}
