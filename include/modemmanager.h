/* SPDX-License-Identifier: MIT */
#pragma once

/* Keeping ModemManager off a module while it is upgraded (issue 4 "ModemManager"; reference
 * modem.md §0, §2.6). ModemManager probes every modem it sees and re-probes one that sends RDY,
 * which a module does after each DFOTA reboot: on the AT port we are using, that is garbage in
 * both directions. Its answer is InhibitDevice(uid, true): ModemManager closes the device's ports
 * and unexports the modem until the same caller sends InhibitDevice(uid, false) or leaves the bus.
 *
 * One sd-bus connection to the system bus ($DBUS_SYSTEM_BUS_ADDRESS, else the standard socket),
 * attached to the event loop; every call is asynchronous. An inhibition, step by step:
 *
 *  1. GetNameOwner(org.freedesktop.ModemManager1) on the bus driver. No owner (or no system bus):
 *     one info line "ModemManager is not running; not inhibiting", result SKIPPED. Asking the
 *     driver rather than ModemManager itself matters: a call to a D-Bus-activatable name would
 *     start ModemManager. Later calls go to the unique name returned, for the same reason.
 *  2. GetManagedObjects on /org/freedesktop/ModemManager1: the modem whose Modem.Device equals our
 *     physical device path (when known), or whose Modem.Ports lists the basename of the AT port's
 *     resolved device node (realpath(): "/dev/ttyUSB2" -> "ttyUSB2", a pty -> "5"). None: one info
 *     line, result SKIPPED, but see 4.
 *  3. InhibitDevice(uid, true), uid = that modem's Device property (ModemManager's physdev uid,
 *     the sysfs path of the physical device unless a udev rule overrides it). Kept, so that the
 *     release works after ModemManager has unexported the modem. An error (not authorized, already
 *     inhibited by someone else, no answer within 10 s): a warning with the D-Bus error name, result
 *     FAILED. The caller goes on either way: ModemManager misbehaving never fails a job.
 *  4. Not inhibited because ModemManager was not running or knew no modem for the port: until the
 *     inhibition is released, a modem for the port that ModemManager exports later (it started
 *     late, or it finished probing a module that came back) is inhibited then, with an info line.
 *     ModemManager only inhibits exported modems ("Modem not exported in the bus").
 *
 * The inhibition is bound to our bus connection by ModemManager's design: when dfotad exits or
 * crashes, ModemManager takes the device back. A restarted dfotad therefore inhibits again before
 * it touches the port. */

#include <systemd/sd-event.h>

#include "macro.h"

typedef struct MmClient MmClient;
typedef struct MmInhibition MmInhibition;

typedef enum MmInhibitResult {
        MM_INHIBIT_INHIBITED,       /* ModemManager let go of the device */
        MM_INHIBIT_SKIPPED,         /* ModemManager is not running or manages no modem on the port */
        MM_INHIBIT_FAILED,          /* ModemManager refused or did not answer (logged as a warning) */
        _MM_INHIBIT_RESULT_MAX,
        _MM_INHIBIT_RESULT_INVALID = -EINVAL,
} MmInhibitResult;

DECLARE_STRING_TABLE_LOOKUP(mm_inhibit_result, MmInhibitResult);

/* Called exactly once per mm_inhibit(), from the event loop (never from inside mm_inhibit()),
 * unless the inhibition is released or freed first. The handle stays valid after the call. */
typedef void (*MmInhibitCallback)(MmInhibition *i, MmInhibitResult result, void *userdata);

/* The client; no connection is made until the first mm_inhibit() (and a lost one is made again
 * then). Returns 0 or -ENOMEM. */
int mm_client_new(sd_event *event, MmClient **ret);

/* Frees the client with every inhibition it still holds and closes the bus connection, which
 * ends those inhibitions. Free it after every owner of an MmInhibition has let go of it. */
MmClient *mm_client_free(MmClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(MmClient *, mm_client_free);

/* Starts inhibiting the modem behind an AT port. device: the sysfs path of the physical device
 * (e.g. "/sys/devices/platform/soc/3f980000.usb/usb1/1-1/1-1.3"), or NULL when unknown (a static
 * port); port: the AT port as configured (a symlink is resolved at each attempt). On success
 * *ret is the caller's handle, to be given back with mm_uninhibit() or mm_inhibition_free().
 * Returns 0 or a negative errno (out of memory): ModemManager's absence is a result, not an error. */
int mm_inhibit(MmClient *c, const char *device, const char *port, MmInhibitCallback callback, void *userdata,
               MmInhibition **ret);

/* Gives the handle back and lets ModemManager have the device again: InhibitDevice(uid, false)
 * if it was inhibited, or as soon as an InhibitDevice(uid, true) still in flight succeeds. The
 * callback is not called any more. The outcome is logged. Accepts NULL; returns NULL. */
MmInhibition *mm_uninhibit(MmInhibition *i);

/* Gives the handle back and keeps the device inhibited for as long as the bus connection lives
 * (for shutdown: the connection's end releases it). Accepts NULL; returns NULL. */
MmInhibition *mm_inhibition_free(MmInhibition *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(MmInhibition *, mm_inhibition_free);

/* ModemManager's uid of the device while it is inhibited by us, else NULL. */
const char *mm_inhibition_get_uid(const MmInhibition *i);
