/* SPDX-License-Identifier: MIT */

#include <libudev.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/epoll.h>

#include "hotplug.h"
#include "log.h"
#include "string-util.h"

/* Events one dispatch takes from the monitor at most; the rest waits for the next dispatch (the I/O
 * source is level-triggered), so that a storm cannot starve the AT channels. */
#define HOTPLUG_BATCH_MAX 256U

/* Events are collected for this long after the first of a batch, then acted upon in their latest
 * state: a flapping cable costs one port open per tty and period at most, and a module that
 * re-enumerates (remove ttyUSB2, add ttyUSB6) is seen switching ports in one step. The socket is
 * drained all along: a sender that cannot block (umockdev's) never finds it full. */
#define HOTPLUG_SETTLE_USEC (50 * USEC_PER_MSEC)

/* A safety net against a runaway event source, not the storm handling (that is the settle time):
 * above this many dispatches in the interval the monitor sleeps for the rest of it. */
#define HOTPLUG_RATELIMIT_INTERVAL_USEC (1 * USEC_PER_SEC)
#define HOTPLUG_RATELIMIT_BURST 2000U

/* Room for a storm of uevents while the loop is busy elsewhere. Without CAP_NET_ADMIN (the unit
 * grants none) the kernel caps it at net.core.rmem_max; should it overflow, the ttys are enumerated
 * again. */
#define HOTPLUG_RECEIVE_BUFFER (4 * 1024 * 1024)

static const char *const hotplug_verdict_table[_HOTPLUG_VERDICT_MAX] = {
        [HOTPLUG_NOT_AT]        = "not-at",
        [HOTPLUG_AT_FROM_UDEV]  = "at-from-udev",
        [HOTPLUG_AT_FROM_TABLE] = "at-from-table",
};

DEFINE_STRING_TABLE_LOOKUP(hotplug_verdict, HotplugVerdict);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);

/* The coalesced events of one tty within a batch. */
typedef struct PendingTty {
        char *syspath;
        bool gone;                  /* a "remove" of the tty (or of a USB parent) came */
        struct udev_device *device; /* the latest "add"/"change" after that, NULL if none */
} PendingTty;

typedef struct Batch {
        PendingTty *ttys;
        size_t n_ttys;
} Batch;

struct Hotplug {
        HotplugCallbacks callbacks;
        void *userdata;
        char **static_ports;
        sd_event *event;
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *monitor_source;
        sd_event_source *settle_timer; /* acts on the batch HOTPLUG_SETTLE_USEC after its first event */
        Batch batch;

        /* Every AT port present, static ones included (marked, so that their events stay quiet). */
        HotplugPort **ports;
        size_t n_ports;

        /* USB devices whose recognition from the built-in table has been logged. */
        char **table_logged;
        size_t n_table_logged;
};

HotplugPort *hotplug_port_free(HotplugPort *p) {
        if (!p)
                return NULL;

        free(p->syspath);
        free(p->devnode);
        strv_free(p->devlinks);
        free(p->usb_path);
        free(p->usb_syspath);
        free(p->usb_name);
        free(p);
        return NULL;
}

/* sysfs prints idVendor/idProduct as 4 hex digits, bInterfaceNumber as 2. */
static int parse_hex(const char *s, size_t max_digits, unsigned *ret) {
        unsigned v = 0;
        size_t n;

        if (isempty(s))
                return -EINVAL;
        n = strspn(s, "0123456789abcdefABCDEF");
        if (n != strlen(s) || n > max_digits)
                return -EINVAL;

        for (const char *c = s; *c; c++)
                v = v * 16 + (unsigned) (*c <= '9' ? *c - '0' : (*c | 0x20) - 'a' + 10);

        *ret = v;
        return 0;
}

HotplugVerdict hotplug_classify(
                const char *port_type,
                const char *family,
                const char *id_vendor,
                const char *id_product,
                const char *interface,
                ModemFamily *ret_family) {

        const ModemProfile *p = NULL;
        const UsbId *row;
        unsigned vendor, product, ifnum;

        /* udev's word wins either way: a local rule can also keep dfotad off a port ("ignore"). */
        if (port_type) {
                if (!streq(port_type, "at"))
                        return HOTPLUG_NOT_AT;
                if (ret_family)
                        *ret_family = family ? modem_family_from_string(family) : _MODEM_FAMILY_INVALID;
                return HOTPLUG_AT_FROM_UDEV;
        }

        if (parse_hex(id_vendor, 4, &vendor) < 0 ||
            parse_hex(id_product, 4, &product) < 0 ||
            parse_hex(interface, 2, &ifnum) < 0)
                return HOTPLUG_NOT_AT;

        row = modem_usb_id_find((uint16_t) vendor, (uint16_t) product, &p);
        if (!row || !p || row->at_interface != ifnum)
                return HOTPLUG_NOT_AT;

        if (ret_family)
                *ret_family = p->family;
        return HOTPLUG_AT_FROM_TABLE;
}

static bool path_is_under(const char *path, const char *prefix) {
        const char *rest = startswith(path, prefix);

        return rest && rest[0] == '/';
}

static bool hotplug_table_logged(Hotplug *h, const char *usb_path) {
        char **l;

        for (size_t i = 0; i < h->n_table_logged; i++)
                if (streq(h->table_logged[i], usb_path))
                        return true;

        l = reallocarray(h->table_logged, h->n_table_logged + 1, sizeof(char *));
        if (!l)
                return false;
        h->table_logged = l;
        l[h->n_table_logged] = strdup(usb_path);
        if (l[h->n_table_logged])
                h->n_table_logged++;
        return false;
}

static char **devlinks_of(struct udev_device *d) {
        struct udev_list_entry *e;
        char **l;
        size_t n = 0, i = 0;

        udev_list_entry_foreach(e, udev_device_get_devlinks_list_entry(d))
                n++;

        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return NULL;
        udev_list_entry_foreach(e, udev_device_get_devlinks_list_entry(d)) {
                if (i >= n)
                        break;
                l[i] = strdup(udev_list_entry_get_name(e));
                if (!l[i]) {
                        strv_free(l);
                        return NULL;
                }
                i++;
        }
        return l;
}

static int dup_field(char **dst, const char *src) {
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

/* Whether a tty is one of the configured static ports: its node, one of its udev symlinks, or what
 * a configured path (any other symlink the operator made) resolves to. */
static bool hotplug_is_static_port(const Hotplug *h, const char *devnode, char *const *devlinks) {
        for (char *const *port = h->static_ports; port && *port; port++) {
                char resolved[PATH_MAX];

                if (streq(*port, devnode))
                        return true;
                for (char *const *l = devlinks; l && *l; l++)
                        if (streq(*port, *l))
                                return true;
                if (realpath(*port, resolved) && streq(resolved, devnode))
                        return true;
        }
        return false;
}

/* Reads what an "add"/"change" (or the enumeration) shows of a tty, with its parents from sysfs.
 * Returns 1 and the port when it is a module's AT port, 0 when it is not (never touched
 * again), or -ENOMEM. */
static int hotplug_port_from_device(Hotplug *h, struct udev_device *d, HotplugPort **ret) {
        _cleanup_(hotplug_port_freep) HotplugPort *p = NULL;
        struct udev_device *usb, *intf, *ident;
        const char *devnode, *port_type, *family_name, *vendor = NULL, *product = NULL, *ifnum = NULL;
        ModemFamily family = _MODEM_FAMILY_INVALID;
        HotplugVerdict v;
        unsigned x;

        *ret = NULL;

        devnode = udev_device_get_devnode(d);
        if (!devnode)
                return 0;

        port_type = udev_device_get_property_value(d, "DFOTAD_PORT_TYPE");
        family_name = udev_device_get_property_value(d, "DFOTAD_FAMILY");

        /* Borrowed: parents belong to the child device. */
        usb = udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_device");
        if (!port_type && !usb)
                return 0; /* the console, ttyS*, ptys: not ours, and nothing more is read */

        if (usb) {
                vendor = udev_device_get_sysattr_value(usb, "idVendor");
                product = udev_device_get_sysattr_value(usb, "idProduct");
                intf = udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_interface");
                if (intf)
                        ifnum = udev_device_get_sysattr_value(intf, "bInterfaceNumber");
        }

        v = hotplug_classify(port_type, family_name, vendor, product, ifnum, &family);
        if (v == HOTPLUG_NOT_AT)
                return 0;

        p = calloc(1, sizeof(HotplugPort));
        if (!p)
                return -ENOMEM;

        /* The module is its USB device; a tty a local rule marks without a USB parent (a UART, a
         * PCIe module's port) is its own identity. */
        ident = usb ?: d;
        if (dup_field(&p->syspath, udev_device_get_syspath(d)) < 0 ||
            dup_field(&p->devnode, devnode) < 0 ||
            dup_field(&p->usb_path, udev_device_get_devpath(ident)) < 0 ||
            dup_field(&p->usb_syspath, udev_device_get_syspath(ident)) < 0 ||
            dup_field(&p->usb_name, udev_device_get_sysname(ident)) < 0)
                return -ENOMEM;
        if (!p->syspath || !p->usb_path)
                return 0;

        p->devlinks = devlinks_of(d);
        if (!p->devlinks)
                return -ENOMEM;

        if (parse_hex(vendor, 4, &x) >= 0)
                p->vendor = (uint16_t) x;
        if (parse_hex(product, 4, &x) >= 0)
                p->product = (uint16_t) x;
        p->family = family;
        p->from_table = v == HOTPLUG_AT_FROM_TABLE;
        p->static_port = hotplug_is_static_port(h, devnode, p->devlinks);

        if (family_name && v == HOTPLUG_AT_FROM_UDEV && family < 0)
                log_warning("Modem %s: DFOTAD_FAMILY=\"%s\" on %s names no family (ec2x, ep06, rg50x, ucxx, bc26, generic); "
                            "detecting it from ATI", p->usb_name, family_name, devnode);

        if (p->from_table && !p->static_port && !hotplug_table_logged(h, p->usb_path))
                log_notice("Modem %s: %s recognised from the built-in USB table (%04x:%04x, interface %s) because udev "
                           "gave it no DFOTAD_PORT_TYPE; install 77-dfotad-quectel.rules in the udev rules directory "
                           "and run \"udevadm control --reload\"",
                           p->usb_name, devnode, p->vendor, p->product, ifnum);

        *ret = TAKE_PTR(p);
        return 1;
}

static ssize_t hotplug_find(Hotplug *h, const char *syspath) {
        for (size_t i = 0; i < h->n_ports; i++)
                if (streq(h->ports[i]->syspath, syspath))
                        return (ssize_t) i;
        return -1;
}

const HotplugPort *hotplug_find_port(Hotplug *h, const char *usb_path) {
        for (size_t i = 0; i < h->n_ports; i++)
                if (!h->ports[i]->static_port && streq(h->ports[i]->usb_path, usb_path))
                        return h->ports[i];
        return NULL;
}

static HotplugPort *hotplug_take(Hotplug *h, size_t i) {
        HotplugPort *p = h->ports[i];

        memmove(h->ports + i, h->ports + i + 1, (h->n_ports - i - 1) * sizeof(HotplugPort *));
        h->n_ports--;
        return p;
}

static int push_port(HotplugPort ***l, size_t *n, HotplugPort *p) {
        HotplugPort **a;

        a = reallocarray(*l, *n + 1, sizeof(HotplugPort *));
        if (!a)
                return -ENOMEM;
        *l = a;
        a[(*n)++] = p;
        return 0;
}

/* Tells the manager about one batch of changes, after the table holds the new state: removals
 * first, so that a module whose port changed name within the batch (ttyUSB2 -> ttyUSB6), or came
 * and went and came, finds its new port in the table and switches to it (hotplug_find_port()),
 * instead of being forgotten and found again. removed: owned, freed here; added: in the table. */
static void hotplug_commit(Hotplug *h, HotplugPort **removed, size_t n_removed, HotplugPort **added, size_t n_added) {
        for (size_t i = 0; i < n_removed; i++) {
                if (!removed[i]->static_port)
                        h->callbacks.port_removed(removed[i], h->userdata);
                hotplug_port_free(removed[i]);
        }

        for (size_t i = 0; i < n_added; i++) {
                if (added[i]->static_port)
                        log_info("Modem %s: %s is a configured static port; left to its static modem",
                                 added[i]->usb_name, added[i]->devnode);
                else
                        h->callbacks.port_added(added[i], h->userdata);
        }
}

static PendingTty *batch_get(Batch *b, const char *syspath, bool create) {
        PendingTty *t;

        for (size_t i = 0; i < b->n_ttys; i++)
                if (streq(b->ttys[i].syspath, syspath))
                        return &b->ttys[i];
        if (!create)
                return NULL;

        t = reallocarray(b->ttys, b->n_ttys + 1, sizeof(PendingTty));
        if (!t)
                return NULL;
        b->ttys = t;
        t = &b->ttys[b->n_ttys];
        *t = (PendingTty) { .syspath = strdup(syspath) };
        if (!t->syspath)
                return NULL;
        b->n_ttys++;
        return t;
}

static void batch_done(Batch *b) {
        for (size_t i = 0; i < b->n_ttys; i++) {
                free(b->ttys[i].syspath);
                udev_device_unref(b->ttys[i].device);
        }
        free(b->ttys);
        *b = (Batch) {};
}

static int batch_mark_gone(Batch *b, const char *syspath) {
        PendingTty *t = batch_get(b, syspath, true);

        if (!t)
                return -ENOMEM;
        t->gone = true;
        t->device = udev_device_unref(t->device);
        return 0;
}

/* Folds one event into the batch: cheap, so that the socket is drained as fast as a storm fills
 * it; the sysfs reads wait until the batch is acted upon, and then only for each tty's latest
 * event. Returns 0 or -ENOMEM. */
static int hotplug_collect(Hotplug *h, Batch *b, struct udev_device *d) {
        const char *action = udev_device_get_action(d);
        const char *subsystem = udev_device_get_subsystem(d);
        const char *syspath = udev_device_get_syspath(d);
        PendingTty *t;

        if (!action || !subsystem || !syspath)
                return 0;

        if (streq(subsystem, "usb")) {
                /* Normally each tty's own "remove" came first; should it have been lost, the USB
                 * device's (or interface's) removal takes every AT port below it along. */
                if (!streq(action, "remove"))
                        return 0;
                for (size_t i = 0; i < h->n_ports; i++)
                        if (path_is_under(h->ports[i]->syspath, syspath) && batch_mark_gone(b, h->ports[i]->syspath) < 0)
                                return -ENOMEM;
                for (size_t i = 0; i < b->n_ttys; i++)
                        if (path_is_under(b->ttys[i].syspath, syspath) && batch_mark_gone(b, b->ttys[i].syspath) < 0)
                                return -ENOMEM;
                return 0;
        }

        if (!streq(subsystem, "tty"))
                return 0;

        if (streq(action, "remove")) {
                /* Matched by syspath only: on real hardware sysfs is gone by now. */
                if (hotplug_find(h, syspath) < 0 && !batch_get(b, syspath, false))
                        return 0;
                return batch_mark_gone(b, syspath);
        }

        /* "add", and "change": `udevadm trigger` after a rules change sends "change", and the tty
         * may now be marked (or no longer). bind/unbind/move say nothing about a tty. */
        if (!streq(action, "add") && !streq(action, "change"))
                return 0;

        t = batch_get(b, syspath, true);
        if (!t)
                return -ENOMEM;
        udev_device_unref(t->device);
        t->device = udev_device_ref(d);
        return 0;
}

static bool is_marked_not_at(struct udev_device *d) {
        const char *t = udev_device_get_property_value(d, "DFOTAD_PORT_TYPE");

        return t && !streq(t, "at");
}

static void hotplug_apply(Hotplug *h, Batch *b) {
        _cleanup_free_ HotplugPort **removed = NULL, **added = NULL;
        size_t n_removed = 0, n_added = 0;

        for (size_t i = 0; i < b->n_ttys; i++) {
                PendingTty *t = &b->ttys[i];
                ssize_t k = hotplug_find(h, t->syspath);
                HotplugPort *port = NULL;
                int r = 0;

                /* A tty that vanished meanwhile reads as "not an AT port"; its removal follows. */
                if (t->device) {
                        r = hotplug_port_from_device(h, t->device, &port);
                        if (r < 0) {
                                log_error_errno(r, "Hotplug: cannot read tty %s: %m", t->syspath);
                                continue;
                        }
                }

                if (k >= 0 && (t->gone || (t->device && !port && is_marked_not_at(t->device)))) {
                        /* Removed, or a "change" says it is no longer an AT port (a rule now sets
                         * DFOTAD_PORT_TYPE to something else). A tty that merely reads as "not
                         * an AT port" (its parents were not readable for a moment) is kept. */
                        HotplugPort *p = hotplug_take(h, (size_t) k);

                        if (push_port(&removed, &n_removed, p) < 0) {
                                log_error_errno(-ENOMEM, "Hotplug: cannot process the removal of %s: %m", p->devnode);
                                hotplug_port_free(p);
                        }
                        k = -1;
                }

                if (k >= 0 || !port) {
                        /* The same port again (a "change", or seen by both the monitor and the
                         * enumeration), or nothing to take. */
                        hotplug_port_free(port);
                        continue;
                }

                if (push_port(&h->ports, &h->n_ports, port) < 0) {
                        log_error_errno(-ENOMEM, "Hotplug: cannot take AT port %s: %m", port->devnode);
                        hotplug_port_free(port);
                        continue;
                }
                if (push_port(&added, &n_added, port) < 0) {
                        log_error_errno(-ENOMEM, "Hotplug: cannot take AT port %s: %m", port->devnode);
                        hotplug_port_free(hotplug_take(h, h->n_ports - 1));
                }
        }

        hotplug_commit(h, removed, n_removed, added, n_added);
}

/* Reads every tty that exists now and makes the table match it. Returns the number of ttys seen,
 * or a negative errno. */
static int hotplug_enumerate(Hotplug *h) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        _cleanup_free_ HotplugPort **removed = NULL, **added = NULL;
        size_t n_removed = 0, n_added = 0;
        struct udev_list_entry *entry;
        HotplugPort **present = NULL;
        size_t n_present = 0;
        int r, n_ttys = 0;

        e = udev_enumerate_new(h->udev);
        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "tty");
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;

        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
                HotplugPort *p = NULL;

                d = udev_device_new_from_syspath(h->udev, udev_list_entry_get_name(entry));
                if (!d)
                        continue; /* gone meanwhile */
                n_ttys++;

                r = hotplug_port_from_device(h, d, &p);
                if (r < 0)
                        goto finish;
                if (r > 0 && push_port(&present, &n_present, p) < 0) {
                        hotplug_port_free(p);
                        r = -ENOMEM;
                        goto finish;
                }
        }

        /* What is no longer there (a tty still enumerated that merely failed to read as an AT port
         * this time is kept) ... */
        for (size_t i = h->n_ports; i > 0; i--) {
                bool found = false;

                udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e))
                        if (streq(udev_list_entry_get_name(entry), h->ports[i - 1]->syspath)) {
                                found = true;
                                break;
                        }
                if (found)
                        continue;

                HotplugPort *p = hotplug_take(h, i - 1);
                if (push_port(&removed, &n_removed, p) < 0) {
                        hotplug_port_free(p);
                        r = -ENOMEM;
                        goto finish;
                }
        }

        /* ... and what is new. */
        for (size_t j = 0; j < n_present; j++) {
                if (hotplug_find(h, present[j]->syspath) >= 0)
                        continue;
                if (push_port(&h->ports, &h->n_ports, present[j]) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                if (push_port(&added, &n_added, present[j]) < 0) {
                        hotplug_take(h, h->n_ports - 1);
                        r = -ENOMEM;
                        goto finish;
                }
                present[j] = NULL;
        }
        r = n_ttys;

finish:
        hotplug_commit(h, removed, n_removed, added, n_added);
        for (size_t j = 0; j < n_present; j++)
                hotplug_port_free(present[j]);
        free(present);
        return r;
}

static int on_settle_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Hotplug *h = userdata;

        hotplug_apply(h, &h->batch);
        batch_done(&h->batch);
        return 0;
}

static int hotplug_arm_settle(Hotplug *h) {
        int r;

        if (h->settle_timer) {
                r = sd_event_source_get_enabled(h->settle_timer, NULL);
                if (r != 0)
                        return r < 0 ? r : 0; /* armed: this event joins the batch */
                r = sd_event_source_set_time_relative(h->settle_timer, HOTPLUG_SETTLE_USEC);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(h->settle_timer, SD_EVENT_ONESHOT);
        }

        r = sd_event_add_time_relative(h->event, &h->settle_timer, CLOCK_MONOTONIC, HOTPLUG_SETTLE_USEC, 0, on_settle_timer, h);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(h->settle_timer, "hotplug-settle");
        return 0;
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Hotplug *h = userdata;
        bool resync = false;
        int r;

        /* Everything that comes within the settle time is one batch: a tty that flapped ten times
         * within it is acted upon once, in its latest state. */
        for (unsigned i = 0; i < HOTPLUG_BATCH_MAX; i++) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;

                errno = 0;
                d = udev_monitor_receive_device(h->monitor);
                if (!d) {
                        /* The socket overflowed: events are lost, the table may be stale. */
                        if (errno == ENOBUFS)
                                resync = true;
                        break;
                }

                r = hotplug_collect(h, &h->batch, d);
                if (r < 0) {
                        log_error_errno(r, "Hotplug: cannot process a udev event, re-reading the ttys: %m");
                        resync = true;
                        break;
                }
        }

        if (resync) {
                /* What the batch knows first, then whatever sysfs says now. */
                if (h->settle_timer)
                        (void) sd_event_source_set_enabled(h->settle_timer, SD_EVENT_OFF);
                hotplug_apply(h, &h->batch);
                batch_done(&h->batch);

                log_warning("Hotplug: udev events were lost; re-reading the ttys");
                r = hotplug_enumerate(h);
                if (r < 0)
                        log_error_errno(r, "Hotplug: cannot enumerate the ttys: %m");
                return 0;
        }

        if (h->batch.n_ttys > 0) {
                r = hotplug_arm_settle(h);
                if (r < 0) {
                        log_warning_errno(r, "Hotplug: cannot arm the settle timer, acting at once: %m");
                        hotplug_apply(h, &h->batch);
                        batch_done(&h->batch);
                }
        }
        return 0;
}

static int hotplug_setup_monitor(Hotplug *h) {
        int r;

        h->monitor = udev_monitor_new_from_netlink(h->udev, "udev");
        if (!h->monitor)
                return negative_errno();

        r = udev_monitor_filter_add_match_subsystem_devtype(h->monitor, "tty", NULL);
        if (r < 0)
                return r;
        r = udev_monitor_filter_add_match_subsystem_devtype(h->monitor, "usb", NULL);
        if (r < 0)
                return r;

        r = udev_monitor_set_receive_buffer_size(h->monitor, HOTPLUG_RECEIVE_BUFFER);
        if (r < 0)
                log_debug_errno(r, "Hotplug: cannot enlarge the udev monitor's receive buffer, ignoring: %m");

        r = udev_monitor_enable_receiving(h->monitor);
        if (r < 0)
                return r;

        r = sd_event_add_io(h->event, &h->monitor_source, udev_monitor_get_fd(h->monitor), EPOLLIN, on_monitor, h);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(h->monitor_source, "hotplug-udev-monitor");

        r = sd_event_source_set_ratelimit(h->monitor_source, HOTPLUG_RATELIMIT_INTERVAL_USEC, HOTPLUG_RATELIMIT_BURST);
        if (r < 0)
                log_debug_errno(r, "Hotplug: cannot rate-limit the udev monitor, ignoring: %m");

        return 0;
}

int hotplug_new(
                sd_event *event,
                char *const *static_ports,
                const HotplugCallbacks *callbacks,
                void *userdata,
                Hotplug **ret) {

        _cleanup_(hotplug_freep) Hotplug *h = NULL;
        size_t n = 0;

        if (!event || !callbacks || !callbacks->port_added || !callbacks->port_removed)
                return -EINVAL;

        h = calloc(1, sizeof(Hotplug));
        if (!h)
                return -ENOMEM;

        h->callbacks = *callbacks;
        h->userdata = userdata;
        while (static_ports && static_ports[n])
                n++;
        h->static_ports = calloc(n + 1, sizeof(char *));
        if (!h->static_ports)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                h->static_ports[i] = strdup(static_ports[i]);
                if (!h->static_ports[i])
                        return -ENOMEM;
        }
        h->event = sd_event_ref(event);
        h->udev = udev_new();
        if (!h->udev)
                return negative_errno();

        *ret = TAKE_PTR(h);
        return 0;
}

int hotplug_start(Hotplug *h) {
        size_t n_at = 0;
        bool listening;
        int r;

        r = hotplug_setup_monitor(h);
        listening = r >= 0;
        if (!listening) {
                log_warning_errno(r, "Hotplug: cannot listen to udev events (%m); modules present now are served, "
                                  "modules plugged in later are not seen");
                h->monitor_source = sd_event_source_disable_unref(h->monitor_source);
                h->monitor = udev_monitor_unref(h->monitor);
        }

        /* Not fatal: the configured static ports still work, and the monitor still sees what is
         * plugged in from now on. */
        r = hotplug_enumerate(h);
        if (r < 0) {
                log_warning_errno(r, "Hotplug: cannot enumerate the ttys, modules present now are not seen: %m");
                return 0;
        }

        for (size_t i = 0; i < h->n_ports; i++)
                if (!h->ports[i]->static_port)
                        n_at++;

        if (n_at == 0)
                log_info("Hotplug: no Quectel module among %i ttys%s", r,
                         listening ? "; watching udev for modules being plugged in" : "");
        else
                log_info("Hotplug: %zu Quectel AT port(s) among %i ttys%s", n_at, r,
                         listening ? "; watching udev for more" : "");
        return 0;
}

Hotplug *hotplug_free(Hotplug *h) {
        if (!h)
                return NULL;

        h->monitor_source = sd_event_source_disable_unref(h->monitor_source);
        h->settle_timer = sd_event_source_disable_unref(h->settle_timer);
        batch_done(&h->batch);
        udev_monitor_unref(h->monitor);
        udev_unref(h->udev);
        sd_event_unref(h->event);
        strv_free(h->static_ports);

        for (size_t i = 0; i < h->n_ports; i++)
                hotplug_port_free(h->ports[i]);
        free(h->ports);
        for (size_t i = 0; i < h->n_table_logged; i++)
                free(h->table_logged[i]);
        free(h->table_logged);
        free(h);
        return NULL;
}
