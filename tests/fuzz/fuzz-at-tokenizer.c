/* SPDX-License-Identifier: MIT */

/* The AT tokenizer (at-tokenizer.h) gives the same lines for any split of its input: bytes come
 * from a tty in whatever chunks read() returns. The first byte of the input says how many split
 * points follow (0..7), each two bytes (an offset, modulo the rest's length); the rest is fed once
 * whole and once cut at those points. Every line must also keep the header's promises: its kind
 * in range, text NUL-terminated with strlen(text) == length (OVERLONG: length > AT_LINE_MAX), no
 * CR/LF or other removed control byte, no trailing blank, at most AT_LINE_MAX bytes. */

#include <stdio.h>

#include "at-tokenizer.h"
#include "fuzz-util.h"

typedef struct Lines {
        char *text;                 /* every line as "kind length code text\n", appended */
        size_t size;
        FILE *f;
} Lines;

static void check_line(const AtLine *l) {
        fuzz_assert(l->kind >= 0 && l->kind < _AT_LINE_KIND_MAX);
        fuzz_assert(l->text);

        if (l->kind == AT_LINE_OVERLONG) {
                fuzz_assert(l->length > AT_LINE_MAX);
                return;
        }

        fuzz_assert(strlen(l->text) == l->length);
        fuzz_assert(l->length > 0 && l->length <= AT_LINE_MAX);
        if (l->kind == AT_LINE_PROMPT) {
                fuzz_assert(streq(l->text, "> "));
                return;
        }
        fuzz_assert(l->text[l->length - 1] != ' ' && l->text[l->length - 1] != '\t');
        fuzz_assert(l->text[0] > ' ' && l->text[0] < 0x7f);
        for (size_t i = 0; i < l->length; i++) {
                unsigned char c = (unsigned char) l->text[i];

                fuzz_assert(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (l->kind == AT_LINE_CME_ERROR || l->kind == AT_LINE_CMS_ERROR)
                fuzz_assert(l->error_code >= -1);
        else
                fuzz_assert(l->error_code == -1);

        /* Classification is a function of the text alone. */
        int code;
        fuzz_assert(at_line_classify(l->text, &code) == l->kind);
        fuzz_assert(code == l->error_code);
}

static void on_line(const AtLine *l, void *userdata) {
        Lines *lines = userdata;

        check_line(l);
        fprintf(lines->f, "%s %zu %d %s\n", at_line_kind_to_string(l->kind), l->length, l->error_code, l->text);
}

static int lines_open(Lines *l) {
        *l = (Lines) {};
        l->f = open_memstream(&l->text, &l->size);
        return l->f ? 0 : -ENOMEM;
}

static void lines_close(Lines *l) {
        if (l->f)
                fclose(l->f);
        l->f = NULL;
}

static int cmp_size(const void *a, const void *b) {
        size_t x = *(const size_t *) a, y = *(const size_t *) b;

        return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t cuts[8], n_cuts, at = 0;
        Lines whole, split;
        AtTokenizer t;

        fuzz_setup();

        if (size < 1)
                return 0;
        n_cuts = data[0] % 8;
        if (size < 1 + 2 * n_cuts)
                return 0;
        const uint8_t *p = data + 1 + 2 * n_cuts;
        size_t n = size - 1 - 2 * n_cuts;

        for (size_t i = 0; i < n_cuts; i++) {
                size_t v = (size_t) data[1 + 2 * i] << 8 | data[2 + 2 * i];

                cuts[i] = n > 0 ? v % (n + 1) : 0;
        }
        qsort(cuts, n_cuts, sizeof(size_t), cmp_size);
        cuts[n_cuts] = n;

        if (lines_open(&whole) < 0 || lines_open(&split) < 0)
                fuzz_fail("out of memory");

        at_tokenizer_init(&t);
        at_tokenizer_feed(&t, p, n, on_line, &whole);

        at_tokenizer_init(&t);
        for (size_t i = 0; i <= n_cuts; i++) {
                at_tokenizer_feed(&t, p + at, cuts[i] - at, on_line, &split);
                at = cuts[i];
        }

        lines_close(&whole);
        lines_close(&split);
        if (whole.size != split.size || memcmp(whole.text, split.text, whole.size) != 0)
                fuzz_fail("the tokens differ with the input split:\n--- whole\n%s--- split\n%s", whole.text, split.text);

        free(whole.text);
        free(split.text);
        return 0;
}
