/* SPDX-License-Identifier: MIT */
#pragma once

/* Module family profiles: everything that differs between Quectel module families, as data. The
 * DFOTA engine reads these tables and holds no per-model branches. Each entry cites the guide in
 * ../shared/seeds/ it comes from. */

#include "macro.h"

typedef enum ModemFamily {
        MODEM_FAMILY_EC2X,          /* EC25, EC21 (also EG25, EG91, EG95): 000_36b9d468918b002c.txt */
        MODEM_FAMILY_EP06,          /* EP06, EG06, EM06: 002_b2ff2a6d34509638.txt */
        MODEM_FAMILY_RG50X,         /* RG500Q, RM500Q, RM502Q, RM505Q, RM510Q, RM520N: 003_9255c85b394ae77f.txt */
        MODEM_FAMILY_UCXX,          /* UC20, UC15: 004_e9fa4e59ebf297dc.txt */
        MODEM_FAMILY_BC26,          /* BC26 (UART): 001_72f22b2fdc239de5.txt */
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

/* One row of a module error table: the code (or the range code..code_last, e.g. EP06's 520-530)
 * the module reports and what the guide says it means. code_last 0 means a single code. Tables end
 * with a { .meaning = NULL } row. */
typedef struct ModuleErrorInfo {
        int code;
        int code_last;
        const char *meaning;
} ModuleErrorInfo;

/* Where a module's AT port is plugged. USB ids let the hotplug layer recognise a module; a UART
 * module (BC26) has none and is configured as a static port. */
typedef struct UsbId {
        uint16_t vendor;
        uint16_t product;
        uint8_t at_interface;       /* bInterfaceNumber of the primary AT port */
} UsbId;

/* Which error table a module error code belongs to. */
typedef enum ModuleErrorKind {
        MODULE_ERROR_FTP,           /* <ftp_err> of FTPEND */
        MODULE_ERROR_HTTP,          /* <http_err> of HTTPEND */
        MODULE_ERROR_UPDATE,        /* <err> of END */
        _MODULE_ERROR_KIND_MAX,
        _MODULE_ERROR_KIND_INVALID = -EINVAL,
} ModuleErrorKind;

/* The checks preflight runs after ATE0/ATI/AT+GSN (../shared/product.md "Preflight"), as values
 * rather than command strings, so that a typo cannot turn a gate into "any OK will do". The string
 * table gives each one's AT command; the engine judges each answer (engine_preflight_check_known()). */
typedef enum PreflightCheck {
        PREFLIGHT_CPIN,             /* AT+CPIN?: the SIM is ready */
        PREFLIGHT_CREG,             /* AT+CREG?: registered, circuit switched (EC2x, UCxx) */
        PREFLIGHT_CEREG,            /* AT+CEREG?: registered, EPS (EP06, RG50x, BC26) */
        PREFLIGHT_CGREG,            /* AT+CGREG?: registered, GPRS */
        PREFLIGHT_CSQ,              /* AT+CSQ: signal, logged */
        PREFLIGHT_CESQ,             /* AT+CESQ: signal on NB-IoT, logged (BC26 guide §2.3) */
        PREFLIGHT_CGPADDR,          /* AT+CGPADDR=1: the default PDN has an IP address (BC26 guide §2.3) */
        _PREFLIGHT_CHECK_MAX,
        _PREFLIGHT_CHECK_INVALID = -EINVAL,
} PreflightCheck;

DECLARE_STRING_TABLE_LOOKUP(preflight_check, PreflightCheck);

typedef struct ModemProfile {
        ModemFamily family;
        const char *name;               /* config name, e.g. "ec2x" */
        const char *description;        /* e.g. "EC25/EC21 (EC25&EC21 DFOTA User Guide V1.0)" */
        const char *const *models;      /* NULL-terminated model names as ATI prints them (prefix match) */

        const char *guide;              /* the guide the entry comes from, for reasons and logs */
        const char *sources_citation;   /* where source_allowed comes from, for the reason a source is refused */
        const UsbId *usb_ids;           /* terminated by a { 0 } row; NULL for UART-only modules */

        bool source_allowed[_PACKAGE_SOURCE_MAX];
        size_t url_max;                 /* bytes, for FTP/HTTP(S) URLs */
        const char *const *local_prefixes; /* NULL-terminated, e.g. "/data/ufs/" or "UFS:" */
        size_t local_max;               /* bytes, for local file names (prefix included) */

        /* The DFOTA status words the guide documents for this family, NULL-terminated (the URC
         * parser accepts every known spelling from every family; this is what to expect). */
        const char *const *urc_words;

        /* Lines the module prints by itself as it boots, NULL-terminated: seeing one means it
         * restarted (a reboot on a port that stays, or before the port's return was noticed). */
        const char *const *boot_lines;

        /* The module reboots (and its USB AT port disappears) after the download and after END. */
        bool reboots_after_download;
        /* The AT port stays through the module's reboots (a UART): verification polls ATI instead
         * of waiting for the port to come back. */
        bool port_survives_reboot;
        /* The module retries a failed update by itself, this many attempts in total; 1 = an
         * error ends DFOTA (BC26). */
        unsigned max_attempts;
        /* The longest the module takes to answer AT+QFOTADL with its final result. */
        usec_t qfotadl_response_usec;
        /* "+CME ERROR: <err>" to AT+QFOTADL carries the family's <err> (update table) code. */
        bool qfotadl_cme_is_module_error;
        /* The module downloads over a PDP context that must be configured first:
         * AT+QICSGP=<cid>,... and AT+QCFG="fota/cid",<cid> (UMTS/HSPA DFOTA guide ch. 3). */
        bool needs_pdp_context;

        /* The checks run during preflight after ATE0/ATI/AT+GSN, in this order; one that fails
         * makes preflight fail. */
        const PreflightCheck *preflight_checks;
        size_t n_preflight_checks;

        /* Error tables, indexed by ModuleErrorKind; NULL for a kind the family cannot report
         * (BC26: no FTP, so no <ftp_err> table). */
        const ModuleErrorInfo *errors[_MODULE_ERROR_KIND_MAX];
} ModemProfile;

/* Returns the static profile of a family; never NULL for a valid family. */
const ModemProfile *modem_profile_get(ModemFamily family);

/* The profile for a USB id (vendor, product) or NULL. */
const ModemProfile *modem_profile_from_usb(uint16_t vendor, uint16_t product);

/* The same, and the table row, whose at_interface says which of the device's interfaces is the
 * primary AT port. Returns the row or NULL; *ret_profile is set only when a row is found (may be
 * NULL). */
const UsbId *modem_usb_id_find(uint16_t vendor, uint16_t product, const ModemProfile **ret_profile);

/* "ftp", "http", "update" */
DECLARE_STRING_TABLE_LOOKUP(module_error_kind, ModuleErrorKind);

/* Finds the family from the model line of ATI (e.g. "EC25"). Returns the generic, conservative
 * profile when no family matches. Never NULL. */
const ModemProfile *modem_profile_from_model(const char *model);

/* Looks a module error code up in the family's table of that kind (ranges included). Returns a
 * static string, or NULL when the guide does not list the code. */
const char *modem_profile_error_meaning(const ModemProfile *p, ModuleErrorKind kind, int code);

/* Classifies a package URL by its scheme (case-insensitive "ftp://", "http://", "https://"), a
 * leading '/' or "UFS:" (local file; upper case, as UC20/UC15 print it). Returns the source, or
 * -EINVAL. */
PackageSource package_source_from_url(const char *url);

/* Checks a URL against the family's rules (each guide's AT+QFOTADL parameter table, e.g. EC25&EC21
 * DFOTA User Guide §3.1-3.3): allowed scheme, length limit (url_max for FTP/HTTP(S), local_max and
 * one of local_prefixes for local files). A refused source names the family's sources_citation.
 * The character set is checked by job validation before this. Returns 0, or -EINVAL with a
 * human-readable reason in *reterr (newly allocated; the caller frees it). */
int modem_profile_check_url(const ModemProfile *p, const char *url, char **reterr);
