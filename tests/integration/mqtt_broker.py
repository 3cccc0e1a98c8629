# SPDX-License-Identifier: MIT
"""A real mosquitto broker for the MQTT control-plane tests (test-infra.md §3).

Broker(dir) writes a mosquitto config with the listeners asked for, all on loopback:

  "plain"         anonymous MQTT over TCP
  "password"      MQTT over TCP, username/password only (password_file made with mosquitto_passwd)
  "tls"           anonymous MQTT over TLS (server certificate for localhost / 127.0.0.1, signed by
                  a throwaway CA)
  "tls_password"  TLS and username/password
  "unix"          anonymous, on a unix socket (<dir>/mq.sock)

Ports are picked by binding port 0 and releasing it (a small race: a start that loses it picks
again); a restart (stop()/kill() then start()) reuses the same ports, which is what a daemon
reconnecting to "the broker" sees. With persistence=True sessions, queued messages and retained
messages survive a stop(); across a kill() only what the last save() wrote survives, as with a
real broker.

Nothing sleeps: the start waits (inotify, conftest.wait_until) for mosquitto's own "running" line
in its log, then checks the plain port with one bounded connect.
"""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from conftest import scaled, wait_until

USERNAME = "alice"
PASSWORD = "s3cret"

LISTENER_KINDS = ("plain", "password", "tls", "tls_password", "unix")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=scaled(30))
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")


def make_ca(directory, name="ca", cn="dfotad test CA"):
    """A throwaway self-signed CA: returns (cert path, key path)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    if not crt.exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                 "-out", str(crt), "-days", "2", "-subj", f"/CN={cn}", cwd=d)
    return crt, key


def make_server_cert(directory, ca_crt, ca_key, name="server"):
    """A server certificate for localhost / 127.0.0.1 signed by the CA: (cert path, key path)."""
    d = Path(directory)
    crt, key, csr, ext = (d / f"{name}.crt", d / f"{name}.key", d / f"{name}.csr",
                          d / f"{name}.ext")
    if not crt.exists():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                 "-subj", "/CN=localhost", cwd=d)
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext), cwd=d)
    return crt, key


class BrokerError(AssertionError):
    pass


class Broker:
    def __init__(self, directory, listeners=("plain",), persistence=False,
                 username=USERNAME, password=PASSWORD, name="mosquitto"):
        unknown = set(listeners) - set(LISTENER_KINDS)
        assert not unknown, f"unknown listener kinds {unknown}"
        self.dir = Path(directory) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kinds = tuple(listeners)
        self.persistence = persistence
        self.username = username
        self.password = password
        self.conf_path = self.dir / "mosquitto.conf"
        self.log_path = self.dir / "mosquitto.log"
        self.socket_path = self.dir / "mq.sock"
        self.proc = None
        self.starts = 0
        self._log_offset = 0
        self.ports = {}
        self.ca_crt = self.ca_key = self.server_crt = self.server_key = None
        self.passwd_path = None
        if any(k in ("tls", "tls_password") for k in self.kinds):
            self.ca_crt, self.ca_key = make_ca(self.dir)
            self.server_crt, self.server_key = make_server_cert(self.dir, self.ca_crt, self.ca_key)
        if any(k in ("password", "tls_password") for k in self.kinds):
            self.passwd_path = self.dir / "passwd"
            r = subprocess.run(["mosquitto_passwd", "-c", "-b", str(self.passwd_path), username,
                                password], capture_output=True, text=True, timeout=scaled(10))
            if r.returncode != 0:
                raise RuntimeError(f"mosquitto_passwd failed: {r.stderr}")

    # --------------------------------------------------------------------------------------------

    @property
    def host(self):
        return "127.0.0.1"

    def port(self, kind="plain"):
        return self.ports[kind]

    def _config_text(self):
        lines = [
            "# generated by tests/integration/mqtt_broker.py",
            "per_listener_settings true",
            f"persistence {'true' if self.persistence else 'false'}",
            "log_dest stderr",
            "log_type all",
            "log_timestamp true",
            "log_timestamp_format %H:%M:%S",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # Started as root mosquitto would switch to "mosquitto" and fail on the 0600 key.
            lines.insert(1, "user root")
        if self.persistence:
            lines += [f"persistence_location {self.dir}/", "autosave_interval 0"]
        for kind in self.kinds:
            if kind == "unix":
                lines += ["", f"listener 0 {self.socket_path}", "allow_anonymous true"]
                continue
            lines += ["", f"listener {self.ports[kind]} 127.0.0.1"]
            if kind in ("plain", "tls"):
                lines.append("allow_anonymous true")
            else:
                lines += ["allow_anonymous false", f"password_file {self.passwd_path}"]
            if kind in ("tls", "tls_password"):
                lines += [f"cafile {self.ca_crt}", f"certfile {self.server_crt}",
                          f"keyfile {self.server_key}"]
        return "\n".join(lines) + "\n"

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def grep(self, regex, since=0):
        pattern = re.compile(regex)
        return [line for line in self.log_text(since).split("\n") if pattern.search(line)]

    def wait_log(self, regex, timeout=10, since=0, what=None):
        """Waits for a line of the broker's log (from byte offset since) matching regex."""
        pattern = re.compile(regex)

        def check():
            for line in self.log_text(since).split("\n"):
                m = pattern.search(line)
                if m:
                    return m
            return None
        procs = [self.proc] if self.proc and self.proc.poll() is None else []
        try:
            return wait_until(check, scaled(timeout), what or f"mosquitto to log /{regex}/",
                              paths=[self.log_path], procs=procs)
        except AssertionError as e:
            raise BrokerError(f"{e}\n--- mosquitto log:\n{self.log_text(since)[-4000:]}") from None

    def wait_subscribed(self, client_id, topic_filter, timeout=10, since=0):
        """mosquitto logs '<client id> <qos> <filter>' once it accepted a subscription."""
        return self.wait_log(rf"\b{re.escape(client_id)} \d {re.escape(topic_filter)}$",
                             timeout, since, f"{client_id} subscribed to {topic_filter}")

    # --------------------------------------------------------------------------------------------

    def start(self):
        """Starts mosquitto (again, on the same ports after a stop() or kill()); returns once it
        accepts connections."""
        assert not self.running(), "broker already running"
        first = not self.ports
        for attempt in range(5):
            if first:
                self.ports = {k: free_port() for k in self.kinds if k != "unix"}
                if self.socket_path.exists():
                    self.socket_path.unlink()
            self.conf_path.write_text(self._config_text())
            if "unix" in self.kinds and self.socket_path.exists():
                self.socket_path.unlink()
            with open(self.log_path, "ab") as log:
                log.write(f"=== start #{self.starts + 1}\n".encode())
                log.flush()
                self._log_offset = log.tell()
                self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf_path)],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
            self.starts += 1
            try:
                wait_until(self._is_running, scaled(10), "mosquitto to start",
                           paths=[self.log_path], procs=[self.proc])
            except AssertionError:
                text = self.log_text(self._log_offset)
                self._reap()
                if first and "Address already in use" in text:
                    continue        # lost the race for a port: pick others
                raise BrokerError(f"mosquitto did not start:\n{text}") from None
            self._check_connect()
            return self
        raise BrokerError("mosquitto: no free port after 5 tries")

    def _is_running(self):
        return " running" in self.log_text(self._log_offset)

    def _check_connect(self):
        """One bounded connect to each TCP listener (the log line came after the listen())."""
        for kind, port in self.ports.items():
            with socket.create_connection((self.host, port), timeout=scaled(5)):
                pass
        if "unix" in self.kinds:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(scaled(5))
            try:
                s.connect(str(self.socket_path))
            finally:
                s.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _reap(self, timeout=10):
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def save(self, timeout=10):
        """SIGUSR1: mosquitto writes its persistence database now (what a kill() keeps)."""
        assert self.persistence, "save() needs persistence=True"
        since = self.log_mark()
        db = Path(self.dir) / "mosquitto.db"
        before = db.stat().st_mtime_ns if db.exists() else None
        self.proc.send_signal(signal.SIGUSR1)
        self.wait_log(r"Saving in-memory database", timeout, since)
        # mosquitto logs before it writes: the save is done when the new file replaced the old
        # (it writes mosquitto.db.new, then renames it).
        new = Path(self.dir) / "mosquitto.db.new"
        def saved():
            try:
                return not new.exists() and db.stat().st_mtime_ns != before
            except FileNotFoundError:
                return False
        wait_until(saved, scaled(timeout), "mosquitto to write its database", paths=[self.dir])

    def stop(self, timeout=10):
        """SIGTERM: a clean stop (mosquitto saves its database when persistence is on)."""
        if self.running():
            self.proc.terminate()
        return self._reap(timeout)

    def kill(self):
        """SIGKILL: the broker dies without a word to its clients (their TCP connections reset)."""
        if self.running():
            self.proc.kill()
        return self._reap()

    def close(self):
        if self.running():
            self.stop()

    # --------------------------------------------------------------------------------------------
    # What a client needs.

    def cli_args(self, kind="plain"):
        """Connection options for mosquitto_pub / mosquitto_sub on one listener."""
        if kind == "unix":
            return ["--unix", str(self.socket_path)]
        args = ["-h", self.host, "-p", str(self.ports[kind])]
        if kind in ("tls", "tls_password"):
            args += ["--cafile", str(self.ca_crt)]
        if kind in ("password", "tls_password"):
            args += ["-u", self.username, "-P", self.password]
        return args

    def paho_connect_args(self, client, kind="plain"):
        """Sets TLS / credentials on a paho client for one listener; returns (host, port)."""
        assert kind != "unix", "paho 1.6 has no unix sockets"
        if kind in ("tls", "tls_password"):
            client.tls_set(ca_certs=str(self.ca_crt), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if kind in ("password", "tls_password"):
            client.username_pw_set(self.username, self.password)
        return self.host, self.ports[kind]

    def connected_clients(self, client_id, since=0):
        """Log lines of accepted connections of client_id."""
        return self.grep(rf"New client connected from \S+ as {re.escape(client_id)} ", since)


# ------------------------------------------------------------------------------------------------
# A paho client that survives a broker restart: persistent session (clean_session off), QoS 1,
# re-subscribes only when the broker lost its session. Every wait is a condition wait.



class Message:
    __slots__ = ("topic", "payload", "retain", "qos", "dup", "time")

    def __init__(self, msg, t):
        self.topic = msg.topic
        self.payload = bytes(msg.payload)
        self.retain = bool(msg.retain)
        self.qos = msg.qos
        self.dup = bool(getattr(msg, "dup", False))
        self.time = t

    def text(self):
        return self.payload.decode(errors="replace")

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return f"<{self.topic} {'R ' if self.retain else ''}{self.text()[:200]}>"


class Client:
    """A test-side MQTT client. subscriptions: topic filters subscribed at QoS 1 on every connect
    without a session present. on_message(Message) is called in paho's thread; every message is
    also kept in .messages."""

    def __init__(self, broker, client_id, subscriptions=(), kind="plain", clean_session=False,
                 on_message=None, will=None):
        self.broker = broker
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.kind = kind
        self.cond = threading.Condition()
        self.messages = []
        self.connects = 0
        self.connected = False
        self.subscribed = False
        self.connack_rcs = []
        self.sub_errors = []
        self._pending_subs = set()
        self._handler = on_message
        self.client = paho.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=paho.MQTTv311)
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.5)
        if will:
            self.client.will_set(*will)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.host, self.port = broker.paho_connect_args(self.client, kind)

    def start(self, timeout=10):
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.wait(lambda: self.connected and self.subscribed, timeout,
                  f"{self.client_id} to connect and subscribe")
        return self

    def stop(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, rc):
        with self.cond:
            self.connack_rcs.append(rc)
            if rc != 0:
                self.cond.notify_all()
                return
            self.connects += 1
            self.connected = True
            session = bool(flags.get("session present"))
            if self.subscriptions and not session:
                self.subscribed = False
                r, mid = client.subscribe([(f, 1) for f in self.subscriptions])
                self._pending_subs.add(mid)
            else:
                self.subscribed = True
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, rc):
        with self.cond:
            self.connected = False
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self.cond:
            if any(q not in (0, 1, 2) for q in granted_qos):
                self.sub_errors.append(granted_qos)     # wait() callers see .subscribed stay off
                return
            self._pending_subs.discard(mid)
            if not self._pending_subs:
                self.subscribed = True
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        m = Message(msg, time.monotonic())
        with self.cond:
            self.messages.append(m)
            self.cond.notify_all()
        if self._handler:
            self._handler(m)

    def publish(self, topic, payload, qos=1, retain=False, wait=True, timeout=10):
        if isinstance(payload, (dict, list)):
                payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if wait and qos > 0:
            info.wait_for_publish(timeout=scaled(timeout))
            assert info.is_published(), f"{self.client_id}: {topic} not acknowledged"
        return info

    def wait(self, predicate, timeout, what):
        """predicate() under the lock, re-evaluated on every message / connection change."""
        deadline = time.monotonic() + scaled(timeout)
        with self.cond:
            while True:
                v = predicate()
                if v:
                    return v
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {scaled(timeout):.1f}s waiting for "
                                         f"{what}; {self.client_id} got {self.messages[-30:]!r}")
                self.cond.wait(remaining)

    def notify(self):
        with self.cond:
            self.cond.notify_all()

    def on(self, topic_filter):
        """Messages so far on topics matching the filter."""
        with self.cond:
            return [m for m in self.messages if paho.topic_matches_sub(topic_filter, m.topic)]
