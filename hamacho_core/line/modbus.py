"""Modbus TCP (pymodbus): Hamacho as a server the PLC polls, or as a client writing into the PLC.

Register map (holding registers, Modbus addresses from ``base``, default 0; 16-bit unsigned):

==========  ======================================================================================
``base+0``  result: 0 none yet, 1 OK, 2 NG, 3 REVIEW
``base+1``  part counter, low 16 bits
``base+2``  part counter, high 16 bits
``base+3``  normalised score x 100 (0-100; 50 = the NG threshold)
``base+4``  raw score x 100 (clipped to 0-65535)
``base+5``  heartbeat: +1 about every 0.5 s while Hamacho runs (wraps at 65535)
``base+6``  status bits: 1 ready (judging: the camera is open and the inspection not paused), 2 busy
            (a result waits for its acknowledgement), 4 fault (the camera or source is lost and
            being reconnected, or failed)
``base+7``  handshake: Hamacho writes 1 with each new result; the PLC writes 0 to acknowledge
``base+8``  trigger (server only, with a software-triggered camera): the PLC writes 1 to take a
            picture; Hamacho fires the camera before answering the write, then sets 0 (fired) or
            2 (refused: camera not ready, paused, stopping or lost; reported)
==========  ======================================================================================

With the handshake (default), a result is written only once the previous one was acknowledged, so
the PLC sees every part; results wait in the sink's backlog meanwhile (see ``sinks``).  Without it,
each result overwrites the previous one.

The trigger register lets the PLC that sees a part arrive (photo eye) take its picture without a
hardware trigger line: each write of 1 takes exactly one picture, so one verdict.  Write it once per
part (an edge), not on every PLC cycle: a 1 written again is another picture.  The write's reply comes
once the camera was fired; right after it, the register reads 0 (fired) or 2 (refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time

from hamacho_core.line.sinks import PartRecord, Sink, _require

RESULT_CODES = {"OK": 1, "NG": 2, "REVIEW": 3}
REGISTERS = 9
READY, BUSY, FAULT = 1, 2, 4
TRIGGER = 8  #: offset of the trigger register
HANDSHAKE = 7  #: offset of the handshake register
#: The offsets a client may write to Hamacho's server (the handshake and the trigger); any other write is
#: answered "illegal data address".
CLIENT_WRITABLE = (HANDSHAKE, TRIGGER)
TRIGGER_FIRED, TRIGGER_REQUEST, TRIGGER_REFUSED = 0, 1, 2


_watched: list = []  # the running Modbus sinks that pymodbus's "cannot decode" lines are counted for


class _PymodbusLogFilter(logging.Filter):
    """pymodbus logs every undecodable frame (with a hex dump at debug level): a peer could fill the log.  Those
    lines become a count on the running servers, reported sparingly."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not any(word in message.lower() for word in ("decode", "unknown", "ask for id", "no response", "repeating")):
            return True
        for sink in list(_watched):
            sink._bad_frame(message)
        return False


def _watch_pymodbus_log(sink) -> None:
    if sink not in _watched:
        _watched.append(sink)
    logger = logging.getLogger("pymodbus.logging")
    if not any(isinstance(f, _PymodbusLogFilter) for f in logger.filters):
        logger.addFilter(_PymodbusLogFilter())


def _unwatch_pymodbus_log(sink) -> None:
    if sink in _watched:
        _watched.remove(sink)


def registers_of(record: PartRecord) -> list[int]:
    """The result block (``base+0`` to ``base+4``) of a record."""
    part = record.part & 0xFFFFFFFF
    return [RESULT_CODES.get(record.verdict, 0), part & 0xFFFF, part >> 16,
            max(0, min(100, round(record.normalized_score * 100))),
            max(0, min(65535, round(record.raw_score * 100)))]


def _host_port(text: str, default_host: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"not a Modbus address: {text!r} (expected HOST:PORT or :PORT)")
    return host or default_host, int(port)


class _Handshake(Sink):
    """Shared delivery: wait for the acknowledgement of the previous result, then write the next."""

    def __init__(self, target: str, *, base: int = 0, handshake: bool = True, ack_timeout_s: float = 5.0, **kw):
        super().__init__(target, **kw)
        _require("pymodbus", "Modbus TCP")
        self.base = base
        self.handshake = handshake
        self.ack_timeout_s = ack_timeout_s
        self._beat = 0
        self._last_beat = 0.0
        self._last_part = 0
        self._busy = False  # a result waits for the PLC's acknowledgement
        self._shown: int | None = None  # the status bits last written
        self.bad_frames = 0  #: frames from the peer that are not valid Modbus (connection closed, counted)

    def _status_bits(self) -> int:
        return (READY if self.station_ready else 0) | (BUSY if self._busy else 0) | \
            (FAULT if self.station_fault else 0)

    def _bad_frame(self, what) -> None:
        """A peer sent something that is not a Modbus request: counted, reported the first time and every
        100th (a hostile or broken peer cannot fill the log), never a traceback."""
        self.bad_frames += 1
        if self.bad_frames == 1 or self.bad_frames % 100 == 0:
            text = f"{what.__class__.__name__}: {what}" if isinstance(what, BaseException) else str(what)
            self._event("warning", f"{self.name}: a peer sent something that is not valid Modbus "
                                   f"({self.bad_frames} so far; last: {text[:120]})")

    def _read(self, offset: int, count: int) -> list[int]:
        raise NotImplementedError

    def _write(self, offset: int, values: list[int]) -> None:
        raise NotImplementedError

    def _deliver(self, record: PartRecord) -> None:
        if self.handshake:
            deadline = time.monotonic() + self.ack_timeout_s
            if self._read(7, 1)[0] != 0:  # the PLC has not acknowledged the previous result yet
                self._busy = True
                self._show_status()
                while self._read(7, 1)[0] != 0:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the PLC did not acknowledge part {self._last_part} within "
                                           f"{self.ack_timeout_s:g} s")
                    self._tick()
                    time.sleep(0.02)
        self._write(0, registers_of(record))
        # status and handshake in one write: once it is done the part is delivered (never shown twice)
        self._busy = self.handshake
        self._shown = self._status_bits()
        self._write(6, [self._shown, 1] if self.handshake else [self._shown])
        self._last_part = record.part

    def _show_status(self) -> None:
        bits = self._status_bits()
        if bits != self._shown:
            self._write(6, [bits])
            self._shown = bits

    def _drain(self, deadline: float) -> None:
        """Keep serving until the PLC acknowledged the last result (or ``deadline``)."""
        try:
            while self.handshake and self.connected and time.monotonic() < deadline and self._read(7, 1)[0]:
                time.sleep(0.005)
        except Exception:  # noqa: BLE001 - a PLC gone at the end: nothing more to wait for
            pass

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= 0.5:
            self._last_beat = now
            self._beat = (self._beat + 1) & 0xFFFF
            try:
                self._write(5, [self._beat])
            except Exception:  # noqa: BLE001 - a heartbeat is best effort; delivery reports faults
                pass
        try:
            if self._busy and self.connected and self._read(7, 1)[0] == 0:
                self._busy = False  # the PLC acknowledged: no result waits any more
            if self.connected:
                self._show_status()  # ready / fault as the station is now
        except Exception:  # noqa: BLE001 - best effort, like the heartbeat
            pass


class ModbusServerSink(_Handshake):
    """Hamacho's own Modbus TCP server (``[HOST]:PORT``, default host 0.0.0.0) holding the register map."""

    kind = "modbus-server"

    def __init__(self, address: str, *, device_id: int = 1, **kw):
        super().__init__(address, **kw)
        self.host, self.port = _host_port(address, "0.0.0.0")
        self.device_id = device_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._device = None
        self._serving: threading.Thread | None = None
        self.refused_writes = 0  #: client writes outside the handshake and trigger registers

    def _refused_write(self, first: int, last: int) -> None:
        """A client tried to write registers it may not (reported the first time and every 100th)."""
        self.refused_writes += 1
        if self.refused_writes == 1 or self.refused_writes % 100 == 0:
            where = f"base+{first}" + (f"..base+{last}" if last != first else "")
            self._event("warning", f"{self.name}: a client tried to write {where} ({self.refused_writes} refused "
                                   f"so far); only base+{HANDSHAKE} (acknowledge) and base+{TRIGGER} (trigger) "
                                   f"are writable")

    def _open(self) -> None:
        if self._serving is not None:
            self.connected = True
            return
        from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
        from pymodbus.server import ModbusTcpServer

        sink = self

        class Registers(ModbusDeviceContext):
            """The register map; a PLC's 1 in the trigger register fires the camera before the reply."""

            async def async_setValues(self, func_code, address, values):  # noqa: N802 - pymodbus's name
                # A client may write the handshake and trigger registers only: the verdict, part number,
                # scores and status are Hamacho's (any client writing 1 into the result while NG is shown
                # would make the PLC read OK).  Anything else gets an "illegal data address" reply.
                first, last = address - sink.base, address - sink.base + len(values) - 1
                if first < CLIENT_WRITABLE[0] or last > CLIENT_WRITABLE[-1]:
                    from pymodbus.constants import ExcCodes

                    sink._refused_write(first, last)
                    return ExcCodes.ILLEGAL_ADDRESS
                result = self.setValues(func_code, address, values)
                where = sink.base + TRIGGER - address
                if result is None and self.decode(func_code) == "h" and 0 <= where < len(values) \
                        and values[where] == TRIGGER_REQUEST:
                    loop = asyncio.get_running_loop()
                    fired = await loop.run_in_executor(None, sink._fire_trigger)  # other requests are served
                    # after the reply (a write-single reply echoes the 1 it was sent), the PLC reads 0 or 2
                    loop.call_soon(self.setValues, 3, sink.base + TRIGGER,
                                   [TRIGGER_FIRED if fired else TRIGGER_REFUSED])
                return result

        self._device = Registers(hr=ModbusSequentialDataBlock(0, [0] * (self.base + REGISTERS + 2)))
        context = ModbusServerContext(devices=self._device, single=True)
        started, failed = threading.Event(), []
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda _loop, context: self._bad_frame(
            context.get("exception") or context.get("message", "?")))
        _watch_pymodbus_log(self)

        async def serve() -> None:
            self._server = ModbusTcpServer(context, address=(self.host, self.port))
            if not await self._server.listen():  # pymodbus logs the OS error and returns False
                failed.append("the port is in use or the address is not this PC's")
                started.set()
                return
            started.set()
            await self._server.serving  # until shutdown()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())

        self._serving = threading.Thread(target=run, name="hamacho-modbus-server", daemon=True)
        self._serving.start()
        started.wait(5)
        if failed:
            self._serving.join(5)
            self._loop.close()
            self._serving = self._server = self._loop = None
            raise OSError(f"cannot serve Modbus on {self.host}:{self.port}: {failed[0]}")
        self._shown = None
        self.connected = True
        self._show_status()

    def _read(self, offset: int, count: int) -> list[int]:
        return list(self._device.getValues(3, self.base + offset, count))

    def _write(self, offset: int, values: list[int]) -> None:
        self._device.setValues(3, self.base + offset, values)

    def _close(self) -> None:
        _unwatch_pymodbus_log(self)
        if self._server is not None and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
            self._serving.join(5)
            self._loop.close()
            self._server = self._serving = self._loop = None


class ModbusClientSink(_Handshake):
    """Writes the register map into a PLC's holding registers (``HOST:PORT``), reconnecting when it
    disappears."""

    kind = "modbus-client"

    def __init__(self, address: str, *, device_id: int = 1, **kw):
        super().__init__(address, **kw)
        self.host, self.port = _host_port(address, "127.0.0.1")
        self.device_id = device_id
        self._client = None

    def _open(self) -> None:
        from pymodbus.client import ModbusTcpClient

        if self._client is None:
            self._client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0)
            _watch_pymodbus_log(self)
        if not self._client.connect():
            raise ConnectionError(f"PLC {self.host}:{self.port} not reachable")
        self._shown = None  # a PLC back after a restart is told the status again
        self.connected = True

    def _read(self, offset: int, count: int) -> list[int]:
        reply = self._client.read_holding_registers(self.base + offset, count=count, device_id=self.device_id)
        if reply.isError():
            raise ConnectionError(f"PLC {self.host}:{self.port} refused reading registers: {reply}")
        return list(reply.registers)

    def _write(self, offset: int, values: list[int]) -> None:
        reply = self._client.write_registers(self.base + offset, values, device_id=self.device_id)
        if reply.isError():
            raise ConnectionError(f"PLC {self.host}:{self.port} refused writing registers: {reply}")

    def _deliver(self, record: PartRecord) -> None:
        """One delivery, cut by a watchdog after the longest a real PLC takes (the acknowledgement wait and two
        writes): a peer that streams bytes that are not Modbus never trips the per-read timeout."""
        aborted = threading.Event()

        def abort() -> None:
            aborted.set()
            sock = getattr(self._client, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(self.ack_timeout_s + 2 * self.timeout_s + 1.0, abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            super()._deliver(record)
        except Exception:
            self._client.close()  # reconnect on the next attempt
            if aborted.is_set():
                raise TimeoutError(f"PLC {self.host}:{self.port} gave no valid Modbus answer in time (is it a "
                                   f"Modbus TCP device?)") from None
            raise
        finally:
            watchdog.cancel()

    def _close(self) -> None:
        _unwatch_pymodbus_log(self)
        if self._client is not None:
            self._client.close()
            self._client = None
