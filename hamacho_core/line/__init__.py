"""Connecting a station to its line: verdict sinks (MQTT, webhook, folder) fed by live inspection."""

from hamacho_core.line.sinks import FolderSink, MqttSink, PartRecord, Sink, WebhookSink

__all__ = ["FolderSink", "MqttSink", "PartRecord", "Sink", "WebhookSink"]
