/* SPDX-License-Identifier: MIT */

/* fota_urc_parse(): every URC line of the EC25&EC21 DFOTA User Guide's examples verbatim, the
 * lines of the BC26 (§4.1 example, "HTTPTART" included) and EP06&EG06&EM06 (§3.1/§3.2 command
 * tables, commas missing) guides verbatim, the variants other guides and real modules send
 * (../shared/reference/modem.md §4.1, §5), malformed and foreign lines, and every status word a
 * family profile lists. Each line is parsed from an exact-size heap copy, so that ASan catches a read
 * past its NUL. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <cmocka.h>

#include "fota-urc.h"

#define NONE _MODULE_ERROR_KIND_INVALID

typedef struct UrcCase {
        const char *line;
        FotaUrcKind kind;
        ModuleErrorKind error_kind;
        int value;
        const char *status;         /* as it must be handed on */
} UrcCase;

static const UrcCase valid_cases[] = {
        /* EC25&EC21 DFOTA User Guide §3.1 example (FTP), verbatim incl. the spaces after commas. */
        { "+QIND: \"FOTA\", \"FTPSTART\"",        FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "FTPSTART" },
        { "+QIND: \"FOTA\", \"FTPEND\",0",        FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_FTP,     0,  "FTPEND" },
        { "+QIND: \"FOTA\", \"START\"",           FOTA_URC_UPDATE_START,      NONE,                -1,  "START" },
        { "+QIND: \"FOTA\",\"UPDATING\", 1",      FOTA_URC_UPDATE_PROGRESS,   NONE,                 1,  "UPDATING" },
        { "+QIND: \"FOTA\",\"UPDATING\", 2",      FOTA_URC_UPDATE_PROGRESS,   NONE,                 2,  "UPDATING" },
        { "+QIND: \"FOTA\", \"UPDATING\", 100",   FOTA_URC_UPDATE_PROGRESS,   NONE,               100,  "UPDATING" },
        { "+QIND: \"FOTA\",\"END\",0",            FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "END" },
        /* §3.2 example (HTTP). */
        { "+QIND: \"FOTA\",\"HTTPSTART\"",        FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "HTTPSTART" },
        { "+QIND: \"FOTA\",\"HTTPEND\",0",        FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,    0,  "HTTPEND" },
        /* §3.3 example (local file). */
        { "+QIND: \"FOTA\",\"START\"",            FOTA_URC_UPDATE_START,      NONE,                -1,  "START" },
        /* Error codes of ch. 4/5 as they would arrive. */
        { "+QIND: \"FOTA\",\"FTPEND\",601",       FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_FTP,   601,  "FTPEND" },
        { "+QIND: \"FOTA\",\"HTTPEND\",701",      FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,  701,  "HTTPEND" },
        { "+QIND: \"FOTA\",\"END\",504",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,504,  "END" },
        { "+QIND: \"FOTA\",\"END\",505",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,505,  "END" },
        /* EP06&EG06&EM06 guide ch. 3: a space before the comma. */
        { "+QIND: \"FOTA\",\"UPDATING\" ,50",     FOTA_URC_UPDATE_PROGRESS,   NONE,                50,  "UPDATING" },
        { "+QIND: \"FOTA\",\"END\" ,0",           FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "END" },
        /* BG96 DFOTA guide: resume after power loss (modem.md §4.1). */
        { "+QIND: \"FOTA\",\"Last upgrade was not finished,continue upgrade\"",
                                                  FOTA_URC_UPDATE_RESUMED,    NONE,                -1,
          "Last upgrade was not finished,continue upgrade" },
        { "+QIND: \"FOTA\",\"RESTORE\",1%",       FOTA_URC_UPDATE_PROGRESS,   NONE,                 1,  "RESTORE" },
        { "+QIND: \"FOTA\",\"RESTORE\",2%",       FOTA_URC_UPDATE_PROGRESS,   NONE,                 2,  "RESTORE" },
        { "+QIND: \"FOTA\",\"RESTORE\",100%",     FOTA_URC_UPDATE_PROGRESS,   NONE,               100,  "RESTORE" },
        /* BG96 forum log T1. */
        { "+QIND: \"FOTA\",\"HTTPEND\",702",      FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,  702,  "HTTPEND" },
        /* EC200U forum T2: typographic quotes U+201C/U+201D. */
        { "+QIND: \xe2\x80\x9c" "FOTA\xe2\x80\x9d,\xe2\x80\x9cHTTPSTART\xe2\x80\x9d",
                                                  FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "HTTPSTART" },
        { "+QIND: \xe2\x80\x9c" "FOTA\xe2\x80\x9d,\xe2\x80\x9cHTTPEND\xe2\x80\x9d,608",
                                                  FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,  608,  "HTTPEND" },
        /* Typography that opens with U+201D, or mixes both kinds of quote. */
        { "+QIND: \xe2\x80\x9d" "FOTA\xe2\x80\x9d,\"END\",0",
                                                  FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "END" },
        /* RG50xQ note / BC26 guide command table spelling. */
        { "+QIND: \"FOTA\",\"HTTPPEND\",0",       FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,    0,  "HTTPPEND" },
        /* RG50xQ note ch. 5 Table 5 codes. */
        { "+QIND: \"FOTA\",\"END\",520",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,520,  "END" },
        { "+QIND: \"FOTA\",\"END\",550",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,550,  "END" },
        /* BC26 DFOTA User Guide §4.1 example, verbatim: "HTTPTART" (the guide's typo for HTTPSTART),
         * percentages with a space and '%', HTTPEND where the §3.1 table has HTTPPEND. */
        { "+QIND: \"FOTA\",\"HTTPTART\"",         FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "HTTPTART" },
        { "+QIND: \"FOTA\",\"DOWNLOADING\", 1%",  FOTA_URC_DOWNLOAD_PROGRESS, NONE,                 1,  "DOWNLOADING" },
        { "+QIND: \"FOTA\",\"DOWNLOADING\", 2%",  FOTA_URC_DOWNLOAD_PROGRESS, NONE,                 2,  "DOWNLOADING" },
        { "+QIND: \"FOTA\",\"DOWNLOADING\", 100%",FOTA_URC_DOWNLOAD_PROGRESS, NONE,               100,  "DOWNLOADING" },
        { "+QIND: \"FOTA\",\"HTTPEND\",0",        FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,    0,  "HTTPEND" },
        { "+QIND: \"FOTA\",\"UPDATING\", 1%",     FOTA_URC_UPDATE_PROGRESS,   NONE,                 1,  "UPDATING" },
        { "+QIND: \"FOTA\",\"UPDATING\", 100%",   FOTA_URC_UPDATE_PROGRESS,   NONE,               100,  "UPDATING" },
        /* BC26 error codes (ch. 5 Tables 1/2) in the §3.1 table's spelling. */
        { "+QIND: \"FOTA\",\"HTTPPEND\",12",      FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,   12,  "HTTPPEND" },
        { "+QIND: \"FOTA\",\"END\",255",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,255,  "END" },
        /* EP06&EG06&EM06 guide §3.1/§3.2 command tables, verbatim (a placeholder replaced by a
         * value where there is one): the comma between fields missing, blanks in its place. */
        { "+QIND: \"FOTA\" \"FTPSTART\"",         FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "FTPSTART" },
        { "+QIND: \"FOTA\" ,\"FTPEND\" 0",        FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_FTP,     0,  "FTPEND" },
        { "+QIND: \"FOTA\" ,\"FTPEND\" 601",      FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_FTP,   601,  "FTPEND" },
        { "+QIND: \"FOTA\" ,\"START\"",           FOTA_URC_UPDATE_START,      NONE,                -1,  "START" },
        { "+QIND: \"FOTA\",\"UPDATING\" ,1",      FOTA_URC_UPDATE_PROGRESS,   NONE,                 1,  "UPDATING" },
        { "+QIND: \"FOTA\" ,\"UPDATING\" ,2",     FOTA_URC_UPDATE_PROGRESS,   NONE,                 2,  "UPDATING" },
        { "+QIND: \"FOTA\" \"HTTPSTART\"",        FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "HTTPSTART" },
        { "+QIND: \"FOTA\" ,\"HTTPEND\" 0",       FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,    0,  "HTTPEND" },
        { "+QIND: \"FOTA\" ,\"HTTPEND\" 701",     FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,  701,  "HTTPEND" },
        /* §3.2 example: "+QIND: "FOTA" ,"HTTPSTART"", "+QIND: "FOTA" ,"UPDATING",1". */
        { "+QIND: \"FOTA\" ,\"HTTPSTART\"",       FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "HTTPSTART" },
        { "+QIND: \"FOTA\" ,\"UPDATING\",1",      FOTA_URC_UPDATE_PROGRESS,   NONE,                 1,  "UPDATING" },
        /* Blanks for the comma: several, tabs, typographic quotes, and before a '%'. */
        { "+QIND: \"FOTA\"\t \"END\"  \t5",       FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  5,  "END" },
        { "+QIND: \xe2\x80\x9c" "FOTA\xe2\x80\x9d \xe2\x80\x9cSTART\xe2\x80\x9d",
                                                  FOTA_URC_UPDATE_START,      NONE,                -1,  "START" },
        { "+QIND: \"FOTA\" \"DOWNLOADING\" 37%",  FOTA_URC_DOWNLOAD_PROGRESS, NONE,                37,  "DOWNLOADING" },
        { "+QIND: \"FOTA\" \"Last upgrade was not finished,continue upgrade\"",
                                                  FOTA_URC_UPDATE_RESUMED,    NONE,                -1,
          "Last upgrade was not finished,continue upgrade" },
        /* EG18-EA over HTTPS. */
        { "+QIND: \"FOTA\",\"HTTPSSTART\"",       FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "HTTPSSTART" },
        { "+QIND: \"FOTA\",\"HTTPSEND\",0",       FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,    0,  "HTTPSEND" },
        /* ASR platform (LTE Standard(A) guide): FILE* words; FILEEND's code goes to the <err> table. */
        { "+QIND: \"FOTA\",\"FILESTART\"",        FOTA_URC_DOWNLOAD_START,    NONE,                -1,  "FILESTART" },
        { "+QIND: \"FOTA\",\"FILEEND\",0",        FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_UPDATE,  0,  "FILEEND" },
        /* DOWNLOADING progress: EC200U (modem.md §4.1) and the clone firmware of T7 (", 37%"). */
        { "+QIND: \"FOTA\",\"DOWNLOADING\",2",    FOTA_URC_DOWNLOAD_PROGRESS, NONE,                 2,  "DOWNLOADING" },
        { "+QIND: \"FOTA\",\"DOWNLOADING\", 37%", FOTA_URC_DOWNLOAD_PROGRESS, NONE,                37,  "DOWNLOADING" },
        { "+QIND: \"FOTA\",\"DOWNLOADING\", 37 %",FOTA_URC_DOWNLOAD_PROGRESS, NONE,                37,  "DOWNLOADING" },
        /* Unknown words are reported, with the word kept (T7 clone firmware). */
        { "+QIND: \"FOTA\",\"DOWNLOAD SUCCESS\"", FOTA_URC_UNKNOWN,           NONE,                -1,  "DOWNLOAD SUCCESS" },
        { "+QIND: \"FOTA\",\"FAIL\"",             FOTA_URC_UNKNOWN,           NONE,                -1,  "FAIL" },
        { "+QIND: \"FOTA\",\"ERASING\",5",        FOTA_URC_UNKNOWN,           NONE,                 5,  "ERASING" },
        { "+QIND: \"FOTA\",\"ENDING\",0",         FOTA_URC_UNKNOWN,           NONE,                 0,  "ENDING" },
        { "+QIND: \"FOTA\",\"Last upgrade\"",     FOTA_URC_UNKNOWN,           NONE,                -1,  "Last upgrade" },
        /* Case is ignored for the tag and the status words; the status is kept as sent. */
        { "+QIND: \"fota\",\"end\",0",            FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "end" },
        { "+QIND: \"FOTA\",\"HttpEnd\",0",        FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,    0,  "HttpEnd" },
        /* Blanks: none after the colon, tabs, trailing spaces, CR LF left on, blanks inside quotes. */
        { "+QIND:\"FOTA\",\"START\"",             FOTA_URC_UPDATE_START,      NONE,                -1,  "START" },
        { "+QIND:\t\"FOTA\" ,\t\"END\" , 0 ",     FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "END" },
        { "+QIND: \"FOTA\",\"END\",0   ",         FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "END" },
        { "+QIND: \"FOTA\",\"END\",0\r\n",        FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  "END" },
        { "  +QIND: \"FOTA\",\"START\"",          FOTA_URC_UPDATE_START,      NONE,                -1,  "START" },
        { "+QIND: \"FOTA\",\" END \",0",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  0,  " END " },
        /* A number where none is needed is kept. */
        { "+QIND: \"FOTA\",\"START\",0",          FOTA_URC_UPDATE_START,      NONE,                 0,  "START" },
        /* Numbers: leading zeros, the largest accepted (9 digits). */
        { "+QIND: \"FOTA\",\"END\",007",          FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE,  7,  "END" },
        { "+QIND: \"FOTA\",\"END\",999999999",    FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE, 999999999, "END" },
        /* A long status is truncated to FOTA_URC_STATUS_MAX - 1 bytes ... */
        { "+QIND: \"FOTA\",\"0123456789012345678901234567890123456789012345678901234567890123456789\"",
                                                  FOTA_URC_UNKNOWN,           NONE,                -1,
          "012345678901234567890123456789012345678901234567890123456789012" },
        /* ... but not inside a UTF-8 sequence: 62 ASCII bytes, then U+00E9 (C3 A9) across the cut. */
        { "+QIND: \"FOTA\",\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\xa9xyz\"",
                                                  FOTA_URC_UNKNOWN,           NONE,                -1,
          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
};

/* Lines that are FOTA URCs but malformed. */
static const char *const malformed_cases[] = {
        "+QIND: \"FOTA",                          /* cut inside the tag */
        "+QIND: \"FOTA\"",                        /* no status */
        "+QIND: \"FOTA\"  ",
        "+QIND: \"FOTA\",",
        "+QIND: \"FOTA\",\"",                     /* cut after the opening quote */
        "+QIND: \"FOTA\",\"START",                /* no closing quote */
        "+QIND: \"FOTA\",\"HTTPEND\xe2\x80",      /* cut inside a typographic closing quote */
        "+QIND: \"FOTA\",\"HTTPEND\xe2",
        "+QIND: \"FOTA\",START",                  /* unquoted status */
        "+QIND: \"FOTA\"\"START\"",               /* no comma and no blank */
        "+QIND: \"FOTA\" START",                /* a blank, then no quote */
        "+QIND: \"FOTA\" ,\"FTPEND\" <ftp_err>",  /* EP06 §3.1 verbatim: the placeholder is no number */
        "+QIND: \"FOTA\",\"END\" ,<err>",         /* EP06 §3.1 verbatim */
        "+QIND: \"FOTA\",\"UPDATING\",<percent>", /* EC25&EC21 §3.1 verbatim */
        "+QIND: \"FOTA\",\"END\"0",               /* a number glued to the status */
        "+QIND: \"FOTA\",\"START\" x",            /* junk after blanks */
        "+QIND: \"FOTA\",\"END\" -1",
        "+QIND: \"FOTA\",\"END\" 0 1",
        "+QIND: \"FOTA\",\"END\" 0x",
        "+QIND: \"FOTA\" \"START\" \"X\"",        /* a third string */
        "+QIND: \"FOTA\",\"FTPEND\" ",            /* blank, no number: FTPEND needs one */
        "+QIND: \"FOTA\",\"START\",",             /* a comma promises a number */
        "+QIND: \"FOTA\",\"START\" ,",
        "+QIND: \"FOTA\",\"\"",                   /* empty status */
        "+QIND: \"FOTA\",\"   \"",
        "+QIND: \"FOTA\",\"START\"x",             /* junk after the status */
        "+QIND: \"FOTA\",\"END\"",                /* number required: END */
        "+QIND: \"FOTA\",\"FTPEND\"",             /* ... FTPEND */
        "+QIND: \"FOTA\",\"HTTPEND\"",            /* ... HTTPEND */
        "+QIND: \"FOTA\",\"FILEEND\"",            /* ... FILEEND */
        "+QIND: \"FOTA\",\"UPDATING\"",           /* ... UPDATING */
        "+QIND: \"FOTA\",\"RESTORE\"",            /* ... RESTORE */
        "+QIND: \"FOTA\",\"DOWNLOADING\"",        /* ... DOWNLOADING */
        "+QIND: \"FOTA\",\"END\",",               /* comma, then nothing */
        "+QIND: \"FOTA\",\"END\", ",
        "+QIND: \"FOTA\",\"END\",1a",             /* not a number */
        "+QIND: \"FOTA\",\"END\",a1",
        "+QIND: \"FOTA\",\"END\",-1",
        "+QIND: \"FOTA\",\"END\",+1",
        "+QIND: \"FOTA\",\"END\",1 2",
        "+QIND: \"FOTA\",\"END\",0x10",
        "+QIND: \"FOTA\",\"END\",1234567890",     /* 10 digits */
        "+QIND: \"FOTA\",\"END\",%",
        "+QIND: \"FOTA\",\"UPDATING\",5%%",
        "+QIND: \"FOTA\",\"UPDATING\",5%x",
        "+QIND: \"FOTA\",\"HTTPEND\",0,1",        /* an extra parameter */
        "+QIND: \"FOTA\",\"FAIL\",x",             /* unknown word, malformed tail */
};

/* Lines that are not +QIND: "FOTA" URCs at all. */
static const char *const foreign_cases[] = {
        "",
        "OK",
        "RDY",
        "+CREG: 0,1",
        "+QIND",
        "+QIND:",
        "+QIND: ",
        "+QIND: \"",
        "+QIND: \"FOT",
        "+QIND: SMS DONE",
        "+QIND: PB DONE",
        "+QIND: \"csq\",20,99",
        "+QIND: \"ABFOTA\",\"HTTP START\"",
        "+QIND: \"FOTAX\",\"START\"",
        "+QIND: FOTA,\"START\"",
        "+qind: \"FOTA\",\"START\"",
        "AT+QFOTADL=\"http://www.quectel.com:100/update.zip\"",
        "\"FOTA\",\"START\"",
};

/* Parses from a heap copy of exactly strlen + 1 bytes. */
static int parse_copy(const char *line, FotaUrc *ret) {
        char *copy;
        int r;

        copy = strdup(line);
        assert_non_null(copy);
        r = fota_urc_parse(copy, ret);
        free(copy);
        return r;
}

static void test_valid(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(valid_cases); i++) {
                const UrcCase *c = &valid_cases[i];
                FotaUrc u;
                int r;

                memset(&u, 0xa5, sizeof(u));
                r = parse_copy(c->line, &u);
                if (r != 0)
                        fail_msg("'%s': returned %d, expected 0", c->line, r);
                if (u.kind != c->kind)
                        fail_msg("'%s': kind %s, expected %s", c->line,
                                 strna(fota_urc_kind_to_string(u.kind)), fota_urc_kind_to_string(c->kind));
                if (u.error_kind != c->error_kind)
                        fail_msg("'%s': error kind %d, expected %d", c->line, (int) u.error_kind, (int) c->error_kind);
                if (u.value != c->value)
                        fail_msg("'%s': value %d, expected %d", c->line, u.value, c->value);
                if (!streq(u.status, c->status))
                        fail_msg("'%s': status '%s', expected '%s'", c->line, u.status, c->status);
        }
}

static void check_fails(const char *line, int expected) {
        FotaUrc u, sentinel;
        int r;

        memset(&sentinel, 0xa5, sizeof(sentinel));
        u = sentinel;

        r = parse_copy(line, &u);
        if (r != expected)
                fail_msg("'%s': returned %d, expected %d", line, r, expected);
        if (memcmp(&u, &sentinel, sizeof(u)) != 0)
                fail_msg("'%s': *ret was written on failure", line);
}

static void test_malformed(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(malformed_cases); i++)
                check_fails(malformed_cases[i], -EBADMSG);
}

static void test_foreign(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(foreign_cases); i++)
                check_fails(foreign_cases[i], -ENOMSG);
}

static void test_invalid_arguments(void **state) {
        FotaUrc u;

        assert_int_equal(fota_urc_parse(NULL, &u), -EINVAL);
        assert_int_equal(fota_urc_parse("+QIND: \"FOTA\",\"START\"", NULL), -EINVAL);
}

/* Every prefix of every line above, from an exact-size heap buffer: a line cut anywhere must give
 * a clean answer and never a read past its end (ASan). A cut valid line is either still valid
 * (e.g. "UPDATING",10 cut to "UPDATING",1), malformed, or - when cut inside "+QIND: "FOTA" - not
 * recognisably ours. */
static void check_prefixes(const char *line) {
        size_t n = strlen(line);

        for (size_t l = 0; l <= n; l++) {
                FotaUrc u;
                char *copy;
                int r;

                copy = strndup(line, l);
                assert_non_null(copy);
                r = fota_urc_parse(copy, &u);
                if (r != 0 && r != -EBADMSG && r != -ENOMSG)
                        fail_msg("'%s' cut to %zu bytes: returned %d", line, l, r);
                if (r == 0 && strlen(u.status) >= FOTA_URC_STATUS_MAX)
                        fail_msg("'%s' cut to %zu bytes: status not terminated", line, l);
                free(copy);
        }
}

static void test_truncated(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(valid_cases); i++)
                check_prefixes(valid_cases[i].line);
        for (size_t i = 0; i < ELEMENTSOF(malformed_cases); i++)
                check_prefixes(malformed_cases[i]);
}

/* Every word a family's guide prints (profile urc_words) is one the parser knows: none of them may
 * end up as FOTA_URC_UNKNOWN, which the engine only logs. */
static void test_profile_words_known(void **state) {
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *p = modem_profile_get(f);

                assert_non_null(p->urc_words);
                for (const char *const *w = p->urc_words; *w; w++) {
                        _cleanup_free_ char *line = NULL;
                        FotaUrc u;

                        /* With a number: every word takes one, some require it. */
                        assert_true(asprintf(&line, "+QIND: \"FOTA\",\"%s\",0", *w) > 0);
                        assert_int_equal(parse_copy(line, &u), 0);
                        if (u.kind == FOTA_URC_UNKNOWN)
                                fail_msg("%s: \"%s\" is not a known status word", p->name, *w);
                        /* A download or update end says which error table its code belongs to. */
                        if (u.kind == FOTA_URC_DOWNLOAD_END || u.kind == FOTA_URC_UPDATE_END)
                                assert_non_null(p->errors[u.error_kind]);
                }
        }
}

static void test_kind_strings(void **state) {
        for (FotaUrcKind k = 0; k < _FOTA_URC_KIND_MAX; k++) {
                const char *s = fota_urc_kind_to_string(k);

                assert_non_null(s);
                assert_int_equal(fota_urc_kind_from_string(s), k);
        }
        assert_string_equal(fota_urc_kind_to_string(FOTA_URC_UPDATE_END), "update-end");
        assert_null(fota_urc_kind_to_string(_FOTA_URC_KIND_MAX));
        assert_int_equal(fota_urc_kind_from_string("END"), -EINVAL);
        assert_int_equal(fota_urc_kind_from_string(NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_foreign),
                cmocka_unit_test(test_invalid_arguments),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_profile_words_known),
                cmocka_unit_test(test_kind_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
