"""Load a YAML config into :class:`AgentConfig`; every problem is reported as ``FILE:LINE: key.path: message``.

YAML files are hostile input, so they are read through :func:`safe_yaml_load` (or :func:`safe_yaml_compose`),
which bounds the text size, the nesting depth and the node count (aliases counted expanded) *while*
composing, before any Python object is built, refuses duplicate keys and oversized integers, and reports
every such problem as one ``FILE:LINE: message`` line. The limits guard reading the config itself, so they
are constants, not config values. Command-set YAML files should use the same functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import AgentError, ConfigError
from .schema import AgentConfig

MAX_YAML_BYTES = 1024 * 1024
"""Largest YAML text read (configs, action maps, command sets): far above any real file, small enough to
parse in about a second."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and sequences: real files nest a few levels; deeper YAML would exhaust the
recursive composer's stack (RecursionError)."""

MAX_YAML_NODES = 200_000
"""Most nodes (keys, values and items, each alias counted as the size of what it repeats) in one file:
bounds memory and validation time, and defeats alias 'billion laughs' expansion."""

MAX_INT_DIGITS = 100
"""Longest integer literal accepted: no setting needs more, and Python refuses to parse very long ones."""


class _LimitError(yaml.MarkedYAMLError):
    """A YAML file broke one of the limits above (not a syntax error)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Bounds:
    """Composer mixin: count depth and (expanded) nodes as nodes are composed, refuse duplicate keys."""

    def __init__(self, text: str) -> None:
        super().__init__(text)  # type: ignore[call-arg]
        self._depth = 0
        self._nodes = 0
        self._anchored: dict[int, int] = {}  # id(anchored node) -> its expanded node count

    def _count(self, n: int, mark: Any) -> None:
        self._nodes += n
        if self._nodes > MAX_YAML_NODES:
            raise _LimitError(f"more than {MAX_YAML_NODES} YAML nodes (aliases counted expanded): "
                              "split or simplify the file", mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            node: yaml.Node = super().compose_node(parent, index)  # type: ignore[misc]
            self._count(self._anchored.get(id(node), 1), event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _LimitError(f"YAML nested deeper than {MAX_YAML_DEPTH} levels: flatten it", event.start_mark)
        before = self._nodes
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)  # type: ignore[misc]
        self._depth -= 1
        if getattr(event, "anchor", None):
            self._anchored[id(node)] = self._nodes - before
        return node

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node: yaml.MappingNode = super().compose_mapping_node(anchor)  # type: ignore[misc]
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            first = seen.setdefault((key.tag, key.value), key.start_mark.line + 1)
            if first != key.start_mark.line + 1:
                raise _LimitError(f"duplicate key {key.value!r} (first given on line {first}): keep one",
                                  key.start_mark)
        return node


class _SafeBounded(_Bounds, yaml.SafeLoader):
    """SafeLoader with the limits; integers too long to be settings are a marked error, not ValueError."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = len(node.value.replace("_", "").lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            raise _LimitError(f"integer of {digits} digits is too large (at most {MAX_INT_DIGITS})", node.start_mark)
        return int(super().construct_yaml_int(node))


_SafeBounded.add_constructor("tag:yaml.org,2002:int", _SafeBounded.construct_yaml_int)


class _BaseBounded(_Bounds, yaml.BaseLoader):
    """BaseLoader (every scalar a string) with the limits, for callers that read the node tree only."""


def _yaml_error(exc: yaml.YAMLError, file: str, error: type[AgentError]) -> AgentError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    msg = f"{file}:{line}: {problem}" if isinstance(exc, _LimitError) else f"{file}:{line}: invalid YAML: {problem}"
    return error(msg)


def _check_size(text: str, file: str, error: type[AgentError]) -> None:
    if len(text) > MAX_YAML_BYTES:
        raise error(f"{file}:1: YAML file of {len(text)} characters is larger than the {MAX_YAML_BYTES} "
                    "limit: split it")


def safe_yaml_load(text: str, file: str = "<yaml>",
                   error: type[AgentError] = ConfigError) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document with bounded size, depth and node count: (Python data, node tree for lines).

    Raises ``error`` (ConfigError by default; command sets pass CommandSetError) with one
    ``FILE:LINE: message`` line for a syntax error, a broken limit, a duplicate key or a huge integer.
    """
    _check_size(text, file, error)
    loader = _SafeBounded(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, error) from exc
    finally:
        loader.dispose()
    return data, root


def safe_yaml_compose(text: str, file: str = "<yaml>", error: type[AgentError] = ConfigError) -> yaml.Node | None:
    """The node tree of one YAML document, every scalar a string (BaseLoader), with the same limits."""
    _check_size(text, file, error)
    loader = _BaseBounded(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, error) from exc
    finally:
        loader.dispose()


_KeyIndex = dict[int, dict[str, tuple[int, yaml.Node]]]


def _keys(node: yaml.MappingNode, index: _KeyIndex) -> dict[str, tuple[int, yaml.Node]]:
    """{key: (line, value node)} of a mapping, built once per mapping so reporting N problems is linear."""
    keys = index.get(id(node))
    if keys is None:
        keys = {}
        for key, value in node.value:
            keys.setdefault(str(key.value), (key.start_mark.line + 1, value))
        index[id(node)] = keys
    return keys


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...], index: _KeyIndex | None = None) -> int:
    """1-based line of the deepest node of ``loc`` present in the YAML tree (1 when unknown)."""
    index = {} if index is None else index
    node, line = root, (root.start_mark.line + 1 if root is not None else 1)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = _keys(node, index).get(str(part))
            if hit is not None:
                line, node = hit
            # a discriminator tag in the loc ('wav') is not a YAML key: stay on this node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    args = getattr(annotation, "__args__", (annotation,))
    return [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]


def _walk(loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, Any]:
    """The model that owns the last element of ``loc``, and that element's FieldInfo (or None)."""
    model: type[BaseModel] | None = AgentConfig
    field = None
    for i, part in enumerate(loc):
        if model is None:
            return None, None
        field = model.model_fields.get(str(part))
        if field is None:
            continue  # a discriminator tag ('wav') or a list index: stay on this model
        if i == len(loc) - 1:
            break
        members = _models_in(field.annotation)
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        tagged = [m for m in members if "type" in m.model_fields and m.model_fields["type"].default == nxt]
        chosen = tagged or members
        model = chosen[0] if chosen else None
    return model, field


def _format(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        model, _ = _walk((*loc[:-1], "__none__"))
        allowed = sorted(model.model_fields) if model is not None else []
        return "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    _, field = _walk(loc)
    if field is not None and field.description and err["type"] != "literal_error":
        msg += f" (expected: {field.description})"
    return msg


def _problems(exc: ValidationError, file: str, root: yaml.Node | None) -> list[str]:
    out = []
    index: _KeyIndex = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        # drop discriminator tags from the printed path ('audio.wav.paths' -> 'audio.paths')
        shown = [str(p) for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] in ("audio", "video"))]
        key = ".".join(shown) or "(top level)"
        out.append(f"{file}:{_line_of(root, loc, index)}: {key}: {_format(dict(err))}")
    return out


def parse_config(text: str, file: str = "<config>") -> AgentConfig:
    """Validate YAML text; raise ConfigError listing every problem."""
    data, root = safe_yaml_load(text, file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else 1
        msg = f"{file}:{line}: (top level): must be a mapping of keys to values"
        raise ConfigError(msg, [msg])
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, file, root)
        raise ConfigError(f"{len(problems)} problem(s) in {file}:\n" + "\n".join(problems), problems) from exc


def load_config(path: str | Path | None) -> AgentConfig:
    """Load and validate a config file; ``None`` gives the defaults."""
    if path is None:
        return AgentConfig()
    p = Path(path)
    try:
        if p.stat().st_size > 4 * MAX_YAML_BYTES:  # checked before reading; the exact bound is in characters
            raise ConfigError(f"{p}: config file of {p.stat().st_size} bytes is far larger than a config: "
                              "give the right file")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: config file is not UTF-8 text") from exc
    cfg = parse_config(text, str(p))
    base = p.parent  # replay media named relative to the config file
    if cfg.audio is not None and cfg.audio.type == "wav":
        paths = [q if q.is_absolute() else base / q for q in cfg.audio.paths]
        cfg = cfg.model_copy(update={"audio": cfg.audio.model_copy(update={"paths": paths})})
    if cfg.video is not None and cfg.video.type == "replay" and not cfg.video.path.is_absolute():
        cfg = cfg.model_copy(update={"video": cfg.video.model_copy(update={"path": base / cfg.video.path})})
    return cfg


def validate_file(path: str | Path) -> list[str]:
    """Problems in a config file, as printable lines (empty when valid)."""
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.problems
    return []


def read_secret(file: Path | None, env: str | None, key: str = "mqtt.password_file",
                env_key: str | None = None) -> str | None:
    """A secret from a file (relative names are looked up in $CREDENTIALS_DIRECTORY) or an env variable;
    ``key`` and ``env_key`` name the config keys in errors."""
    if env_key is None and key == "mqtt.password_file":
        env_key = "mqtt.password_env"
    if file is not None:
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        p = file if file.is_absolute() or not cred_dir else Path(cred_dir) / file
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {p} ({exc.strerror}); create it"
                              + (f" or use {env_key}" if env_key else "")) from exc
    if env is not None:
        if env not in os.environ:
            raise ConfigError(f"{env_key}: environment variable {env} is not set")
        return os.environ[env]
    return None
