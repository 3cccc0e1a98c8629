/* SPDX-License-Identifier: MIT */

/* The identification of a module (at-parse.h: at_parse_ati(), at_parse_gsn(), and
 * modem_profile_from_model() on the model found), on the information lines of a response as the
 * AT tokenizer gives them (TEXT and ECHO lines; a final result ends the response). Invariants:
 * ATI's revision is non-empty and starts with no blank; the model is non-empty; outputs are
 * written only on success; AT+GSN's IMEI is 14-17 digits; the family lookup never returns NULL. */

#include "at-parse.h"
#include "at-tokenizer.h"
#include "fuzz-util.h"
#include "modem.h"

#define LINES_MAX 64

typedef struct Response {
        char *lines[LINES_MAX + 1];
        size_t n;
} Response;

static void on_line(const AtLine *l, void *userdata) {
        Response *r = userdata;

        if (!IN_SET(l->kind, AT_LINE_TEXT, AT_LINE_ECHO) || r->n >= LINES_MAX)
                return;
        r->lines[r->n] = strdup(l->text);
        if (r->lines[r->n])
                r->n++;
}

static void check_ati(char *const *lines) {
        char *model = (char *) "untouched", *revision = (char *) "untouched";
        int r;

        r = at_parse_ati(lines, &model, &revision);
        if (r < 0) {
                fuzz_assert(r == -EBADMSG || r == -ENOMEM);
                fuzz_assert(streq(model, "untouched") && streq(revision, "untouched"));
                return;
        }
        fuzz_assert(revision && revision[0] != '\0' && revision[0] != ' ');
        if (model) {
                fuzz_assert(model[0] != '\0');
                fuzz_assert(modem_profile_from_model(model));
        }
        free(model);
        free(revision);
}

static void check_gsn(char *const *lines) {
        char *imei = NULL;
        int r;

        r = at_parse_gsn(lines, &imei);
        if (r < 0) {
                fuzz_assert(r == -EBADMSG || r == -ENOMEM);
                fuzz_assert(!imei);
                return;
        }
        fuzz_assert(imei);
        fuzz_assert(strlen(imei) >= 14 && strlen(imei) <= 17);
        fuzz_assert(strspn(imei, "0123456789") == strlen(imei));
        free(imei);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Response resp = {};
        AtTokenizer t;

        fuzz_setup();

        at_tokenizer_init(&t);
        at_tokenizer_feed(&t, data, size, on_line, &resp);
        at_tokenizer_feed(&t, "\r\n", 2, on_line, &resp);

        check_ati(resp.lines);
        check_gsn(resp.lines);
        /* Every line on its own too: the first line of a response is often all there is. */
        for (size_t i = 0; i < resp.n; i++) {
                check_ati((char *const[]) { resp.lines[i], NULL });
                check_gsn((char *const[]) { resp.lines[i], NULL });
                (void) modem_profile_from_model(resp.lines[i]);
        }

        for (size_t i = 0; i < resp.n; i++)
                free(resp.lines[i]);
        return 0;
}
