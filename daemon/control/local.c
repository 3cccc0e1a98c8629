/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "control-plane.h"
#include "escape.h"
#include "fileio.h"
#include "job.h"
#include "log.h"

typedef struct LocalControlPlane {
        ControlPlane cp;
        char *inbox;
        sd_event_source *watch;
        sd_event_source *rescan;    /* a document could not be recorded: taken again later */
} LocalControlPlane;

static int local_scan(LocalControlPlane *l);

static int on_rescan(sd_event_source *s, uint64_t usec, void *userdata) {
        LocalControlPlane *l = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        (void) local_scan(l);
        return 0;
}

/* A document kept in the inbox (its record could not be written: a full disk) is taken again after
 * the state-file retry interval, not only at the next start. */
static void local_rescan_later(LocalControlPlane *l) {
        usec_t when = l->cp.host->state_write_retry;
        int r;

        if (l->rescan && sd_event_source_get_enabled(l->rescan, NULL) > 0)
                return;
        if (l->rescan) {
                r = sd_event_source_set_time_relative(l->rescan, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(l->rescan, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time_relative(l->cp.host->event, &l->rescan, CLOCK_BOOTTIME, when, 0, on_rescan, l);
                if (r >= 0)
                        (void) sd_event_source_set_description(l->rescan, "local-rescan");
        }
        if (r < 0)
                log_error_errno(r, "Cannot schedule taking the inbox again; kept documents are taken at the next start: %m");
}

/* Documents are written elsewhere and renamed in (the rename is atomic; a half-written file is
 * never seen). Dot files are someone's temporary files; other suffixes are not ours. */
static bool is_document_name(const char *name) {
        size_t l = strlen(name);

        return name[0] != '.' && l > strlen(".json") && streq(name + l - strlen(".json"), ".json");
}

static void local_take(LocalControlPlane *l, const char *name) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *text = NULL, *stem = NULL, *shown = NULL;
        size_t size = 0;
        int r;

        if (!is_document_name(name))
                return;

        /* The file name is whoever dropped it there: escaped before it reaches a log line. */
        shown = escape_foreign_str(name, ESCAPE_LINE_MAX);
        stem = strndup(name, strlen(name) - strlen(".json"));
        if (!shown || !stem)
                return;

        dir_fd = open(l->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                log_error_errno(errno, "Cannot open inbox %s: %m", l->inbox);
                return;
        }

        /* Bounded, non-blocking, no symbolic links: a FIFO, a directory, a link or a huge file is
         * rejected for what it is, never read (job_document_check() for the rest). */
        r = read_file_bounded(dir_fd, name, JOB_DOCUMENT_MAX, READ_NOFOLLOW, &text, &size);
        if (r == -ENOENT)
                return; /* taken already (event and start-up scan both saw it) */

        if (r < 0) {
                _cleanup_free_ char *reason = NULL;
                char buf[64];

                if (asprintf(&reason, "(document): the inbox entry %s %s", shown, read_error_to_string(r, JOB_DOCUMENT_MAX, buf)) < 0)
                        return;
                log_warning("Inbox %s/%s: %s; rejecting it", l->inbox, shown, reason);
                r = control_plane_reject_job(&l->cp, stem, reason);
        } else
                /* The host logs the job's arrival under its id (QUEUED or REJECTED). */
                r = control_plane_submit_job(&l->cp, text, size, stem);

        if (r < 0 && r != -EEXIST) {
                /* Nothing recorded: keep the document, it is taken again a little later. */
                log_error_errno(r, "Inbox %s/%s could not be recorded, keeping it and trying again: %m", l->inbox, shown);
                local_rescan_later(l);
                return;
        }

        /* Recorded (or a duplicate of a recorded job): the record is now the job's home. */
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT &&
            (errno != EISDIR || unlinkat(dir_fd, name, AT_REMOVEDIR) < 0))
                log_warning_errno(errno, "Cannot remove %s/%s from the inbox, ignoring: %m", l->inbox, shown);
}

static int on_inbox(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        LocalControlPlane *l = userdata;

        if (ev->mask & IN_Q_OVERFLOW) {
                log_warning("Inbox %s: inotify queue overflow, rescanning", l->inbox);
                (void) l->cp.vtable->start(&l->cp);
                return 0;
        }

        if (ev->len > 0)
                local_take(l, ev->name);
        return 0;
}

static int local_scan(LocalControlPlane *l) {
        struct dirent **names = NULL;
        int n;

        n = scandir(l->inbox, &names, NULL, alphasort);
        if (n < 0)
                return log_error_errno(errno, "Cannot list inbox %s: %m", l->inbox);

        for (int i = 0; i < n; i++) {
                local_take(l, names[i]->d_name);
                free(names[i]);
        }
        free(names);
        return 0;
}

static int local_start(ControlPlane *cp) {
        LocalControlPlane *l = (LocalControlPlane *) cp;
        int r;

        if (!l->watch) {
                if (mkdir(l->inbox, STATE_DIRECTORY_MODE) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Cannot create inbox %s: %m", l->inbox);

                /* IN_MOVED_TO: renamed in (the documented way); IN_CLOSE_WRITE: copied in by hand. */
                r = sd_event_add_inotify(cp->host->event, &l->watch, l->inbox,
                                         IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR, on_inbox, l);
                if (r < 0)
                        return log_error_errno(r, "Cannot watch inbox %s: %m", l->inbox);
                (void) sd_event_source_set_description(l->watch, "local-inbox");
                log_info("Watching inbox %s for job documents", l->inbox);
        }

        /* Documents that arrived while we were not running. */
        return local_scan(l);
}

static int local_report(ControlPlane *cp, const JobRecord *record) {
        /* The local control plane has no remote end: the record under <state_directory>/jobs/,
         * already saved when this is called, is its status store, and the journal line the
         * engine wrote is its notification. */
        return 0;
}

static ControlPlane *local_free(ControlPlane *cp) {
        LocalControlPlane *l = (LocalControlPlane *) cp;

        if (!l)
                return NULL;
        l->watch = sd_event_source_disable_unref(l->watch);
        l->rescan = sd_event_source_disable_unref(l->rescan);
        free(l->inbox);
        free(l);
        return NULL;
}

static const ControlPlaneVTable local_vtable = {
        .name = "local",
        .start = local_start,
        .report = local_report,
        .free = local_free,
};

int local_control_plane_new(const ControlPlaneHost *host, const char *inbox, ControlPlane **ret) {
        LocalControlPlane *l;

        l = calloc(1, sizeof(LocalControlPlane));
        if (!l)
                return -ENOMEM;

        l->cp = (ControlPlane) { .vtable = &local_vtable, .host = host };
        l->inbox = strdup(inbox);
        if (!l->inbox) {
                free(l);
                return -ENOMEM;
        }

        *ret = &l->cp;
        return 0;
}
