/* SPDX-License-Identifier: MIT */
#pragma once

/* Module family profiles: everything that differs between Quectel module families, as data. The
 * DFOTA engine reads these tables and holds no per-model branches. Each entry cites the guide in
 * ../shared/seeds/ it comes from. */

#include "macro.h"

typedef enum ModemFamily {
        MODEM_FAMILY_EC2X,          /* EC25, EC21 (also EG25, EG91, EG95) */
        MODEM_FAMILY_GENERIC,       /* answers like a Quectel module, matches no family */
        _MODEM_FAMILY_MAX,
        _MODEM_FAMILY_INVALID = -EINVAL,
} ModemFamily;

DECLARE_STRING_TABLE_LOOKUP(modem_family, ModemFamily);

/* Which kind of package location a job's URL is. */
typedef enum PackageSource {
        PACKAGE_SOURCE_FTP,
        PACKAGE_SOURCE_HTTP,
        PACKAGE_SOURCE_HTTPS,
        PACKAGE_SOURCE_LOCAL_FILE,  /* a path in the module's own file system */
        _PACKAGE_SOURCE_MAX,
        _PACKAGE_SOURCE_INVALID = -EINVAL,
} PackageSource;

DECLARE_STRING_TABLE_LOOKUP(package_source, PackageSource);

/* One row of a module error table: the code the module reports in a URC and what the guide says
 * it means. Tables end with a { .meaning = NULL } row. */
typedef struct ModuleErrorInfo {
        int code;
        const char *meaning;
} ModuleErrorInfo;

/* Which error table a module error code belongs to. */
typedef enum ModuleErrorKind {
        MODULE_ERROR_FTP,           /* <ftp_err> of FTPEND */
        MODULE_ERROR_HTTP,          /* <http_err> of HTTPEND */
        MODULE_ERROR_UPDATE,        /* <err> of END */
        _MODULE_ERROR_KIND_MAX,
        _MODULE_ERROR_KIND_INVALID = -EINVAL,
} ModuleErrorKind;

typedef struct ModemProfile {
        ModemFamily family;
        const char *name;               /* config name, e.g. "ec2x" */
        const char *description;        /* e.g. "EC25/EC21 (EC25&EC21 DFOTA User Guide V1.0)" */
        const char *const *models;      /* NULL-terminated model names as ATI prints them (prefix match) */

        bool source_allowed[_PACKAGE_SOURCE_MAX];
        size_t url_max;                 /* bytes, for FTP/HTTP(S) URLs */
        const char *const *local_prefixes; /* NULL-terminated, e.g. "/data/ufs/" */
        size_t local_max;               /* bytes, for local file names */

        /* The module reboots (and its USB AT port disappears) after the download and after END. */
        bool reboots_after_download;
        /* The module retries a failed update by itself, this many attempts in total. */
        unsigned max_attempts;
        /* The longest the module takes to answer AT+QFOTADL with its final result. */
        usec_t qfotadl_response_usec;

        /* Commands run during preflight after ATE0/ATI/AT+GSN; NULL-terminated. A command that
         * fails makes preflight fail. */
        const char *const *preflight_commands;

        /* Error tables, indexed by ModuleErrorKind. */
        const ModuleErrorInfo *errors[_MODULE_ERROR_KIND_MAX];
} ModemProfile;

/* Returns the static profile of a family; never NULL for a valid family. */
const ModemProfile *modem_profile_get(ModemFamily family);

/* Finds the family from the model line of ATI (e.g. "EC25"). Returns the generic, conservative
 * profile when no family matches. Never NULL. */
const ModemProfile *modem_profile_from_model(const char *model);

/* Looks a module error code up in the family's table of that kind. Returns a static string, or
 * NULL when the guide does not list the code. */
const char *modem_profile_error_meaning(const ModemProfile *p, ModuleErrorKind kind, int code);

/* Classifies a package URL by its scheme (case-insensitive "ftp://", "http://", "https://") or a
 * leading '/' (local file). Returns the source, or -EINVAL. */
PackageSource package_source_from_url(const char *url);

/* Checks a URL against the family's rules (EC25&EC21 DFOTA User Guide §3.1-3.3): allowed scheme,
 * length limit (url_max for FTP/HTTP(S), local_max and one of local_prefixes for local files).
 * The character set is checked by job validation before this. Returns 0, or -EINVAL with a
 * human-readable reason in *reterr (newly allocated; the caller frees it). */
int modem_profile_check_url(const ModemProfile *p, const char *url, char **reterr);
