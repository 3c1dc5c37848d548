"""MQTT: the only package that imports paho.

- ``publisher``   — the one-method :class:`Publisher` interface, :class:`Message`, :class:`MemoryPublisher`;
- ``client``      — :class:`MqttClient`: birth/last will, capped backoff, bounded TTL outbox, fresh session per
  connection (no late re-sends of stale QoS 1 messages), dead-connection detection;
- ``reliable``    — end-to-end intent delivery (ack + retransmit until the deadline) and the guarded executor;
- ``commands``    — command topics: strict JSON, size cap, retained ignored, deadlines, dedup by id;
- ``discovery`` / ``ha`` — Home Assistant device discovery and the bridge (events, sensors, privacy switches,
  update entity, re-announce on ``homeassistant/status``);
- ``arbitration`` — several agents, one utterance, one action;
- ``proxy`` / ``soak`` — fault injection and the broker-kill soak behind ``homeagent bench mqtt``.
"""

from ..intents.publisher import MemoryPublisher, Message, Publisher

__all__ = ["MemoryPublisher", "Message", "Publisher"]
