"""Load a YAML config into :class:`AgentConfig`; every problem is reported as ``FILE:LINE: key.path: message``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .schema import AgentConfig


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node of ``loc`` present in the YAML tree (1 when unknown)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else 1)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
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
    for err in exc.errors():
        loc = tuple(err["loc"])
        # drop discriminator tags from the printed path ('audio.wav.paths' -> 'audio.paths')
        shown = [str(p) for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] in ("audio", "video"))]
        key = ".".join(shown) or "(top level)"
        out.append(f"{file}:{_line_of(root, loc)}: {key}: {_format(dict(err))}")
    return out


def parse_config(text: str, file: str = "<config>") -> AgentConfig:
    """Validate YAML text; raise ConfigError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{file}:{line}: invalid YAML: {problem}", [f"{file}:{line}: invalid YAML: {problem}"]) \
            from exc
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


def read_secret(file: Path | None, env: str | None, key: str = "mqtt.password_file") -> str | None:
    """A secret from a file (relative names are looked up in $CREDENTIALS_DIRECTORY) or an env variable;
    ``key`` names the config key in errors."""
    if file is not None:
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        p = file if file.is_absolute() or not cred_dir else Path(cred_dir) / file
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {p} ({exc.strerror}); create it"
                              + (" or use mqtt.password_env" if key == "mqtt.password_file" else "")) from exc
    if env is not None:
        if env not in os.environ:
            raise ConfigError(f"mqtt.password_env: environment variable {env} is not set")
        return os.environ[env]
    return None
