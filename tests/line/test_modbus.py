"""Modbus TCP sinks with real pymodbus peers on 127.0.0.1: Hamacho's server polled by a PLC client that
acknowledges each result, and Hamacho's client writing into a PLC (a pymodbus server) that goes away."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient

from hamacho_core.line.modbus import ModbusClientSink, ModbusServerSink, registers_of
from tests.line.test_sinks import free_port, record, wait_for


class Plc:
    """A PLC: a pymodbus TCP server with holding registers, in its own thread (stoppable, restartable)."""

    def __init__(self, port: int):
        self.port = port
        self.thread = None

    def start(self):
        from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
        from pymodbus.server import ModbusTcpServer

        self.device = ModbusDeviceContext(hr=ModbusSequentialDataBlock(0, [0] * 32))
        context = ModbusServerContext(devices=self.device, single=True)
        self.loop = asyncio.new_event_loop()
        up = threading.Event()

        async def serve():
            self.server = ModbusTcpServer(context, address=("127.0.0.1", self.port))
            assert await self.server.listen()
            up.set()
            await self.server.serving

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True)
        self.thread.start()
        assert up.wait(5)
        return self

    def registers(self, n=8):
        return list(self.device.getValues(3, 0, n))

    def acknowledge(self):
        self.device.setValues(3, 7, [0])

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(5)
        self.thread.join(5)


def test_server_sink_handshake_every_part_seen_by_the_plc():
    port = free_port()
    sink = ModbusServerSink(f"127.0.0.1:{port}").start()
    plc = ModbusTcpClient("127.0.0.1", port=port)
    assert plc.connect()
    seen = []
    verdicts = ["OK", "NG", "REVIEW", "OK", "NG"] * 4
    for i, verdict in enumerate(verdicts, 1):
        sink.submit(record(i, verdict))
    deadline = time.monotonic() + 20
    while len(seen) < len(verdicts) and time.monotonic() < deadline:  # the PLC's scan loop
        regs = plc.read_holding_registers(0, count=8).registers
        if regs[7] == 1:  # a new result
            seen.append((regs[0], regs[1] | regs[2] << 16, regs[3], regs[4]))
            plc.write_registers(7, [0])  # acknowledge
    assert [s[1] for s in seen] == list(range(1, 21)), "every part once, in order"
    assert [s[0] for s in seen] == [{"OK": 1, "NG": 2, "REVIEW": 3}[v] for v in verdicts]
    assert seen[0][2:] == (25, 250)  # normalised 0.25 -> 25; raw 2.5 -> 250
    beat = plc.read_holding_registers(5, count=1).registers[0]
    wait_for(lambda: plc.read_holding_registers(5, count=1).registers[0] != beat, 5, "the heartbeat")
    assert plc.read_holding_registers(6, count=1).registers[0] & 1, "ready"
    plc.close()
    sink.close()


def test_clients_may_write_only_the_handshake_and_trigger_registers():
    """Issue 26: any Modbus client could write register 0 := 1 while NG was shown, so the PLC read OK.  Only
    base+7 (acknowledge) and base+8 (trigger) are writable; other writes get "illegal data address"."""
    port = free_port()
    events = []
    sink = ModbusServerSink(f"127.0.0.1:{port}", on_event=lambda *e: events.append(e)).start()
    sink.submit(record(1, "NG"))
    intruder = ModbusTcpClient("127.0.0.1", port=port)
    assert intruder.connect()
    wait_for(lambda: intruder.read_holding_registers(0, count=1).registers[0] == 2, 10, "NG shown")
    for address, values in ((0, [1]), (3, [0]), (5, [7, 7]), (6, [1, 1, 1])):
        reply = intruder.write_registers(address, values)
        assert reply.isError() and reply.exception_code == 2, (address, reply)
    assert intruder.write_register(0, 1).isError()
    assert intruder.read_holding_registers(0, count=1).registers[0] == 2, "still NG"
    assert not intruder.write_register(7, 0).isError(), "the acknowledgement is still accepted"
    assert sink.refused_writes == 5 and any("only base+7" in message for _level, message in events)
    intruder.close()
    sink.close()


def test_server_sink_without_acknowledgement_backlogs_instead_of_overwriting():
    port = free_port()
    sink = ModbusServerSink(f"127.0.0.1:{port}", ack_timeout_s=0.2).start()
    for i in range(1, 4):
        sink.submit(record(i))
    wait_for(lambda: sink.status()["sent"] == 1 and sink.failures >= 1, 5, "the unacknowledged first part")
    assert sink.backlog == 2 and "did not acknowledge part 1" in sink.last_error
    plc = ModbusTcpClient("127.0.0.1", port=port)
    assert plc.connect()
    assert plc.read_holding_registers(6, count=1).registers[0] & 2, "busy: a result waits"
    plc.close()
    sink.close(wait_s=0.1)


def test_port_in_use_is_reported_not_raised():
    port = free_port()
    first = ModbusServerSink(f"127.0.0.1:{port}").start()
    events = []
    second = ModbusServerSink(f"127.0.0.1:{port}", on_event=lambda lv, m: events.append(m)).start()
    assert not second.connected and any("cannot serve Modbus" in m for m in events)
    second.close(wait_s=0.1)
    first.close()


def test_client_sink_writes_into_the_plc_and_survives_it_disappearing():
    port = free_port()
    plc = Plc(port).start()
    sink = ModbusClientSink(f"127.0.0.1:{port}", timeout_s=0.5, ack_timeout_s=1.0).start()

    def plc_scan(count, parts):
        deadline = time.monotonic() + 20
        while len(parts) < count and time.monotonic() < deadline:
            regs = plc.registers()
            if regs[7] == 1:
                parts.append(regs[1] | regs[2] << 16)
                plc.acknowledge()
            time.sleep(0.002)

    parts = []
    for i in range(1, 6):
        sink.submit(record(i, "NG"))
    plc_scan(5, parts)
    assert parts == [1, 2, 3, 4, 5] and plc.registers()[0] == 2
    plc.stop()  # the PLC is switched off
    for i in range(6, 11):
        sink.submit(record(i))
    wait_for(lambda: not sink.connected, 10, "the sink to notice")
    assert sink.backlog >= 4
    plc = Plc(port).start()  # back on (its registers start from zero)
    plc_scan(10, parts)
    assert parts[5:] == [6, 7, 8, 9, 10] or sorted(set(parts)) == list(range(1, 11))
    assert sorted(set(parts)) == list(range(1, 11)) and sink.dropped == 0
    sink.close()
    plc.stop()


def test_register_block():
    assert registers_of(record(70000, "REVIEW")) == [3, 70000 & 0xFFFF, 1, 25, 65535]
    with pytest.raises(ValueError, match="not a Modbus address"):
        ModbusServerSink("nowhere")


def test_malformed_frames_and_trigger_floods_are_counted_not_logged(capfd):
    """Issue 26: one malformed frame (function 0x2B, 0x63, 0x80, 0x00) printed a pymodbus traceback and a hex
    dump into stderr; 300 trigger writes printed 300 warnings.  Both are counted and reported sparingly."""
    import socket

    port = free_port()
    events = []
    sink = ModbusServerSink(f"127.0.0.1:{port}", on_event=lambda *e: events.append(e)).start()
    for function in (0x2B, 0x63, 0x80, 0x00):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as peer:
            peer.sendall(bytes([0, 1, 0, 0, 0, 2, 1, function]))
            time.sleep(0.1)
    plc = ModbusTcpClient("127.0.0.1", port=port)
    assert plc.connect()
    for _ in range(300):  # a PLC writing the trigger every cycle, with no software-triggered camera
        plc.write_register(8, 1)
    plc.close()
    wait_for(lambda: sink.bad_frames >= 4, 10, "the malformed frames counted")
    sink.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Fatal error" not in err and "Unable to decode" not in err, err
    bad = [m for _level, m in events if "not valid Modbus" in m]
    ignored = [m for _level, m in events if "not software-triggered" in m]
    assert len(bad) == 1 and sink.bad_frames >= 4
    assert sink.triggers_ignored == 300 and 1 <= len(ignored) <= 4, ignored


def test_client_to_a_peer_sending_random_bytes_fails_and_says_so(capfd):
    """Issue 26: ``--modbus-client`` to a peer sending random bytes got stuck, counted 0 failures and warned
    nothing.  A watchdog cuts the delivery; the failure is counted and reported, the noise is not printed."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    stop = threading.Event()

    def spew():
        while not stop.is_set():
            listener.settimeout(0.2)
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=lambda c=conn: _flood(c, stop), daemon=True).start()

    threading.Thread(target=spew, daemon=True).start()
    events = []
    sink = ModbusClientSink(f"127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.5, ack_timeout_s=1.0,
                            on_event=lambda *e: events.append(e)).start()
    sink.submit(record(1))
    wait_for(lambda: any("no valid Modbus answer in time" in m for _level, m in events), 30,
             "the delivery to be cut and reported")
    stop.set()
    sink.close(wait_s=0.2)
    listener.close()
    assert sink.sent == 0 and sink.failures >= 1
    assert "ask for id" not in capfd.readouterr().err


def _flood(conn, stop):
    import os

    try:
        while not stop.is_set():
            conn.sendall(os.urandom(64))
            time.sleep(0.01)
    except OSError:
        pass
    finally:
        conn.close()
