/* SPDX-License-Identifier: MIT */

/* Module family profiles as data (../shared/product.md "The modules": one data table per family,
 * no per-model branches elsewhere). Every value below cites the guide in ../shared/seeds/ it comes
 * from; where a guide gives nothing, the comment says what we chose and why. */

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "profile.h"
#include "reason.h"

static const char *const modem_family_table[_MODEM_FAMILY_MAX] = {
        [MODEM_FAMILY_EC2X]    = "ec2x",
        [MODEM_FAMILY_GENERIC] = "generic",
};

DEFINE_STRING_TABLE_LOOKUP(modem_family, ModemFamily);

static const char *const package_source_table[_PACKAGE_SOURCE_MAX] = {
        [PACKAGE_SOURCE_FTP]        = "ftp",
        [PACKAGE_SOURCE_HTTP]       = "http",
        [PACKAGE_SOURCE_HTTPS]      = "https",
        [PACKAGE_SOURCE_LOCAL_FILE] = "local-file",
};

DEFINE_STRING_TABLE_LOOKUP(package_source, PackageSource);

/* How a source is named in a human-readable reason. */
static const char *const package_source_display_table[_PACKAGE_SOURCE_MAX] = {
        [PACKAGE_SOURCE_FTP]        = "FTP",
        [PACKAGE_SOURCE_HTTP]       = "HTTP",
        [PACKAGE_SOURCE_HTTPS]      = "HTTPS",
        [PACKAGE_SOURCE_LOCAL_FILE] = "a local file",
};

/* The preflight both families share: SIM ready, registered, signal (../shared/product.md
 * "Preflight"). AT+CREG? rather than AT+CEREG?: the EC2x modules also download over WCDMA/GPRS
 * (EC25&EC21 DFOTA User Guide §2 "via LTE/WCDMA/GPRS network"), where only +CREG reports. */
static const char *const preflight_common[] = {
        "AT+CPIN?",
        "AT+CREG?",
        "AT+CSQ",
        NULL,
};

/* ---- ec2x: EC25&EC21 DFOTA User Guide V1.0 (2016), ../shared/seeds/000_36b9d468918b002c.txt ---- */

/* ATI prints the bare model name ("EC25", "EG25" for the EG25-G). EG25, EG91 and EG95 share the
 * EC2x DFOTA: one Quectel DFOTA guide covers them all (QuecOpen EC2x/EG9x/EG25-G DFOTA guide,
 * ../shared/reference/modem.md §4.2), the EG25-G has the EC25's USB id 2c7c:0125 (fwupd quirk
 * "Quectel EG25-G/EC25", §1.6), and EG91/EG95 the same AT interface layout (§0, §2.2). */
static const char *const ec2x_models[] = {
        "EC25",
        "EC21",
        "EG25",
        "EG91",
        "EG95",
        NULL,
};

/* §3.3: "<file_name> ... It should be started with "/data/ufs/" in UFS or should be started with
 * "/media/card/" in SD card." */
static const char *const ec2x_local_prefixes[] = {
        "/data/ufs/",
        "/media/card/",
        NULL,
};

/* 504 and 505 are listed in both download tables (ch. 4 Table 1, ch. 5 Table 2) although they
 * describe the update: the EC25 guide has no table of its own for END's <err>. */
#define EC2X_504 "Firmware upgrade failed, module will reboot and retry to upgrade for consecutively five times."
#define EC2X_505 "Upgrade package file check failed, module will reboot and retry to upgrade for consecutively five times."

/* Chapter 4, Table 1 "Summary of FTP Error Codes" (<ftp_err> of FTPEND), verbatim. */
static const ModuleErrorInfo ec2x_errors_ftp[] = {
        { 0,   "Operation successful" },
        { 601, "Unknown error" },
        { 504, EC2X_504 },
        { 505, EC2X_505 },
        { .meaning = NULL },
};

/* Chapter 5, Table 2 "Summary of HTTP Error Codes" (<http_err> of HTTPEND), verbatim. */
static const ModuleErrorInfo ec2x_errors_http[] = {
        { 0,   "Operation successful" },
        { 701, "HTTP unknown error" },
        { 504, EC2X_504 },
        { 505, EC2X_505 },
        { .meaning = NULL },
};

/* <err> of END. §3.1-3.3 parameter tables: "<err> Integer type, 0 means OK, or else ERROR". The
 * guide has no END table; 504/505 are in the download tables (ch. 4/5) but their wording ("module
 * will reboot and retry to upgrade") is about the update in recovery mode, which is where END
 * reports them, so they are repeated here. */
static const ModuleErrorInfo ec2x_errors_update[] = {
        { 0,   "OK" },
        { 504, EC2X_504 },
        { 505, EC2X_505 },
        { .meaning = NULL },
};

/* ---- generic: the most conservative intersection of all guides in ../shared/seeds/ ---- */

/* Only /data/ufs/: the EC25&EC21 guide §3.3 and the EP06&EG06&EM06 guide ("It should be started
 * with "/data/ufs/" in UFS") both accept it. Not every module does (RG50xQ FOTA note: "/cache/ufs/";
 * UMTS/HSPA guide: "UFS:<name>"), so a local-file job on an unknown module may still be refused by
 * the module; that is its answer to give, not a guess of ours. */
static const char *const generic_local_prefixes[] = {
        "/data/ufs/",
        NULL,
};

/* The meanings of 504/505 differ between guides (EC25&EC21 ch. 4/5: "Firmware upgrade failed" /
 * "Upgrade package file check failed"; EP06&EG06&EM06 ch. 5 Table 1: "Something wrong with the
 * upgrade package file" for both; RG50xQ FOTA note ch. 5 Table 5: "Incorrect zip format" / "The
 * project or the version of the package does not match."). For an unknown module we report only
 * what they have in common. */
#define GENERIC_504 "Firmware upgrade failed or the upgrade package is wrong (meaning differs between module families)"
#define GENERIC_505 "Upgrade package check failed (meaning differs between module families)"

/* 601 is <ftp_err> "Unknown error" in EC25&EC21 ch. 4 Table 1, UMTS/HSPA ch. 4 Table 1,
 * EP06&EG06&EM06 ch. 5 Table 1 ("FTP unknown error") and RG50xQ ch. 5 Table 3. */
static const ModuleErrorInfo generic_errors_ftp[] = {
        { 0,   "Operation successful" },
        { 601, "FTP unknown error" },
        { 504, GENERIC_504 },
        { 505, GENERIC_505 },
        { .meaning = NULL },
};

/* 701 is <http_err> "HTTP unknown error" in EC25&EC21 ch. 5 Table 2, UMTS/HSPA ch. 5,
 * EP06&EG06&EM06 ch. 5 Table 1 ("HTTP(S) unknown error"); RG50xQ ch. 5 Table 4 words it "Failed to
 * download the firmware package from the HTTP(S) server". */
static const ModuleErrorInfo generic_errors_http[] = {
        { 0,   "Operation successful" },
        { 701, "HTTP unknown error" },
        { 504, GENERIC_504 },
        { 505, GENERIC_505 },
        { .meaning = NULL },
};

static const ModuleErrorInfo generic_errors_update[] = {
        { 0,   "OK" },
        { 504, GENERIC_504 },
        { 505, GENERIC_505 },
        { .meaning = NULL },
};

static const ModemProfile profile_table[_MODEM_FAMILY_MAX] = {
        [MODEM_FAMILY_EC2X] = {
                .family = MODEM_FAMILY_EC2X,
                .name = "ec2x",
                .description = "EC25/EC21/EG25/EG91/EG95 (EC25&EC21 DFOTA User Guide V1.0)",
                .models = ec2x_models,

                /* §3.1 FTP, §3.2 HTTP, §3.3 local file. The 2016 guide shows only "HTTP://",
                 * but EC2x firmware since then downloads over HTTPS too (EC2x/EG2x/EG9x/EM05 DFOTA
                 * Upgrade Guide V1.3, reference modem.md §7; EG18-EA HTTPS transcript, §4.5), with
                 * the same 255-byte limit. A firmware without it answers AT+QFOTADL with ERROR,
                 * which fails the job with that reason before anything was downloaded. */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = true,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = true,
                        [PACKAGE_SOURCE_LOCAL_FILE] = true,
                },
                /* §3.1 <ftpurl>, §3.2 <httpurl>: "String format, max length is 255 bytes." */
                .url_max = 255,
                .local_prefixes = ec2x_local_prefixes,
                /* §3.3 <file_name>: "String type, max length is 128 bytes." */
                .local_max = 128,

                /* §3: "After the package download is finished, the module will reboot
                 * automatically and then enter into recovery mode for firmware upgrade." */
                .reboots_after_download = true,
                /* §3: "otherwise it will enter into recovery mode and retry to upgrade for
                 * consecutively five times." */
                .max_attempts = 5,
                /* The guide gives no maximum response time for AT+QFOTADL; 5 s is conservative
                 * for a command that only validates its argument before answering OK. */
                .qfotadl_response_usec = 5 * USEC_PER_SEC,

                .preflight_commands = preflight_common,

                .errors = {
                        [MODULE_ERROR_FTP] = ec2x_errors_ftp,
                        [MODULE_ERROR_HTTP] = ec2x_errors_http,
                        [MODULE_ERROR_UPDATE] = ec2x_errors_update,
                },
        },

        /* A module that answers like a Quectel module but whose model matches no family. Only
         * what the guides agree on; the caller logs that this profile is in use
         * (../shared/product.md "Unknown families ... run with the most conservative profile"). */
        [MODEM_FAMILY_GENERIC] = {
                .family = MODEM_FAMILY_GENERIC,
                .name = "generic",
                .description = "unrecognised Quectel module (most conservative limits of all DFOTA guides)",
                .models = NULL,

                /* FTP and HTTP are documented by the EC25&EC21, EP06&EG06&EM06, RG50xQ and UMTS/HSPA
                 * guides; HTTPS is missing from EC25&EC21 and UMTS/HSPA. (BC26 is HTTP(S) only, but a
                 * BC26 is recognised by its own family, not served by this one.) */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = true,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = false,
                        [PACKAGE_SOURCE_LOCAL_FILE] = true,
                },
                /* 255 bytes: EC25&EC21 §3.1/3.2, EP06&EG06&EM06 ch. 3, UMTS/HSPA ch. 3, BC26 ch. 3;
                 * the RG50xQ note allows 512. */
                .url_max = 255,
                .local_prefixes = generic_local_prefixes,
                /* 90 bytes: the EP06&EG06&EM06 guide §3.3 ("The maximum length is 90 bytes"), the
                 * smallest limit of all guides (EC25&EC21 and UMTS/HSPA: 128, RG50xQ: 512). */
                .local_max = 90,

                /* Every USB family reboots after the download (EC25&EC21 §3; EP06&EG06&EM06 ch. 4.1.1;
                 * UMTS/HSPA ch. 3 "RDY"): assuming it is the safe side, since a port that does not
                 * disappear only makes the wait end early. */
                .reboots_after_download = true,
                /* EC25&EC21 §3 and EP06&EG06&EM06 ch. 4.1 "maximally five times in total". */
                .max_attempts = 5,
                /* No guide gives a response time for AT+QFOTADL; same choice as ec2x. */
                .qfotadl_response_usec = 5 * USEC_PER_SEC,

                .preflight_commands = preflight_common,

                .errors = {
                        [MODULE_ERROR_FTP] = generic_errors_ftp,
                        [MODULE_ERROR_HTTP] = generic_errors_http,
                        [MODULE_ERROR_UPDATE] = generic_errors_update,
                },
        },
};

/* Where the family's source rules come from, for the reason given when a source is refused. */
static const char *const profile_sources_citation_table[_MODEM_FAMILY_MAX] = {
        [MODEM_FAMILY_EC2X]    = "EC25&EC21 DFOTA User Guide §3",
        [MODEM_FAMILY_GENERIC] = "not documented by every Quectel DFOTA guide",
};

const ModemProfile *modem_profile_get(ModemFamily family) {
        if (family < 0 || (size_t) family >= ELEMENTSOF(profile_table))
                return NULL;

        return &profile_table[family];
}

/* ATI prints the model on a line of its own ("EC25", "EG25"); a family lists model names that are
 * prefixes of it. The character after the prefix must not be a digit: "EG91" must not claim the
 * EG915N/EG912Y, which are different platforms (ASR/Unisoc, LTE Standard(A) DFOTA guide, see
 * ../shared/reference/modem.md §4.1) with their own URCs and error tables. Suffixes such as
 * "EC25-E" or "EC25EFA" still match. */
static bool model_matches(const char *model, const char *prefix) {
        size_t l = strlen(prefix);

        if (strncasecmp(model, prefix, l) != 0)
                return false;

        return !(model[l] >= '0' && model[l] <= '9');
}

const ModemProfile *modem_profile_from_model(const char *model) {
        if (model) {
                model += strspn(model, " \t");

                for (size_t i = 0; i < ELEMENTSOF(profile_table); i++) {
                        const ModemProfile *p = &profile_table[i];

                        if (!p->models)
                                continue;

                        for (const char *const *m = p->models; *m; m++)
                                if (model_matches(model, *m))
                                        return p;
                }
        }

        return &profile_table[MODEM_FAMILY_GENERIC];
}

const char *modem_profile_error_meaning(const ModemProfile *p, ModuleErrorKind kind, int code) {
        if (!p || kind < 0 || kind >= _MODULE_ERROR_KIND_MAX || !p->errors[kind])
                return NULL;

        for (const ModuleErrorInfo *e = p->errors[kind]; e->meaning; e++)
                if (e->code == code)
                        return e->meaning;

        return NULL;
}

PackageSource package_source_from_url(const char *url) {
        /* "FTP://" and "HTTP://" are how the guides spell them (EC25&EC21 §3.1/3.2); real URLs are
         * lower case, so the scheme is matched case-insensitively. */
        static const struct {
                const char *scheme;
                PackageSource source;
        } schemes[] = {
                { "ftp://",   PACKAGE_SOURCE_FTP   },
                { "http://",  PACKAGE_SOURCE_HTTP  },
                { "https://", PACKAGE_SOURCE_HTTPS },
        };

        if (!url)
                return _PACKAGE_SOURCE_INVALID;

        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strncasecmp(url, schemes[i].scheme, strlen(schemes[i].scheme)) == 0)
                        return schemes[i].source;

        if (url[0] == '/')
                return PACKAGE_SOURCE_LOCAL_FILE;

        return _PACKAGE_SOURCE_INVALID;
}

/* Formats "a", "a or b", "a, b or c". */
static char *join_alternatives(const char *const *l) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, n = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        for (const char *const *i = l; *i; i++)
                n++;

        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", l[i]);

        if (fclose(f) != 0)
                return NULL;

        return TAKE_PTR(buf);
}

/* *reterr is a pure output here (the caller's value is not ours to free). */
static int set_reason(char **reterr, const char *format, ...) _printf_(2, 3);
static int set_reason(char **reterr, const char *format, ...) {
        char *why = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = reason_setv(&why, -EINVAL, NULL, format, ap);
        va_end(ap);

        if (reterr && r == -EINVAL)
                *reterr = why;
        else
                free(why);
        return r;
}

int modem_profile_check_url(const ModemProfile *p, const char *url, char **reterr) {
        PackageSource source;
        size_t len;

        if (!p)
                return -EINVAL;

        if (isempty(url))
                return set_reason(reterr, "URL is empty");

        source = package_source_from_url(url);
        if (source < 0)
                return set_reason(reterr, "URL must start with ftp://, http://, https:// or / (a local file)");

        if (!p->source_allowed[source])
                return set_reason(reterr, "%s is not supported by %s (%s)",
                                  package_source_display_table[source], p->name,
                                  profile_sources_citation_table[p->family]);

        len = strlen(url);

        switch (source) {

        case PACKAGE_SOURCE_FTP:
        case PACKAGE_SOURCE_HTTP:
        case PACKAGE_SOURCE_HTTPS:
                /* The limit is the module's buffer for the AT+QFOTADL argument (EC25&EC21 §3.1/3.2);
                 * a longer URL is refused by the module, or worse, cut. */
                if (len > p->url_max)
                        return set_reason(reterr, "URL is %zu bytes; %s allows at most %zu",
                                          len, p->name, p->url_max);
                return 0;

        case PACKAGE_SOURCE_LOCAL_FILE: {
                const char *rest = NULL;

                if (len > p->local_max)
                        return set_reason(reterr, "local file name is %zu bytes; %s allows at most %zu",
                                          len, p->name, p->local_max);

                if (p->local_prefixes)
                        for (const char *const *i = p->local_prefixes; *i && !rest; i++)
                                rest = startswith(url, *i);

                if (!rest) {
                        _cleanup_free_ char *alts = NULL;

                        if (!p->local_prefixes || !p->local_prefixes[0])
                                return set_reason(reterr, "local files are not supported by %s", p->name);

                        alts = join_alternatives(p->local_prefixes);
                        if (!alts)
                                return -ENOMEM;

                        /* EC25&EC21 §3.3: the module only looks in its UFS or on the SD card. */
                        return set_reason(reterr, "local file must start with %s", alts);
                }

                if (isempty(rest))
                        return set_reason(reterr, "local file name is missing after %.*s",
                                          (int) (rest - url), url);
                return 0;
        }

        case _PACKAGE_SOURCE_MAX:
        case _PACKAGE_SOURCE_INVALID:
                break;
        }

        return -EINVAL;
}
