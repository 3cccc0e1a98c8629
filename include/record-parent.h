/* SPDX-License-Identifier: MIT */
#pragma once

/* A job on several modules (record layer): one execution record per module, named by its IMEI,
 * and the job's parent record, whose "executions" lists each one's entry ({imei, port, record,
 * state, progress, reason}) and whose state is their aggregate: while executions run, the least
 * advanced of their states with the lowest progress among them; at the end SUCCEEDED, or FAILED
 * naming each module that failed (record.h). Every function here saves what it changes; telling
 * the control plane is the caller's part (the parent is returned for that). */

#include "record.h"

/* A new entry for execution record exec (its execution IMEI, its modem port and its file name),
 * QUEUED at 0 %, for its parent's "executions". Returns 0 and *ret (owned by the caller), or
 * -ENOMEM. */
int job_record_parent_entry_new(const JobRecord *exec, json_object **ret);

/* Recomputes parent p from its entries (changed: an entry's state changed, detail says which, for
 * the history), saves it when something changed, and logs a change of its state through
 * job_record_transition(). Returns 1 when the parent changed (the caller reports it), 0 when not
 * (or it has ended), or a negative errno. */
int job_record_parent_refresh(JobRecord *p, bool changed, const char *detail);

/* Execution exec's status changed: the parent <dir>/<job id>.json is read, exec's entry updated and
 * the parent refreshed. Returns 1 and the parent in *ret_parent (owned by the caller) when it
 * changed, 0 when not, or a negative errno (logged: unreadable parent, entry not listed). */
int job_record_parent_update(const char *dir, const JobRecord *exec, JobRecord **ret_parent);

/* After a restart: each entry of parent p re-derived from its execution's record in dir (one that
 * cannot be read counts as FAILED), then refreshed. Returns as job_record_parent_refresh(). */
int job_record_parent_resume(const char *dir, JobRecord *p);
