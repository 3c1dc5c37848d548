"""Saving the pointing zones drawn on the page into the config file.

The new ``fusion.zones`` replace the old ones in the YAML text itself: the rest of the file (comments,
order, other keys) is kept byte for byte. The new text is validated with the same schema as
``homeagent check-config`` before anything is written; then the old file is kept as ``<file>.bak`` and the
new one is written atomically (``.part``, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from ..config.fusion import Zone
from ..config.loader import MAX_YAML_BYTES, parse_config, safe_yaml_compose
from ..errors import ConfigError
from ..privacy import atomic_write

log = logging.getLogger(__name__)

MAX_ZONES = 32
MAX_POINTS = 64
ZONE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}$")


def parse_zones(payload: Any) -> dict[str, dict[str, Any]]:
    """The zones a page sent, ``{name: {"device": str, "polygon": [[x, y], ...]}}``, checked against bounds
    before the schema sees them; ConfigError lists what is wrong."""
    if not isinstance(payload, dict) or len(payload) > MAX_ZONES:
        raise ConfigError(f"zones must be an object of at most {MAX_ZONES} zones")
    out: dict[str, dict[str, Any]] = {}
    for name, zone in payload.items():
        if not isinstance(name, str) or not ZONE_NAME.match(name):
            raise ConfigError(f"zone name {str(name)[:64]!r}: use 1-64 letters, digits, '_', '-', '.' or spaces")
        if not isinstance(zone, dict) or set(zone) != {"device", "polygon"}:
            raise ConfigError(f"zone {name!r}: needs exactly 'device' and 'polygon'")
        poly = zone["polygon"]
        if not isinstance(poly, list) or not 3 <= len(poly) <= MAX_POINTS or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                                                            and -1e5 <= c <= 1e5 for c in p) for p in poly):
            raise ConfigError(f"zone {name!r}: polygon must be 3-{MAX_POINTS} [x, y] points in pixels")
        device = zone["device"]
        if not isinstance(device, str) or not device.strip() or len(device) > 128:
            raise ConfigError(f"zone {name!r}: map it to a device (1-128 characters)")
        out[name] = {"device": device.strip(), "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in poly]}
    return out


def _render(zones: dict[str, dict[str, Any]], column: int) -> str:
    """``zones:`` and its block, for a key at ``column`` (the first line carries no indent)."""
    if not zones:
        return "zones: {}"
    body = yaml.safe_dump(zones, default_flow_style=None, sort_keys=False, width=1000).rstrip("\n")
    pad = " " * (column + 2)
    return "zones:\n" + "\n".join(pad + line for line in body.splitlines())


def _span_end(node: yaml.Node) -> int:
    """Where a node's own text ends (a block collection's end mark lies past the comments that follow it)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    if isinstance(node, yaml.MappingNode):
        return max((_span_end(v) for kv in node.value for v in kv), default=int(node.start_mark.index))
    if isinstance(node, yaml.SequenceNode):
        return max((_span_end(v) for v in node.value), default=int(node.start_mark.index))
    return int(node.end_mark.index)


def _child(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None


def _block(node: yaml.Node | None) -> bool:
    return isinstance(node, yaml.MappingNode) and not node.flow_style and bool(node.value)


def replace_zones(text: str, zones: dict[str, dict[str, Any]], file: str = "<config>") -> str:
    """``text`` with ``fusion.zones`` set to ``zones``, everything else kept as written."""
    root = safe_yaml_compose(text, file)
    fusion = _child(root, "fusion")
    zones_kv = _child(fusion[1], "zones") if fusion is not None else None
    if zones_kv is not None:
        key, value = zones_kv
        start, end = key.start_mark.index, _span_end(value)
        return text[:start] + _render(zones, key.start_mark.column) + text[end:]
    if fusion is not None and _block(fusion[1]):
        first = fusion[1].value[0][0]
        at, col = first.start_mark.index, first.start_mark.column
        return text[:at] + _render(zones, col) + "\n" + " " * col + text[at:]
    if fusion is None and (root is None or _block(root)):
        return text.rstrip("\n") + ("\n" if text.strip() else "") + "fusion:\n  " + _render(zones, 2) + "\n"
    # a flow-style or empty fusion section: rewrite the data (the file's comments are kept in the backup)
    data = yaml.safe_load(text) or {}
    data.setdefault("fusion", {})
    data["fusion"] = {**(data["fusion"] or {}), "zones": zones}
    return yaml.safe_dump(data, default_flow_style=None, sort_keys=False, width=1000)


def save_zones(path: Path, payload: Any) -> dict[str, Zone]:
    """Validate the page's zones, write them into the config file at ``path`` (backup ``<file>.bak``), and
    return them as the schema reads them; ConfigError (with its problem lines) when refused."""
    zones = parse_zones(payload)
    try:
        old = path.read_text(encoding="utf-8") if path.stat().st_size <= 4 * MAX_YAML_BYTES else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    if old is None:
        raise ConfigError(f"{path}: far larger than a config file")
    new = replace_zones(old, zones, str(path))
    cfg = parse_config(new, str(path))  # the schema of check-config: every problem with its line
    try:
        atomic_write(path.with_name(path.name + ".bak"), old.encode("utf-8"))
        atomic_write(path, new.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the config file ({exc.strerror}); the daemon needs write "
                          "access to it (systemd: ReadWritePaths=)") from exc
    log.info("zones saved to %s: %s", path, ", ".join(f"{n} -> {z.device}" for n, z in cfg.fusion.zones.items())
             or "none")
    return dict(cfg.fusion.zones)
