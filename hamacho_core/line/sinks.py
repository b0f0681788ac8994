"""Verdicts to the line: one record per judged part, delivered by sinks that never block judging.

Every sink has a bounded backlog and its own delivery thread.  ``submit`` only appends (never
waits on a network); the thread delivers the oldest record with a timeout and, when delivery fails
(broker down, PLC unplugged, HTTP 500), keeps the record, reconnects with a growing pause (0.2 s up
to 5 s) and tries again, so records arrive in order and none is lost while the backlog has room.
When the backlog is full, the *oldest* waiting record is dropped to make room for the newest (the
line needs the current part's verdict first); every drop is counted and reported in ``status()`` and
to ``on_event``.  The inspection log (``hamacho_core.live.log``) keeps every verdict regardless.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

#: Records a sink holds while its peer is unreachable (about 15 minutes at 10 parts/s).
DEFAULT_BACKLOG = 10_000
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0


@dataclass(frozen=True)
class PartRecord:
    """What the line learns about one judged part (the JSON of MQTT, webhook and folder sinks)."""

    part: int  #: counter since the run started, from 1
    verdict: str  #: OK, NG or REVIEW
    raw_score: float
    normalized_score: float  #: 0.5 = the NG threshold
    timestamp: str  #: ISO 8601, UTC, milliseconds
    model: str  #: model name (its file's stem)
    model_sha256: str  #: the model file's manifest checksum ('' for an unsaved model)
    evidence: str | None = None  #: where the frame was saved (NG/REVIEW with a save folder)
    source: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def _require(module: str, what: str) -> None:
    """ImportError with the install line when an optional protocol stack is missing."""
    import importlib.util

    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise ImportError(f"{what} needs the line add-on: pip install \"hamacho[line]\"")


class Sink:
    """Base class: a bounded backlog and a delivery thread; subclasses implement ``_deliver``."""

    kind = "sink"

    def __init__(self, target: str, *, backlog: int = DEFAULT_BACKLOG, timeout_s: float = 2.0,
                 on_event: Callable[[str, str], None] | None = None):
        self.target = target
        self.timeout_s = timeout_s
        self.on_event = on_event
        self._pending: collections.deque[PartRecord] = collections.deque()
        self._limit = max(1, int(backlog))
        self._cond = threading.Condition()
        self._closing = False
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self.connected = False
        self.last_error = ""
        self._thread: threading.Thread | None = None
        #: Set by the live inspector when its camera is software-triggered: a sink that can carry a
        #: trigger from the line (Modbus server register, MQTT topic) calls it; it fires the camera
        #: and returns whether it did (never raises).
        self.on_trigger: Callable[[], bool] | None = None
        self.triggers = 0  #: trigger requests received from the line
        self.triggers_ignored = 0  #: of those, arrived while the camera was not software-triggered
        #: The station's state for protocols that show it (Modbus status bits): judging, or its source
        #: failing; the live inspector keeps them up to date (see :meth:`set_station`).
        self.station_ready = True
        self.station_fault = False

    @property
    def name(self) -> str:
        """What messages call this output (credentials in its address are never shown)."""
        return f"{self.kind} {redact(self.target)}"

    def start(self) -> Sink:
        """Connect if the peer is there (else say so) and start delivering; never raises for a peer
        that is down: the delivery thread keeps trying."""
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - reported, retried by the delivery thread
            self.connected = False
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            self._event("warning", f"{self.name}: {exc} (retrying)")
        self._thread = threading.Thread(target=self._run, name=f"hamacho-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def submit(self, record: PartRecord) -> None:
        """Queue a record; never blocks (a full backlog drops its oldest record, counted)."""
        with self._cond:
            if len(self._pending) >= self._limit:
                self._pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    self._event("warning", f"{self.name}: backlog full ({self._limit}): {self.dropped} oldest "
                                           f"record(s) dropped so far")
            self._pending.append(record)
            self._cond.notify()

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._pending)

    def status(self) -> dict:
        return {"sink": self.name, "connected": self.connected, "backlog": self.backlog, "sent": self.sent,
                "dropped": self.dropped, "failures": self.failures, "triggers": self.triggers,
                "last_error": self.last_error}

    def set_station(self, ready: bool, fault: bool) -> None:
        """The station is judging (``ready``) / its camera or source is failing (``fault``); any thread.
        A sink that shows it does so from its delivery thread within a moment."""
        with self._cond:
            changed = (ready, fault) != (self.station_ready, self.station_fault)
            self.station_ready, self.station_fault = bool(ready), bool(fault)
            if changed:
                self._cond.notify_all()

    def _fire_trigger(self) -> bool:
        """A trigger request from the line: fire the camera through ``on_trigger`` (False without one)."""
        self.triggers += 1
        if self.on_trigger is None:
            self.triggers_ignored += 1
            if self.triggers_ignored == 1 or self.triggers_ignored % 100 == 0:  # a peer cannot fill the log
                self._event("warning", f"{self.name}: a trigger request arrived but the camera is not "
                                       f"software-triggered; ignored ({self.triggers_ignored} so far)")
            return False
        return bool(self.on_trigger())

    def check(self) -> str:
        """Connect once and disconnect (the GUI's "Test connection"): what was reached, or raises."""
        self._open()
        self._close()
        self.connected = False
        return f"{self.name}: reachable"

    def close(self, wait_s: float = 5.0) -> None:
        """Deliver what is pending for up to ``wait_s`` seconds, then stop."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._pending and time.monotonic() < deadline and self._thread is not None:
                self._cond.wait(0.05)
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, self.timeout_s + 1))
        self._drain(deadline)
        self._close()

    # --- delivery -------------------------------------------------------------------------------
    def _run(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            with self._cond:  # only waiting happens under the lock: submit() never waits on a peer
                if not self._pending and not self._closing:
                    self._cond.wait(0.5)
                if self._closing:
                    return
                record = self._pending[0] if self._pending else None
            if record is None:
                self._tick()
                continue
            try:
                if not self.connected:
                    self._open()
                self._deliver(record)
            except Exception as exc:  # noqa: BLE001 - any peer failure: keep the record, retry
                self.failures += 1
                if self.connected or f"{exc.__class__.__name__}: {exc}" != self.last_error:
                    self._event("warning", f"{self.name}: {exc} ({self.backlog} waiting; retrying)")
                self.connected = False
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                self._pause(pause)
                pause = min(RETRY_MAX_S, pause * 2)
                continue
            if not self.connected:
                self._event("info", f"{self.name}: connected")
            self.connected = True
            pause = RETRY_FIRST_S
            with self._cond:
                if self._pending and self._pending[0] is record:
                    self._pending.popleft()
                self.sent += 1
                self._cond.notify_all()

    def _pause(self, seconds: float) -> None:
        """Wait before a retry, in slices, ticking (heartbeats go on while a peer is away)."""
        end = time.monotonic() + seconds
        while not self._closing and time.monotonic() < end:
            with self._cond:
                self._cond.wait(min(0.5, max(0.0, end - time.monotonic())))
            self._tick()

    def _event(self, level: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(level, message)

    def _open(self) -> None:
        """Connect (may raise: the delivery thread retries)."""
        self.connected = True

    def _deliver(self, record: PartRecord) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        """Called about twice a second while idle (heartbeats)."""

    def _drain(self, deadline: float) -> None:
        """At close, before disconnecting: wait (until ``deadline``, monotonic) for the peer to take
        the last record, where the protocol says when it has."""

    def _close(self) -> None:
        """Release connections."""


class FolderSink(Sink):
    """``parts.jsonl`` (one JSON line per part, flushed and fsynced) plus a copy of each evidence image,
    for an MES that picks files up."""

    kind = "folder"

    def __init__(self, folder: str | Path, **kw):
        super().__init__(str(folder), **kw)
        self.folder = Path(folder)

    def _open(self) -> None:
        import tempfile

        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.folder):  # writable (a read-only share fails here)
            pass
        self.connected = True

    def _deliver(self, record: PartRecord) -> None:
        """The evidence copy first (under a temporary name, renamed when whole), then the record's line,
        appended whole or not at all: on a full disk the file is cut back to where it was, and the record is
        retried later (an MES never reads half a record, nor a record twice)."""
        import os
        import shutil

        if record.evidence:
            source = Path(record.evidence)
            if source.is_file():
                target = self.folder / f"part_{record.part:08d}_{record.verdict}{source.suffix}"
                partial = self.folder / f".{target.name}.partial"
                try:
                    shutil.copyfile(source, partial)
                    os.replace(partial, target)
                except OSError:
                    partial.unlink(missing_ok=True)
                    raise
        line = (record.to_json() + "\n").encode("utf-8")
        fd = os.open(self.folder / "parts.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(line):
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # no half line is left behind
                raise
        finally:
            os.close(fd)


#: Query parameters whose values are secrets (tokens in webhook URLs).
_SECRET_PARAMETERS = ("token", "key", "secret", "password", "passwd", "pwd", "auth", "signature", "sig", "code")


def redact(address: str) -> str:
    """``address`` with a URL's password and secret-looking query values replaced by ``***``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        url = urlsplit(address)
    except ValueError:
        return address
    if not url.scheme or not url.netloc:
        return address
    netloc = url.netloc
    if url.password is not None:
        netloc = f"{url.username}:***@" + netloc.rpartition("@")[2]
    query = urlencode([(k, "***" if any(word in k.lower() for word in _SECRET_PARAMETERS) else v)
                       for k, v in parse_qsl(url.query, keep_blank_values=True)], safe="*")
    return urlunsplit((url.scheme, netloc, url.path, query, url.fragment))


class WebhookSink(Sink):
    """An HTTP(S) JSON POST per part; only a 2xx answer to the POST itself is delivery, anything else is
    retried and reported.  Redirects are never followed: urllib would re-send a 301/302/303 as a GET without
    the body, and an authentication proxy's login page answering that GET with 200 would count as delivered."""

    kind = "webhook"
    #: Longest a delivery may take in all, however slowly the server answers (``timeout_s`` is per read).
    deadline_s = 10.0

    def __init__(self, url: str, **kw):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP(S) URL: {redact(url)!r} (a webhook is http:// or https://)")
        super().__init__(url, **kw)

    def _open(self) -> None:
        """Reach the server's port (nothing is posted)."""
        import socket
        from urllib.parse import urlsplit

        url = urlsplit(self.target)
        port = url.port or (443 if url.scheme == "https" else 80)
        socket.create_connection((url.hostname, port), timeout=self.timeout_s).close()
        self.connected = True

    def _deliver(self, record: PartRecord) -> None:
        """POST the record with http.client (which follows no redirect); a watchdog closes the connection when
        the whole exchange takes longer than ``deadline_s`` (a server answering a byte a second trips no
        per-read timeout)."""
        import http.client
        import socket
        from urllib.parse import urlsplit

        url = urlsplit(self.target)
        connection_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_cls(url.hostname, url.port, timeout=self.timeout_s)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(self.deadline_s, expire)
        watchdog.daemon = True
        watchdog.start()
        headers = {"Content-Type": "application/json"}
        if url.username is not None:
            import base64

            token = base64.b64encode(f"{url.username}:{url.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            connection.request("POST", path, body=record.to_json().encode(), headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            if expired.is_set():
                raise TimeoutError(f"no complete answer within {self.deadline_s:g} s: not delivered") from None
            if isinstance(exc, OSError):
                raise
            raise OSError(f"{exc.__class__.__name__}: {exc}") from None
        finally:
            watchdog.cancel()
            connection.close()
        if 300 <= response.status < 400:
            where = response.getheader("Location", "?")
            raise OSError(f"HTTP {response.status}, redirected to {redact(where)}: not followed, the part is not "
                          f"delivered (the webhook URL must answer the POST itself with 2xx)")
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


class MqttSink(Sink):
    """One JSON message per part on ``<topic>/parts`` and a retained ``<topic>/status`` ("online" while judging,
    "paused" while not judging (paused, or starting), "fault" while the camera is lost, "offline" as the
    broker's last will), through paho-mqtt.  QoS 1 (default) is at-least-once: a message whose acknowledgement
    was lost in a reconnect may arrive more than once (its ``part`` tells).  A part whose acknowledgement is
    late is waited for again, not published again, up to three times.  With a software-triggered camera, each
    (non-retained) message on ``<topic>/trigger`` takes one picture."""

    kind = "mqtt"

    def __init__(self, url: str, *, qos: int = 1, **kw):
        from urllib.parse import urlsplit

        super().__init__(url, **kw)
        _require("paho.mqtt.client", "MQTT")
        from urllib.parse import unquote

        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
            raise ValueError(f"not an MQTT URL: {redact(url)!r} (expected mqtt://[user:password@]host[:port][/topic], "
                             f"or mqtts:// for TLS)")
        if qos not in (0, 1, 2):
            raise ValueError(f"MQTT QoS must be 0, 1 or 2, got {qos}")
        self.tls = parts.scheme in ("mqtts", "ssl")
        self.host, self.port = parts.hostname, parts.port or (8883 if self.tls else 1883)
        #: From the URL (never printed: messages show the address without the password).
        self._credentials = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        self._refused: str | None = None
        self.topic = parts.path.strip("/") or "hamacho"
        self.qos = qos
        self._client = None
        self._up = threading.Event()
        self._inflight: tuple[int, object, int] | None = None  # (part, paho MessageInfo, waits)

    def check(self) -> str:
        """Connect a throwaway client (no status message, no last will) and disconnect."""
        import paho.mqtt.client as mqtt

        answered, reasons = threading.Event(), []

        def on_connect(_c, _userdata, _flags, reason, _props):
            reasons.append(reason)
            answered.set()

        client = self._new_client(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2))
        client.on_connect = on_connect
        try:
            client.connect(self.host, self.port, keepalive=5)
        except OSError as exc:
            raise ConnectionError(f"broker {self.host}:{self.port} not reachable ({exc})") from None
        client.loop_start()
        try:
            if not answered.wait(self.timeout_s + 3):
                raise ConnectionError(f"broker {self.host}:{self.port} did not answer the connection")
            if reasons[0].is_failure:
                raise ConnectionError(self._refusal(reasons[0]))
        finally:
            client.disconnect()
            client.loop_stop()
        return f"{self.name}: reachable"

    def _new_client(self, client):
        """``client`` with the URL's user and password and, for mqtts://, TLS (the system's certificates)."""
        if self._credentials is not None:
            client.username_pw_set(*self._credentials)
        if self.tls:
            client.tls_set()
        return client

    def _refusal(self, reason) -> str:
        hint = " (check the user and password in the URL)" if "authori" in str(reason).lower() or \
            "password" in str(reason).lower() else ""
        return f"broker {self.host}:{self.port} refused the connection: {reason}{hint}"

    def _status(self, state: str) -> str:
        return json.dumps({"state": state, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def _station_state(self) -> str:
        """The retained status while connected: "online" (judging), "paused" or "fault" (camera lost)."""
        return "fault" if self.station_fault else "online" if self.station_ready else "paused"

    def set_station(self, ready: bool, fault: bool) -> None:
        """As :meth:`Sink.set_station`, and the retained ``<topic>/status`` says it at once (issue 24: a paused
        or faulted station looked "online" to the line)."""
        before = self._station_state()
        super().set_station(ready, fault)
        client, state = self._client, self._station_state()
        if client is not None and self._up.is_set() and state != before:
            client.publish(f"{self.topic}/status", self._status(state), qos=1, retain=True)

    def _open(self) -> None:
        import paho.mqtt.client as mqtt

        if self._client is None:
            import os

            client = self._new_client(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                                  client_id=f"hamacho-{os.getpid()}-{id(self)}"))
            client.will_set(f"{self.topic}/status", self._status("offline"), qos=1, retain=True)
            client.reconnect_delay_set(RETRY_FIRST_S, RETRY_MAX_S)

            def on_connect(c, _userdata, _flags, reason, _props):
                self._refused = self._refusal(reason) if reason.is_failure else None
                if not reason.is_failure:
                    c.publish(f"{self.topic}/status", self._status(self._station_state()), qos=1, retain=True)
                    if self.on_trigger is not None:
                        c.subscribe(f"{self.topic}/trigger", qos=1)
                    self._up.set()

            def on_message(_c, _userdata, message):
                if message.topic == f"{self.topic}/trigger" and not message.retain:  # a retained one is old
                    self._fire_trigger()

            def on_disconnect(*_args):
                self._up.clear()
                self.connected = False

            client.on_connect = on_connect
            client.on_disconnect = on_disconnect
            client.on_message = on_message
            client.connect_async(self.host, self.port, keepalive=10)
            client.loop_start()  # paho's own thread reconnects from now on
            self._client = client
        if not self._up.wait(self.timeout_s):
            raise ConnectionError(self._refused or f"broker {self.host}:{self.port} not reachable")
        self.connected = True

    def _deliver(self, record: PartRecord) -> None:
        if not self._up.is_set():
            raise ConnectionError(f"broker {self.host}:{self.port} not reachable")
        if self._inflight is not None and self._inflight[0] == record.part and self._inflight[2] < 3:
            part, info, waits = self._inflight  # paho still holds it and resends it: wait, do not publish again
            self._inflight = (part, info, waits + 1)
        else:
            info = self._client.publish(f"{self.topic}/parts", record.to_json(), qos=self.qos)
            self._inflight = (record.part, info, 0)
        if self.qos:
            try:
                info.wait_for_publish(self.timeout_s)
            except RuntimeError:  # paho: the message was dropped (e.g. queue full): publish it again
                self._inflight = None
                raise
            if not info.is_published():
                raise TimeoutError(f"broker {self.host}:{self.port} did not acknowledge part {record.part}")
        self._inflight = None

    def _close(self) -> None:
        if self._client is not None:
            if self._up.is_set():
                self._client.publish(f"{self.topic}/status", self._status("offline"), qos=1,
                                     retain=True).wait_for_publish(1.0)
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
