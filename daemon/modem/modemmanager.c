/* SPDX-License-Identifier: MIT */

#include <assert.h>
#include <systemd/sd-bus.h>

#include "log.h"
#include "string-util.h"
#include "modemmanager.h"

#define MM_SERVICE          "org.freedesktop.ModemManager1"
#define MM_PATH             "/org/freedesktop/ModemManager1"
#define MM_INTERFACE        "org.freedesktop.ModemManager1"
#define MM_MODEM_INTERFACE  "org.freedesktop.ModemManager1.Modem"

/* ModemManager answers InhibitDevice once it has closed the device's ports, which takes a moment;
 * one that takes longer than this is stuck, and a job must not wait for it. */
#define MM_CALL_TIMEOUT_USEC (10 * USEC_PER_SEC)

static const char *const mm_inhibit_result_table[_MM_INHIBIT_RESULT_MAX] = {
        [MM_INHIBIT_INHIBITED] = "inhibited",
        [MM_INHIBIT_SKIPPED]   = "skipped",
        [MM_INHIBIT_FAILED]    = "failed",
};

DEFINE_STRING_TABLE_LOOKUP(mm_inhibit_result, MmInhibitResult);

typedef enum MmInhibitionState {
        MM_STATE_ASKING,            /* GetNameOwner or GetManagedObjects in flight */
        MM_STATE_INHIBITING,        /* InhibitDevice(uid, true) in flight */
        MM_STATE_INHIBITED,
        MM_STATE_WATCHING,          /* not inhibited: a modem for the port exported later is */
        MM_STATE_RELEASING,         /* InhibitDevice(uid, false) in flight; handle given back */
        MM_STATE_DONE,              /* nothing more to do */
        _MM_STATE_MAX,
        _MM_STATE_INVALID = -EINVAL,
} MmInhibitionState;

static const char *const mm_inhibition_state_table[_MM_STATE_MAX] = {
        [MM_STATE_ASKING]     = "asking",
        [MM_STATE_INHIBITING] = "inhibiting",
        [MM_STATE_INHIBITED]  = "inhibited",
        [MM_STATE_WATCHING]   = "watching",
        [MM_STATE_RELEASING]  = "releasing",
        [MM_STATE_DONE]       = "done",
};

DECLARE_STRING_TABLE_LOOKUP(mm_inhibition_state, MmInhibitionState);
DEFINE_STRING_TABLE_LOOKUP(mm_inhibition_state, MmInhibitionState);

struct MmInhibition {
        MmClient *client;
        MmInhibition *prev, *next;

        char *device;               /* sysfs path of the physical device, or NULL */
        char *port;                 /* the AT port as configured */
        char *uid;                  /* ModemManager's uid of the device, once a modem matched */
        char *owner;                /* ModemManager's unique bus name that uid belongs to */

        MmInhibitionState state;
        sd_bus_slot *slot;          /* the call in flight */
        sd_event_source *defer;     /* reports a result that needed no call */
        MmInhibitResult deferred_result;

        MmInhibitCallback callback; /* NULL once called, or once the handle was given back */
        void *userdata;
        bool given_back;            /* the client frees it when its call in flight returns */
};

/* The one funnel for an inhibition's state. Silent on purpose: what an operator needs of it (not
 * running, inhibited, refused) is logged once where it is learned, and the debug trace shows the
 * D-Bus calls themselves. */
static void mm_inhibition_set_state(MmInhibition *i, MmInhibitionState s) {
        assert(s >= 0 && s < _MM_STATE_MAX);
        i->state = s;
}

struct MmClient {
        sd_event *event;
        sd_bus *bus;                /* NULL until the first mm_inhibit() */
        sd_bus_slot *interfaces_added;
        sd_bus_slot *disconnected;
        MmInhibition *inhibitions;  /* every live inhibition, also those given back */
};

/* A modem object as ModemManager describes it; the strings are borrowed from the message. */
typedef struct MmModem {
        const char *device;
        const char **ports;
        size_t n_ports;
} MmModem;

static void mm_modem_done(MmModem *modem) {
        free(modem->ports);
        *modem = (MmModem) {};
}

#define log_mm(i, level, error, ...)                                                    \
        log_ctx_full_errno(&((LogContext) { .modem = (i)->port }), (level), (error), __VA_ARGS__)

/* The boundary where a D-Bus error becomes ours: a negative errno, for %m. The log lines show the
 * error's name and message next to it, which say more (...ModemManager1.Error.Core.Unauthorized). */
static int mm_errno(const sd_bus_error *e) {
        return e ? -sd_bus_error_get_errno(e) : 0;
}

/* The name ModemManager gives the port: the kernel's name of the device node. A configured by-id
 * symlink, or the simulator's link to a pty, resolves to it. */
static char *mm_inhibition_port_name(const MmInhibition *i) {
        _cleanup_free_ char *resolved = realpath(i->port, NULL);
        const char *p = resolved ?: i->port, *slash = strrchr(p, '/');

        return strdup(slash ? slash + 1 : p);
}

static bool mm_modem_is_ours(const MmModem *modem, const MmInhibition *i, const char *port_name) {
        if (!modem->device)
                return false;
        if (i->device && streq(modem->device, i->device))
                return true;
        for (size_t k = 0; k < modem->n_ports; k++)
                if (port_name && streq(modem->ports[k], port_name))
                        return true;
        return false;
}

/* Reads the properties of org.freedesktop.ModemManager1.Modem (a{sv}) that identify the device. */
static int mm_modem_read_properties(sd_bus_message *m, MmModem *modem) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                const char *name;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;

                if (streq(name, "Device"))
                        r = sd_bus_message_read(m, "v", "s", &modem->device);
                else if (streq(name, "Ports")) {
                        const char *port;
                        uint32_t type;

                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, "a(su)");
                        if (r < 0)
                                return r;
                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(su)");
                        if (r < 0)
                                return r;
                        while ((r = sd_bus_message_read(m, "(su)", &port, &type)) > 0) {
                                const char **p = reallocarray(modem->ports, modem->n_ports + 1, sizeof(char *));

                                if (!p)
                                        return -ENOMEM;
                                modem->ports = p;
                                modem->ports[modem->n_ports++] = port;
                        }
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(m);
}

/* Reads an object's interfaces (a{sa{sv}}, as in GetManagedObjects and InterfacesAdded). Returns 1
 * with the modem's identity when the object is a modem, 0 when it is not. */
static int mm_modem_read(sd_bus_message *m, MmModem *ret) {
        MmModem modem = {};
        bool is_modem = false;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sa{sv}}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sa{sv}")) > 0) {
                const char *interface;

                r = sd_bus_message_read(m, "s", &interface);
                if (r < 0)
                        goto fail;

                if (streq(interface, MM_MODEM_INTERFACE)) {
                        is_modem = true;
                        r = mm_modem_read_properties(m, &modem);
                } else
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r < 0)
                        goto fail;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;

        if (!is_modem) {
                mm_modem_done(&modem);
                return 0;
        }
        *ret = modem;
        return 1;

fail:
        mm_modem_done(&modem);
        return r;
}

static void mm_inhibition_report(MmInhibition *i, MmInhibitResult result) {
        MmInhibitCallback callback = TAKE_PTR(i->callback);

        /* Last thing done with i: the callback may give the handle back. */
        if (callback)
                callback(i, result, i->userdata);
}

static int on_deferred_report(sd_event_source *s, void *userdata) {
        MmInhibition *i = userdata;

        i->defer = sd_event_source_disable_unref(i->defer);
        mm_inhibition_report(i, i->deferred_result);
        return 0;
}

static int mm_inhibition_report_later(MmInhibition *i, MmInhibitResult result) {
        int r;

        i->deferred_result = result;
        r = sd_event_add_defer(i->client->event, &i->defer, on_deferred_report, i);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(i->defer, "modemmanager-report");
        return 0;
}

/* Not inhibited, and nothing in flight. */
static void mm_inhibition_not_inhibited(MmInhibition *i, MmInhibitionState state, MmInhibitResult result) {
        mm_inhibition_set_state(i, state);
        free(i->uid);
        i->uid = NULL;
        mm_inhibition_report(i, result);
}

static int on_inhibit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);
static int on_release_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static int mm_inhibition_call(MmInhibition *i, bool inhibit) {
        int r;

        r = sd_bus_call_method_async(i->client->bus, &i->slot, i->owner, MM_PATH, MM_INTERFACE, "InhibitDevice",
                                     inhibit ? on_inhibit_reply : on_release_reply, i, "sb", i->uid, inhibit);
        if (r < 0)
                return r;

        mm_inhibition_set_state(i, inhibit ? MM_STATE_INHIBITING : MM_STATE_RELEASING);
        return 0;
}

static void mm_inhibition_release(MmInhibition *i) {
        int r;

        r = mm_inhibition_call(i, false);
        if (r < 0) {
                log_mm(i, LOG_WARNING, r, "Cannot ask ModemManager to take back %s: %m; it gets it when dfotad leaves the bus",
                       i->uid);
                mm_inhibition_free(i);
        }
}

static int on_release_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MmInhibition *i = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        i->slot = sd_bus_slot_unref(i->slot);

        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                /* Addressed to the unique name of the ModemManager that inhibited: a new one never
                 * knew the inhibition. */
                log_mm(i, LOG_INFO, 0, "ModemManager has restarted since it inhibited %s; nothing to release", i->uid);
        else if (e)
                log_mm(i, LOG_WARNING, mm_errno(e), "ModemManager did not take back %s (%s: %s); it gets it when dfotad leaves the bus",
                       i->uid, e->name, strna(e->message));
        else
                log_mm(i, LOG_INFO, 0, "ModemManager has %s back", i->uid);

        mm_inhibition_free(i);
        return 0;
}

static int on_inhibit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MmInhibition *i = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        i->slot = sd_bus_slot_unref(i->slot);

        if (e) {
                log_mm(i, LOG_WARNING, mm_errno(e), "ModemManager did not inhibit %s (%s: %s); it may use %s during the upgrade",
                       i->uid, e->name, strna(e->message), i->port);
                if (i->given_back)
                        mm_inhibition_free(i);
                else
                        mm_inhibition_not_inhibited(i, MM_STATE_DONE, MM_INHIBIT_FAILED);
                return 0;
        }

        mm_inhibition_set_state(i, MM_STATE_INHIBITED);
        if (i->given_back) {
                /* Released while the call was in flight. */
                log_mm(i, LOG_INFO, 0, "ModemManager inhibited %s; releasing it at once", i->uid);
                mm_inhibition_release(i);
                return 0;
        }

        log_mm(i, LOG_INFO, 0, "ModemManager inhibited %s: it keeps off %s until the job ends", i->uid, i->port);
        mm_inhibition_report(i, MM_INHIBIT_INHIBITED);
        return 0;
}

/* Inhibits the modem if it is ours. Returns 1 when it was, 0 when not. */
static int mm_inhibition_try(MmInhibition *i, const MmModem *modem, const char *owner, const char *port_name) {
        int r;

        if (!mm_modem_is_ours(modem, i, port_name))
                return 0;

        r = free_and_strdup(&i->uid, modem->device);
        if (r >= 0)
                r = free_and_strdup(&i->owner, owner);
        if (r >= 0)
                r = mm_inhibition_call(i, true);
        if (r < 0) {
                log_mm(i, LOG_WARNING, r, "Cannot ask ModemManager to inhibit %s: %m; it may use %s during the upgrade",
                       modem->device, i->port);
                mm_inhibition_not_inhibited(i, MM_STATE_DONE, MM_INHIBIT_FAILED);
        }
        return 1;
}

static int on_managed_objects(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MmInhibition *i = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        _cleanup_free_ char *port_name = NULL;
        int r;

        i->slot = sd_bus_slot_unref(i->slot);

        if (e) {
                log_mm(i, LOG_WARNING, mm_errno(e), "ModemManager did not list its modems (%s: %s); not inhibiting, it may use %s during the upgrade",
                       e->name, strna(e->message), i->port);
                mm_inhibition_not_inhibited(i, MM_STATE_DONE, MM_INHIBIT_FAILED);
                return 0;
        }

        port_name = mm_inhibition_port_name(i);

        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_DICT_ENTRY, "oa{sa{sv}}")) > 0) {
                _cleanup_(mm_modem_done) MmModem modem = {};
                const char *path;

                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        break;
                r = mm_modem_read(reply, &modem);
                if (r < 0)
                        break;
                if (r > 0 && mm_inhibition_try(i, &modem, i->owner, port_name) > 0)
                        return 0;

                r = sd_bus_message_exit_container(reply);
        }
        if (r < 0) {
                log_mm(i, LOG_WARNING, r, "Cannot read ModemManager's list of modems: %m; not inhibiting, it may use %s during the upgrade",
                       i->port);
                mm_inhibition_not_inhibited(i, MM_STATE_DONE, MM_INHIBIT_FAILED);
                return 0;
        }

        log_mm(i, LOG_INFO, 0, "ModemManager knows no modem on %s (%s); not inhibiting unless it shows one",
               i->port, strna(port_name));
        mm_inhibition_not_inhibited(i, MM_STATE_WATCHING, MM_INHIBIT_SKIPPED);
        return 0;
}

static int on_name_owner(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MmInhibition *i = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *owner;
        int r;

        i->slot = sd_bus_slot_unref(i->slot);

        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                log_mm(i, LOG_INFO, 0, "ModemManager is not running; not inhibiting");
                mm_inhibition_not_inhibited(i, MM_STATE_WATCHING, MM_INHIBIT_SKIPPED);
                return 0;
        }
        if (e) {
                log_mm(i, LOG_WARNING, mm_errno(e), "Cannot tell whether ModemManager runs (%s: %s); not inhibiting",
                       e->name, strna(e->message));
                mm_inhibition_not_inhibited(i, MM_STATE_DONE, MM_INHIBIT_FAILED);
                return 0;
        }

        r = sd_bus_message_read(reply, "s", &owner);
        if (r >= 0)
                r = free_and_strdup(&i->owner, owner);
        if (r >= 0)
                /* To the unique name: the call must not start ModemManager if it just stopped. */
                r = sd_bus_call_method_async(i->client->bus, &i->slot, i->owner, MM_PATH,
                                             "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                             on_managed_objects, i, NULL);
        if (r < 0) {
                log_mm(i, LOG_WARNING, r, "Cannot ask ModemManager for its modems: %m; not inhibiting");
                mm_inhibition_not_inhibited(i, MM_STATE_DONE, MM_INHIBIT_FAILED);
        }
        return 0;
}

/* ModemManager exported a modem: one that started late, or one it finished probing. */
static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        MmClient *c = userdata;
        _cleanup_(mm_modem_done) MmModem modem = {};
        const char *path, *sender = sd_bus_message_get_sender(m);
        int r;

        if (!sender)
                return 0;

        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0)
                r = mm_modem_read(m, &modem);
        if (r < 0) {
                log_debug_errno(r, "Cannot read ModemManager's InterfacesAdded signal, ignoring: %m");
                return 0;
        }
        if (r == 0)
                return 0;

        for (MmInhibition *i = c->inhibitions; i; i = i->next) {
                _cleanup_free_ char *port_name = NULL;

                if (i->state != MM_STATE_WATCHING)
                        continue;

                port_name = mm_inhibition_port_name(i);
                if (!mm_modem_is_ours(&modem, i, port_name))
                        continue;

                log_mm(i, LOG_INFO, 0, "ModemManager now manages the modem on %s (%s); inhibiting %s",
                       i->port, path, modem.device);
                (void) mm_inhibition_try(i, &modem, sender, port_name);
                break;
        }
        return 0;
}

static int on_interfaces_added_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        /* Without the match only modems exported late go unnoticed: not worth the connection. */
        if (e)
                log_debug_errno(mm_errno(e), "Cannot watch ModemManager's modems (%s: %s), ignoring",
                                e->name, strna(e->message));
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        MmClient *c = userdata;

        /* ModemManager ends inhibitions of callers that leave the bus. Calls in flight have
         * failed already; the next mm_inhibit() connects again. */
        for (MmInhibition *i = c->inhibitions; i; i = i->next)
                if (i->state == MM_STATE_INHIBITED) {
                        log_mm(i, LOG_WARNING, 0, "Lost the connection to the system bus: ModemManager has %s back and may use %s",
                               i->uid, i->port);
                        mm_inhibition_set_state(i, MM_STATE_DONE);
                        free(i->uid);
                        i->uid = NULL;
                } else if (i->state == MM_STATE_WATCHING)
                        mm_inhibition_set_state(i, MM_STATE_DONE);
        return 0;
}

static void mm_client_disconnect(MmClient *c) {
        c->interfaces_added = sd_bus_slot_unref(c->interfaces_added);
        c->disconnected = sd_bus_slot_unref(c->disconnected);
        c->bus = sd_bus_flush_close_unref(c->bus);
}

static int mm_client_connect(MmClient *c) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (c->bus && sd_bus_is_open(c->bus) > 0)
                return 0;

        mm_client_disconnect(c);

        /* Our own connection rather than the process default: the inhibitions live and die with it. */
        r = sd_bus_open_system_with_description(&bus, "modemmanager");
        if (r < 0)
                return r;

        r = sd_bus_set_method_call_timeout(bus, MM_CALL_TIMEOUT_USEC);
        if (r < 0)
                return r;

        r = sd_bus_attach_event(bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        /* Sent before any call, so no modem exported after a GetManagedObjects is missed. */
        r = sd_bus_match_signal_async(bus, &c->interfaces_added, MM_SERVICE, MM_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
                                      on_interfaces_added, on_interfaces_added_installed, c);
        if (r < 0)
                return r;

        r = sd_bus_match_signal(bus, &c->disconnected, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, c);
        if (r < 0)
                return r;

        c->bus = TAKE_PTR(bus);
        return 0;
}

int mm_client_new(sd_event *event, MmClient **ret) {
        MmClient *c;

        c = calloc(1, sizeof(MmClient));
        if (!c)
                return -ENOMEM;

        c->event = sd_event_ref(event);
        *ret = c;
        return 0;
}

MmClient *mm_client_free(MmClient *c) {
        if (!c)
                return NULL;

        while (c->inhibitions)
                mm_inhibition_free(c->inhibitions);

        mm_client_disconnect(c);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

int mm_inhibit(MmClient *c, const char *device, const char *port, MmInhibitCallback callback, void *userdata,
               MmInhibition **ret) {
        _cleanup_(mm_inhibition_freep) MmInhibition *i = NULL;
        int r;

        i = calloc(1, sizeof(MmInhibition));
        if (!i)
                return -ENOMEM;

        *i = (MmInhibition) {
                .client = c,
                .next = c->inhibitions,
                .state = MM_STATE_ASKING,
                .callback = callback,
                .userdata = userdata,
        };
        if (c->inhibitions)
                c->inhibitions->prev = i;
        c->inhibitions = i;

        i->port = strdup(port);
        if (!i->port)
                return -ENOMEM;
        if (device) {
                i->device = strdup(device);
                if (!i->device)
                        return -ENOMEM;
        }

        r = mm_client_connect(c);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_mm(i, LOG_INFO, r, "ModemManager is not running; not inhibiting (no system bus: %m)");
                mm_inhibition_set_state(i, MM_STATE_DONE);
                r = mm_inhibition_report_later(i, MM_INHIBIT_SKIPPED);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(i);
                return 0;
        }

        /* The bus driver answers for a name that nobody owns; ModemManager itself, asked directly,
         * would be started by D-Bus activation. */
        r = sd_bus_call_method_async(c->bus, &i->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetNameOwner", on_name_owner, i, "s", MM_SERVICE);
        if (r < 0) {
                log_mm(i, LOG_WARNING, r, "Cannot ask the system bus whether ModemManager runs: %m; not inhibiting");
                mm_inhibition_set_state(i, MM_STATE_DONE);
                r = mm_inhibition_report_later(i, MM_INHIBIT_FAILED);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(i);
        return 0;
}

MmInhibition *mm_uninhibit(MmInhibition *i) {
        if (!i)
                return NULL;

        i->callback = NULL;
        i->given_back = true;
        i->defer = sd_event_source_disable_unref(i->defer);

        switch (i->state) {

        case MM_STATE_INHIBITING:
                /* on_inhibit_reply() releases it if ModemManager says yes. */
                break;

        case MM_STATE_INHIBITED:
                mm_inhibition_release(i);
                break;

        case MM_STATE_ASKING:
        case MM_STATE_WATCHING:
        case MM_STATE_DONE:
        case MM_STATE_RELEASING:
        case _MM_STATE_MAX:
        case _MM_STATE_INVALID:
                /* Nothing inhibited (yet): dropping the call in flight is enough. */
                mm_inhibition_free(i);
                break;
        }

        return NULL;
}

MmInhibition *mm_inhibition_free(MmInhibition *i) {
        if (!i)
                return NULL;

        if (i->prev)
                i->prev->next = i->next;
        else if (i->client->inhibitions == i)
                i->client->inhibitions = i->next;
        if (i->next)
                i->next->prev = i->prev;

        sd_bus_slot_unref(i->slot);
        sd_event_source_disable_unref(i->defer);
        free(i->device);
        free(i->port);
        free(i->uid);
        free(i->owner);
        free(i);
        return NULL;
}

const char *mm_inhibition_get_uid(const MmInhibition *i) {
        return i && i->state == MM_STATE_INHIBITED ? i->uid : NULL;
}
