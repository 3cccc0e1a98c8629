/* SPDX-License-Identifier: MIT */

/* The +QIND: "FOTA" URC parser (fota-urc.h), on lines as the AT tokenizer hands them to the engine
 * (the input is tokenized first; every line is parsed). On success: the kind and error table in
 * range and consistent with each other; value -1 or 0..999999999 (at most nine digits), and not -1
 * where the status requires a number; the status NUL-terminated within FOTA_URC_STATUS_MAX and, when
 * the line is valid UTF-8, still valid UTF-8 (copy_status() never cuts a character); *ret untouched
 * on failure, and the only failures -ENOMSG and -EBADMSG. Parsing is a pure function: twice the
 * same line, the same result. */

#include "at-tokenizer.h"
#include "escape.h"
#include "fota-urc.h"
#include "fuzz-util.h"

static bool utf8_valid(const char *s, size_t n) {
        for (size_t i = 0; i < n; ) {
                size_t k = utf8_sequence_length((const unsigned char *) s + i, n - i, NULL);

                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

static void check_urc(const char *line) {
        FotaUrc u, again, untouched;
        int r;

        memset(&u, 0xa5, sizeof u);
        untouched = u;
        r = fota_urc_parse(line, &u);
        if (r < 0) {
                fuzz_assert(r == -ENOMSG || r == -EBADMSG);
                fuzz_assert(memcmp(&u, &untouched, sizeof u) == 0);
                return;
        }
        fuzz_assert(r == 0);

        fuzz_assert(u.kind >= 0 && u.kind < _FOTA_URC_KIND_MAX);
        fuzz_assert(u.value == -1 || (u.value >= 0 && u.value <= 999999999));
        fuzz_assert(memchr(u.status, '\0', sizeof u.status));
        if (utf8_valid(line, strlen(line)))
                fuzz_assert(utf8_valid(u.status, strlen(u.status)));

        switch (u.kind) {
        case FOTA_URC_DOWNLOAD_END:
                /* FILEEND reports with the update table (fota-urc.c). */
                fuzz_assert(u.error_kind >= 0 && u.error_kind < _MODULE_ERROR_KIND_MAX);
                fuzz_assert(u.value >= 0);
                break;
        case FOTA_URC_UPDATE_END:
                fuzz_assert(u.error_kind == MODULE_ERROR_UPDATE);
                fuzz_assert(u.value >= 0);
                break;
        case FOTA_URC_DOWNLOAD_PROGRESS:
        case FOTA_URC_UPDATE_PROGRESS:
                fuzz_assert(u.error_kind == _MODULE_ERROR_KIND_INVALID);
                fuzz_assert(u.value >= 0);
                break;
        case FOTA_URC_DOWNLOAD_START:
        case FOTA_URC_UPDATE_START:
        case FOTA_URC_UPDATE_RESUMED:
        case FOTA_URC_UNKNOWN:
                fuzz_assert(u.error_kind == _MODULE_ERROR_KIND_INVALID);
                break;
        case _FOTA_URC_KIND_MAX:
        case _FOTA_URC_KIND_INVALID:
                fuzz_fail("kind out of range");
        }
        fuzz_assert(fota_urc_kind_to_string(u.kind));

        fuzz_assert(fota_urc_parse(line, &again) == 0);
        fuzz_assert(again.kind == u.kind && again.value == u.value && again.error_kind == u.error_kind);
        fuzz_assert(streq(again.status, u.status));
}

static void on_line(const AtLine *l, void *userdata) {
        if (l->kind == AT_LINE_TEXT)
                check_urc(l->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *line = NULL;
        AtTokenizer t;

        fuzz_setup();

        /* The input as one line (up to a NUL, as a C string), then as the tokenizer splits it. */
        line = fuzz_strndup0(data, size);
        if (!line)
                return 0;
        check_urc(line);

        at_tokenizer_init(&t);
        at_tokenizer_feed(&t, data, size, on_line, NULL);
        at_tokenizer_feed(&t, "\r\n", 2, on_line, NULL);
        return 0;
}
