# SPDX-License-Identifier: MIT
"""The umockdev test bed of the hotplug tests: fake USB modules on a fake bus, their ttys backed by
ptys, and a quectel-sim behind each module's AT port.

Everything runs inside one umockdev test bed (the test process must run under umockdev-wrapper;
dfotad, started from it, inherits LD_PRELOAD and gets UMOCKDEV_DIR from `Bed.env()`).

A module is a usb_device (idVendor/idProduct/manufacturer/product) with its interfaces, each tty
interface with a usb-serial port and a tty class device, as the kernel's option driver lays them
out (`1-1`, `1-1:1.2`, `1-1:1.2/ttyUSB2`, `1-1:1.2/ttyUSB2/tty/ttyUSB2`). With `rules=True` the
ttys carry the properties dfotad's udev rules would set (DFOTAD_PORT_TYPE, DFOTAD_FAMILY); without,
only what udev's built-ins set, so dfotad has to fall back to its VID:PID:interface table.

The simulator runs with --control-fd: it gets the pty master of the AT port over a SOCK_SEQPACKET
socket (SCM_RIGHTS) and asks the bed to unplug and plug the module when it reboots. Plugging in
again re-enumerates the whole module, like the kernel: every tty gets a name never used before
(umockdev cannot re-create a device node it had, and a real kernel gives new minors while the old
ttys are still held open), so the AT port moves ttyUSB2 -> ttyUSB6 -> ttyUSB10.

Uevents are paced: umockdev delivers them over an AF_UNIX datagram socket per udev monitor, whose
queue holds net.unix.max_dgram_qlen (10) events, and umockdev 0.17 aborts the test process when
one is full (a kernel would drop the event and flag ENOBUFS). dfotad rate-limits its monitor, so
a burst (a re-enumeration is 14 events, the storm 100) would overflow it. Before every event the
bed waits until every monitor has room (`Bed.gate`): lossless delivery, as with a large enough
netlink receive buffer, which is what dfotad asks the kernel for.

Plugging in adds the devices parents first (umockdev sends their "add" uevents). Unplugging is
done in kernel order: the ttys hang up first (the bed drops its master of every tty of the module;
the simulator has closed its own), then the "remove" uevents come, children before parents (tty,
usb-serial port, interface, ..., usb_device), each device leaving sysfs right after its uevent.
"""

import ctypes
import errno
import fcntl
import glob
import json
import os
import select
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

from conftest import SCENARIOS, SIM, Sim, _libc, scaled  # noqa: E402

BUS = "/devices/pci0000:00/0000:00:14.0/usb1"
TIOCGPTN = 0x80045430

# The USB identities of the modules (reference modem.md §2): the AT port is interface 2 on all.
MODELS = {
    "EC25": {"vid": "2c7c", "pid": "0125", "bcd": "0318", "product": "EC25-E", "family": "ec2x"},
    "EP06": {"vid": "2c7c", "pid": "0306", "bcd": "0310", "product": "EP06-E", "family": "ep06"},
    "RM500Q": {"vid": "2c7c", "pid": "0800", "bcd": "0414", "product": "RM500Q-GL", "family": "rg50x"},
    "UC20": {"vid": "05c6", "pid": "9003", "bcd": "0000", "product": "Qualcomm CDMA Technologies MSM",
             "family": "ucxx", "manufacturer": "Qualcomm, Incorporated"},
}
# What each interface of a Quectel Qualcomm module is (modem.md §2): DIAG, NMEA, AT, AT (modem),
# then the QMI network interface (no tty).
QUECTEL_TTY_INTERFACES = (0, 1, 2, 3)
AT_INTERFACE = 2

IN_ACCESS, IN_MODIFY, IN_OPEN = 0x1, 0x2, 0x20


class Tty:
    """One pty-backed tty of the bed. `master` is the testbed's fd (never closed by us: the
    testbed closes it at the end; dropping it is done by dup2-ing /dev/null over it)."""

    def __init__(self, bed, name, syspath, master, watch):
        self.bed = bed
        self.name = name
        self.devnode = f"/dev/{name}"
        self.syspath = syspath                      # /sys/devices/.../ttyUSB2/tty/ttyUSB2
        self.master = master
        self.pts = "/dev/pts/%d" % struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        self.present = True
        self.inotify = None
        if watch:
            # Opening the slave (through /dev/ttyUSBn, which points at it) shows up as IN_OPEN:
            # "never opened" is checked, not guessed.
            self.inotify = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            assert self.inotify >= 0, os.strerror(ctypes.get_errno())
            assert _libc.inotify_add_watch(self.inotify, self.pts.encode(),
                                           IN_OPEN | IN_ACCESS | IN_MODIFY) >= 0, \
                os.strerror(ctypes.get_errno())

    def touched(self):
        """What shows that somebody used this tty: opens (inotify) and bytes written to it."""
        seen = []
        if self.inotify is not None:
            try:
                data = os.read(self.inotify, 65536)
            except BlockingIOError:
                data = b""
            masks = []
            while data:
                _, mask, _, length = struct.unpack_from("iIII", data)
                if mask & (IN_OPEN | IN_ACCESS | IN_MODIFY):    # not IN_IGNORED: the pty went
                    masks.append(mask)
                data = data[16 + length:]
            if masks:
                seen.append(f"{len(masks)} inotify event(s) on {self.pts}: "
                            + ", ".join(hex(m) for m in masks))
        if self.present:
            try:
                os.set_blocking(self.master, False)
                got = os.read(self.master, 65536)
                if got:
                    seen.append(f"{len(got)} byte(s) written: {got[:80]!r}")
            except OSError as e:
                if e.errno not in (errno.EIO, errno.EAGAIN):
                    raise
        return seen

    def hang_up(self):
        """The bed's master goes (a /dev/null takes its fd number, which the testbed closes at the
        end): once nobody else holds the master, the daemon's fd sees HUP and EOF."""
        if self.present:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            os.dup2(null, self.master, inheritable=False)
            os.close(null)
            self.present = False

    def close(self):
        if self.inotify is not None:
            os.close(self.inotify)
            self.inotify = None


class ControlledSim(Sim):
    """quectel-sim with --control-fd: same events/rx_lines/... as the harness's Sim."""

    def __init__(self, tmp, scenario, name, sock):
        scenario_path = Path(scenario)
        if not scenario_path.is_absolute():
            scenario_path = SCENARIOS / (scenario if scenario.endswith(".json") else scenario + ".json")
        self.scenario = scenario_path
        self.link = None
        self.log_path = tmp / f"{name}.sim.jsonl"
        self.pid_path = tmp / f"{name}.sim.pid"
        self.out_path = tmp / f"{name}.sim.out"
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}   # it only talks on fds
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(SIM), "--control-fd", str(sock.fileno()), "--scenario",
             str(scenario_path), "--log", str(self.log_path), "--pid-file", str(self.pid_path)],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT, env=env,
            pass_fds=[sock.fileno()])
        self.pid = None

    def wait_started(self):
        self.wait_event(lambda e: e["event"] == "port_request", scaled(10),
                        "the simulator to ask for its port")
        self.pid = self.proc.pid


class Module:
    """A Quectel module on the fake bus, with (optionally) a simulator behind its AT port."""

    def __init__(self, bed, busport, model, rules, scenario, vid=None, pid=None):
        self.bed = bed
        self.busport = busport
        self.model = model
        self.ident = dict(MODELS[model])
        if vid:
            self.ident["vid"] = vid
        if pid:
            self.ident["pid"] = pid
        self.rules = rules
        self.devpath = f"{BUS}/{busport}"
        self.syspath = "/sys" + self.devpath
        self.plugged = False
        self.plugs = 0
        self.ttys = {}              # interface number -> Tty (the current enumeration)
        self.history = []           # every AT Tty this module ever had, in order
        self.handed = False         # the current AT master went to the simulator
        self.request_pending = False
        self.auto_replug = False    # plug back in when the simulator asks (after a reboot); on
                                    # from the first plug() on, off after a pull
        self.pulled = False
        self.removed = threading.Condition(bed.lock)
        self.sim = None
        self.sock = None
        self.thread = None
        if scenario is not None:
            self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
            os.set_inheritable(theirs.fileno(), True)
            name = f"sim-{busport}"
            self.sim = ControlledSim(bed.tmp, scenario, name, theirs)
            theirs.close()
            self.thread = threading.Thread(target=self._serve, name=f"bed-{busport}", daemon=True)
            self.thread.start()

    # --- names ------------------------------------------------------------------------------------
    @property
    def at(self):
        """The AT port's current (or last) Tty."""
        return self.history[-1] if self.history else None

    # --- plugging -----------------------------------------------------------------------------------
    def description(self, names):
        ident = self.ident
        manufacturer = ident.get("manufacturer", "Quectel")
        usb = [f"P: {self.devpath}",
               "E: SUBSYSTEM=usb", "E: DEVTYPE=usb_device", "E: DRIVER=usb",
               f"E: PRODUCT={ident['vid']}/{ident['pid'].lstrip('0') or '0'}/{ident['bcd'].lstrip('0') or '0'}",
               "E: TYPE=239/2/1", "E: BUSNUM=001", f"E: DEVNUM={self.bed.devnum():03d}",
               f"E: ID_VENDOR_ID={ident['vid']}", f"E: ID_MODEL_ID={ident['pid']}",
               f"A: idVendor={ident['vid']}", f"A: idProduct={ident['pid']}", f"A: bcdDevice={ident['bcd']}",
               f"A: manufacturer={manufacturer}", f"A: product={ident['product']}",
               "A: bDeviceClass=ef", "A: bNumInterfaces= 5", "A: busnum=1",
               f"A: devpath={self.busport.split('-', 1)[1]}", "A: speed=480"]
        out = ["\n".join(usb)]
        for num in range(5):
            intf = f"{self.devpath}/{self.busport}:1.{num}"
            is_tty = num in QUECTEL_TTY_INTERFACES
            out.append("\n".join([
                f"P: {intf}", "E: SUBSYSTEM=usb", "E: DEVTYPE=usb_interface",
                f"E: DRIVER={'option' if is_tty else 'qmi_wwan'}",
                f"E: INTERFACE=255/{'0/0' if is_tty else '255/255'}",
                f"A: bInterfaceNumber={num:02x}", "A: bInterfaceClass=ff",
                "A: bAlternateSetting= 0", f"A: bNumEndpoints={'02' if num < 2 else '03'}"]))
            if not is_tty:
                continue
            name = names[num]
            out.append("\n".join([f"P: {intf}/{name}", "E: SUBSYSTEM=usb-serial", "E: DRIVER=option1",
                                  "A: port_number=0"]))
            minor = int(name[len("ttyUSB"):])
            props = [f"E: DEVNAME=/dev/{name}", "E: SUBSYSTEM=tty", "E: MAJOR=188", f"E: MINOR={minor}",
                     "E: ID_BUS=usb", f"E: ID_VENDOR_ID={ident['vid']}", f"E: ID_MODEL_ID={ident['pid']}",
                     f"E: ID_USB_INTERFACE_NUM={num:02x}", "E: ID_USB_DRIVER=option",
                     f"E: ID_PATH=pci-0000:00:14.0-usb-0:{self.busport.split('-', 1)[1]}:1.{num}"]
            if self.rules and num == AT_INTERFACE:
                props += ["E: DFOTAD_PORT_TYPE=at", f"E: DFOTAD_FAMILY={ident['family']}"]
            out.append("\n".join([f"P: {intf}/{name}/tty/{name}", f"N: {name}"] + props
                                 + [f"A: dev=188:{minor}"]))
        return "\n\n".join(out) + "\n"

    def plug(self):
        """Plug the module in: the whole device tree appears (new tty names), with "add" uevents
        parents first. A simulator waiting for its port (start, reboot) or pulled gets it."""
        with self.bed.lock:
            assert not self.plugged, f"{self.busport} is plugged in already"
            names = {num: self.bed.tty_name() for num in QUECTEL_TTY_INTERFACES}
            text = self.description(names)
            self.bed.add(text)
            self.ttys = {}
            for num in QUECTEL_TTY_INTERFACES:
                syspath = f"{self.syspath}/{self.busport}:1.{num}/{names[num]}/tty/{names[num]}"
                self.ttys[num] = Tty(self.bed, names[num], syspath, self.bed.tb.get_dev_fd(f"/dev/{names[num]}"),
                                     watch=num != AT_INTERFACE)
                self.bed.ttys.append(self.ttys[num])
            self.history.append(self.ttys[AT_INTERFACE])
            self.plugged = True
            self.plugs += 1
            self.handed = False
            self.auto_replug = True
            self.bed.note(f"plug {self.busport} ({self.model}, rules={self.rules}): "
                          + " ".join(f"if{n}={names[n]}" for n in names))
            if self.sim is not None and (self.request_pending or self.pulled):
                self._hand()
            return self.ttys[AT_INTERFACE]

    def _hand(self):
        at = self.ttys[AT_INTERFACE]
        msg = json.dumps({"op": "port", "name": at.devnode}).encode()
        socket.send_fds(self.sock, [msg], [at.master])
        self.handed = True
        self.request_pending = False
        self.pulled = False
        self.bed.note(f"handed {at.devnode} ({at.pts}) to the simulator of {self.busport}")

    def _remove(self):
        """Unplug (lock held): hang-ups, then remove uevents children first, sysfs gone first."""
        assert self.plugged
        for t in self.ttys.values():
            t.hang_up()
        for num in range(5):
            intf = f"{self.syspath}/{self.busport}:1.{num}"
            if num in self.ttys:
                t = self.ttys[num]
                self.bed.remove(t.syspath)
                self.bed.forget_pty(t)
                self.bed.remove(f"{intf}/{t.name}")
            self.bed.remove(intf)
        self.bed.remove(self.syspath)
        self.plugged = False
        self.bed.note(f"unplugged {self.busport}")
        self.removed.notify_all()

    def unplug(self, timeout=5):
        """Pull the cable: the simulator loses its port and power (it closes its master and
        confirms), then the device tree goes. It comes back only with plug()."""
        with self.bed.lock:
            assert self.plugged, f"{self.busport} is not plugged in"
            if self.sim is None:
                self._remove()
                return
            self.pulled = True
            self.auto_replug = False
            self.bed.note(f"pull {self.busport}")
            self.sock.send(json.dumps({"op": "pull"}).encode())
            deadline = time.monotonic() + scaled(timeout)
            while self.plugged:
                left = deadline - time.monotonic()
                assert left > 0, f"the simulator of {self.busport} did not confirm the pull"
                self.removed.wait(left)

    def flap(self, count):
        """`count` remove/add uevent pairs for the AT tty in a burst; the device stays (same
        name, same pty): what a flaky cable or hub looks like to a udev monitor."""
        with self.bed.lock:
            at = self.ttys[AT_INTERFACE]
            self.bed.note(f"flap {at.name} x{count}")
            for _ in range(count):
                self.bed.uevent(at.syspath, "remove")
                self.bed.uevent(at.syspath, "add")

    # --- the simulator's requests ---------------------------------------------------------------------
    def _serve(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            msg = json.loads(data)
            with self.bed.lock:
                self.bed.note(f"simulator of {self.busport}: {msg}")
                if msg["op"] == "plug":
                    if self.plugged and not self.handed:
                        self._hand()
                    elif not self.plugged and self.auto_replug:
                        self.request_pending = True
                        self.plug()         # hands the port (RLock)
                    elif not self.plugged:
                        self.request_pending = True      # the test plugs it in
                    else:
                        self.bed.note(f"ERROR: {self.busport} asks for a port while it has one")
                        self.bed.errors.append(f"{self.busport}: port requested while handed")
                elif msg["op"] == "unplug":
                    if self.plugged:
                        self._remove()
                    self.removed.notify_all()

    def close(self):
        if self.sim is not None:
            self.sim.stop()
        if self.sock is not None:
            self.sock.close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class Bed:
    """One umockdev test bed per test."""

    def __init__(self, tmp, on_sim=None):
        """tmp: where the simulators' logs and the bed's log go; on_sim(sim) is called for every
        simulator started (the harness shows their logs when a test fails)."""
        if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
            raise RuntimeError("the hotplug tests must run under umockdev-wrapper")
        self.tmp = Path(tmp)
        self.on_sim = on_sim
        self.tb = UMockdev.Testbed.new()
        self.root = self.tb.get_root_dir()
        self.lock = threading.RLock()
        self.t0 = time.monotonic()
        self.log = []
        self.errors = []            # protocol errors of the simulators' requests
        self.modules = []
        self.ttys = []
        self._next_tty = 0
        self._reserved = set()
        self._devnum = 1
        self.log_path = self.tmp / "bed.log"

    def env(self):
        """What dfotad needs besides the inherited LD_PRELOAD."""
        return {"UMOCKDEV_DIR": self.root}

    def note(self, text):
        line = f"{time.monotonic() - self.t0:8.3f} {text}"
        self.log.append(line)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")

    def log_text(self):
        return "\n".join(self.log)

    def tty_name(self):
        while self._next_tty in self._reserved:
            self._next_tty += 1
        n = self._next_tty
        self._next_tty += 1
        return f"ttyUSB{n}"

    def devnum(self):
        self._devnum += 1
        return self._devnum

    def gate(self, timeout=10):
        """Waits until every udev monitor in the bed can queue one more event (see the module's
        doc). A datagram socket connected to a monitor's socket polls writable only while the
        monitor's queue is not full; only the bed sends, so the room lasts until it does."""
        deadline = time.monotonic() + scaled(timeout)
        for path in glob.glob(os.path.join(self.root, "event[0-9]*")):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            try:
                try:
                    s.connect(path)
                except (ConnectionRefusedError, FileNotFoundError):
                    continue        # a monitor closed meanwhile (umockdev tidies up its socket)
                p = select.poll()
                p.register(s, select.POLLOUT)
                left = max(0, deadline - time.monotonic())
                if not p.poll(int(left * 1000)):
                    raise AssertionError(f"a udev monitor ({path}) read no event for {timeout} s: "
                                         "does dfotad still read its udev monitor?")
            finally:
                s.close()

    def add(self, text):
        """Adds the devices described (umockdev-record format), one by one, parents first;
        umockdev sends the "add" uevent of each. Returns their syspaths in order."""
        paths = []
        with self.lock:
            for block in text.strip().split("\n\n"):
                self.gate()
                self.tb.add_from_string(block + "\n")
                paths.append("/sys" + block.split("\n", 1)[0][3:])
        return paths

    def uevent(self, syspath, action):
        with self.lock:
            self.gate()
            self.tb.uevent(syspath, action)

    def remove(self, syspath):
        """The "remove" uevent, and the device leaves sysfs right after it (umockdev cannot send
        a uevent for a device that is gone; on real hardware sysfs is gone first, so dfotad must
        not count on reading the removed device's attributes either way)."""
        with self.lock:
            self.gate()
            self.tb.uevent(syspath, "remove")
            self.tb.remove_device(syspath)

    def forget_pty(self, tty):
        """umockdev maps each pty to its device (dev/.ptymap/_dev_pts_N -> 188:2) and keeps the
        entry after remove_device; the kernel reuses the freed pts number, and the next tty on
        it would trip umockdev's assertion. The pty is gone (hung up), so its entry goes too."""
        entry = Path(self.root, "dev", ".ptymap", tty.pts.replace("/", "_"))
        try:
            entry.unlink()
        except FileNotFoundError:
            pass

    # --- devices ------------------------------------------------------------------------------------------
    def add_module(self, busport="1-1", model="EC25", rules=True, scenario="ec25-http-success",
                   plugged=True, **kw):
        """A module on `busport`; with plugged=False it appears only with module.plug()."""
        m = Module(self, busport, model, rules, scenario, **kw)
        self.modules.append(m)
        if m.sim is not None and self.on_sim is not None:
            self.on_sim(m.sim)
        if plugged:
            m.plug()
        if m.sim is not None:
            m.sim.wait_started()
        return m

    def add_ftdi(self, busport="1-3", first=20):
        """An FTDI FT4232H (0403:6011, four serial interfaces 00..03, so one of them is interface
        02 like a Quectel AT port): nothing of dfotad's business. Its ttys are ttyUSB<first>...;
        returns them."""
        ttys = []
        with self.lock:
            dev = f"{BUS}/{busport}"
            blocks = ["\n".join([f"P: {dev}", "E: SUBSYSTEM=usb", "E: DEVTYPE=usb_device", "E: DRIVER=usb",
                                 "E: PRODUCT=403/6011/800", f"E: DEVNUM={self.devnum():03d}",
                                 "E: ID_VENDOR_ID=0403", "E: ID_MODEL_ID=6011",
                                 "A: idVendor=0403", "A: idProduct=6011", "A: bcdDevice=0800",
                                 "A: manufacturer=FTDI", "A: product=Quad RS232-HS", "A: busnum=1"])]
            names = []
            for num in range(4):
                name = f"ttyUSB{first + num}"
                self._reserved.add(first + num)
                names.append((num, name))
                intf = f"{dev}/{busport}:1.{num}"
                blocks.append("\n".join([f"P: {intf}", "E: SUBSYSTEM=usb", "E: DEVTYPE=usb_interface",
                                         "E: DRIVER=ftdi_sio", "E: INTERFACE=255/255/255",
                                         f"A: bInterfaceNumber={num:02x}", "A: bInterfaceClass=ff"]))
                blocks.append("\n".join([f"P: {intf}/{name}", "E: SUBSYSTEM=usb-serial",
                                         "E: DRIVER=ftdi_sio", "A: port_number=0"]))
                blocks.append("\n".join([
                    f"P: {intf}/{name}/tty/{name}", f"N: {name}", f"E: DEVNAME=/dev/{name}",
                    "E: SUBSYSTEM=tty", "E: MAJOR=188", f"E: MINOR={first + num}", "E: ID_BUS=usb",
                    "E: ID_VENDOR_ID=0403", "E: ID_MODEL_ID=6011", f"E: ID_USB_INTERFACE_NUM={num:02x}",
                    "E: ID_USB_DRIVER=ftdi_sio", f"A: dev=188:{first + num}"]))
            text = "\n\n".join(blocks) + "\n"
            self.add(text)
            for num, name in names:
                t = Tty(self, name, f"{dev}/{busport}:1.{num}/{name}/tty/{name}",
                        self.tb.get_dev_fd(f"/dev/{name}"), watch=True)
                self.ttys.append(t)
                ttys.append(t)
            self.note(f"plug FTDI {busport}: " + " ".join(n for _, n in names))
        return ttys

    # --- checks -------------------------------------------------------------------------------------------
    def fds_on(self, pid):
        """{pts: count} of the daemon's fds on the bed's ptys. An fd still held on a pty that was
        unplugged (hung up, gone) counts as "/dev/pts/N (deleted)"."""
        mine = {t.pts for t in self.ttys}
        counts = {}
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / fd)
            except FileNotFoundError:
                continue
            if target.removesuffix(" (deleted)") in mine:
                counts[target] = counts.get(target, 0) + 1
        return counts

    def close(self):
        for m in self.modules:
            m.close()
        with self.lock:
            for t in self.ttys:
                t.close()
            self.tb = None   # the testbed closes its masters and removes its directory

