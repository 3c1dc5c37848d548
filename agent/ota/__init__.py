"""Over-the-air model updates: signed bundles, a versioned store, verified install and rollback.

- :mod:`.manifest`  the signed manifest (Ed25519 over canonical JSON), keys, metadata checks;
- :mod:`.bundle`    bundle readers (directory or tar archive), verified extraction, ``pack``;
- :mod:`.store`     versioned slots, the atomic ``current`` pointer, minimum version, boot attempts;
- :mod:`.fetch`     HTTP(S) download with a size cap, a total deadline and a per-read timeout;
- :mod:`.selftest`  golden inputs/outputs stored in the bundle, run with onnxruntime;
- :mod:`.hotswap`   a thread-safe holder the pipeline reads once per frame;
- :mod:`.announce`  pure builders/parsers for the MQTT announcement and Home Assistant ``update`` entity;
- :mod:`.manager`   :class:`UpdateManager`: fetch → verify → stage → self-test → switch → activate → confirm.

The core imports neither paho nor the pipeline; state changes reach them through a listener callback.
"""
