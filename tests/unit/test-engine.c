/* SPDX-License-Identifier: MIT */
/* The DFOTA engine (issue 10 item 11): its tables, and scenarios that drive one engine through a
 * scripted fake module (engine-script.h, oFono gatchat's scripted-peer pattern): every command the
 * engine sends is checked against the script, every reply and URC is the script's, the phase
 * timers run in milliseconds, and a restart is a new engine on the record the old one saved.
 *
 * The module's side of each scenario follows the guides in ../shared/seeds/: the URCs and their
 * order are the EC25&EC21 DFOTA User Guide §3 (§3.2 HTTP: OK, +QIND: "FOTA","HTTPSTART",
 * "HTTPEND",<http_err>, the reboot into recovery mode, "START", "UPDATING",<percent>, "END",<err>,
 * the reboot into normal mode; "retry to upgrade for consecutively five times"); the four-minute
 * watchdog is the EP06&EG06&EM06 guide's abnormalities chapter; the first URC within 90 s after a
 * reboot is the RG50xQ FOTA note §3.3 and the brief's "DFOTA rules"; the PDP set-up is the
 * UMTS/HSPA DFOTA User Guide ch. 3; AT+QFOTADL's "+CME ERROR: <err>" is the BC26 guide §3.1. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "engine-script.h"
#include "engine.h"
#include "profile.h"

/* ---- tables ------------------------------------------------------------------------------------ */

static void test_every_check_judged(void **state) {
        for (PreflightCheck c = 0; c < _PREFLIGHT_CHECK_MAX; c++) {
                assert_non_null(preflight_check_to_string(c));
                assert_true(engine_preflight_check_known(c));
        }
        assert_false(engine_preflight_check_known(_PREFLIGHT_CHECK_MAX));
        assert_false(engine_preflight_check_known(_PREFLIGHT_CHECK_INVALID));
}

static void test_every_profile_resolves(void **state) {
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *p = modem_profile_get(f);

                assert_non_null(p->preflight_checks);
                for (size_t i = 0; i < p->n_preflight_checks; i++)
                        assert_true(engine_preflight_check_known(p->preflight_checks[i]));
        }
}

/* ---- scenarios --------------------------------------------------------------------------------- */

#define IMEI     "861234567890123"
#define EC25_OLD "EC25EFAR06A01M4G"
#define EC25_NEW "EC25EFAR06A02M4G"
#define EC25_URL "http://fw.example.net/ec25.zip"
#define QFOTADL_EC25 "AT+QFOTADL=\"" EC25_URL "\""

/* EC25&EC21 DFOTA User Guide ch. 4/5, the meanings of <err> 504 and 505. */
#define EC2X_504 "Firmware upgrade failed, module will reboot and retry to upgrade for consecutively five times."
#define EC2X_505 "Upgrade package file check failed, module will reboot and retry to upgrade for consecutively five times."

/* The DFOTA URCs, as the EC25&EC21 guide §3.2 prints them. */
#define FOTA(word)       "+QIND: \"FOTA\",\"" word "\""
#define FOTA_N(word, n)  "+QIND: \"FOTA\",\"" word "\"," #n
#define HTTPSTART        FOTA("HTTPSTART")
#define HTTPEND(n)       FOTA_N("HTTPEND", n)
#define START            FOTA("START")
#define UPDATING(n)      FOTA_N("UPDATING", n)
#define END(n)           FOTA_N("END", n)

#define ATI_EC25(rev)    OK_LINES("Quectel", "EC25", "Revision: " rev)

/* Preflight on an EC2x: ATE0, ATI, AT+GSN, then its profile's checks (profile.c preflight_creg):
 * AT+CPIN?, AT+CREG?, AT+CSQ. */
#define EC25_PREFLIGHT(rev)                                                     \
        EXPECT("ATE0", OK),                                                     \
        EXPECT("ATI", ATI_EC25(rev)),                                           \
        EXPECT("AT+GSN", OK_LINES(IMEI)),                                       \
        EXPECT("AT+CPIN?", OK_LINES("+CPIN: READY")),                           \
        EXPECT("AT+CREG?", OK_LINES("+CREG: 0,1")),                             \
        EXPECT("AT+CSQ", OK_LINES("+CSQ: 23,99"))

/* The module reboots (EC25&EC21 guide §3: after the download into recovery mode, after END into
 * normal mode): its USB AT port goes (a hang-up) and comes back. */
#define REBOOT PORT_LOST(EPIPE), PORT_OPENED

/* EC25&EC21 guide §3.2 up to the recovery mode: AT+QFOTADL, HTTPSTART, HTTPEND,0, the reboot. */
#define EC25_DOWNLOAD                                                           \
        EC25_PREFLIGHT(EC25_OLD),                                               \
        EXPECT(QFOTADL_EC25, OK),                                               \
        URC(HTTPSTART),                                                         \
        URC(HTTPEND(0)),                                                        \
        REBOOT
#define EC25_DOWNLOAD_STATES \
        JOB_PREFLIGHT, JOB_DOWNLOADING, JOB_DOWNLOADED, JOB_WAITING_FOR_MODEM, JOB_DOWNLOADED

#define EC25_JOB .family = MODEM_FAMILY_EC2X, .source_version = EC25_OLD, .target_version = EC25_NEW

#define RUN(state, steps, ...) \
        script_run(*(state), &(const ScriptConfig) { __VA_ARGS__, .steps = (steps), .n_steps = ELEMENTSOF(steps) })

/* The whole of EC25&EC21 guide §3.2 (the simulator's ec25-http-success): both reboots, the port
 * back under another name, progress every ten percent, the revision read back. */
static void test_success_http(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                URC(HTTPSTART),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, true, 0, -1, -1),
                URC(HTTPEND(0)),
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                PORT_LOST(EPIPE),
                /* The phase stays through the reboot: it is what the port's return resumes. */
                CHECK(JOB_WAITING_FOR_MODEM, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                /* ttyUSB2 -> ttyUSB6 across a re-enumeration (engine.h EnginePortInfo.path). */
                PORT_OPENED_AS("/dev/ttyFAKE1"),
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                PORT_PATH("/dev/ttyFAKE1"),
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                /* PREFLIGHT, DOWNLOADING, DOWNLOADED, WAITING, DOWNLOADED, UPDATING; HTTPSTART
                 * changed the phase only, which is saved but is no news. */
                REPORTS(6),
                URC(UPDATING(1)), URC(UPDATING(5)), URC(UPDATING(10)), URC(UPDATING(15)), URC(UPDATING(19)),
                PROGRESS(19),
                /* Saved and reported at 10 %, not at every percent. */
                REPORTS(1),
                URC(UPDATING(20)), URC(UPDATING(30)), URC(UPDATING(40)), URC(UPDATING(50)), URC(UPDATING(60)),
                URC(UPDATING(70)), URC(UPDATING(80)), URC(UPDATING(90)), URC(UPDATING(100)),
                REPORTS(9),
                URC(END(0)),
                CHECK(JOB_VERIFYING, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                PORT_LOST(EPIPE),
                CHECK(JOB_WAITING_FOR_MODEM, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                PORT_OPENED_AS("/dev/ttyFAKE2"),
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
                REVISION_AFTER(EC25_NEW),
                ATTEMPTS(1),
                PORT_PATH("/dev/ttyFAKE2"),
                COUNT("ATE0", 1), COUNT("ATI", 2), COUNT("AT+GSN", 1), COUNT("AT+CPIN?", 1), COUNT("AT+CREG?", 1),
                COUNT("AT+CSQ", 1), COUNT_PREFIX("AT+QFOTADL", 1),
                QUIET(10),
        };

        RUN(state, steps, EC25_JOB);
}

/* A local package (EC25&EC21 guide §3.3) needs no download: the module reboots into recovery at
 * once after OK. */
static void test_success_local(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT("AT+QFOTADL=\"/data/ufs/ec25.zip\"", OK),
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                REBOOT,
                URC(START),
                URC(UPDATING(100)),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADED, JOB_WAITING_FOR_MODEM, JOB_DOWNLOADED, JOB_UPDATING,
                       JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING, JOB_SUCCEEDED),
                COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB, .url = "/data/ufs/ec25.zip");
}

/* ---- preflight (brief "DFOTA rules": ATE0, ATI, the SIM, registration and signal; a mismatched
 * model or source_version is REJECTED and AT+QFOTADL never sent) ---- */

/* The module already runs the target. Nothing is sent. */
static void test_already_at_target(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_NEW),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                STATES(JOB_PREFLIGHT, JOB_SUCCEEDED),
                REVISION_AFTER(EC25_NEW),
                COUNT_PREFIX("AT+QFOTADL", 0),
                QUIET(10),
        };

        RUN(state, steps, .family = MODEM_FAMILY_EC2X, .target_version = EC25_NEW);
}

/* brief "DFOTA rules": a mismatched model is REJECTED, and AT+QFOTADL never sent. */
static void test_rejected_model(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                CHECK(JOB_REJECTED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                REASON("modem.model: the module is EC25, not EP06"),
                STATES(JOB_PREFLIGHT, JOB_REJECTED),
                COUNT_PREFIX("AT+QFOTADL", 0),
                QUIET(10),
        };

        RUN(state, steps, EC25_JOB, .model = "EP06");
}

/* The same for source_version. */
static void test_rejected_source_version(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                CHECK(JOB_REJECTED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                REASON("source_version: the module runs " EC25_OLD ", the job requires EC25EFAR05A01M4G"),
                REVISION_AFTER(EC25_OLD),
                STATES(JOB_PREFLIGHT, JOB_REJECTED),
                COUNT_PREFIX("AT+QFOTADL", 0),
                QUIET(10),
        };

        RUN(state, steps, .family = MODEM_FAMILY_EC2X, .source_version = "EC25EFAR05A01M4G", .target_version = EC25_NEW);
}

/* EC25&EC21 guide §3.1-3.3: AT+QFOTADL answers "OK" or "ERROR". Refused: FAILED, and the record
 * still says it was sent (it was written: persisted before it went out). */
static void test_qfotadl_error(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, ERROR_REPLY),
                CHECK(JOB_FAILED, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                REASON("the module refused AT+QFOTADL: ERROR"),
                REVISION_AFTER(EC25_OLD),
                STATES(JOB_PREFLIGHT, JOB_FAILED),
                COUNT_PREFIX("AT+QFOTADL", 1),
                QUIET(10),
        };

        RUN(state, steps, EC25_JOB);
}

/* BC26 DFOTA User Guide §3.1: "ERROR Or +CME ERROR: <err>", <err> from its ch. 5 Table 2; §2.3
 * "Check Network Status": AT+CESQ, AT+CEREG?, AT+CGPADDR=1. */
static void test_qfotadl_cme_error_bc26(void **state) {
        static const Step steps[] = {
                EXPECT("ATE0", OK),
                EXPECT("ATI", OK_LINES("Quectel_Ltd", "Quectel_BC26", "Revision: BC26NBR01A10")),
                EXPECT("AT+GSN", OK_LINES(IMEI)),
                EXPECT("AT+CPIN?", OK_LINES("+CPIN: READY")),
                EXPECT("AT+CESQ", OK_LINES("+CESQ: 99,99,255,255,12,38")),
                EXPECT("AT+CEREG?", OK_LINES("+CEREG: 0,1")),
                EXPECT("AT+CGPADDR=1", OK_LINES("+CGPADDR: 1,10.7.48.2")),
                EXPECT("AT+QFOTADL=\"http://fw.example.net/bc26.bin\"", CME_ERROR(2)),
                CHECK(JOB_FAILED, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, 2),
                MODULE_ERROR(MODULE_ERROR_UPDATE, 2, "FOTA is busy"),
                REASON("the module refused AT+QFOTADL: +CME ERROR: 2 (FOTA is busy)"),
                STATES(JOB_PREFLIGHT, JOB_FAILED),
                COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, .family = MODEM_FAMILY_BC26, .target_version = "BC26NBR01A11",
            .url = "http://fw.example.net/bc26.bin");
}

/* An identification that fails (modem_identify(): ATI must answer OK with a revision) fails the
 * job in preflight, before anything that matters was sent. */
static void test_preflight_ati_error(void **state) {
        static const Step steps[] = {
                EXPECT("ATE0", ERROR_REPLY),
                EXPECT("ATI", ERROR_REPLY),
                CHECK(JOB_FAILED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                REASON("preflight: ATI failed (error)"),
                STATES(JOB_PREFLIGHT, JOB_FAILED),
                COUNT("AT+GSN", 0), COUNT_PREFIX("AT+QFOTADL", 0),
                QUIET(10),
        };

        RUN(state, steps, EC25_JOB);
}

/* brief "DFOTA rules", preflight: the SIM must be ready (AT+CPIN?, TS 27.007 §8.3). */
static void test_preflight_sim_not_ready(void **state) {
        static const Step steps[] = {
                EXPECT("ATE0", OK),
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                EXPECT("AT+GSN", OK_LINES(IMEI)),
                EXPECT("AT+CPIN?", CME_ERROR(10)),
                CHECK(JOB_FAILED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                REASON("preflight: the SIM is not ready (cme-error)"),
                REVISION_AFTER(EC25_OLD),
                STATES(JOB_PREFLIGHT, JOB_FAILED),
                COUNT("AT+CREG?", 0), COUNT_PREFIX("AT+QFOTADL", 0),
                QUIET(10),
        };

        RUN(state, steps, EC25_JOB);
}

/* The port goes during preflight: nothing that matters was sent, preflight starts over. */
static void test_port_lost_in_preflight(void **state) {
        static const Step steps[] = {
                EXPECT("ATE0", OK),
                EXPECT("ATI", NO_REPLY),
                PORT_LOST(ENODEV),
                IN_FLIGHT(0),
                CHECK(JOB_WAITING_FOR_MODEM, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                PORT_OPENED,
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                STATES(JOB_PREFLIGHT, JOB_WAITING_FOR_MODEM, JOB_PREFLIGHT, JOB_DOWNLOADING),
                COUNT("ATE0", 2), COUNT("ATI", 2), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* ---- the phase timers ---- */

/* brief "DFOTA rules", EC25&EC21 guide §3: FTPSTART/HTTPSTART within 90 s of OK; without it the
 * revision decides. */
static void test_download_start_timeout(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                WAIT(TIMER_DOWNLOAD_START),
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                CHECK(JOB_FAILED, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                REASON("no FTPSTART/HTTPSTART within 0.02 s of AT+QFOTADL; the module runs revision " EC25_OLD),
                REVISION_AFTER(EC25_OLD),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING, JOB_FAILED),
                COUNT("ATI", 2), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .download_start = 20 * MS });
}

/* The download has its own, longer wait (brief "DFOTA rules": modules stay silent for minutes). */
static void test_download_timeout(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                URC(HTTPSTART),
                WAIT(TIMER_DOWNLOAD),
                CHECK(JOB_FAILED, DFOTA_PHASE_DOWNLOADING, true, 0, -1, -1),
                REASON("the download started but no FTPEND/HTTPEND came within 0.025 s"),
                REVISION_AFTER(EC25_OLD),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING, JOB_FAILED),
        };

        /* download_start shorter than download: HTTPSTART must have replaced its wait. */
        RUN(state, steps, EC25_JOB, .timeouts = { .download_start = 10 * MS, .download = 25 * MS });
}

/* RG50xQ FOTA note §3.3: "the first URC ... within 90 seconds, otherwise unknown error"; what the
 * module runs then decides. */
static void test_first_urc_timeout(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                WAIT(TIMER_FIRST_URC),
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                CHECK(JOB_FAILED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                REASON("no DFOTA URC within 0.02 s after the module came back from the download reboot (unknown error); "
                       "the module runs revision " EC25_OLD),
                REVISION_AFTER(EC25_OLD),
                STATES(EC25_DOWNLOAD_STATES, JOB_FAILED),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .first_urc_after_reboot = 20 * MS });
}

/* The same silence, but the module came back with the target: success, by way of VERIFYING. */
static void test_first_urc_timeout_target(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                WAIT(TIMER_FIRST_URC),
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 0, -1, -1),
                REVISION_AFTER(EC25_NEW),
                STATES(EC25_DOWNLOAD_STATES, JOB_VERIFYING, JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .first_urc_after_reboot = 20 * MS });
}

/* RDY, boot noise and unknown DFOTA words are not the first DFOTA URC (issue 9 item 5; brief
 * "DFOTA rules": unknown status words logged, not fatal): nothing changes until START. */
static void test_boot_noise_before_start(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                REPORTS(5),
                URC("RDY"),
                URC("+QIND: SMS DONE"),
                URC("+CPIN: READY"),
                URC(FOTA("SOMETHING NEW")),
                URC("+QIND: \"FOTA\",\"UPDATING\",x"),
                QUIET(10),
                REPORTS(0),
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING),
        };

        RUN(state, steps, EC25_JOB);
}

static void test_port_return_timeout(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                URC(HTTPSTART),
                URC(HTTPEND(0)),
                PORT_LOST(EPIPE),
                WAIT(TIMER_PORT_RETURN),
                CHECK(JOB_FAILED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                REASON("the AT port /dev/ttyFAKE0 did not come back within 0.02 s"),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING, JOB_DOWNLOADED, JOB_WAITING_FOR_MODEM, JOB_FAILED),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .port_return = 20 * MS });
}

/* END,0 but no reboot seen (the port stayed, no RDY): when the verify wait runs out, the next
 * revision read is final. */
static void test_verify_timeout_no_reboot(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(END(0)),
                WAIT(TIMER_VERIFY),
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                CHECK(JOB_FAILED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                REASON("the module reported END,0 but runs revision " EC25_OLD ", not " EC25_NEW),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_FAILED),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .verify = 20 * MS });
}

/* UMTS/HSPA DFOTA User Guide ch. 3: RDY after END. A boot on a port that stayed is the reboot. */
static void test_verify_rdy(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(END(0)),
                URC("RDY"),
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB);
}

/* ---- the watchdog (EP06&EG06&EM06 guide, abnormalities chapter: no URC for four minutes in the
 * update phase -> the module may be reset) ---- */

/* URCs keep it quiet; silence resets the module; it resumes the same attempt (RG50xQ FOTA note:
 * a power failure is not an attempt) and succeeds (the simulator's ec25-watchdog-silence). */
static void test_watchdog_reset_then_resume(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(UPDATING(10)),
                QUIET(30),
                URC(UPDATING(20)),
                QUIET(30),
                URC(UPDATING(30)),
                /* 60 ms since UPDATING,10 without a reset: each URC re-armed the 50 ms watchdog. */
                RESETS(0),
                WAIT(TIMER_URC_WATCHDOG),
                RESET(true),
                RESETS(1),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                REBOOT,
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                URC(UPDATING(100)),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                RESETS(1),
                ATTEMPTS(1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_WAITING_FOR_MODEM, JOB_UPDATING, JOB_VERIFYING,
                       JOB_WAITING_FOR_MODEM, JOB_VERIFYING, JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .urc_watchdog = 50 * MS });
}

/* Five delivered resets and still silence: given up on, the revision goes into the reason. */
static void test_watchdog_gives_up(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(UPDATING(30)),
                WAIT(TIMER_URC_WATCHDOG), RESET(true), RESETS(1),
                WAIT(TIMER_URC_WATCHDOG), RESET(true), RESETS(2),
                WAIT(TIMER_URC_WATCHDOG), RESET(true), RESETS(3),
                WAIT(TIMER_URC_WATCHDOG), RESET(true), RESETS(4),
                WAIT(TIMER_URC_WATCHDOG), RESET(true), RESETS(5),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                WAIT(TIMER_URC_WATCHDOG),
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                CHECK(JOB_FAILED, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                REASON("the module sent no URC for 0.02 s in the update phase, 5 watchdog resets did not help; "
                       "it runs revision " EC25_OLD),
                RESETS(5),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_FAILED),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .urc_watchdog = 20 * MS });
}

/* A reset that could not be delivered is not counted; five in a row end the job. */
static void test_watchdog_undelivered(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                WAIT(TIMER_URC_WATCHDOG), RESET(false), RESETS(0),
                WAIT(TIMER_URC_WATCHDOG), RESET(true), RESETS(1),
                WAIT(TIMER_URC_WATCHDOG), RESET(false), RESETS(1),
                WAIT(TIMER_URC_WATCHDOG), RESET(false),
                WAIT(TIMER_URC_WATCHDOG), RESET(false),
                WAIT(TIMER_URC_WATCHDOG), RESET(false),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                WAIT(TIMER_URC_WATCHDOG), RESET(false),
                CHECK(JOB_FAILED, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                REASON("in the update phase and could not be reset: the fake port refused the reset"),
                RESETS(1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_FAILED),
                COUNT("ATI", 1),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .urc_watchdog = 20 * MS });
}

/* ---- attempts (EC25&EC21 guide §3: "retry to upgrade for consecutively five times") ---- */

#define FAILED_ATTEMPT(k)                                                                       \
        URC(START),                                                                             \
        CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, (k), -1, (k) == 1 ? -1 : 505),          \
        URC(UPDATING(40)),                                                                      \
        URC(END(505)),                                                                          \
        CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATE_ENDED, true, (k), 505, 505)

static void test_five_failed_attempts(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                FAILED_ATTEMPT(1), REBOOT,
                FAILED_ATTEMPT(2), REBOOT,
                FAILED_ATTEMPT(3), REBOOT,
                FAILED_ATTEMPT(4), REBOOT,
                URC(START),
                URC(END(505)),
                /* No attempts left: the module restores the original firmware and boots normally. */
                CHECK(JOB_VERIFYING, DFOTA_PHASE_VERIFYING, true, 5, 505, 505),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                CHECK(JOB_FAILED, DFOTA_PHASE_VERIFYING, true, 5, 505, 505),
                MODULE_ERROR(MODULE_ERROR_UPDATE, 505, EC2X_505),
                REASON("update failed after 5 attempts, last END,505 (" EC2X_505 "); the module restored revision " EC25_OLD),
                ATTEMPTS(5),
                REVISION_AFTER(EC25_OLD),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING,
                       JOB_WAITING_FOR_MODEM, JOB_UPDATING, JOB_WAITING_FOR_MODEM, JOB_UPDATING,
                       JOB_WAITING_FOR_MODEM, JOB_UPDATING, JOB_WAITING_FOR_MODEM, JOB_UPDATING,
                       JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING, JOB_FAILED),
                COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

static void test_end_error_then_success(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(END(504)),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATE_ENDED, true, 1, 504, 504),
                MODULE_ERROR(MODULE_ERROR_UPDATE, 504, EC2X_504),
                REBOOT,
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATE_ENDED, true, 1, 504, 504),
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 2, -1, 504),
                URC(UPDATING(50)),
                URC(END(0)),
                CHECK(JOB_VERIFYING, DFOTA_PHASE_VERIFYING, true, 2, 0, 504),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                /* Succeeded: no current error; each attempt's is in "attempts" (engine.c). */
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 2, 0, -1),
                ATTEMPTS(2),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_WAITING_FOR_MODEM, JOB_UPDATING, JOB_VERIFYING,
                       JOB_WAITING_FOR_MODEM, JOB_VERIFYING, JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB);
}

/* ---- cancel (engine.h: only before AT+QFOTADL) ---- */

static void test_cancel_before_qfotadl(void **state) {
        static const Step steps[] = {
                EXPECT("ATE0", OK),
                EXPECT("ATI", NO_REPLY),
                IN_FLIGHT(1),
                CANCEL(0),
                /* The command in flight is forgotten, and nothing more goes out. */
                IN_FLIGHT(0),
                QUIET(30),
                CHECK(JOB_CANCELED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                REASON("canceled by the test"),
                STATES(JOB_PREFLIGHT, JOB_CANCELED),
                COUNT("ATE0", 1), COUNT("ATI", 1), COUNT_PREFIX("AT+QFOTADL", 0),
        };

        RUN(state, steps, EC25_JOB);
}

/* Once AT+QFOTADL is out the module upgrades by itself: cancel is refused and the job goes on. */
static void test_cancel_after_qfotadl(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                CANCEL(-EBUSY),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                URC(HTTPSTART),
                URC(HTTPEND(0)),
                REBOOT,
                URC(START),
                CANCEL(-EBUSY),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB);
}

/* Also while AT+QFOTADL waits for its answer: it is recorded as sent, and it is not forgotten. The
 * module may put its first URC before the OK (engine.c on_qfotadl_reply()). */
static void test_cancel_qfotadl_in_flight(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, NO_REPLY),
                CANCEL(-EBUSY),
                IN_FLIGHT(1),
                CHECK(JOB_PREFLIGHT, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                URC(HTTPSTART),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, true, 0, -1, -1),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING),
        };

        RUN(state, steps, EC25_JOB);
}

/* ---- resume from the saved record (engine.h engine_start(); record.h: typed fields only) ---- */

/* Recorded as sent, no URC yet: the module got it or not; it is never sent again. */
static void test_resume_qfotadl_sent(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, NO_REPLY),
                RESTART,
                CHECK(JOB_PREFLIGHT, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                PORT_OPENED,
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                QUIET(10),
                URC(HTTPSTART),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, true, 0, -1, -1),
                URC(HTTPEND(0)),
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING, JOB_DOWNLOADED),
                COUNT("ATE0", 1), COUNT("ATI", 1), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* The same, and the module never shows a download: the reason says the command may never have
 * reached it. */
static void test_resume_qfotadl_sent_silent(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, NO_REPLY),
                RESTART,
                PORT_OPENED,
                WAIT(TIMER_DOWNLOAD_START),
                EXPECT("ATI", ATI_EC25(EC25_OLD)),
                CHECK(JOB_FAILED, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                REASON("(recorded as sent before a restart: the command may never have reached the module)"),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING, JOB_FAILED),
                COUNT("ATI", 2), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB, .timeouts = { .download_start = 20 * MS });
}

static void test_resume_downloading(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                URC(HTTPSTART),
                RESTART,
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, true, 0, -1, -1),
                PORT_OPENED,
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_DOWNLOADING, true, 0, -1, -1),
                URC(HTTPEND(0)),
                REBOOT,
                URC(START),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
                COUNT("ATE0", 1), COUNT("ATI", 2), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* Restarted while the module rebooted into recovery: the port's return is the reboot. */
static void test_resume_downloaded(void **state) {
        static const Step steps[] = {
                EC25_PREFLIGHT(EC25_OLD),
                EXPECT(QFOTADL_EC25, OK),
                URC(HTTPSTART),
                URC(HTTPEND(0)),
                PORT_LOST(EPIPE),
                RESTART,
                CHECK(JOB_WAITING_FOR_MODEM, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                PORT_OPENED,
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
                COUNT("ATE0", 1), COUNT("ATI", 2), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* Restarted in the middle of an attempt (last_end unknown): a START after it resumes the same
 * attempt, it is not a new one. */
static void test_resume_updating(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(UPDATING(40)),
                RESTART,
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                PROGRESS(40),
                PORT_OPENED,
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                ATTEMPTS(1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
                COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* Restarted after END,<err> (last_end known, in the record): the next START is a new attempt. */
static void test_resume_update_ended(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(END(505)),
                PORT_LOST(EPIPE),
                RESTART,
                CHECK(JOB_WAITING_FOR_MODEM, DFOTA_PHASE_UPDATE_ENDED, true, 1, 505, 505),
                MODULE_ERROR(MODULE_ERROR_UPDATE, 505, EC2X_505),
                PORT_OPENED,
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATE_ENDED, true, 1, 505, 505),
                URC(START),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 2, -1, 505),
                URC(END(0)),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 2, 0, -1),
                ATTEMPTS(2),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_WAITING_FOR_MODEM, JOB_UPDATING, JOB_VERIFYING,
                       JOB_WAITING_FOR_MODEM, JOB_VERIFYING, JOB_SUCCEEDED),
                COUNT("ATE0", 1), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* Restarted after END,0: the revision decides at once. */
static void test_resume_verifying(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(UPDATING(100)),
                URC(END(0)),
                RESTART,
                CHECK(JOB_VERIFYING, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                PORT_OPENED,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                ATTEMPTS(1),
                REVISION_AFTER(EC25_NEW),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_SUCCEEDED),
                COUNT("ATE0", 1), COUNT("ATI", 2), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, EC25_JOB);
}

/* ---- a babbling module (issue 9 item 12; the simulator's ec25-babbling): the same URC again is
 * neither saved nor reported again ---- */

static void test_babbling_module(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                REPORTS(5),
                URC(HTTPEND(0)), URC(HTTPEND(0)),
                REPORTS(0),
                URC(START), URC(START), URC(START), URC(START),
                REPORTS(1),
                URC(UPDATING(50)), URC(UPDATING(50)), URC(UPDATING(50)),
                REPORTS(1),
                CHECK(JOB_UPDATING, DFOTA_PHASE_UPDATING, true, 1, -1, -1),
                URC(END(0)),
                REPORTS(1),
                CHECK(JOB_VERIFYING, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                ATTEMPTS(1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB);
}

/* The same END repeated before the next START: the attempt is accounted for once ("attempts" has
 * one entry), nothing is saved or reported again, and the wait for the reboot goes on. This was
 * an engine bug (an attempt entry per END, in memory before on disk). */
static void test_babbling_end(void **state) {
        static const Step steps[] = {
                EC25_DOWNLOAD,
                URC(START),
                URC(END(0)), URC(END(0)), URC(END(0)),
                CHECK(JOB_VERIFYING, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                REBOOT,
                EXPECT("ATI", ATI_EC25(EC25_NEW)),
                CHECK(JOB_SUCCEEDED, DFOTA_PHASE_VERIFYING, true, 1, 0, -1),
                ATTEMPTS(1),
                STATES(EC25_DOWNLOAD_STATES, JOB_UPDATING, JOB_VERIFYING, JOB_WAITING_FOR_MODEM, JOB_VERIFYING,
                       JOB_SUCCEEDED),
        };

        RUN(state, steps, EC25_JOB);
}

/* ---- the PDP context (UMTS/HSPA DFOTA User Guide ch. 3: AT+QICSGP, AT+QCFG="fota/cid",<cid>
 * before AT+QFOTADL on a UC20/UC15) ---- */

#define UC20_OLD "UC20GQBR03A12E1G"
#define UC20_NEW "UC20GQBR03A13E1G"

#define UC20_PREFLIGHT                                                          \
        EXPECT("ATE0", OK),                                                     \
        EXPECT("ATI", OK_LINES("Quectel", "UC20", "Revision: " UC20_OLD)),      \
        EXPECT("AT+GSN", OK_LINES(IMEI)),                                       \
        EXPECT("AT+CPIN?", OK_LINES("+CPIN: READY")),                           \
        EXPECT("AT+CREG?", OK_LINES("+CREG: 0,1")),                             \
        EXPECT("AT+CSQ", OK_LINES("+CSQ: 18,99"))

static const PdpConfig uc20_pdp = {
        .cid = 2,
        .apn = "internet.example",
        .username = "user",
        .password = "secret",
        .auth = 1,
};

static void test_pdp_uc20(void **state) {
        static const Step steps[] = {
                UC20_PREFLIGHT,
                EXPECT("AT+QICSGP=2,1,\"internet.example\",\"user\",\"secret\",1", OK),
                EXPECT("AT+QCFG=\"fota/cid\",2", OK),
                EXPECT("AT+QFOTADL=\"http://fw.example.net/uc20.zip\"", OK),
                CHECK(JOB_DOWNLOADING, DFOTA_PHASE_QFOTADL_SENT, true, 0, -1, -1),
                URC(HTTPSTART),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADING),
                COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, .family = MODEM_FAMILY_UCXX, .target_version = UC20_NEW, .url = "http://fw.example.net/uc20.zip",
            .pdp = &uc20_pdp);
}

/* A local file needs no network: no PDP set-up. */
static void test_pdp_uc20_local_file(void **state) {
        static const Step steps[] = {
                UC20_PREFLIGHT,
                EXPECT("AT+QFOTADL=\"UFS:uc20.bin\"", OK),
                CHECK(JOB_DOWNLOADED, DFOTA_PHASE_DOWNLOADED, true, 0, -1, -1),
                STATES(JOB_PREFLIGHT, JOB_DOWNLOADED),
                COUNT_PREFIX("AT+QICSGP", 0), COUNT_PREFIX("AT+QCFG", 0), COUNT_PREFIX("AT+QFOTADL", 1),
        };

        RUN(state, steps, .family = MODEM_FAMILY_UCXX, .target_version = UC20_NEW, .url = "UFS:uc20.bin",
            .pdp = &uc20_pdp);
}

/* A set-up the module refuses fails the job before AT+QFOTADL. */
static void test_pdp_uc20_refused(void **state) {
        static const Step steps[] = {
                UC20_PREFLIGHT,
                EXPECT("AT+QICSGP=2,1,\"internet.example\",\"user\",\"secret\",1", ERROR_REPLY),
                CHECK(JOB_FAILED, DFOTA_PHASE_PREFLIGHT, false, 0, -1, -1),
                REASON("PDP context set-up failed"),
                STATES(JOB_PREFLIGHT, JOB_FAILED),
                COUNT_PREFIX("AT+QCFG", 0), COUNT_PREFIX("AT+QFOTADL", 0),
                QUIET(10),
        };

        RUN(state, steps, .family = MODEM_FAMILY_UCXX, .target_version = UC20_NEW, .url = "http://fw.example.net/uc20.zip",
            .pdp = &uc20_pdp);
}

#define SCENARIO(t) cmocka_unit_test_setup_teardown(t, script_setup, script_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_check_judged),
                cmocka_unit_test(test_every_profile_resolves),
                SCENARIO(test_success_http),
                SCENARIO(test_success_local),
                SCENARIO(test_already_at_target),
                SCENARIO(test_rejected_model),
                SCENARIO(test_rejected_source_version),
                SCENARIO(test_qfotadl_error),
                SCENARIO(test_qfotadl_cme_error_bc26),
                SCENARIO(test_preflight_ati_error),
                SCENARIO(test_preflight_sim_not_ready),
                SCENARIO(test_port_lost_in_preflight),
                SCENARIO(test_download_start_timeout),
                SCENARIO(test_download_timeout),
                SCENARIO(test_first_urc_timeout),
                SCENARIO(test_first_urc_timeout_target),
                SCENARIO(test_boot_noise_before_start),
                SCENARIO(test_port_return_timeout),
                SCENARIO(test_verify_timeout_no_reboot),
                SCENARIO(test_verify_rdy),
                SCENARIO(test_watchdog_reset_then_resume),
                SCENARIO(test_watchdog_gives_up),
                SCENARIO(test_watchdog_undelivered),
                SCENARIO(test_five_failed_attempts),
                SCENARIO(test_end_error_then_success),
                SCENARIO(test_cancel_before_qfotadl),
                SCENARIO(test_cancel_after_qfotadl),
                SCENARIO(test_cancel_qfotadl_in_flight),
                SCENARIO(test_resume_qfotadl_sent),
                SCENARIO(test_resume_qfotadl_sent_silent),
                SCENARIO(test_resume_downloading),
                SCENARIO(test_resume_downloaded),
                SCENARIO(test_resume_updating),
                SCENARIO(test_resume_update_ended),
                SCENARIO(test_resume_verifying),
                SCENARIO(test_babbling_module),
                SCENARIO(test_babbling_end),
                SCENARIO(test_pdp_uc20),
                SCENARIO(test_pdp_uc20_local_file),
                SCENARIO(test_pdp_uc20_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
