"""MQTT: the only package that imports paho. Publisher interface, paho client, in-memory twin."""

from .publisher import MemoryPublisher, Message, Publisher

__all__ = ["MemoryPublisher", "Message", "Publisher"]
