/* SPDX-License-Identifier: MIT */
#pragma once

/* Between the manager's files (core only): manager.c (life cycle, wiring, STATUS=), modem-set.c
 * (the modems, hotplug routing, hand-over, holds), manager-jobs.c (submission, dispatch, pending
 * jobs, cancel, report routing) and manager-resume.c (resume at start, damaged records, pruning).
 * Not for other layers: they see the manager only through the callback structs it sets. */

#include "manager.h"

/* Ended records are pruned at start and then once a day. */
#define MANAGER_PRUNE_INTERVAL_USEC (24 * 3600 * USEC_PER_SEC)

/* modem-set.c */

/* Creates the modems of the configured ports (each with its job queue) and, with "hotplug", the
 * udev watch. Returns 0 or a negative errno. */
int manager_setup_modems(Manager *m);

/* A hotplug modem that waits, since a restart, for the module of rec (its AT port name or IMEI),
 * added to the set with its job queue. *ret is borrowed. Returns 0, -EINVAL (rec names no port)
 * or -ENOMEM. */
int manager_add_detached_modem(Manager *m, const JobRecord *rec, Modem **ret);

/* The modem serving AT port port, or NULL. */
Modem *manager_find_modem_by_port(Manager *m, const char *port);

/* Puts the module of rec (a record that could not be read) on hold: see Manager.holds. */
void manager_hold_module(Manager *m, const JobRecord *rec);

/* manager-jobs.c */

/* A valid job that no modem can take yet (the modems are not identified) waits. Ownership of rec
 * passes on success only. Returns 0 or -ENOMEM. */
int manager_add_pending(Manager *m, JobRecord *rec);

/* manager-resume.c */

/* Reads the state directory once: unfinished records resumed onto their modems, damaged records
 * set aside (their modules held), parents re-derived, ended records pruned. Returns 0 or a
 * negative errno. */
int manager_resume(Manager *m);

/* The daily pruning of ended records (config "records"). */
int manager_on_prune_timer(sd_event_source *s, uint64_t usec, void *userdata);
