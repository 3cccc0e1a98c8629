/* SPDX-License-Identifier: MIT */

/* Module family profiles as data (../shared/product.md "The modules": one data table per family,
 * no per-model branches elsewhere). Every value below cites the guide in ../shared/seeds/ it comes
 * from; where a guide gives nothing, the comment says what we chose and why. The guides are OCR'd
 * text: where one contradicts itself, the later and more specific text wins (seeds README), and
 * the comment says which text that was.
 *
 *   ec2x   000_36b9d468918b002c.txt  EC25&EC21 DFOTA User Guide V1.0 (2016)
 *   bc26   001_72f22b2fdc239de5.txt  BC26 DFOTA User Guide V1.0 (2018)
 *   ep06   002_b2ff2a6d34509638.txt  EP06&EG06&EM06 DFOTA User Guide V1.0 (2018)
 *   rg50x  003_9255c85b394ae77f.txt  RG50xQ&RM5xxQ Series FOTA Application Note V1.2 (2024)
 *   ucxx   004_e9fa4e59ebf297dc.txt  UMTS/HSPA Module Series DFOTA User Guide V1.0 (2014) */

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "profile.h"
#include "reason.h"

static const char *const modem_family_table[_MODEM_FAMILY_MAX] = {
        [MODEM_FAMILY_EC2X]    = "ec2x",
        [MODEM_FAMILY_EP06]    = "ep06",
        [MODEM_FAMILY_RG50X]   = "rg50x",
        [MODEM_FAMILY_UCXX]    = "ucxx",
        [MODEM_FAMILY_BC26]    = "bc26",
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

/* The names of the error tables, as the job record stores them ("module_error.kind") and as
 * control planes report them. */
static const char *const module_error_kind_table[_MODULE_ERROR_KIND_MAX] = {
        [MODULE_ERROR_FTP]    = "ftp",
        [MODULE_ERROR_HTTP]   = "http",
        [MODULE_ERROR_UPDATE] = "update",
};

DEFINE_STRING_TABLE_LOOKUP(module_error_kind, ModuleErrorKind);

static const char *const preflight_check_table[_PREFLIGHT_CHECK_MAX] = {
        [PREFLIGHT_CPIN]    = "AT+CPIN?",
        [PREFLIGHT_CREG]    = "AT+CREG?",
        [PREFLIGHT_CEREG]   = "AT+CEREG?",
        [PREFLIGHT_CGREG]   = "AT+CGREG?",
        [PREFLIGHT_CSQ]     = "AT+CSQ",
        [PREFLIGHT_CESQ]    = "AT+CESQ",
        [PREFLIGHT_CGPADDR] = "AT+CGPADDR=1",
};

DEFINE_STRING_TABLE_LOOKUP(preflight_check, PreflightCheck);

/* How a source is named in a human-readable reason. */
static const char *const package_source_display_table[_PACKAGE_SOURCE_MAX] = {
        [PACKAGE_SOURCE_FTP]        = "FTP",
        [PACKAGE_SOURCE_HTTP]       = "HTTP",
        [PACKAGE_SOURCE_HTTPS]      = "HTTPS",
        [PACKAGE_SOURCE_LOCAL_FILE] = "a local file",
};

/* One error table row: a single code, or the range first..last with one meaning. */
#define ERR(c, m)          { .code = (c), .meaning = (m) }
#define ERR_RANGE(c, l, m) { .code = (c), .code_last = (l), .meaning = (m) }
#define ERR_END            { .meaning = NULL }

/* ---- preflight lists -------------------------------------------------------------------------
 * ATE0/ATI/AT+GSN run for every family; these follow. The engine judges each (SIM ready,
 * registered, informational signal, PDN address). */

/* SIM ready, registered, signal (../shared/product.md "Preflight"). AT+CREG? rather than
 * AT+CEREG?: the EC2x modules also download over WCDMA/GPRS (EC25&EC21 DFOTA User Guide §2 "via
 * LTE/WCDMA/GPRS network"), and the UC20/UC15 only over WCDMA/GPRS (UMTS/HSPA DFOTA User Guide
 * ch. 2 figure "via WCDMA/GPRS network"), where only +CREG reports. */
static const PreflightCheck preflight_creg[] = {
        PREFLIGHT_CPIN,
        PREFLIGHT_CREG,
        PREFLIGHT_CSQ,
};

/* EP06/EG06/EM06 (LTE-A Cat 6/12) and RG50xQ/RM5xxQ (5G NSA, whose anchor cell is LTE) attach to
 * the packet core over EPS, which +CEREG reports (TS 27.007 §10.1.22); +CREG reports the circuit
 * switched domain, which a data-only LTE/5G subscription never registers to. A module that has
 * fallen back to WCDMA (EP06&EG06&EM06 guide ch. 2 "via LTE/WCDMA network") shows +CEREG: 0,0 and
 * fails preflight: a DFOTA download is better started on the RAT the package server was tested
 * with than on a fallback. */
static const PreflightCheck preflight_cereg[] = {
        PREFLIGHT_CPIN,
        PREFLIGHT_CEREG,
        PREFLIGHT_CSQ,
};

/* BC26 DFOTA User Guide §2.3 "Check Network Status": AT+CESQ (signal), AT+CEREG? (registration),
 * AT+CGPADDR=1 (the default PDN has an IP address); the §4.1 example also queries AT+CPIN? in the
 * same command line. NB-IoT has no +CSQ-style RSSI worth the name and only EPS registration. */
static const PreflightCheck preflight_bc26[] = {
        PREFLIGHT_CPIN,
        PREFLIGHT_CESQ,
        PREFLIGHT_CEREG,
        PREFLIGHT_CGPADDR,
};

/* ==== ec2x: EC25&EC21 DFOTA User Guide V1.0 (2016), ../shared/seeds/000_36b9d468918b002c.txt ==== */

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

/* modem.md §2.2 (ModemManager 77-mm-quectel-port-types.rules) and §2.3 (Linux option.c): the
 * primary AT port is interface 2 on all of them. */
static const UsbId ec2x_usb_ids[] = {
        { 0x2c7c, 0x0125, 2 },      /* EC25, EG25-G */
        { 0x2c7c, 0x0121, 2 },      /* EC21 */
        { 0x2c7c, 0x0191, 2 },      /* EG91 */
        { 0x2c7c, 0x0195, 2 },      /* EG95 */
        { 0 },
};

/* §3.3: "<file_name> ... It should be started with "/data/ufs/" in UFS or should be started with
 * "/media/card/" in SD card." */
static const char *const ec2x_local_prefixes[] = {
        "/data/ufs/",
        "/media/card/",
        NULL,
};

/* §3.1-3.3 command tables and examples. HTTPSSTART/HTTPSEND: later EC2x firmware over HTTPS
 * (EG18-EA transcript, modem.md §0), which this profile allows. */
static const char *const ec2x_urc_words[] = {
        "FTPSTART", "FTPEND",
        "HTTPSTART", "HTTPEND",
        "HTTPSSTART", "HTTPSEND",
        "START", "UPDATING", "END",
        NULL,
};

/* 504 and 505 are listed in both download tables (ch. 4 Table 1, ch. 5 Table 2) although they
 * describe the update: the EC25 guide has no table of its own for END's <err>. */
#define EC2X_504 "Firmware upgrade failed, module will reboot and retry to upgrade for consecutively five times."
#define EC2X_505 "Upgrade package file check failed, module will reboot and retry to upgrade for consecutively five times."

/* Chapter 4, Table 1 "Summary of FTP Error Codes" (<ftp_err> of FTPEND), verbatim. */
static const ModuleErrorInfo ec2x_errors_ftp[] = {
        ERR(0,   "Operation successful"),
        ERR(601, "Unknown error"),
        ERR(504, EC2X_504),
        ERR(505, EC2X_505),
        ERR_END,
};

/* Chapter 5, Table 2 "Summary of HTTP Error Codes" (<http_err> of HTTPEND), verbatim. */
static const ModuleErrorInfo ec2x_errors_http[] = {
        ERR(0,   "Operation successful"),
        ERR(701, "HTTP unknown error"),
        ERR(504, EC2X_504),
        ERR(505, EC2X_505),
        ERR_END,
};

/* <err> of END. §3.1-3.3 parameter tables: "<err> Integer type, 0 means OK, or else ERROR". The
 * guide has no END table; 504/505 are in the download tables (ch. 4/5) but their wording ("module
 * will reboot and retry to upgrade") is about the update in recovery mode, which is where END
 * reports them, so they are repeated here. */
static const ModuleErrorInfo ec2x_errors_update[] = {
        ERR(0,   "OK"),
        ERR(504, EC2X_504),
        ERR(505, EC2X_505),
        ERR_END,
};

/* ==== ep06: EP06&EG06&EM06 DFOTA User Guide V1.0 (2018), ../shared/seeds/002_b2ff2a6d34509638.txt ==== */

/* ch. 1: "applicable to Quectel EP06&EG06&EM06 modules". ATI prints "EP06", "EG06", "EM06"
 * (suffixes such as "EP06-E" still match). The "next character is not a digit" rule keeps the
 * EM060K (a different platform with its own DFOTA, USB id 2c7c:030b, modem.md §2.3) out. */
static const char *const ep06_models[] = {
        "EP06",
        "EG06",
        "EM06",
        NULL,
};

/* modem.md §2.2: "EG06 (also EP06/EM06) 2c7c:0306", AT primary interface 02; §2.3 option.c EP06
 * 0x0306. */
static const UsbId ep06_usb_ids[] = {
        { 0x2c7c, 0x0306, 2 },      /* EP06, EG06, EM06 */
        { 0 },
};

/* §3.3 <file_name>: "It should be started with "/data/ufs/" in UFS." (no SD card, unlike EC2x) */
static const char *const ep06_local_prefixes[] = {
        "/data/ufs/",
        NULL,
};

/* ch. 3 command tables and examples (§3.1 FTP, §3.2 HTTP(S): the same words for HTTPS). */
static const char *const ep06_urc_words[] = {
        "FTPSTART", "FTPEND",
        "HTTPSTART", "HTTPEND",
        "START", "UPDATING", "END",
        NULL,
};

/* ch. 5 Table 1 "Summary of <ftp_err>, <http_err> and <err> Codes", verbatim. The OCR put the three
 * code columns first and the meanings after them; the counts match (2 + 2 + 7 rows). */
static const ModuleErrorInfo ep06_errors_ftp[] = {
        ERR(0,   "FTP download operation successful"),
        ERR(601, "FTP unknown error"),
        ERR_END,
};

static const ModuleErrorInfo ep06_errors_http[] = {
        ERR(0,   "HTTP(S) download operation successful"),
        ERR(701, "HTTP(S) unknown error"),
        ERR_END,
};

/* §4.1.1: 504, 505, 510 are package errors, §4.1.2: 502, 511, 520-530, 540-546 upgrade errors; all
 * of them make the module reboot and retry, five times in total (§4.1 NOTE). 504 and 505 have the
 * same meaning in Table 1. */
#define EP06_UPGRADE_FAILED "Firmware upgrade failed"
static const ModuleErrorInfo ep06_errors_update[] = {
        ERR(0,   "Firmware upgrade successful"),
        ERR(502, "The upgrade process exits for some unpredictable errors."),
        ERR(504, "Something wrong with the upgrade package file"),
        ERR(505, "Something wrong with the upgrade package file"),
        ERR(510, "The patch does not match the source file in the module, need to check whether the upgrade package is wrong."),
        ERR(511, "The file system has no enough space for upgrading."),
        ERR_RANGE(520, 530, EP06_UPGRADE_FAILED),
        ERR_RANGE(540, 546, EP06_UPGRADE_FAILED),
        ERR_END,
};

/* ==== rg50x: RG50xQ&RM5xxQ Series FOTA Application Note V1.2 (2024), ../shared/seeds/003_9255c85b394ae77f.txt ==== */

/* ch. 1 Table 1 "Applicable Modules": RG500Q series, RG501Q-EU, RG502Q series, RM500Q series,
 * RM502Q-AE, RM505Q-AE, RM510Q-GL. ATI prints the full name with its variant, e.g. "RM500Q-GL",
 * "RG500Q-EA": the base name (letter included) is the prefix, and the '-' after it is not a digit.
 * The trailing letter keeps the RM500U (Unisoc, another FOTA) out.
 * RM520N: not in Table 1 (a later module); issue 3 assigns it to this family, and it has the same
 * USB layout as the RM500Q (modem.md §2.2). Should its firmware differ, the module's own answers
 * (ERROR, its error codes) still reach the operator. */
static const char *const rg50x_models[] = {
        "RG500Q",
        "RG501Q",
        "RG502Q",
        "RM500Q",
        "RM502Q",
        "RM505Q",
        "RM510Q",
        "RM520N",
        NULL,
};

/* modem.md §2.2: "RM500 2c7c:0800" and "RM520N 2c7c:0801", AT primary interface 02; §2.3 option.c
 * RM500Q 0x0800, RM520N 0x0801. The reference names no other id for the RG50xQ/RM50xQ of Table 1;
 * they are taken to share the RM500Q's (one platform, one note). A module with another id is
 * still recognised by ATI once its port is configured. */
static const UsbId rg50x_usb_ids[] = {
        { 0x2c7c, 0x0800, 2 },      /* RM500Q (and, assumed, the other RG50xQ/RM5xxQ) */
        { 0x2c7c, 0x0801, 2 },      /* RM520N */
        { 0 },
};

/* §3.3.3: the parameter table says "It should be started with "cache/ufs/" in UFS" (no leading
 * '/'), the example sends AT+QFOTADL="/cache/ufs/update-v13-to-v12.zip". The example is the
 * later and the more specific text, real modules use the absolute form (EG18-EA, SDX55 and
 * Technicolor mobiled's fallback, modem.md §4.4), and a relative path would not be recognised as
 * a local file at all (package_source_from_url()). */
static const char *const rg50x_local_prefixes[] = {
        "/cache/ufs/",
        NULL,
};

/* §3.3.1 FTP; §3.3.2 HTTP(S): "HTTPPEND" in the command table *and* in the example of this V1.2
 * text, where every other guide (and the same modules' earlier notes, modem.md §4.1) prints
 * "HTTPEND": both are expected. */
static const char *const rg50x_urc_words[] = {
        "FTPSTART", "FTPEND",
        "HTTPSTART", "HTTPPEND", "HTTPEND",
        "START", "UPDATING", "END",
        NULL,
};

/* ch. 5 Table 3 "Summary of <FTP_err> Codes", verbatim. */
static const ModuleErrorInfo rg50x_errors_ftp[] = {
        ERR(0,   "Downloaded the firmware package from the FTP server successfully"),
        ERR(601, "FTP Unknown error"),
        ERR_END,
};

/* ch. 5 Table 4 "Summary of <HTTP_err> Codes", verbatim. */
static const ModuleErrorInfo rg50x_errors_http[] = {
        ERR(0,   "Downloaded the firmware package from the HTTP(S) server successfully"),
        ERR(701, "Failed to download the firmware package from the HTTP(S) server"),
        ERR_END,
};

/* ch. 5 Table 5 "Summary of <err> Codes", verbatim; 520–530 and 540–546 share one meaning cell.
 *
 * Retries: Table 5 says 520–530/540–546 make the module "retry to upgrade the firmware until the
 * upgrade is successful", ch. 4 "Exception Handling" (added in V1.1, the later and more specific
 * text) that "If the upgrade fails for five consecutive times, the upgrade is a complete failure,
 * and the module will delete the flag, exit and try to start the module normally". dfotad counts
 * attempts up to max_attempts (5) for its reports, but never cuts the module short: after the
 * fifth END,<err> it waits for the module to come back and the revision it then runs decides
 * SUCCEEDED or FAILED, so a module that keeps retrying (Table 5) and one that gives up (ch. 4)
 * both end right. ch. 4 NOTE: "there is no limit to the number of upgrades in the event of an
 * abnormal power failure" — a START after a power loss, with no END,<err> before it, resumes the
 * same attempt and is not counted (the engine's attempt counting). */
#define RG50X_UPGRADE_FAILED "Firmware upgrading failed. The module will reboot and retry to upgrade the firmware until the upgrade is successful."
static const ModuleErrorInfo rg50x_errors_update[] = {
        ERR(0,   "Upgraded the firmware successfully"),
        ERR(502, "The upgrade process exits due to some unknown errors or exceptions. The system will retry five times."),
        ERR(504, "Incorrect zip format"),
        ERR(505, "The project or the version of the package does not match."),
        ERR(510, "The firmware package file does not match the source package file of the module, and needs to be checked if it is wrong."),
        ERR(511, "The file system has no enough space for upgrade."),
        ERR_RANGE(520, 530, RG50X_UPGRADE_FAILED),
        ERR_RANGE(540, 546, RG50X_UPGRADE_FAILED),
        ERR(550, "The firmware package is too large."),
        ERR_END,
};

/* ==== ucxx: UMTS/HSPA Module Series DFOTA User Guide V1.0 (2014), ../shared/seeds/004_e9fa4e59ebf297dc.txt ==== */

/* §1.1 "Scope of the Document": "UC20 UMTS/HSPA+ series", "UC15 UMTS/HSDPA series". The "next
 * character is not a digit" rule keeps the UC200T (an LTE Cat 1 module of another platform) out. */
static const char *const ucxx_models[] = {
        "UC20",
        "UC15",
        NULL,
};

/* modem.md §0 and §2.3: UC20 05c6:9003, UC15 05c6:9090 (Qualcomm's vendor id, option.c
 * QUECTEL_PRODUCT_UC15/UC20). The reference does not name their AT interface (ModemManager has no
 * port rule for them, §2.2); option.c reserves interface 4 of the UC20 for the network device,
 * which fits the layout every Quectel Qualcomm module in §2.2 has (0 DM, 1 NMEA, 2 AT, 3 modem, 4
 * network), so the AT port is taken to be interface 2, the documented Quectel convention (§0
 * "Primary AT port for almost all Qualcomm USB Quectel modules in scope is USB interface 2"). */
static const UsbId ucxx_usb_ids[] = {
        { 0x05c6, 0x9003, 2 },      /* UC20 */
        { 0x05c6, 0x9090, 2 },      /* UC15 */
        { 0 },
};

/* §3.3 example: AT+QFOTADL="UFS:delta.bin" (the module's file system names files "UFS:<name>",
 * modem.md §4.4 AT+QFLST); ch. 3 parameter table: "<file_name> String type, max length is 128
 * bytes." */
static const char *const ucxx_local_prefixes[] = {
        "UFS:",
        NULL,
};

/* ch. 3 command table and the §3.1-3.3 examples. The module also sends "RDY" after END (it boots
 * normally into the new firmware); that is not a "FOTA" status word and the engine handles it on
 * its own. */
static const char *const ucxx_urc_words[] = {
        "FTPSTART", "FTPEND",
        "HTTPSTART", "HTTPEND",
        "START", "UPDATING", "END",
        NULL,
};

/* ch. 4 Table 1 "Summary of FTP Error Codes", verbatim. The table has no row for 0; ch. 3's
 * parameter table gives it: "<ftp_err> Integer type, indicates the FTP error code. 0 means OK".
 * The table runs over a page break between 618 and 619 (the text's "Quectel" page footers are
 * gone there); each code 601-630 appears exactly once, and 614-630 follow the FTP reply codes
 * 421-553 in order (e.g. 625 "Fail to login FTP" is 530, 627 "Requested action not taken." is 550),
 * which confirms no row was lost or doubled. */
static const ModuleErrorInfo ucxx_errors_ftp[] = {
        ERR(0,   "OK"),
        ERR(601, "Unknown error"),
        ERR(602, "FTP service blocked"),
        ERR(603, "FTP service busy"),
        ERR(604, "DNS parse fail"),
        ERR(605, "Network error"),
        ERR(606, "Control connection closed"),
        ERR(607, "Data connection closed"),
        ERR(608, "Socket closed by peer"),
        ERR(609, "Timeout error"),
        ERR(610, "Invalid parameter"),
        ERR(611, "Failed to open file"),
        ERR(612, "File position invalid"),
        ERR(613, "File error"),
        ERR(614, "Service not available, closing control connection"),
        ERR(615, "Open data connection fail"),
        ERR(616, "Connection closed; transfer aborted"),
        ERR(617, "Requested file action not taken"),
        ERR(618, "Requested action aborted: local error in processing"),
        ERR(619, "Requested action not taken: insufficient system storage"),
        ERR(620, "Syntax error, command unrecognized"),
        ERR(621, "Syntax error in parameters or arguments"),
        ERR(622, "Command not implemented"),
        ERR(623, "Bad sequence of commands"),
        ERR(624, "Command parameter not implemented"),
        ERR(625, "Fail to login FTP"),
        ERR(626, "Need account for storing files"),
        ERR(627, "Requested action not taken."),
        ERR(628, "Requested action aborted: page type unknown"),
        ERR(629, "Requested file action aborted"),
        ERR(630, "Requested file name invalid"),
        ERR_END,
};

/* ch. 5 "Summary of HTTP Error Codes" (the table has no caption in the text; the Table Index lists
 * only Table 1), verbatim. It splits over a page break between 718 and 719, with no row lost. */
static const ModuleErrorInfo ucxx_errors_http[] = {
        ERR(0,   "Operation successful"),
        ERR(701, "HTTP unknown error"),
        ERR(702, "HTTP timeout"),
        ERR(703, "HTTP busy"),
        ERR(704, "HTTP UART busy"),
        ERR(705, "HTTP does not get/post request"),
        ERR(706, "HTTP network busy"),
        ERR(707, "HTTP network open failure"),
        ERR(708, "HTTP network not configured"),
        ERR(709, "HTTP network deactivated"),
        ERR(710, "HTTP network error"),
        ERR(711, "HTTP URL error"),
        ERR(712, "HTTP empty URL"),
        ERR(713, "HTTP IP address error"),
        ERR(714, "HTTP DNS error"),
        ERR(715, "HTTP socket create error"),
        ERR(716, "HTTP socket connect error"),
        ERR(717, "HTTP socket read error"),
        ERR(718, "HTTP socket write error"),
        ERR(719, "HTTP socket close"),
        ERR(720, "HTTP data encode error"),
        ERR(721, "HTTP data decode error"),
        ERR(722, "HTTP read timeout"),
        ERR(723, "HTTP response failure"),
        ERR(724, "Incoming call busy"),
        ERR(725, "Voice call busy"),
        ERR(726, "Input timeout"),
        ERR(727, "Wait for data timeout"),
        ERR(728, "HTTP response timeout"),
        ERR(729, "Allocate memory failure"),
        ERR(730, "Invalid parameter"),
        ERR_END,
};

/* ch. 3 parameter table: "<err> Integer type, 0 means OK, else ERROR". The guide lists no END
 * codes, and borrowing another family's (EC2x 504/505) would put words in this module's mouth: an
 * END,<err≠0> is reported with its code and "not in the module's error table". */
static const ModuleErrorInfo ucxx_errors_update[] = {
        ERR(0, "OK"),
        ERR_END,
};

/* ==== bc26: BC26 DFOTA User Guide V1.0 (2018), ../shared/seeds/001_72f22b2fdc239de5.txt ==== */

/* ch. 1: "Quectel BC26 module". The "next character is not a digit" rule keeps the BC260Y (another
 * NB-IoT platform) out. */
static const char *const bc26_models[] = {
        "BC26",
        NULL,
};

/* What every Quectel module prints when its firmware is up: "RDY" (the AT command manuals'
 * power-on URC; reference modem.md §2.4, ModemManager treats it as a modem reset). */
static const char *const boot_lines_rdy[] = { "RDY", NULL };

/* A BC26 on its UART prints its boot ROM's lines when it restarts, ending with "Leaving the BROM"
 * (forums.quectel.com/t/24784, the simulator's BC26 boot noise), and no RDY there. */
static const char *const boot_lines_bc26[] = { "RDY", "Leaving the BROM", NULL };

/* §3.1 command table: HTTPSTART, DOWNLOADING,<percent>, HTTPPEND, START, UPDATING, END. The §4.1
 * example prints "HTTPTART" (a typo in the guide's own example: a module that sends it must not
 * look like an unknown word) and "HTTPEND" where the table has "HTTPPEND"; §3.1 NOTES: after a
 * power loss during UPDATING the module resumes with START, "UPDATING", 1% ... */
static const char *const bc26_urc_words[] = {
        "HTTPSTART", "HTTPTART",
        "DOWNLOADING",
        "HTTPPEND", "HTTPEND",
        "START", "UPDATING", "END",
        NULL,
};

/* ch. 5 Table 1 "Summary of <http_err> Codes", verbatim. */
static const ModuleErrorInfo bc26_errors_http[] = {
        ERR(0,  "Downloaded successfully"),
        ERR(12, "HTTP(S) download failed"),
        ERR(13, "Network deactivated"),
        ERR(20, "Network activating"),
        ERR_END,
};

/* ch. 5 Table 2 "Summary of <err> Codes", verbatim. Also the <err> of "+CME ERROR: <err>" in reply
 * to AT+QFOTADL (§3.1: "If there is any error, response: ERROR Or +CME ERROR: <err>", and the
 * parameter <err> refers to ch. 5). */
static const ModuleErrorInfo bc26_errors_update[] = {
        ERR(0,   "Upgraded successfully"),
        ERR(1,   "Unknown error"),
        ERR(2,   "FOTA is busy"),
        ERR(254, "Delta firmware package mismatch"),
        ERR(255, "Delta firmware package invalid"),
        ERR_END,
};

/* ==== generic: the most conservative intersection of all guides in ../shared/seeds/ ==== */

/* Only /data/ufs/: the EC25&EC21 guide §3.3 and the EP06&EG06&EM06 guide §3.3 ("It should be
 * started with "/data/ufs/" in UFS") both accept it. Not every module does (RG50xQ FOTA note
 * §3.3.3: "/cache/ufs/"; UMTS/HSPA guide §3.3: "UFS:<name>"; BC26: none), so a local-file job on an
 * unknown module may still be refused by the module; that is its answer to give, not a guess of
 * ours. */
static const char *const generic_local_prefixes[] = {
        "/data/ufs/",
        NULL,
};

/* The words every USB family's guide prints (EC25&EC21 §3, EP06&EG06&EM06 ch. 3, UMTS/HSPA ch. 3;
 * the RG50xQ note has HTTPPEND besides). The parser accepts every spelling of every family anyway. */
static const char *const generic_urc_words[] = {
        "FTPSTART", "FTPEND",
        "HTTPSTART", "HTTPEND",
        "START", "UPDATING", "END",
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
        ERR(0,   "Operation successful"),
        ERR(601, "FTP unknown error"),
        ERR(504, GENERIC_504),
        ERR(505, GENERIC_505),
        ERR_END,
};

/* 701 is <http_err> "HTTP unknown error" in EC25&EC21 ch. 5 Table 2, UMTS/HSPA ch. 5,
 * EP06&EG06&EM06 ch. 5 Table 1 ("HTTP(S) unknown error"); RG50xQ ch. 5 Table 4 words it "Failed to
 * download the firmware package from the HTTP(S) server". (BC26's <http_err> are 12/13/20, but a
 * BC26 is recognised by its own family.) */
static const ModuleErrorInfo generic_errors_http[] = {
        ERR(0,   "Operation successful"),
        ERR(701, "HTTP unknown error"),
        ERR(504, GENERIC_504),
        ERR(505, GENERIC_505),
        ERR_END,
};

static const ModuleErrorInfo generic_errors_update[] = {
        ERR(0,   "OK"),
        ERR(504, GENERIC_504),
        ERR(505, GENERIC_505),
        ERR_END,
};

static const ModemProfile profile_table[_MODEM_FAMILY_MAX] = {
        [MODEM_FAMILY_EC2X] = {
                .family = MODEM_FAMILY_EC2X,
                .name = "ec2x",
                .description = "EC25/EC21/EG25/EG91/EG95 (EC25&EC21 DFOTA User Guide V1.0)",
                .models = ec2x_models,
                .guide = "Quectel EC25&EC21 DFOTA User Guide V1.0 (2016)",
                .usb_ids = ec2x_usb_ids,

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
                .sources_citation = "EC25&EC21 DFOTA User Guide §3",
                /* §3.1 <ftpurl>, §3.2 <httpurl>: "String format, max length is 255 bytes." */
                .url_max = 255,
                .local_prefixes = ec2x_local_prefixes,
                /* §3.3 <file_name>: "String type, max length is 128 bytes." */
                .local_max = 128,

                .urc_words = ec2x_urc_words,

                .boot_lines = boot_lines_rdy,

                /* §3: "After the package download is finished, the module will reboot
                 * automatically and then enter into recovery mode for firmware upgrade." */
                .reboots_after_download = true,
                .port_survives_reboot = false,
                /* §3: "otherwise it will enter into recovery mode and retry to upgrade for
                 * consecutively five times." */
                .max_attempts = 5,
                /* The guide gives no maximum response time for AT+QFOTADL; 5 s is conservative
                 * for a command that only validates its argument before answering OK. */
                .qfotadl_response_usec = 5 * USEC_PER_SEC,
                /* §3.1-3.3: "Or ERROR" only. */
                .qfotadl_cme_is_module_error = false,
                /* The EC2x downloads over its default data context; the guide configures none. */
                .needs_pdp_context = false,

                .preflight_checks = preflight_creg,
                .n_preflight_checks = ELEMENTSOF(preflight_creg),

                .errors = {
                        [MODULE_ERROR_FTP] = ec2x_errors_ftp,
                        [MODULE_ERROR_HTTP] = ec2x_errors_http,
                        [MODULE_ERROR_UPDATE] = ec2x_errors_update,
                },
        },

        [MODEM_FAMILY_EP06] = {
                .family = MODEM_FAMILY_EP06,
                .name = "ep06",
                .description = "EP06/EG06/EM06 (EP06&EG06&EM06 DFOTA User Guide V1.0)",
                .models = ep06_models,
                .guide = "Quectel EP06&EG06&EM06 DFOTA User Guide V1.0 (2018)",
                .usb_ids = ep06_usb_ids,

                /* §3.1 "It should be started with "ftp://"", §3.2 "It should be started with
                 * "http://" or "https://"", §3.3 local file. */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = true,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = true,
                        [PACKAGE_SOURCE_LOCAL_FILE] = true,
                },
                .sources_citation = "EP06&EG06&EM06 DFOTA User Guide ch. 3",
                /* §3.1 <ftpURL>, §3.2 <httpURL>: "The maximum length is 255 bytes." */
                .url_max = 255,
                .local_prefixes = ep06_local_prefixes,
                /* §3.3 <file_name>: "The maximum length is 90 bytes." */
                .local_max = 90,

                .urc_words = ep06_urc_words,

                .boot_lines = boot_lines_rdy,

                /* ch. 3: "download the package from FTP/HTTP(S) server, reboot automatically and
                 * then enter into recovery mode"; §3.1 example: "the USB port will be
                 * re-initialized". */
                .reboots_after_download = true,
                .port_survives_reboot = false,
                /* §4.1 NOTE: "the module can only retry for maximally five times in total, among
                 * which retry times for package checking and firmware upgrading are both
                 * included"; §4.1.2: then it "will stop firmware upgrade and restore to the
                 * original version". */
                .max_attempts = 5,
                /* No maximum response time in the guide; the same choice as ec2x. */
                .qfotadl_response_usec = 5 * USEC_PER_SEC,
                /* ch. 3: "If there is any error, response: ERROR". */
                .qfotadl_cme_is_module_error = false,
                .needs_pdp_context = false,

                .preflight_checks = preflight_cereg,
                .n_preflight_checks = ELEMENTSOF(preflight_cereg),

                .errors = {
                        [MODULE_ERROR_FTP] = ep06_errors_ftp,
                        [MODULE_ERROR_HTTP] = ep06_errors_http,
                        [MODULE_ERROR_UPDATE] = ep06_errors_update,
                },
        },

        [MODEM_FAMILY_RG50X] = {
                .family = MODEM_FAMILY_RG50X,
                .name = "rg50x",
                .description = "RG50xQ/RM5xxQ/RM520N (RG50xQ&RM5xxQ Series FOTA Application Note V1.2)",
                .models = rg50x_models,
                .guide = "Quectel RG50xQ&RM5xxQ Series FOTA Application Note V1.2 (2024)",
                .usb_ids = rg50x_usb_ids,

                /* §3.3.1 "It should be started with "ftp://"", §3.3.2 "It should be started with
                 * "http(s)://"" (HTTPS since V1.1, "Developed DFOTA function over HTTPS server"),
                 * §3.3.3 local file. */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = true,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = true,
                        [PACKAGE_SOURCE_LOCAL_FILE] = true,
                },
                .sources_citation = "RG50xQ&RM5xxQ FOTA Application Note §3.3",
                /* §3.3.1 <FTP_URL>, §3.3.2 <HTTP_URL>: "Maximum length is 512 bytes." */
                .url_max = 512,
                .local_prefixes = rg50x_local_prefixes,
                /* §3.3.3 <file_name>: "Maximum length is 512 bytes." */
                .local_max = 512,

                .urc_words = rg50x_urc_words,

                .boot_lines = boot_lines_rdy,

                /* §3.3.1 example: "The module reboots automatically and the USB port is
                 * re-initialized. ... After the module is rebooted, the first URC should be
                 * reported within 90 seconds. Otherwise, it means an unknown error occurs." (the
                 * 90 s are the first_urc_after_reboot timeout's default). */
                .reboots_after_download = true,
                .port_survives_reboot = false,
                /* ch. 4: "If the upgrade fails for five consecutive times, the upgrade is a
                 * complete failure"; see rg50x_errors_update for Table 5's "until the upgrade is
                 * successful" and why dfotad never cuts the module short. */
                .max_attempts = 5,
                /* §3.3 "Maximum Response Time 300 ms" (every AT+QFOTADL form). 5 s, a safe
                 * multiple: a timeout is taken as "sent" by the engine, so waiting longer costs
                 * nothing when OK comes, and keeps a slow ERROR from being lost. */
                .qfotadl_response_usec = 5 * USEC_PER_SEC,
                /* §3.3.1-3.3.3: "If there is any error: ERROR". */
                .qfotadl_cme_is_module_error = false,
                /* §3.3.3 NOTE 2: the module uses the first APN by default; AT+QFOTAPID switches
                 * the channel but is not documented ("please contact Quectel"), so dfotad sets up
                 * nothing. */
                .needs_pdp_context = false,

                .preflight_checks = preflight_cereg,
                .n_preflight_checks = ELEMENTSOF(preflight_cereg),

                .errors = {
                        [MODULE_ERROR_FTP] = rg50x_errors_ftp,
                        [MODULE_ERROR_HTTP] = rg50x_errors_http,
                        [MODULE_ERROR_UPDATE] = rg50x_errors_update,
                },
        },

        [MODEM_FAMILY_UCXX] = {
                .family = MODEM_FAMILY_UCXX,
                .name = "ucxx",
                .description = "UC20/UC15 (UMTS/HSPA Module Series DFOTA User Guide V1.0)",
                .models = ucxx_models,
                .guide = "Quectel UMTS/HSPA Module Series DFOTA User Guide V1.0 (2014)",
                .usb_ids = ucxx_usb_ids,

                /* ch. 3: <ftpurl> "should be started with "FTP://"", <httpurl> "should be started
                 * with "HTTP://""; §3.3 local file. No HTTPS: the guide and its figure know only
                 * FTP/HTTP servers. */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = true,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = false,
                        [PACKAGE_SOURCE_LOCAL_FILE] = true,
                },
                .sources_citation = "UMTS/HSPA DFOTA User Guide ch. 3: FTP, HTTP and UFS: files only",
                /* ch. 3 <ftpurl>, <httpurl>: "String format, max length is 255 bytes." */
                .url_max = 255,
                .local_prefixes = ucxx_local_prefixes,
                /* ch. 3 <file_name>: "String type, max length is 128 bytes." */
                .local_max = 128,

                .urc_words = ucxx_urc_words,

                .boot_lines = boot_lines_rdy,

                /* §3.1 example: "Module will be rebooted and USB port will be re-initialized." */
                .reboots_after_download = true,
                .port_survives_reboot = false,
                /* The guide says nothing about retries. Five, as for the EC2x, whose recovery-mode
                 * DFOTA this older Qualcomm module shares (same flow: reboot after the download,
                 * USB re-initialised, update in recovery, 601/701 codes): assuming retries only
                 * makes dfotad wait for the module after END,<err> — and the "RDY" the guide
                 * prints after END ends that wait at once, the revision deciding — whereas
                 * assuming none would report FAILED while the module might still be retrying. */
                .max_attempts = 5,
                /* The command table says "Maximum Response Time 90 seconds"; the ch. 3 text says
                 * what takes that long: "The maximum response time of +QIND: "FOTA","FTPSTART" or
                 * +QIND: "FOTA","HTTPSTART" is 90 seconds" (that is the download_start timeout's
                 * default). The final result itself normally comes at once, but the table's
                 * figure is the only bound the guide gives for it, and a longer wait costs nothing
                 * when OK comes early, while a shorter one could lose the module's ERROR. */
                .qfotadl_response_usec = 90 * USEC_PER_SEC,
                /* ch. 3: "Or ERROR". */
                .qfotadl_cme_is_module_error = false,
                /* ch. 3: "When you upgrade firmware on a FTP/HTTP server, you need to activate a
                 * PDP context ID for FTP/HTTP connection. The default PDP context ID is 1, and it
                 * can be configured by AT+QCFG="fota/cid",<contextid>"; §3.1 example:
                 * AT+QICSGP=1,1,"UNINET","","",1 then AT+QCFG="fota/cid",1. */
                .needs_pdp_context = true,

                .preflight_checks = preflight_creg,
                .n_preflight_checks = ELEMENTSOF(preflight_creg),

                .errors = {
                        [MODULE_ERROR_FTP] = ucxx_errors_ftp,
                        [MODULE_ERROR_HTTP] = ucxx_errors_http,
                        [MODULE_ERROR_UPDATE] = ucxx_errors_update,
                },
        },

        [MODEM_FAMILY_BC26] = {
                .family = MODEM_FAMILY_BC26,
                .name = "bc26",
                .description = "BC26 (BC26 DFOTA User Guide V1.0)",
                .models = bc26_models,
                .guide = "Quectel BC26 DFOTA User Guide V1.0 (2018)",
                /* A UART module (modem.md §2.3 "BC26 is UART-only (no USB IDs)"): its port is
                 * listed in the config. */
                .usb_ids = NULL,

                /* §3.1 <httpURL>: "It should be started with "HTTP://" or "HTTPS://"". No FTP and
                 * no local file: the guide has neither. The §3.1 NOTES add "The HTTPS is not
                 * supported currently": HTTPS is allowed all the same, because the parameter
                 * table documents it and later firmware may have it; a module without it answers
                 * AT+QFOTADL with ERROR before anything is downloaded, which fails the job with
                 * that reason. */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = false,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = true,
                        [PACKAGE_SOURCE_LOCAL_FILE] = false,
                },
                .sources_citation = "BC26 DFOTA User Guide §3.1: HTTP(S) only",
                /* §3.1 <httpURL>: "The max length is 255 bytes." */
                .url_max = 255,
                .local_prefixes = NULL,
                .local_max = 0,

                .urc_words = bc26_urc_words,

                .boot_lines = boot_lines_bc26,

                /* ch. 3: "After finishing the package download, the module will automatically
                 * upgrade the module's firmware. If firmware is upgraded successfully, the module
                 * will reboot" — no reboot between download and update. */
                .reboots_after_download = false,
                /* The UART stays when the module reboots after the update. */
                .port_survives_reboot = true,
                /* ch. 3: "otherwise it will return an error and exit from DFOTA." No retries.
                 * (§3.1 NOTES: a power loss during UPDATING resumes the update at the next boot;
                 * that START is the same attempt.) */
                .max_attempts = 1,
                /* §3.1 "Maximum Response Time 300ms"; 5 s, a safe multiple, for the same reasons
                 * as rg50x's. */
                .qfotadl_response_usec = 5 * USEC_PER_SEC,
                /* §3.1: "If there is any error, response: ERROR Or +CME ERROR: <err>", <err>
                 * from ch. 5 Table 2. */
                .qfotadl_cme_is_module_error = true,
                /* The module downloads over its default PDN (§2.3 AT+CGPADDR=1). */
                .needs_pdp_context = false,

                .preflight_checks = preflight_bc26,
                .n_preflight_checks = ELEMENTSOF(preflight_bc26),

                .errors = {
                        /* No FTP: no <ftp_err> table. */
                        [MODULE_ERROR_FTP] = NULL,
                        [MODULE_ERROR_HTTP] = bc26_errors_http,
                        [MODULE_ERROR_UPDATE] = bc26_errors_update,
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
                .guide = "none (the most conservative values of all Quectel DFOTA guides)",
                /* Recognised by ATI only. */
                .usb_ids = NULL,

                /* FTP and HTTP are documented by the EC25&EC21, EP06&EG06&EM06, RG50xQ and UMTS/HSPA
                 * guides; HTTPS is missing from EC25&EC21 and UMTS/HSPA. (BC26 is HTTP(S) only, but a
                 * BC26 is recognised by its own family, not served by this one.) */
                .source_allowed = {
                        [PACKAGE_SOURCE_FTP] = true,
                        [PACKAGE_SOURCE_HTTP] = true,
                        [PACKAGE_SOURCE_HTTPS] = false,
                        [PACKAGE_SOURCE_LOCAL_FILE] = true,
                },
                .sources_citation = "not documented by every Quectel DFOTA guide",
                /* 255 bytes: EC25&EC21 §3.1/3.2, EP06&EG06&EM06 ch. 3, UMTS/HSPA ch. 3, BC26 ch. 3;
                 * the RG50xQ note allows 512. */
                .url_max = 255,
                .local_prefixes = generic_local_prefixes,
                /* 90 bytes: the EP06&EG06&EM06 guide §3.3 ("The maximum length is 90 bytes"), the
                 * smallest limit of all guides (EC25&EC21 and UMTS/HSPA: 128, RG50xQ: 512). */
                .local_max = 90,

                .urc_words = generic_urc_words,

                .boot_lines = boot_lines_rdy,

                /* Every USB family reboots after the download (EC25&EC21 §3; EP06&EG06&EM06 ch. 3;
                 * RG50xQ §3.3.1; UMTS/HSPA §3.1): assuming it is the safe side, since a port that
                 * does not disappear only makes the wait end early. Only the BC26, a UART module
                 * with its own family, goes on without. */
                .reboots_after_download = true,
                .port_survives_reboot = false,
                /* EC25&EC21 §3, EP06&EG06&EM06 §4.1, RG50xQ ch. 4: five. A module that does not
                 * retry (BC26: one) only makes dfotad wait for the reboot, after which the revision
                 * decides. */
                .max_attempts = 5,
                /* The longest response time any guide gives for AT+QFOTADL: 90 s (UMTS/HSPA ch. 3
                 * table; RG50xQ §3.3 and BC26 §3.1: 300 ms; EC25&EC21, EP06&EG06&EM06: none). The
                 * engine takes a timeout as "sent", so a long wait only matters when the module
                 * does not answer at all, while a short one could lose its ERROR. */
                .qfotadl_response_usec = 90 * USEC_PER_SEC,
                /* Only the BC26 guide gives +CME ERROR a DFOTA meaning. */
                .qfotadl_cme_is_module_error = false,
                .needs_pdp_context = false,

                .preflight_checks = preflight_creg,
                .n_preflight_checks = ELEMENTSOF(preflight_creg),

                .errors = {
                        [MODULE_ERROR_FTP] = generic_errors_ftp,
                        [MODULE_ERROR_HTTP] = generic_errors_http,
                        [MODULE_ERROR_UPDATE] = generic_errors_update,
                },
        },
};

const ModemProfile *modem_profile_get(ModemFamily family) {
        if (family < 0 || (size_t) family >= ELEMENTSOF(profile_table))
                return NULL;

        return &profile_table[family];
}

const UsbId *modem_usb_id_find(uint16_t vendor, uint16_t product, const ModemProfile **ret_profile) {
        for (size_t i = 0; i < ELEMENTSOF(profile_table); i++) {
                const ModemProfile *p = &profile_table[i];

                if (!p->usb_ids)
                        continue;

                /* Vendor 0 ends a table: no USB device has it. */
                for (const UsbId *u = p->usb_ids; u->vendor != 0; u++)
                        if (u->vendor == vendor && u->product == product) {
                                if (ret_profile)
                                        *ret_profile = p;
                                return u;
                        }
        }

        return NULL;
}

const ModemProfile *modem_profile_from_usb(uint16_t vendor, uint16_t product) {
        const ModemProfile *p;

        if (!modem_usb_id_find(vendor, product, &p))
                return NULL;

        return p;
}

/* ATI prints the model on a line of its own ("EC25", "EG25", "RM500Q-GL"); a family lists model
 * names that are prefixes of it. The character after the prefix must not be a digit: "EG91" must
 * not claim the EG915N/EG912Y, which are different platforms (ASR/Unisoc, LTE Standard(A) DFOTA
 * guide, see ../shared/reference/modem.md §4.1) with their own URCs and error tables; nor "EM06" the
 * EM060K, "UC20" the UC200T, "BC26" the BC260Y. Suffixes such as "EC25-E", "EC25EFA" or
 * "RM520N-GL" still match. */
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

        for (const ModuleErrorInfo *e = p->errors[kind]; e->meaning; e++) {
                /* code_last 0: a single code (0 itself is never the end of a range). */
                int last = e->code_last > 0 ? e->code_last : e->code;

                if (code >= e->code && code <= last)
                        return e->meaning;
        }

        return NULL;
}

/* The prefix of the UMTS/HSPA guide's local files (§3.3 AT+QFOTADL="UFS:delta.bin"). Upper case
 * only, as the module's file commands print it (AT+QFLST, modem.md §4.4), like the other local
 * prefixes ("/data/ufs/"), which are case-sensitive paths. */
#define UFS_PREFIX "UFS:"

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

        if (url[0] == '/' || startswith(url, UFS_PREFIX))
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
                return set_reason(reterr, "URL must start with ftp://, http://, https://, / or " UFS_PREFIX " (a local file)");

        if (!p->source_allowed[source])
                return set_reason(reterr, "%s is not supported by %s (%s)",
                                  package_source_display_table[source], p->name, p->sources_citation);

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

                        /* The module only looks where its guide says (EC25&EC21 §3.3: UFS or SD
                         * card; RG50xQ §3.3.3: /cache/ufs/; UMTS/HSPA §3.3: UFS:). */
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
