/* SPDX-License-Identifier: MIT */
/* A job on several modules: its parent record and the executions it lists (record-parent.h). */

#include <stdio.h>

#include "json-util.h"
#include "log.h"
#include "record-parent.h"
#include "string-util.h"

static json_object *parent_find_execution(const JobRecord *p, const char *imei) {
        for (size_t i = 0; i < json_object_array_length(p->executions); i++) {
                json_object *e = json_object_array_get_idx(p->executions, i), *v;

                if (json_object_object_get_ex(e, "imei", &v) && streq_ptr(json_object_get_string(v), imei))
                        return e;
        }
        return NULL;
}

static const char *entry_string(json_object *e, const char *key) {
        json_object *v;

        return json_object_object_get_ex(e, key, &v) && json_object_is_type(v, json_type_string) ?
                json_object_get_string(v) : NULL;
}

static int entry_set(json_object *e, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        return json_object_object_add(e, key, v) < 0 ? -ENOMEM : 0;
}

/* Copies an execution's state, progress and reason into its parent's entry. Returns 1 if the
 * state changed, 0 if not (progress or reason may have), or -ENOMEM. */
static int parent_entry_update(json_object *e, JobState state, unsigned progress, const char *reason) {
        bool changed = !streq_ptr(entry_string(e, "state"), job_state_to_string(state));
        int r;

        r = entry_set(e, "state", json_object_new_string(job_state_to_string(state)));
        if (r >= 0)
                r = entry_set(e, "progress", json_object_new_int64(progress));
        if (r >= 0)
                r = reason ? entry_set(e, "reason", json_object_new_string(reason)) :
                        (json_object_object_add(e, "reason", NULL) < 0 ? -ENOMEM : 0);
        if (r < 0)
                return r;
        return changed;
}

/* The parent's aggregate (record.h): while executions run, the least advanced of their states with
 * the lowest progress among them; at the end SUCCEEDED, or FAILED naming each failed module. */
static int parent_aggregate(const JobRecord *p, JobState *ret_state, unsigned *ret_progress, char **ret_reason) {
        _cleanup_free_ char *failed = NULL;
        JobState least = _JOB_STATE_MAX;
        unsigned progress = 100;
        size_t n = json_object_array_length(p->executions), n_failed = 0, len = 0;
        FILE *f;

        f = open_memstream(&failed, &len);
        if (!f)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(p->executions, i), *v;
                JobState s = job_state_from_string(entry_string(e, "state"));
                unsigned pr = json_object_object_get_ex(e, "progress", &v) ? (unsigned) MIN(MAX(json_object_get_int(v), 0), 100) : 0;

                if (s < 0)
                        s = JOB_QUEUED;

                if (!job_state_is_terminal(s)) {
                        if (s < least) {
                                least = s;
                                progress = pr;
                        } else if (s == least)
                                progress = MIN(progress, pr);
                } else if (s != JOB_SUCCEEDED)
                        fprintf(f, "%s%s %s (%s)", n_failed++ > 0 ? "; " : "", strna(entry_string(e, "imei")),
                                job_state_to_string(s), entry_string(e, "reason") ?: "no reason recorded");
        }
        if (fclose(f) != 0 || !failed)
                return -ENOMEM;

        if (least != _JOB_STATE_MAX) {
                *ret_state = least;
                *ret_progress = progress;
                *ret_reason = NULL;
        } else if (n_failed == 0) {
                *ret_state = JOB_SUCCEEDED;
                *ret_progress = 100;
                *ret_reason = NULL;
        } else {
                char *reason;

                if (asprintf(&reason, "failed on %zu of %zu modules: %s", n_failed, n, failed) < 0)
                        return -ENOMEM;
                *ret_state = JOB_FAILED;
                *ret_progress = p->progress;
                *ret_reason = reason;
        }
        return 0;
}

int job_record_parent_refresh(JobRecord *p, bool changed, const char *detail) {
        _cleanup_free_ char *reason = NULL, *end = NULL;
        JobState old = p->state, s;
        unsigned progress;
        int r;

        if (job_state_is_terminal(old))
                return 0;

        r = parent_aggregate(p, &s, &progress, &reason);
        if (r < 0)
                return log_error_errno(r, "Job %s: cannot update the job's state: %m", p->job->id);

        if (!changed && s == old && progress == p->progress)
                return 0;

        p->progress = progress;
        if (s == JOB_SUCCEEDED &&
            asprintf(&end, "all %zu modules", json_object_array_length(p->executions)) < 0)
                end = NULL;
        if (reason)
                (void) free_and_strdup(&p->reason, reason);
        /* The parent's state is its executions' aggregate: a change of an execution is its
         * history, logged only when the aggregate's state changes. The same note again (0) still
         * saves the progress. */
        if (!(changed || s != old) ||
            job_record_transition(p, s, p->phase, s == JOB_SUCCEEDED ? end : s == JOB_FAILED ? reason : detail,
                                  JOB_TRANSITION_LOG_CHANGE_ONLY, NULL) == 0) {
                r = job_record_save(p);
                if (r < 0)
                        log_error_errno(r, "Job %s: failed to save the record %s: %m", p->job->id, p->path);
        }
        return 1;
}

/* The parent is read from its file each time: it has no engine, nothing else holds it. */
int job_record_parent_update(const char *dir, const JobRecord *exec, JobRecord **ret_parent) {
        _cleanup_(job_record_freep) JobRecord *p = NULL;
        _cleanup_free_ char *path = NULL, *detail = NULL;
        json_object *e;
        int r;

        if (asprintf(&path, "%s/%s.json", dir, exec->job->id) < 0)
                return log_error_errno(-ENOMEM, "Out of memory: %m");

        r = job_record_load(path, &p);
        if (r < 0)
                return log_warning_errno(r, "Job %s: cannot read the job's record %s: %m", job_record_name(exec), path);

        e = p->executions ? parent_find_execution(p, exec->execution) : NULL;
        if (!e) {
                log_warning("Job %s: the job's record %s does not list this execution", job_record_name(exec), path);
                return -ENOENT;
        }

        r = parent_entry_update(e, exec->state, exec->progress, exec->reason);
        if (r < 0)
                return log_error_errno(r, "Out of memory: %m");
        if (r > 0 && asprintf(&detail, "%s: %s", exec->execution, job_state_to_string(exec->state)) < 0)
                detail = NULL;

        r = job_record_parent_refresh(p, r > 0, detail);
        if (r > 0)
                *ret_parent = TAKE_PTR(p);
        return r;
}

int job_record_parent_entry_new(const JobRecord *exec, json_object **ret) {
        _cleanup_(json_object_putp) json_object *e = NULL;
        const char *base = strrchr(exec->path, '/');
        int r;

        e = json_object_new_object();
        if (!e)
                return -ENOMEM;
        r = entry_set(e, "imei", json_object_new_string(strempty(exec->execution)));
        if (r >= 0)
                r = entry_set(e, "port", json_object_new_string(strempty(exec->modem_port)));
        if (r >= 0)
                r = entry_set(e, "record", json_object_new_string(base ? base + 1 : exec->path));
        if (r >= 0)
                r = parent_entry_update(e, JOB_QUEUED, 0, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

int job_record_parent_resume(const char *dir, JobRecord *p) {
        bool changed = false;

        for (size_t i = 0; i < json_object_array_length(p->executions); i++) {
                json_object *e = json_object_array_get_idx(p->executions, i);
                _cleanup_(job_record_freep) JobRecord *x = NULL;
                _cleanup_free_ char *path = NULL, *missing = NULL;
                int r;

                if (asprintf(&path, "%s/%s", dir, entry_string(e, "record")) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory: %m");

                r = job_record_load(path, &x);
                if (r >= 0)
                        r = parent_entry_update(e, x->state, x->progress, x->reason);
                else {
                        /* Saved before the parent listed it: gone means removed by hand. */
                        log_warning_errno(r, "Job %s: cannot read the record of its execution %s: %m", p->job->id, path);
                        if (asprintf(&missing, "its execution record %s cannot be read", entry_string(e, "record")) < 0)
                                missing = NULL;
                        r = parent_entry_update(e, JOB_FAILED, 0, missing ?: "its execution record cannot be read");
                }
                if (r < 0)
                        return log_error_errno(r, "Out of memory: %m");
                if (r > 0)
                        changed = true;
        }

        return job_record_parent_refresh(p, changed, changed ? "executions accounted after a restart" : NULL);
}
