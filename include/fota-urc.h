/* SPDX-License-Identifier: MIT */
#pragma once

/* Parser for the DFOTA URCs: +QIND: "FOTA","<status>"[,<number>]
 * (EC25&EC21 DFOTA User Guide §3.1-3.3; EP06 guide ch. 3; RG50xQ FOTA note; UMTS/HSPA guide).
 *
 * Pure function, table-driven: the status words and their meaning are one table in fota-urc.c.
 * Tolerated real-world variation (../shared/reference/modem.md §4-5):
 *  - spaces after the colon and after commas:  +QIND: "FOTA", "UPDATING", 1
 *  - a '%' after numbers:                      +QIND: "FOTA","RESTORE",1%
 *  - typographic quotes (UTF-8 U+201C/U+201D) instead of '"'
 *  - spellings: HTTPSSTART/HTTPSEND, HTTPPEND (RG50xQ command table), FILESTART/FILEEND,
 *    DOWNLOADING,<pct>, RESTORE,<pct>
 *  - status strings with spaces or commas inside the quotes
 *    ("Last upgrade was not finished,continue upgrade")
 *  - unknown status words: FOTA_URC_UNKNOWN with the word kept, never an error. */

#include "macro.h"
#include "profile.h"

typedef enum FotaUrcKind {
        FOTA_URC_DOWNLOAD_START,    /* FTPSTART, HTTPSTART, HTTPSSTART, FILESTART */
        FOTA_URC_DOWNLOAD_PROGRESS, /* DOWNLOADING,<pct> */
        FOTA_URC_DOWNLOAD_END,      /* FTPEND, HTTPEND, HTTPPEND, HTTPSEND, FILEEND ,<err> */
        FOTA_URC_UPDATE_START,      /* START */
        FOTA_URC_UPDATE_PROGRESS,   /* UPDATING,<pct>; RESTORE,<pct> */
        FOTA_URC_UPDATE_END,        /* END,<err> */
        FOTA_URC_UPDATE_RESUMED,    /* "Last upgrade was not finished,continue upgrade" (BG96 guide) */
        FOTA_URC_UNKNOWN,           /* a "FOTA" URC whose status word we do not know */
        _FOTA_URC_KIND_MAX,
        _FOTA_URC_KIND_INVALID = -EINVAL,
} FotaUrcKind;

DECLARE_STRING_TABLE_LOOKUP(fota_urc_kind, FotaUrcKind);

#define FOTA_URC_STATUS_MAX 64

typedef struct FotaUrc {
        FotaUrcKind kind;
        ModuleErrorKind error_kind; /* DOWNLOAD_END: MODULE_ERROR_FTP or _HTTP; UPDATE_END: _UPDATE; else _INVALID */
        int value;                  /* <err> or <percent>; -1 when the URC carries no number */
        char status[FOTA_URC_STATUS_MAX]; /* the status word as received (quotes removed, truncated) */
} FotaUrc;

/* Parses one line. Returns 0 and fills *ret; -ENOMSG when the line is not a +QIND: "FOTA" URC
 * (other +QIND URCs such as "SMS DONE" included); -EBADMSG when it is one but malformed (no closing
 * quote, a number that is not a number, or a number missing where the status requires one: END,
 * FTPEND/HTTPEND/..., UPDATING, DOWNLOADING). *ret is written only on success. */
int fota_urc_parse(const char *line, FotaUrc *ret);
