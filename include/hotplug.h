/* SPDX-License-Identifier: MIT */
#pragma once

/* Discovery of USB modules through udev (layer 2): an enumeration of the tty subsystem at start and
 * a libudev monitor (subsystems "tty" and "usb") as a named sd-event I/O source. It finds the AT
 * ports of Quectel modules and tells its owner (HotplugCallbacks) when one appears or disappears;
 * the owner keeps one Modem per physical USB device and hands it the port. Nothing here opens a
 * tty, and nothing here knows the layers above.
 *
 * Which tty is a module's AT port:
 *  - udev says so: the tty carries DFOTAD_PORT_TYPE=at (and DFOTAD_FAMILY=<family>, optional),
 *    set by systemd/77-dfotad-quectel.rules or by an integrator's local rules file. Any other
 *    value of DFOTAD_PORT_TYPE (e.g. "ignore") keeps dfotad off the tty, whatever its USB id;
 *  - without DFOTAD_PORT_TYPE (rules not installed, or udev not reloaded since): the USB device's
 *    idVendor:idProduct and the interface's bInterfaceNumber match a row of the profile table
 *    (ModemProfile.usb_ids). The log says so, once per device.
 *
 * A module's identity is its usb_device (devpath; its sysname, e.g. "1-1.2", names it in the log).
 * Every event is classified when it is received, while sysfs still has the device; a "remove" is
 * matched by the tty's syspath against the ports seen before, never by reading sysfs (on real
 * hardware it is gone by then). The events one dispatch receives are coalesced per tty: only the
 * latest state of each device is acted upon, so a flapping cable costs one open at most per
 * dispatch. The source is rate-limited, which turns a storm into a few large, coalesced batches. */

#include <systemd/sd-event.h>

#include "macro.h"
#include "profile.h"

typedef struct Hotplug Hotplug;

/* One AT port of a module, as hotplug saw it when it appeared. */
typedef struct HotplugPort {
        char *syspath;              /* the tty's syspath: what its "remove" is matched by */
        char *devnode;              /* "/dev/ttyUSB2" */
        char **devlinks;            /* NULL-terminated udev symlinks (/dev/serial/by-id/...), may be NULL */
        char *usb_path;             /* devpath of the usb_device: the module's identity */
        char *usb_syspath;          /* syspath of the usb_device (ModemManager's "Device" uid) */
        char *usb_name;             /* sysname of the usb_device, e.g. "1-1.2", for the log */
        uint16_t vendor, product;   /* 0 when udev's properties said it without a USB parent */
        ModemFamily family;         /* DFOTAD_FAMILY or the table's; _MODEM_FAMILY_INVALID: detect from ATI */
        bool from_table;            /* recognised from the built-in table, not from udev properties */
        bool static_port;           /* a configured static port: left to its static modem */
} HotplugPort;

HotplugPort *hotplug_port_free(HotplugPort *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(HotplugPort *, hotplug_port_free);

/* What one tty is, from its properties and (fallback) its USB ids. */
typedef enum HotplugVerdict {
        HOTPLUG_NOT_AT,             /* not a module's AT port: never touched */
        HOTPLUG_AT_FROM_UDEV,       /* DFOTAD_PORT_TYPE=at */
        HOTPLUG_AT_FROM_TABLE,      /* no DFOTAD_PORT_TYPE; VID:PID:interface in the profile table */
        _HOTPLUG_VERDICT_MAX,
        _HOTPLUG_VERDICT_INVALID = -EINVAL,
} HotplugVerdict;

/* Pure. port_type/family: the DFOTAD_PORT_TYPE/DFOTAD_FAMILY properties (NULL when absent);
 * id_vendor/id_product: the usb_device's sysfs attributes ("2c7c", "0125"); interface: the
 * usb_interface's bInterfaceNumber ("02"). Any may be NULL. Returns the verdict and in *ret_family
 * (may be NULL) the family: DFOTAD_FAMILY's (_MODEM_FAMILY_INVALID when it is absent or unknown,
 * meaning "detect from ATI") or the table row's. */
HotplugVerdict hotplug_classify(
                const char *port_type,
                const char *family,
                const char *id_vendor,
                const char *id_product,
                const char *interface,
                ModemFamily *ret_family);

/* How hotplug reports to its owner (callback + userdata, as at-channel.h). The port is hotplug's,
 * valid during the call only. A configured static port is never reported: it is left to its
 * static modem. */
typedef struct HotplugCallbacks {
        /* An AT port appeared (or is present at start). */
        void (*port_added)(const HotplugPort *port, void *userdata);
        /* An AT port that was reported as added is gone; hotplug_find_port() tells whether the
         * module has another one (a rename within one batch of events). */
        void (*port_removed)(const HotplugPort *port, void *userdata);
} HotplugCallbacks;

/* Creates the udev context and the monitor (not yet enumerating) on event (a reference is taken).
 * static_ports: the configured static AT ports (NULL-terminated, copied; NULL for none), matched
 * against a tty's node, its udev symlinks and what the path resolves to. callbacks (copied) and
 * userdata: the owner's. Returns 0 or a negative errno. */
int hotplug_new(
                sd_event *event,
                char *const *static_ports,
                const HotplugCallbacks *callbacks,
                void *userdata,
                Hotplug **ret);
Hotplug *hotplug_free(Hotplug *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Hotplug *, hotplug_free);

/* Starts the monitor, then enumerates the ttys present (monitor first: nothing that appears in
 * between is missed; what is seen twice is the same port). Every AT port found is reported
 * through port_added(). Logs one info line with what was found. Returns 0: a monitor that
 * cannot be set up, or an enumeration that fails, is logged and leaves the other (and the static
 * ports) working. */
int hotplug_start(Hotplug *h);

/* A present AT port of the module at usb_path, or NULL. For the manager, when the port a modem used
 * is removed: the module may have another (a local rules file marked two interfaces), or the same
 * batch of events brought its port back, perhaps under another name. */
const HotplugPort *hotplug_find_port(Hotplug *h, const char *usb_path);

DECLARE_STRING_TABLE_LOOKUP(hotplug_verdict, HotplugVerdict);
