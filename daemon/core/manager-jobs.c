/* SPDX-License-Identifier: MIT */
/* Jobs in the manager (core): documents handed in by a control plane become records, checked,
 * dispatched onto the matching modem(s) (one execution per module for a job on several), kept
 * pending until the modems are identified, canceled, and every status change routed back to the
 * control plane that submitted it. */

#include <ctype.h>
#include <stdio.h>

#include "fault.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "manager-internal.h"
#include "queue.h"
#include "record-parent.h"
#include "state-file.h"
#include "string-util.h"

/* ---- jobs on several modules: the parent record (record-parent.h) ---- */

static void manager_update_parent(Manager *m, const JobRecord *exec) {
        _cleanup_(job_record_freep) JobRecord *p = NULL;

        if (job_record_parent_update(m->jobs_directory, exec, &p) > 0)
                manager_report(m, p);
}

void manager_report(Manager *m, const JobRecord *record) {
        ControlPlane *cp = control_plane_find(m->planes, m->n_planes, record->control_plane);
        int r;

        if (cp) {
                r = cp->vtable->report(cp, record);
                if (r < 0)
                        log_warning_errno(r, "Job %s: control plane %s could not take the status, it will retry: %m",
                                          job_record_name(record), cp->vtable->name);
        }

        if (record->execution)
                manager_update_parent(m, record);

        manager_update_status(m);
}

/* An execution that never started ends (REJECTED, or CANCELED while queued): on disk before the
 * control plane hears of it. Returns 0 or a negative errno (nothing changed). */
static int manager_end_unstarted(Manager *m, JobRecord *rec, JobState s, const char *reason) {
        int r;

        r = job_record_transition(rec, s, rec->phase, reason, JOB_TRANSITION_DURABLE | JOB_TRANSITION_REASON, NULL);
        if (r < 0)
                return r;
        manager_report(m, rec);
        return 0;
}

static void manager_reject(Manager *m, JobRecord *rec, const char *reason) {
        (void) manager_end_unstarted(m, rec, JOB_REJECTED, reason);
}

static void manager_report_record(const JobRecord *record, void *userdata) {
        manager_report(userdata, record);
}

int manager_cancel_job(Manager *m, const char *id, const char *reason) {
        bool found = false, busy = false;
        int error = 0, r;

        for (size_t i = 0; i <= m->n_modems; i++) {
                r = i < m->n_modems ? job_queue_cancel(job_queue_of(m->modems[i]), id, reason) :
                                      job_record_list_cancel(m->pending, &m->n_pending, id, reason, NULL,
                                                             manager_report_record, m);
                if (r != 0)
                        found = true;
                if (r == -EBUSY)
                        busy = true;
                else if (r < 0)
                        error = r;
        }

        manager_update_status(m);
        if (busy)
                return -EBUSY;
        if (error < 0)
                /* A CANCELED record could not be saved: that execution is not canceled. */
                return error;
        if (found)
                return 0;
        return job_record_exists(m->jobs_directory, id) ? -EALREADY : -ENOENT;
}

bool manager_job_exists(Manager *m, const char *id) {
        return job_record_exists(m->jobs_directory, id);
}

/* Quectel revisions start with the model without its punctuation: ATI "RM500Q-GL" runs
 * "RM500QGLABR11A06M4G", "EC25" runs "EC25EFAR06A01M4G" (RG50xQ FOTA note §2.1, EC25&EC21 guide
 * §2.1: ATI gives both). */
static bool revision_matches_model(const char *revision, const char *model) {
        const char *r = revision;

        for (const char *c = model; *c; c++) {
                if (!isalnum((unsigned char) *c))
                        continue;
                if (toupper((unsigned char) *c) != toupper((unsigned char) *r))
                        return false;
                r++;
        }
        return r != revision;
}

/* Whether the modem matches a job's selector: IMEI equal, model equal (case-insensitive), or with
 * no selector, target_version starting with the modem's model. Unidentified modems never match. */
static bool modem_matches_job(const Modem *m, const Job *job) {
        if (!m->identified)
                return false;

        if (job->modem_imei)
                return streq_ptr(m->imei, job->modem_imei);

        if (!m->model)
                return false;

        if (job->modem_model)
                return strcasecmp(m->model, job->modem_model) == 0;

        return revision_matches_model(job->target_version, m->model);
}

static void record_set_modem(JobRecord *rec, const Modem *modem) {
        (void) job_record_set_module(rec, modem->port, modem->profile ? modem->profile->name : NULL, modem->model, NULL, modem->imei);
}

static int manager_enqueue_on(Modem *modem, JobRecord *rec) {
        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .modem = modem->port, .imei = modem->imei, .state = "QUEUED" }),
                     "Job %s: queued on %s%s", job_record_name(rec), modem->port,
                     modem_is_busy(modem) ? " (modem busy, waiting its turn)" : "");
        return job_queue_push(job_queue_of(modem), rec);
}

static void execution_records_free(JobRecord **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                job_record_free(l[i]);
        free(l);
}

/* The job matches several modules: one execution record per module, saved before the parent lists
 * them (a crash in between leaves the parent QUEUED without executions, dispatched again at the
 * next start onto the same file names). The set of modules is fixed here. Returns 1 (rec freed,
 * the executions queued), or a negative errno with rec untouched. */
static int manager_dispatch_several(Manager *m, JobRecord *rec, Modem **matches, size_t n) {
        _cleanup_(json_object_putp) json_object *executions = NULL;
        _cleanup_free_ char *imeis = NULL;
        JobRecord **l;
        size_t len = 0, n_saved = 0;
        FILE *f;
        int r;

        l = calloc(n, sizeof(JobRecord *));
        executions = json_object_new_array();
        f = open_memstream(&imeis, &len);
        if (!l || !executions || !f) {
                if (f)
                        (void) fclose(f);
                free(l);
                return -ENOMEM;
        }

        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_object_putp) json_object *e = NULL;

                fprintf(f, "%s%s", i > 0 ? ", " : "", matches[i]->imei);

                r = job_record_new_execution(m->jobs_directory, rec->job, matches[i]->imei, &l[i]);
                if (r < 0)
                        goto fail;
                record_set_modem(l[i], matches[i]);
                r = free_and_strdup(&l[i]->control_plane, rec->control_plane);
                if (r < 0)
                        goto fail;
                r = job_record_save(l[i]);
                if (r < 0)
                        goto fail;
                n_saved++;

                r = job_record_parent_entry_new(l[i], &e);
                if (r < 0)
                        goto fail;
                if (json_object_array_add(executions, e) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                TAKE_PTR(e);
        }
        if (fclose(f) != 0 || !imeis) {
                f = NULL;
                r = -ENOMEM;
                goto fail;
        }
        f = NULL;

        rec->executions = json_object_get(executions);
        {
                _cleanup_free_ char *detail = NULL;

                if (asprintf(&detail, "on %zu modules: %s", n, imeis) < 0)
                        detail = NULL;
                (void) job_record_add_history(rec, detail);
        }
        r = job_record_save(rec);
        if (r < 0) {
                json_object_put(rec->executions);
                rec->executions = NULL;
                goto fail;
        }

        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .state = "QUEUED" }),
                     "Job %s: runs on %zu modules (IMEI %s)", rec->job->id, n, imeis);
        manager_report(m, rec);
        job_record_free(rec);

        for (size_t i = 0; i < n; i++)
                if (manager_enqueue_on(matches[i], l[i]) < 0) {
                        (void) log_error_errno(-ENOMEM, "Job %s: cannot queue it, out of memory: %m", job_record_name(l[i]));
                        job_record_free(l[i]);
                }
        free(l);
        return 1;

fail:
        if (f)
                (void) fclose(f);
        /* No parent lists them: they must not be resumed as jobs of their own at the next start. */
        for (size_t i = 0; i < n_saved; i++)
                (void) unlink(l[i]->path);
        execution_records_free(l, n);
        return r;
}

/* Finds the modem(s) for a queued record. Returns 1 when queued on a modem, or split into
 * executions queued on each matching module (ownership passed), 0 when it must wait for modems to
 * be identified (ownership stays), or ends it as REJECTED (-ENXIO, ownership stays with the
 * caller, who frees it). An execution record only ever goes to the module of its IMEI. */
static int manager_dispatch(Manager *m, JobRecord *rec) {
        const Job *job = rec->job;
        _cleanup_free_ Modem **matches = NULL;
        size_t n_match = 0;
        bool unidentified = false;
        _cleanup_free_ char *reason = NULL;
        int r;

        matches = calloc(MAX(m->n_modems, 1U), sizeof(Modem *));
        if (!matches)
                return -ENOMEM;

        for (size_t i = 0; i < m->n_modems; i++) {
                if (!m->modems[i]->identified)
                        unidentified = true;
                else if (modem_matches_job(m->modems[i], job) &&
                         (!rec->execution || streq_ptr(m->modems[i]->imei, rec->execution)))
                        matches[n_match++] = m->modems[i];
        }

        if (n_match == 1) {
                record_set_modem(rec, matches[0]);
                (void) job_record_save(rec);
                return manager_enqueue_on(matches[0], rec) < 0 ? -ENOMEM : 1;
        }

        if (n_match > 1 && !rec->execution) {
                const char *dup = NULL;

                /* Each execution is named by its module's IMEI: two ports of one module (or a module
                 * without one) cannot be told apart. */
                for (size_t i = 0; i < n_match && !dup; i++) {
                        if (!matches[i]->imei)
                                dup = "(none)";
                        for (size_t j = 0; j < i && !dup; j++)
                                if (streq(matches[i]->imei, matches[j]->imei))
                                        dup = matches[i]->imei;
                }
                if (!dup) {
                        r = manager_dispatch_several(m, rec, matches, n_match);
                        if (r > 0)
                                return r;
                        (void) asprintf(&reason, "modem: cannot record the executions on %zu modules: %s",
                                        n_match, strerror(-r));
                } else
                        (void) asprintf(&reason, "modem: the job matches %zu modems, not all with their own IMEI (%s); select one with modem.imei",
                                        n_match, dup);
        } else if (n_match > 1)
                (void) asprintf(&reason, "modem: %zu modems report IMEI %s", n_match, rec->execution);
        else if (unidentified)
                return 0;
        else if (rec->execution)
                (void) asprintf(&reason, "modem.imei: no modem with IMEI %s", rec->execution);
        else if (job->modem_imei)
                (void) asprintf(&reason, "modem.imei: no modem with IMEI %s", job->modem_imei);
        else if (job->modem_model)
                (void) asprintf(&reason, "modem.model: no modem of model %s", job->modem_model);
        else
                (void) asprintf(&reason, "modem: no modem whose model matches target_version %s", job->target_version);

        manager_reject(m, rec, reason ?: "modem: no matching modem");
        return -ENXIO;
}

int manager_add_pending(Manager *m, JobRecord *rec) {
        JobRecord **p;

        p = reallocarray(m->pending, m->n_pending + 1, sizeof(JobRecord *));
        if (!p)
                return -ENOMEM;
        m->pending = p;
        m->pending[m->n_pending++] = rec;
        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .state = "QUEUED" }),
                     "Job %s: waiting until the modems are identified", job_record_name(rec));
        manager_update_status(m);
        return 0;
}

int manager_queue(Manager *m, JobRecord *rec) {
        int r;

        r = manager_dispatch(m, rec);
        if (r == 0)
                return manager_add_pending(m, rec);
        if (r == -ENXIO) {
                /* Rejected, and the record says so: done with it. */
                job_record_free(rec);
                return 0;
        }
        return r < 0 ? r : 0;
}

void manager_modem_identified(Manager *m, Modem *modem) {
        JobRecord **pending;

        pending = TAKE_PTR(m->pending);
        size_t n = m->n_pending;

        m->n_pending = 0;
        for (size_t i = 0; i < n; i++)
                if (manager_queue(m, pending[i]) < 0) {
                        /* On disk as QUEUED: it is dispatched again at the next start. */
                        log_error_errno(-ENOMEM, "Job %s: cannot dispatch it now, out of memory: %m", job_record_name(pending[i]));
                        job_record_free(pending[i]);
                }
        free(pending);
        manager_update_status(m);
}

/* A job id usable as a record name, from a document that has none. */
static char *sanitize_id(const char *s) {
        char *id = strndup(isempty(s) ? "unnamed" : s, JOB_ID_MAX);

        if (!id)
                return NULL;
        for (char *c = id; *c; c++)
                if (!job_id_char_is_valid(*c))
                        *c = '_';
        return id;
}

/* The id of an invalid document if it has a valid one, else the fallback. */
static char *rejected_document_id(const char *text, const char *fallback) {
        json_object *o = json_tokener_parse(text), *v;
        char *id = NULL;

        if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "id", &v) &&
            json_object_is_type(v, json_type_string)) {
                const char *s = json_object_get_string(v);

                if (job_id_is_valid(s))
                        id = strdup(s);
        }
        json_object_put(o);

        return id ?: sanitize_id(fallback);
}

/* A new QUEUED record of job from origin, unless a record of that id exists (-EEXIST). The record
 * takes job on success only. Returns 0 or a negative errno. */
static int manager_new_record(Manager *m, ControlPlane *origin, Job *job, JobRecord **ret) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        int r;

        if (job_record_exists(m->jobs_directory, job->id)) {
                log_warning("Job %s: a job with this id exists already; the new document is ignored", job->id);
                return -EEXIST;
        }

        r = job_record_new(m->jobs_directory, job, &rec);
        if (r < 0)
                return r;
        r = free_and_strdup(&rec->control_plane, origin->vtable->name);
        if (r < 0) {
                rec->job = NULL; /* the caller's again */
                return r;
        }
        *ret = TAKE_PTR(rec);
        return 0;
}

/* Records a job that is REJECTED before it ran: an invalid document (why), under job->id. The
 * record takes job on success only. Returns 0, -EEXIST (a record of that id exists), or the
 * negative errno of a record that could not be saved. */
static int manager_record_rejected(Manager *m, ControlPlane *origin, Job *job, const char *why) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        int r;

        r = manager_new_record(m, origin, job, &rec);
        if (r < 0)
                return r;
        r = manager_end_unstarted(m, rec, JOB_REJECTED, why);
        if (r < 0) {
                rec->job = NULL; /* the caller's again */
                return r;
        }
        return 0;
}

static int manager_submit(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *fallback_id, bool force) {
        _cleanup_(job_freep) Job *job = NULL;
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *why = NULL;
        int r;

        r = job_parse(text, size, &job, &why);
        if (r == -ENOMEM)
                return r;

        if (r < 0) {
                job = calloc(1, sizeof(Job));
                if (!job)
                        return -ENOMEM;
                /* The id inside is looked for only in a document small enough to be parsed. */
                job->id = force ? strdup(fallback_id) :
                          job_document_check(text, size, NULL) >= 0 ? rejected_document_id(text, fallback_id) :
                          sanitize_id(fallback_id);
                if (!job->id)
                        return -ENOMEM;
                r = manager_record_rejected(m, origin, job, why ?: "(document): invalid");
                if (r >= 0)
                        TAKE_PTR(job);
                return r;
        }

        if (force && !streq(job->id, fallback_id)) {
                log_notice("Job %s: the control plane names the job %s; that name is used", job->id, fallback_id);
                r = free_and_strdup(&job->id, fallback_id);
                if (r < 0)
                        return r;
        }

        r = manager_new_record(m, origin, job, &rec);
        if (r < 0)
                return r;
        TAKE_PTR(job);

        /* Durable before the control plane forgets the order: a record that only exists in memory
         * would be lost with the process, and the order with it. */
        r = job_record_save_durable(rec);
        if (r < 0)
                return log_error_errno(r, "Job %s: cannot save its record, the control plane keeps the order: %m", rec->job->id);
        fault_point("saved:QUEUED");

        log_ctx_info(&((LogContext) { .job_id = rec->job->id, .state = "QUEUED", .message_id = DFOTAD_MESSAGE_JOB_STATE }),
                     "Job %s: -> QUEUED (from %s, target %s)", rec->job->id, origin->vtable->name, rec->job->target_version);
        manager_report(m, rec);

        r = manager_queue(m, rec);
        if (r < 0)
                return r;
        TAKE_PTR(rec);
        return 0;
}

int manager_submit_job(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *fallback_id) {
        return manager_submit(m, origin, text, size, fallback_id, false);
}

int manager_submit_job_as(Manager *m, ControlPlane *origin, const char *text, size_t size, const char *id) {
        return manager_submit(m, origin, text, size, id, true);
}

int manager_reject_job(Manager *m, ControlPlane *origin, const char *id, const char *reason) {
        _cleanup_(job_freep) Job *job = NULL;
        int r;

        job = calloc(1, sizeof(Job));
        if (!job)
                return -ENOMEM;
        job->id = sanitize_id(id);
        if (!job->id)
                return -ENOMEM;

        r = manager_record_rejected(m, origin, job, reason);
        if (r >= 0)
                TAKE_PTR(job);
        return r;
}

