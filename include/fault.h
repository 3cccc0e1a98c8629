/* SPDX-License-Identifier: MIT */
#pragma once

/* Kill points for the fault tests (tests/integration/test_faults.py, tests/fault-matrix): a test
 * that must stop the daemon in a window no signal can hit reliably (between "AT+QFOTADL recorded
 * as sent" and the write, say) names the point in the environment and the daemon SIGKILLs itself
 * there, exactly as a power cut or the OOM killer would:
 *
 *     DFOTAD_TEST_KILL_AT=<point>[@<n>]      n-th time the point is passed (default 1)
 *
 * and DFOTAD_TEST_STOP_AT=<point>[@<n>] stops it there (SIGSTOP) for a test that must change the
 * world at that instant (fill the disk, say) before it lets the daemon go on with SIGCONT.
 *
 * Points: "qfotadl-recorded" (the record says sent, nothing written yet), "qfotadl-reply" (the
 * module answered it), "saved:<STATE>" (a transition to STATE is on disk, nothing else done yet),
 * "at-written:<command>" (a command line, up to its '=', is out on the AT port). Unset, a point
 * costs one branch. */

#include "macro.h"

void fault_point(const char *point);

/* A point named by printf-style arguments, formatted only when a kill point is set at all. */
void fault_pointf(const char *format, ...) _printf_(1, 2);
