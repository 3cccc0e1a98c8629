/* SPDX-License-Identifier: MIT */
#pragma once

/* A scripted fake module for the DFOTA engine (oFono gatchat's scripted-peer pattern): a scenario
 * is a table of steps, run in order against one engine on a fake AT port (EnginePortOps).
 *
 *  - EXPECT: the engine's next command must be this one (exact, or EXPECT_PREFIX), and the reply
 *    (information lines and a final result) is delivered to its AtCommandCallback from an sd-event
 *    defer source, never from inside send(): the real AT channel never calls back from there
 *    (at-channel.h). NO_REPLY leaves the command in flight.
 *    The identification (EnginePortOps.identify) is the modem's sequence, ATE0, ATI, AT+GSN, sent
 *    over the same fake port: the script expects its three commands like any other.
 *  - RESET: the engine's next action must be a module reset (EnginePortOps.reset); the script
 *    says whether it was delivered, again from a defer source.
 *  - URC, PORT_LOST, PORT_OPENED: events from the module, as the owner hands them on.
 *  - WAIT: runs the loop until the engine acts on its own (a command, a reset, a report): the
 *    phase timer named must have fired. It fails if the engine acted before half that timer's
 *    period, or not within it and a margin.
 *  - RESTART: the daemon dies and starts again: the engine is freed without a flush, the record
 *    is loaded from disk (job_record_load()) and a new engine resumes it (the resume path).
 *  - CHECK and the other assertions: the record's typed fields, both in memory and as saved.
 *
 * Invariants checked all along, whatever the script: AT+QFOTADL goes out at most once per job
 * (across restarts); every report comes after its record was saved (the disk says what the report
 * says); "finished" comes once, in a terminal state, and the owner frees the engine from a defer;
 * no command the script does not expect. Commands sent and their counts are kept across restarts. */

#include <stdbool.h>
#include <stddef.h>

#include "at-channel.h"
#include "engine.h"
#include "job.h"
#include "pdp.h"
#include "profile.h"
#include "record.h"
#include "timeouts.h"

#define MS USEC_PER_MSEC

typedef enum StepKind {
        STEP_EXPECT,
        STEP_RESET,
        STEP_URC,
        STEP_PORT_LOST,
        STEP_PORT_OPENED,
        STEP_WAIT,
        STEP_QUIET,
        STEP_RESTART,
        STEP_CANCEL,
        STEP_CHECK,
        STEP_STATES,
        STEP_COUNT,
        STEP_IN_FLIGHT,
        STEP_REPORTS,
        STEP_REASON,
        STEP_MODULE_ERROR,
        STEP_ATTEMPTS,
        STEP_REVISION_AFTER,
        STEP_RESETS,
        STEP_PROGRESS,
        STEP_PORT_PATH,
} StepKind;

/* The phase timers, as EngineEnv.timeouts names them. */
typedef enum ScriptTimer {
        TIMER_DOWNLOAD_START,
        TIMER_DOWNLOAD,
        TIMER_PORT_RETURN,
        TIMER_FIRST_URC,
        TIMER_URC_WATCHDOG,
        TIMER_VERIFY,
} ScriptTimer;

#define REPLY_LINES_MAX 8

typedef struct ScriptReply {
        AtResult result;
        int error_code;                         /* +CME ERROR: <n>; -1 if none */
        bool none;                              /* no reply: the command stays in flight */
        const char *lines[REPLY_LINES_MAX];     /* information lines, NULL-terminated */
} ScriptReply;

typedef struct ScriptCheck {
        JobState state;
        DfotaPhase phase;
        bool qfotadl_sent;
        unsigned attempt;
        int last_end;                           /* -1: none */
        int module_error;                       /* -1: none */
} ScriptCheck;

#define STATES_MAX 24

typedef struct Step {
        StepKind kind;
        int line;                               /* of the step in the test, for messages */
        const char *text;                       /* command, URC line, reason part, port path, revision */
        bool prefix;                            /* EXPECT/COUNT: text is a prefix */
        ScriptReply reply;
        int value;                              /* errno, expected return, count, delivered, ms, percent */
        ScriptTimer timer;
        ScriptCheck check;
        ModuleErrorKind error_kind;
        JobState states[STATES_MAX];
        size_t n_states;
} Step;

/* Replies. */
#define OK                  { .result = AT_RESULT_OK, .error_code = -1 }
#define OK_LINES(...)       { .result = AT_RESULT_OK, .error_code = -1, .lines = { __VA_ARGS__ } }
#define ERROR_REPLY         { .result = AT_RESULT_ERROR, .error_code = -1 }
#define CME_ERROR(n)        { .result = AT_RESULT_CME_ERROR, .error_code = (n) }
#define TIMEOUT_REPLY       { .result = AT_RESULT_TIMEOUT, .error_code = -1 }
#define NO_REPLY            { .none = true }

/* Steps. */
#define EXPECT(cmd, r_)          { .kind = STEP_EXPECT, .line = __LINE__, .text = (cmd), .reply = r_ }
#define EXPECT_PREFIX(cmd, r_)   { .kind = STEP_EXPECT, .line = __LINE__, .text = (cmd), .prefix = true, .reply = r_ }
#define RESET(delivered)         { .kind = STEP_RESET, .line = __LINE__, .value = (delivered) }
#define URC(l)                   { .kind = STEP_URC, .line = __LINE__, .text = (l) }
#define PORT_LOST(err)           { .kind = STEP_PORT_LOST, .line = __LINE__, .value = (err) }
#define PORT_OPENED              { .kind = STEP_PORT_OPENED, .line = __LINE__ }
#define PORT_OPENED_AS(path)     { .kind = STEP_PORT_OPENED, .line = __LINE__, .text = (path) }
#define WAIT(t)                  { .kind = STEP_WAIT, .line = __LINE__, .timer = (t) }
#define QUIET(ms)                { .kind = STEP_QUIET, .line = __LINE__, .value = (ms) }
#define RESTART                  { .kind = STEP_RESTART, .line = __LINE__ }
#define CANCEL(ret)              { .kind = STEP_CANCEL, .line = __LINE__, .value = (ret) }
#define CHECK(st, ph, sent, att, end, err) \
        { .kind = STEP_CHECK, .line = __LINE__, .check = { (st), (ph), (sent), (att), (end), (err) } }
#define STATES(...)              { .kind = STEP_STATES, .line = __LINE__, .states = { __VA_ARGS__ }, \
                                   .n_states = sizeof((JobState[]) { __VA_ARGS__ }) / sizeof(JobState) }
#define COUNT(cmd, n)            { .kind = STEP_COUNT, .line = __LINE__, .text = (cmd), .value = (n) }
#define COUNT_PREFIX(cmd, n)     { .kind = STEP_COUNT, .line = __LINE__, .text = (cmd), .prefix = true, .value = (n) }
#define IN_FLIGHT(n)             { .kind = STEP_IN_FLIGHT, .line = __LINE__, .value = (n) }
#define REPORTS(n)               { .kind = STEP_REPORTS, .line = __LINE__, .value = (n) }
#define REASON(part)             { .kind = STEP_REASON, .line = __LINE__, .text = (part) }
#define MODULE_ERROR(k, code, meaning) \
        { .kind = STEP_MODULE_ERROR, .line = __LINE__, .error_kind = (k), .value = (code), .text = (meaning) }
#define ATTEMPTS(n)              { .kind = STEP_ATTEMPTS, .line = __LINE__, .value = (n) }
#define REVISION_AFTER(rev)      { .kind = STEP_REVISION_AFTER, .line = __LINE__, .text = (rev) }
#define RESETS(n)                { .kind = STEP_RESETS, .line = __LINE__, .value = (n) }
#define PROGRESS(n)              { .kind = STEP_PROGRESS, .line = __LINE__, .value = (n) }
#define PORT_PATH(path)          { .kind = STEP_PORT_PATH, .line = __LINE__, .text = (path) }

/* A short phase timer for the one under test; every other one stays at SCRIPT_LONG_USEC, which
 * no passing scenario reaches (a stuck engine fails at its EXPECT first). */
#define SCRIPT_LONG_USEC (5 * USEC_PER_SEC)

typedef struct ScriptConfig {
        ModemFamily family;
        const char *url;                        /* package.url; default http://fw.example.net/ec25.zip */
        const char *source_version;             /* NULL: none in the job */
        const char *target_version;             /* required */
        const char *model;                      /* job selector modem.model, or NULL */
        const PdpConfig *pdp;                   /* EngineEnv.pdp */
        Timeouts timeouts;                      /* a 0 field: SCRIPT_LONG_USEC */
        const Step *steps;
        size_t n_steps;
} ScriptConfig;

typedef struct Script Script;

/* For cmocka's setup and teardown: an event loop and a temporary jobs directory under $TMPDIR. */
int script_setup(void **state);
int script_teardown(void **state);

/* Runs the scenario to its end, failing the test at the first step that does not hold. */
void script_run(Script *s, const ScriptConfig *c);
