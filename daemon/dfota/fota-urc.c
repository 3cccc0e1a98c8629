/* SPDX-License-Identifier: MIT */

/* The +QIND: "FOTA" URC parser. Grammar, as the guides print it and as real modules and forum
 * copies bend it (../shared/reference/modem.md §4.1, §5):
 *
 *   line   = *WS "+QIND:" *WS quote "FOTA" quote sep quote status quote
 *            [ sep number *WS [ "%" ] ] *WS
 *   sep    = *WS "," *WS | 1*WS        (a missing comma: EP06&EG06&EM06 guide §3.1/§3.2)
 *   quote  = '"' | U+201C | U+201D      (UTF-8 E2 80 9C / E2 80 9D, forum typography, T2)
 *   number = 1*9 DIGIT
 *   WS     = SP | HTAB | CR | LF
 *
 * The missing comma. The EP06&EG06&EM06 guide's command tables print
 *   +QIND: "FOTA" "FTPSTART"            and     +QIND: "FOTA" ,"FTPEND" <ftp_err>
 * (OCR or the guide's own typography; its examples have the commas). Blanks in place of the comma
 * are accepted because they cannot be misread: between two quoted strings the second quote can
 * only open the next field, and after the status's closing quote a digit can only start the number
 * (the status itself is delimited by its quotes, commas inside it included). At least one blank is
 * required, so that a status glued to junk ("START"x, "END"0) stays malformed; anything other than a
 * quote or a digit after the blanks is malformed too.
 *
 * "FOTA" and the status words are compared ignoring ASCII case (see status_table); "+QIND:" is
 * not, like every URC prefix the AT channel dispatches on.
 *
 * Everything the line holds is reached by walking forward from its start and checking each byte
 * before looking at the next, so a truncated line can never make us read past its NUL. */

#include <strings.h>

#include "fota-urc.h"

static const char *const fota_urc_kind_table[_FOTA_URC_KIND_MAX] = {
        [FOTA_URC_DOWNLOAD_START]    = "download-start",
        [FOTA_URC_DOWNLOAD_PROGRESS] = "download-progress",
        [FOTA_URC_DOWNLOAD_END]      = "download-end",
        [FOTA_URC_UPDATE_START]      = "update-start",
        [FOTA_URC_UPDATE_PROGRESS]   = "update-progress",
        [FOTA_URC_UPDATE_END]        = "update-end",
        [FOTA_URC_UPDATE_RESUMED]    = "update-resumed",
        [FOTA_URC_UNKNOWN]           = "unknown",
};

DEFINE_STRING_TABLE_LOOKUP(fota_urc_kind, FotaUrcKind);

typedef struct FotaStatusInfo {
        const char *word;
        FotaUrcKind kind;
        ModuleErrorKind error_kind;
        bool number_required;
        bool prefix;                /* the word starts the status; the rest is free text */
} FotaStatusInfo;

#define NO_ERROR_TABLE _MODULE_ERROR_KIND_INVALID

/* Status words are matched ignoring ASCII case. Every Quectel guide prints them in upper case, but
 * clone firmwares write these strings by hand (modem.md §5 T7), no two words here differ only in
 * case, and a word we fail to recognise would hide an END from the engine until a timeout. The
 * status is still handed on as received. */
static const FotaStatusInfo status_table[] = {
        /* Download phase. FTPSTART/HTTPSTART: EC25&EC21 DFOTA User Guide §3.1/§3.2. HTTPSSTART and
         * HTTPSEND: EG18-EA over HTTPS (modem.md §0). FILESTART/FILEEND: ASR-platform modules, LTE
         * Standard(A) DFOTA Guide V1.5 (modem.md §4.1). DOWNLOADING,<pct>: BC26 DFOTA User Guide §3.1
         * (§4.1 example: "DOWNLOADING", 1%) and the LTE Standard(A) guide. HTTPPEND: BC26 guide §3.1
         * command table, RG50xQ FOTA note §3.3.2 command table and example (never seen on a wire,
         * modem.md §5, but cheap to accept). */
        { "FTPSTART",    FOTA_URC_DOWNLOAD_START,    NO_ERROR_TABLE,      false, false },
        { "HTTPSTART",   FOTA_URC_DOWNLOAD_START,    NO_ERROR_TABLE,      false, false },
        /* BC26 DFOTA User Guide §4.1 example: +QIND: "FOTA","HTTPTART" — a typo in the guide's own
         * example (its command table, §3.1, says HTTPSTART). Should a BC26 firmware send it, it
         * must not pass as an unknown word while the download-start timer runs. */
        { "HTTPTART",    FOTA_URC_DOWNLOAD_START,    NO_ERROR_TABLE,      false, false },
        { "HTTPSSTART",  FOTA_URC_DOWNLOAD_START,    NO_ERROR_TABLE,      false, false },
        { "FILESTART",   FOTA_URC_DOWNLOAD_START,    NO_ERROR_TABLE,      false, false },
        { "DOWNLOADING", FOTA_URC_DOWNLOAD_PROGRESS, NO_ERROR_TABLE,      true,  false },
        /* <ftp_err>: EC25&EC21 ch. 4 Table 1. */
        { "FTPEND",      FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_FTP,    true,  false },
        /* <http_err>: EC25&EC21 ch. 5 Table 2; EP06&EG06&EM06 ch. 5 covers HTTP and HTTPS in one
         * column, so HTTPSEND uses the HTTP table too. */
        { "HTTPEND",     FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,   true,  false },
        { "HTTPPEND",    FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,   true,  false },
        { "HTTPSEND",    FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_HTTP,   true,  false },
        /* FILEEND's <err> is the ASR module's check of a package already in its file system (LTE
         * Standard(A) guide: "FILE 0/500", modem.md §4.2): no network download happened, so the
         * FTP and HTTP tables (601.., 701..) would give a wrong meaning. The package-check codes
         * live in the <err> table of END, hence MODULE_ERROR_UPDATE; an unlisted code such as 500
         * then has no meaning rather than a wrong one. */
        { "FILEEND",     FOTA_URC_DOWNLOAD_END,      MODULE_ERROR_UPDATE, true,  false },

        /* Update phase: EC25&EC21 §3.1-3.3. RESTORE,<pct>: BG96 DFOTA User Guide, when resuming
         * after a power loss (modem.md §4.1). */
        { "START",       FOTA_URC_UPDATE_START,      NO_ERROR_TABLE,      false, false },
        { "UPDATING",    FOTA_URC_UPDATE_PROGRESS,   NO_ERROR_TABLE,      true,  false },
        { "RESTORE",     FOTA_URC_UPDATE_PROGRESS,   NO_ERROR_TABLE,      true,  false },
        /* <err>: EC25&EC21 §3.1 "0 means OK, or else ERROR". */
        { "END",         FOTA_URC_UPDATE_END,        MODULE_ERROR_UPDATE, true,  false },
        /* BG96 guide: "Last upgrade was not finished,continue upgrade" (a comma inside the quotes);
         * matched by its start in case other firmwares word the rest differently. */
        { "Last upgrade was not finished", FOTA_URC_UPDATE_RESUMED, NO_ERROR_TABLE, false, true },
};

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *p) {
        while (is_ws(*p))
                p++;
        return p;
}

/* Returns the length of the quote character at p (1 or 3 bytes), or 0. The forum transcripts have
 * U+201C and U+201D in either position, so both are accepted as opening and as closing quote. The
 * && chain reads p[1] only when p[0] was not NUL, and p[2] only when p[1] was not. */
static size_t quote_length(const char *p) {
        const unsigned char *u = (const unsigned char *) p;

        if (u[0] == '"')
                return 1;
        if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0x9C || u[2] == 0x9D))
                return 3;
        return 0;
}

/* Finds the closing quote of a string that starts at p. Returns NULL at the end of the line. */
static const char *find_quote(const char *p) {
        for (; *p; p++)
                if (quote_length(p) > 0)
                        return p;
        return NULL;
}

static bool word_equal(const char *s, size_t n, const char *word, bool prefix) {
        size_t l = strlen(word);

        if (prefix ? n < l : n != l)
                return false;

        return strncasecmp(s, word, l) == 0;
}

static const FotaStatusInfo *status_lookup(const char *s, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(status_table); i++)
                if (word_equal(s, n, status_table[i].word, status_table[i].prefix))
                        return &status_table[i];
        return NULL;
}

/* Parses 1..9 digits at *p, advancing *p past them. Nine digits always fit an int. */
static int parse_number(const char **p, int *ret) {
        const char *s = *p;
        int v = 0;
        size_t n = 0;

        while (*s >= '0' && *s <= '9') {
                if (++n > 9)
                        return -EBADMSG;
                v = v * 10 + (*s - '0');
                s++;
        }
        if (n == 0)
                return -EBADMSG;

        *p = s;
        *ret = v;
        return 0;
}

/* Copies at most FOTA_URC_STATUS_MAX - 1 bytes, never cutting a UTF-8 sequence in half (the status
 * goes into the journal and into control-plane JSON, which want valid UTF-8). */
static void copy_status(char dest[static FOTA_URC_STATUS_MAX], const char *s, size_t n) {
        if (n >= FOTA_URC_STATUS_MAX) {
                n = FOTA_URC_STATUS_MAX - 1;
                while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                        n--;
        }

        memcpy(dest, s, n);
        dest[n] = '\0';
}

int fota_urc_parse(const char *line, FotaUrc *ret) {
        const FotaStatusInfo *info;
        const char *p, *sep, *status, *end, *trimmed, *number;
        size_t q, status_len, trimmed_len;
        int value = -1, r;
        FotaUrc u;

        if (!line || !ret)
                return -EINVAL;

        /* "+QIND:" is sent in upper case like every URC prefix; anything else is not ours. */
        p = startswith(skip_ws(line), "+QIND:");
        if (!p)
                return -ENOMSG;
        p = skip_ws(p);

        /* The first parameter: exactly "FOTA" (case ignored, as for the status words below).
         * "ABFOTA", "csq", an unquoted SMS DONE: not ours. */
        q = quote_length(p);
        if (q == 0)
                return -ENOMSG;
        p += q;
        if (strncasecmp(p, "FOTA", 4) != 0)
                return -ENOMSG;
        p += 4;
        if (*p == '\0')
                return -EBADMSG;        /* +QIND: "FOTA  — cut off */
        q = quote_length(p);
        if (q == 0)
                return -ENOMSG;         /* "FOTAX": another URC */
        p += q;

        /* From here on the line is a FOTA URC: anything unexpected is malformed, not foreign. The
         * EP06&EG06&EM06 guide ch. 3 prints a space before the comma ("UPDATING" ,<percent>), the
         * EC25&EC21 guide §3.1 one after it ("FOTA", "FTPSTART"), and the EP06 command tables none
         * at all ("FOTA" "FTPSTART"; see "sep" in the grammar above). */
        sep = skip_ws(p);
        if (*sep == ',')
                p = skip_ws(sep + 1);
        else if (sep > p && quote_length(sep) > 0)
                p = sep;
        else
                return -EBADMSG;

        q = quote_length(p);
        if (q == 0)
                return -EBADMSG;
        status = p + q;
        end = find_quote(status);
        if (!end)
                return -EBADMSG;
        status_len = (size_t) (end - status);
        p = end + quote_length(end);

        /* Match on the word without surrounding blanks (OCR'd guides have '" HTTP://..."'). */
        trimmed = status;
        trimmed_len = status_len;
        while (trimmed_len > 0 && is_ws(trimmed[0])) {
                trimmed++;
                trimmed_len--;
        }
        while (trimmed_len > 0 && is_ws(trimmed[trimmed_len - 1]))
                trimmed_len--;
        if (trimmed_len == 0)
                return -EBADMSG;

        /* The end of the line, or a separator and the number: after a comma only a number may
         * follow; blanks stand for the comma only before a digit (EP06&EG06&EM06 §3.1 "FTPEND"
         * <ftp_err>), so "START" x and "END"0 stay malformed. */
        sep = skip_ws(p);
        if (*sep == ',')
                number = skip_ws(sep + 1);
        else if (sep > p && *sep >= '0' && *sep <= '9')
                number = sep;
        else if (*sep == '\0')
                number = NULL;
        else
                return -EBADMSG;

        if (number) {
                p = number;
                r = parse_number(&p, &value);
                if (r < 0)
                        return r;
                /* BG96 guide: RESTORE,1%; clone firmware (modem.md §5 T7): "DOWNLOADING", 37% */
                p = skip_ws(p);
                if (*p == '%')
                        p = skip_ws(p + 1);
                if (*p != '\0')
                        return -EBADMSG;
        }

        info = status_lookup(trimmed, trimmed_len);
        if (info && info->number_required && value < 0)
                return -EBADMSG;

        u = (FotaUrc) {
                .kind = info ? info->kind : FOTA_URC_UNKNOWN,
                .error_kind = info ? info->error_kind : _MODULE_ERROR_KIND_INVALID,
                .value = value,
        };
        copy_status(u.status, status, status_len);

        *ret = u;
        return 0;
}
