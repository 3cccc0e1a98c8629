/* SPDX-License-Identifier: MIT */
/* Resume at start (core): the records in the state directory, read once; unfinished executions
 * back onto their modems (typed record fields only: engine.h), damaged records set aside and their
 * modules held, parents re-derived from their executions, ended records pruned (config
 * "records"), at start and daily. */

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

/* Re-derives a parent's entries from its executions' records. */
static void manager_resume_parent(Manager *m, JobRecord *p) {
        if (job_record_parent_resume(m->jobs_directory, p) > 0)
                manager_report(m, p);
}

/* Unfinished executions from the last run: back onto their modem, before the ports open. */

/* The first plane, in list order, whose status store knows job id; NULL when none does (the
 * caller then falls back to CONTROL_PLANE_FALLBACK, which has no status store to ask). */
static ControlPlane *manager_control_plane_knowing(Manager *m, const char *id) {
        for (size_t i = 0; i < m->n_planes; i++)
                if (m->planes[i]->vtable->knows_job && m->planes[i]->vtable->knows_job(m->planes[i], id))
                        return m->planes[i];
        return NULL;
}

/* A record that cannot be read (issue 9 item 10): moved aside, its job ends FAILED on its control
 * plane, and its module, which may be in the middle of an update, is held. */
static void manager_record_damaged(Manager *m, const char *path, const char *why) {
        _cleanup_(job_record_freep) JobRecord *rec = NULL;
        _cleanup_free_ char *text = NULL, *aside = NULL;
        int r;

        /* What is left of it, for its control plane and its module (bounded like every read). */
        (void) state_file_read(path, RECORD_FILE_MAX, &text, NULL);

        r = job_record_set_aside(path, &aside);
        if (r < 0) {
                log_error_errno(r, "Job record %s cannot be read (%s) nor moved aside: %m", path, why);
                return;
        }

        r = job_record_new_damaged(path, text, why, aside, &rec);
        if (r < 0) {
                log_error_errno(r, "Job record %s cannot be read (%s); moved aside to %s: %m", path, why, aside);
                return;
        }
        if (!rec->control_plane) {
                ControlPlane *cp = manager_control_plane_knowing(m, rec->job->id);

                (void) free_and_strdup(&rec->control_plane, cp ? cp->vtable->name : CONTROL_PLANE_FALLBACK);
        }

        r = job_record_save(rec);
        if (r < 0)
                log_error_errno(r, "Job %s: cannot save the record that replaces the damaged one, retrying: %m", job_record_name(rec));

        log_ctx_error(&((LogContext) {
                              .job_id = rec->job->id,
                              .modem = rec->modem_port,
                              .imei = rec->modem_imei,
                              .state = "FAILED",
                              .message_id = DFOTAD_MESSAGE_JOB_FAILED,
                      }),
                      "Job %s: -> FAILED (%s)", job_record_name(rec), rec->reason);
        manager_report(m, rec);
        manager_hold_module(m, rec);
}

/* ---- pruning ended records (config "records") ---- */

typedef struct PruneCandidate {
        char *id;
        usec_t updated_at;
} PruneCandidate;

static int prune_candidate_compare(const void *a, const void *b) {
        const PruneCandidate *x = a, *y = b;

        /* Newest first: what is kept is a prefix. */
        return x->updated_at > y->updated_at ? -1 : x->updated_at < y->updated_at;
}

/* Ended jobs beyond records.max_count (newest kept) or older than records.max_age go, with their
 * executions; the id stays taken (job_record_prune()). Takes the candidates. */
static void manager_prune(Manager *m, PruneCandidate *l, size_t n) {
        usec_t now = now_realtime();
        _cleanup_free_ char **ids = NULL;
        size_t n_ids = 0;
        int r;

        if (n > 0)
                qsort(l, n, sizeof(PruneCandidate), prune_candidate_compare);

        ids = calloc(MAX(n, 1U), sizeof(char *));
        if (!ids) {
                (void) log_error_errno(-ENOMEM, "Cannot prune ended job records: %m");
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                bool too_many = m->config->records_max_count > 0 && i >= m->config->records_max_count;
                bool too_old = m->config->records_max_age > 0 && l[i].updated_at + m->config->records_max_age < now;

                if (too_many || too_old)
                        ids[n_ids++] = l[i].id;
        }
        if (n_ids == 0)
                goto finish;

        r = job_record_prune(m->jobs_directory, ids, n_ids);
        if (r < 0)
                log_warning_errno(r, "Cannot prune every ended job record: %m");
        for (size_t i = 0; i < n_ids; i++) {
                for (size_t k = 0; k < m->n_planes; k++)
                        if (m->planes[k]->vtable->job_pruned)
                                m->planes[k]->vtable->job_pruned(m->planes[k], ids[i]);
        }
        log_info("Pruned %zu ended job record(s) (records.max_count %u, records.max_age_days %g); their ids stay taken",
                 n_ids, m->config->records_max_count, (double) m->config->records_max_age / (24.0 * 3600 * USEC_PER_SEC));

finish:
        for (size_t i = 0; i < n; i++)
                free(l[i].id);
        free(l);
}

typedef struct ResumeSet {
        Manager *manager;
        JobRecord **records;        /* unfinished, to resume */
        size_t n_records;
        PruneCandidate *prune;      /* ended jobs (not executions) */
        size_t n_prune;
        bool resume;                /* false: only collect prune candidates */
} ResumeSet;

static int resume_add_prune_candidate(ResumeSet *set, const JobRecord *rec) {
        PruneCandidate *l;

        if (rec->execution)
                return 0; /* pruned with its job */

        l = reallocarray(set->prune, set->n_prune + 1, sizeof(PruneCandidate));
        if (!l)
                return -ENOMEM;
        set->prune = l;
        set->prune[set->n_prune] = (PruneCandidate) { .id = strdup(rec->job->id), .updated_at = rec->updated_at };
        if (!set->prune[set->n_prune].id)
                return -ENOMEM;
        set->n_prune++;
        return 0;
}

static int resume_collect(const char *path, JobRecord **recp, const char *why, void *userdata) {
        ResumeSet *set = userdata;
        JobRecord **l;

        if (!*recp) {
                if (set->resume)
                        manager_record_damaged(set->manager, path, why);
                return 0;
        }

        if (job_state_is_terminal((*recp)->state)) {
                if ((*recp)->module_hold) {
                        if (set->resume)
                                manager_hold_module(set->manager, *recp);
                        return 0; /* its module is held: not pruned */
                }
                return resume_add_prune_candidate(set, *recp);
        }

        if (!set->resume)
                return 0;

        l = reallocarray(set->records, set->n_records + 1, sizeof(JobRecord *));
        if (!l)
                return -ENOMEM;
        set->records = l;
        set->records[set->n_records++] = TAKE_PTR(*recp);
        return 0;
}

static void resume_set_done(ResumeSet *set) {
        for (size_t i = 0; i < set->n_records; i++)
                job_record_free(set->records[i]);
        free(set->records);
        for (size_t i = 0; i < set->n_prune; i++)
                free(set->prune[i].id);
        free(set->prune);
}

int manager_on_prune_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        ResumeSet set = { .manager = m };
        int r;

        /* One walk a day, one record at a time in memory. */
        r = job_record_foreach(m->jobs_directory, resume_collect, &set);
        if (r < 0) {
                log_warning_errno(r, "Cannot walk the job records to prune them, trying again tomorrow: %m");
                resume_set_done(&set);
        } else
                manager_prune(m, TAKE_PTR(set.prune), set.n_prune);

        (void) sd_event_source_set_time_relative(s, MANAGER_PRUNE_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int manager_resume(Manager *m) {
        ResumeSet set = { .manager = m, .resume = true };
        JobRecord **records;
        size_t n;
        int r;

        /* One record at a time in memory; only the unfinished ones are kept, in creation order. */
        r = job_record_foreach(m->jobs_directory, resume_collect, &set);
        if (r < 0) {
                resume_set_done(&set);
                return log_error_errno(r, "Cannot load job records from %s: %m", m->jobs_directory);
        }
        manager_prune(m, TAKE_PTR(set.prune), set.n_prune);
        records = set.records;
        n = set.n_records;
        job_record_sort(records, n);

        for (size_t i = 0; i < n; i++) {
                JobRecord *rec = TAKE_PTR(records[i]);
                Modem *modem;

                if (job_state_is_terminal(rec->state)) {
                        job_record_free(rec);
                        continue;
                }

                /* A job on several modules runs nothing itself: its executions are resumed as
                 * records of their own. Ones that ended while we were down are accounted now. */
                if (rec->executions) {
                        manager_resume_parent(m, rec);
                        job_record_free(rec);
                        continue;
                }

                modem = rec->modem_port ? manager_find_modem_by_port(m, rec->modem_port) : NULL;

                if (rec->state == JOB_QUEUED && !modem) {
                        (void) manager_add_pending(m, rec);
                        continue;
                }

                /* A USB module that is not there now (rebooting in the middle of its update) or
                 * is under another name: a modem waits for it with the job, by this port name or,
                 * once a module is identified, by IMEI; port_return bounds the wait. */
                if (!modem && m->hotplug && rec->modem_port) {
                        r = manager_add_detached_modem(m, rec, &modem);
                        if (r < 0) {
                                log_error_errno(r, "Job %s: cannot wait for its module: %m", job_record_name(rec));
                                modem = NULL;
                        } else
                                log_ctx_info(&((LogContext) { .job_id = rec->job->id, .modem = rec->modem_port, .imei = rec->modem_imei }),
                                             "Job %s: waiting for its module (AT port %s, IMEI %s) to appear",
                                             job_record_name(rec), rec->modem_port, strna(rec->modem_imei));
                }

                if (!modem) {
                        (void) job_record_transition(rec, JOB_FAILED, rec->phase, "its modem is no longer in the configuration",
                                                     JOB_TRANSITION_REASON, NULL);
                        manager_report(m, rec);
                        job_record_free(rec);
                        continue;
                }

                if (rec->state == JOB_QUEUED && !rec->qfotadl_sent)
                        r = job_queue_push(job_queue_of(modem), rec);
                else
                        r = job_queue_resume(job_queue_of(modem), rec);
                if (r < 0) {
                        log_error_errno(r, "Job %s: failed to resume it: %m", job_record_name(rec));
                        job_record_free(rec);
                }
        }

        free(records);
        return 0;
}

