/* SPDX-License-Identifier: MIT */

/* The package URL on its own (job_check_url_syntax(), then modem_profile_check_url() of every
 * family): the text is pasted into AT+QFOTADL="<url>", so what README.md "Submit a job" forbids
 * must never pass (job-rules.c checks it independently). A family accepts only what the syntax
 * check accepts, within its length limits. Reasons are safe to log. The input is also wrapped in a
 * minimal job document, so the URL goes through job_parse() the way a control plane sends it. */

#include <stdio.h>

#include "escape.h"
#include "fuzz-util.h"
#include "job-rules.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *url = NULL, *reason = NULL, *doc = NULL, *doc_reason = NULL;
        _cleanup_(job_freep) Job *j = NULL;
        bool syntax_ok;
        int r;

        fuzz_setup();

        if (memchr(data, '\0', size))
                return 0;
        url = fuzz_strndup0(data, size);
        if (!url)
                return 0;

        r = job_check_url_syntax(url, &reason);
        syntax_ok = r >= 0;
        if (syntax_ok) {
                fuzz_assert(r == 0);
                rules_check_url(url);
        } else {
                fuzz_assert(r == -EINVAL);
                rules_check_reason(reason);
        }

        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *p = modem_profile_get(f);
                _cleanup_free_ char *why = NULL;

                fuzz_assert(p);
                if (!syntax_ok)
                        continue; /* job validation refuses it before the family is asked */
                r = modem_profile_check_url(p, url, &why);
                if (r < 0) {
                        fuzz_assert(r == -EINVAL);
                        fuzz_assert(why);
                        rules_check_reason(why);
                        continue;
                }
                fuzz_assert(package_source_from_url(url) >= 0);
                fuzz_assert(strlen(url) <= MAX(p->url_max, p->local_max));
        }

        /* The same URL in a document: the job's verdict is the syntax check's. Escaped as JSON
         * needs it (escape_foreign() is no JSON escaper, so only URLs that need none are wrapped). */
        if (strpbrk(url, "\"\\") || !text_is_safe(url, strlen(url), SIZE_MAX))
                return 0;
        if (asprintf(&doc, "{\"id\":\"u\",\"target_version\":\"T\",\"package\":{\"url\":\"%s\"}}", url) < 0)
                return 0;
        r = job_parse(doc, strlen(doc), &j, &doc_reason);
        if (r == -ENOMEM)
                return 0;
        fuzz_assert((r >= 0) == syntax_ok);
        if (j)
                fuzz_assert(streq(j->url, url));
        return 0;
}
