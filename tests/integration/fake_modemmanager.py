#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A fake ModemManager for dfotad's tests, on a private dbus-daemon.

It owns org.freedesktop.ModemManager1 and plays the parts of ModemManager 1.20 that an inhibitor
sees (introspection/org.freedesktop.ModemManager1.xml; src/mm-base-manager.c, mm-device.c):

  - /org/freedesktop/ModemManager1 with org.freedesktop.DBus.ObjectManager.GetManagedObjects and
    org.freedesktop.ModemManager1.InhibitDevice(s uid, b inhibit);
  - one modem, /org/freedesktop/ModemManager1/Modem/<n>, whose Modem.Device is --device and whose
    Modem.Ports lists the AT port (--port, or the basename of --port-link resolved at each call,
    as a module's pty changes across reboots) with a QMI and a net port;
  - InhibitDevice(uid, true) unexports the modem (InterfacesRemoved) and binds the inhibition to
    the caller; InhibitDevice(uid, false) from that caller, or the caller leaving the bus
    (NameOwnerChanged), ends it and exports the modem again under a new path (InterfacesAdded);
  - ModemManager's refusals: NotFound for an unknown uid or an inhibition not ours to end,
    InProgress when inhibited already, WrongState when the modem is not exported.

Every call and every change is appended to --log as one JSON line, flushed, with "t"
(time.time()) and "mono" (time.monotonic()); a call also carries "observed": the number of
complete lines in --observe at that moment (the simulator's log), which orders the call against
what reached the module without comparing clocks. The first line is {"event": "ready"}, once the
name is owned.

--hidden starts with the modem not exported (ModemManager still probing, or started late);
SIGUSR1 exports it. --refuse NAME answers InhibitDevice(uid, true) with that D-Bus error.
SIGTERM/SIGINT: exit 0.
"""

import argparse
import json
import os
import signal
import sys
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

MM_NAME = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MM_MODEM = "org.freedesktop.ModemManager1.Modem"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
CORE_ERROR = "org.freedesktop.ModemManager1.Error.Core."

# MMModemPortType (ModemManager-enums.h)
PORT_NET, PORT_AT, PORT_QMI = 2, 3, 6

MANAGER_XML = """
<node>
  <interface name="org.freedesktop.ModemManager1">
    <method name="ScanDevices"/>
    <method name="SetLogging"><arg name="level" type="s" direction="in"/></method>
    <method name="InhibitDevice">
      <arg name="uid" type="s" direction="in"/>
      <arg name="inhibit" type="b" direction="in"/>
    </method>
    <property name="Version" type="s" access="read"/>
  </interface>
  <interface name="org.freedesktop.DBus.ObjectManager">
    <method name="GetManagedObjects">
      <arg name="objects" type="a{oa{sa{sv}}}" direction="out"/>
    </method>
    <signal name="InterfacesAdded">
      <arg name="object" type="o"/>
      <arg name="interfaces" type="a{sa{sv}}"/>
    </signal>
    <signal name="InterfacesRemoved">
      <arg name="object" type="o"/>
      <arg name="interfaces" type="as"/>
    </signal>
  </interface>
</node>
"""

MODEM_XML = """
<node>
  <interface name="org.freedesktop.ModemManager1.Modem">
    <property name="Device" type="s" access="read"/>
    <property name="Drivers" type="as" access="read"/>
    <property name="Plugin" type="s" access="read"/>
    <property name="PrimaryPort" type="s" access="read"/>
    <property name="Ports" type="a(su)" access="read"/>
    <property name="Manufacturer" type="s" access="read"/>
    <property name="Model" type="s" access="read"/>
  </interface>
</node>
"""


class FakeModemManager:
    def __init__(self, args):
        self.args = args
        self.log = open(args.log, "a", encoding="utf-8")
        self.loop = GLib.MainLoop()
        self.conn = Gio.DBusConnection.new_for_address_sync(
            args.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.manager_info = Gio.DBusNodeInfo.new_for_xml(MANAGER_XML)
        self.modem_info = Gio.DBusNodeInfo.new_for_xml(MODEM_XML).interfaces[0]
        self.modem_index = -1
        self.modem_path = None      # exported modem, or None
        self.modem_reg = None
        self.inhibitor = None       # unique name of the caller holding the inhibition
        self.watch = None           # NameOwnerChanged subscription for the inhibitor

        for iface in self.manager_info.interfaces:
            self.conn.register_object(MM_PATH, iface, self.on_method_call, self.on_get_property, None)
        if not args.hidden:
            self.export()

        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "RequestName",
                                    GLib.Variant("(su)", (MM_NAME, 4)),  # DO_NOT_QUEUE
                                    GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, -1, None)
        if reply.unpack()[0] != 1:  # PRIMARY_OWNER
            raise SystemExit(f"fake_modemmanager: cannot own {MM_NAME}")

        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.quit)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.quit)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, self.on_sigusr1)
        self.record("ready", unique=self.conn.get_unique_name(), device=args.device,
                    exported=self.modem_path)

    # --- the record ------------------------------------------------------------------------
    def observed(self):
        if not self.args.observe:
            return None
        try:
            with open(self.args.observe, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def record(self, event, **fields):
        rec = {"t": time.time(), "mono": time.monotonic(), "event": event}
        rec.update(fields)
        self.log.write(json.dumps(rec) + "\n")
        self.log.flush()

    # --- the modem -------------------------------------------------------------------------
    def port_name(self):
        if self.args.port:
            return self.args.port
        try:
            return os.path.basename(os.path.realpath(self.args.port_link, strict=True))
        except OSError:
            return None

    def modem_properties(self):
        port = self.port_name()
        ports = ([(port, PORT_AT)] if port else []) + [("cdc-wdm0", PORT_QMI), ("wwan0", PORT_NET)]
        return {
            "Device": GLib.Variant("s", self.args.device),
            "Drivers": GLib.Variant("as", ["option", "qmi_wwan"]),
            "Plugin": GLib.Variant("s", "quectel"),
            "PrimaryPort": GLib.Variant("s", "cdc-wdm0"),
            "Ports": GLib.Variant("a(su)", ports),
            "Manufacturer": GLib.Variant("s", "Quectel"),
            "Model": GLib.Variant("s", "EC25"),
        }

    def export(self):
        self.modem_index += 1
        self.modem_path = f"{MM_PATH}/Modem/{self.modem_index}"
        self.modem_reg = self.conn.register_object(self.modem_path, self.modem_info, None,
                                                   self.on_get_property, None)
        self.conn.emit_signal(None, MM_PATH, OBJECT_MANAGER, "InterfacesAdded",
                              GLib.Variant("(oa{sa{sv}})",
                                           (self.modem_path, {MM_MODEM: self.modem_properties()})))
        self.record("exported", path=self.modem_path, port=self.port_name())

    def unexport(self):
        path = self.modem_path
        self.conn.unregister_object(self.modem_reg)
        self.modem_path = self.modem_reg = None
        self.conn.emit_signal(None, MM_PATH, OBJECT_MANAGER, "InterfacesRemoved",
                              GLib.Variant("(oas)", (path, [MM_MODEM])))
        self.record("unexported", path=path)

    # --- D-Bus -----------------------------------------------------------------------------
    def on_get_property(self, conn, sender, path, interface, name):
        if interface == MM_MODEM:
            return self.modem_properties()[name]
        if name == "Version":
            return GLib.Variant("s", "1.20.4-fake")
        return None

    def on_method_call(self, conn, sender, path, interface, method, params, invocation):
        if method == "GetManagedObjects":
            self.record("call", method=method, sender=sender, observed=self.observed())
            objects = {}
            if self.modem_path:
                objects[self.modem_path] = {MM_MODEM: self.modem_properties()}
            invocation.return_value(GLib.Variant("(a{oa{sa{sv}}})", (objects,)))
        elif method == "InhibitDevice":
            uid, inhibit = params.unpack()
            self.record("call", method=method, uid=uid, inhibit=inhibit, sender=sender,
                        observed=self.observed())
            error = self.inhibit(sender, uid) if inhibit else self.uninhibit(sender, uid)
            if error:
                self.record("error", method=method, uid=uid, inhibit=inhibit, sender=sender,
                            error=CORE_ERROR + error[0])
                invocation.return_dbus_error(CORE_ERROR + error[0], error[1])
            else:
                invocation.return_value(None)
        else:
            self.record("call", method=method, sender=sender)
            invocation.return_value(None)

    def inhibit(self, sender, uid):
        if uid != self.args.device:
            return "NotFound", f"No device found with uid '{uid}'"
        if self.inhibitor:
            return "InProgress", f"Device '{uid}' is already inhibited"
        if not self.modem_path:
            return "WrongState", "Modem not exported in the bus"
        if self.args.refuse:
            return self.args.refuse, "refused by the test"
        self.inhibitor = sender
        self.watch = self.conn.signal_subscribe(
            "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
            "/org/freedesktop/DBus", sender, Gio.DBusSignalFlags.NONE, self.on_name_owner_changed,
            None)
        self.unexport()
        self.record("inhibited", uid=uid, sender=sender)
        return None

    def end_inhibition(self):
        self.conn.signal_unsubscribe(self.watch)
        self.watch = None
        self.inhibitor = None
        self.export()

    def uninhibit(self, sender, uid):
        if uid != self.args.device or self.inhibitor != sender:
            return "NotFound", f"No inhibition found for uid '{uid}'"
        self.end_inhibition()
        self.record("uninhibited", uid=uid, sender=sender)
        return None

    def on_name_owner_changed(self, conn, sender, path, interface, signal_name, params, data):
        name, old, new = params.unpack()
        if name != self.inhibitor or new:
            return
        self.end_inhibition()
        self.record("released by disconnect", uid=self.args.device, sender=name)

    # --- signals ---------------------------------------------------------------------------
    def on_sigusr1(self):
        if not self.modem_path and not self.inhibitor:
            self.export()
        return GLib.SOURCE_CONTINUE

    def quit(self):
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def run(self):
        self.loop.run()
        self.record("exit")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--address", default=os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"),
                   help="the bus (default: $DBUS_SYSTEM_BUS_ADDRESS)")
    p.add_argument("--log", required=True, help="JSON lines of every call and change")
    p.add_argument("--device", default="/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1",
                   help="the modem's Device property (its uid)")
    port = p.add_mutually_exclusive_group(required=True)
    port.add_argument("--port", help="the AT port's name in Ports")
    port.add_argument("--port-link", help="a link whose target's basename is the AT port's name")
    p.add_argument("--observe", help="a file whose complete lines are counted at each call")
    p.add_argument("--hidden", action="store_true", help="start with the modem not exported")
    p.add_argument("--refuse", metavar="NAME",
                   help="answer InhibitDevice(uid, true) with "
                        "org.freedesktop.ModemManager1.Error.Core.NAME")
    args = p.parse_args()
    if not args.address:
        p.error("no --address and no DBUS_SYSTEM_BUS_ADDRESS")
    FakeModemManager(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
