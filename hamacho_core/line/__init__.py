"""Connecting a station to its line: verdict sinks (MQTT, webhook, folder) fed by live inspection."""

from dataclasses import dataclass, field

from hamacho_core.line.sinks import FolderSink, MqttSink, PartRecord, Sink, WebhookSink


@dataclass
class LineSettings:
    """The line outputs a station sends to (the CLI's options and the Live tab's fields); empty = none."""

    mqtt: list[str] = field(default_factory=list)
    mqtt_qos: int = 1
    webhook: list[str] = field(default_factory=list)
    modbus_server: list[str] = field(default_factory=list)
    modbus_client: list[str] = field(default_factory=list)
    modbus_handshake: bool = True
    folder: list[str] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return any((self.mqtt, self.webhook, self.modbus_server, self.modbus_client, self.folder))

    def sinks(self) -> list[Sink]:
        """New, unstarted sinks (a bad address raises ValueError, a missing add-on ImportError)."""
        from hamacho_core.line.modbus import ModbusClientSink, ModbusServerSink

        return ([MqttSink(url, qos=self.mqtt_qos) for url in self.mqtt]
                + [WebhookSink(url) for url in self.webhook]
                + [ModbusServerSink(a, handshake=self.modbus_handshake) for a in self.modbus_server]
                + [ModbusClientSink(a, handshake=self.modbus_handshake) for a in self.modbus_client]
                + [FolderSink(d) for d in self.folder])


__all__ = ["FolderSink", "LineSettings", "MqttSink", "PartRecord", "Sink", "WebhookSink"]
