"""Reading spec files safely, and the field checks every spec loader shares.

A file is read only if it is small (``MAX_YAML_BYTES``), UTF-8 text, and YAML without alias bombs or deep nesting;
every problem is one :class:`~xpuplan.errors.BadInput` line naming the file, the field and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import BadInput
from ..units import UnitError, parse_quantity

MAX_YAML_BYTES = 1 << 20
"""largest YAML file read (the biggest catalog or validation file is under 200 KiB)"""
MAX_YAML_ALIASES = 64
"""aliases (``*name``) a file may use: a few are handy, thousands are a billion-laughs bomb"""
MAX_YAML_DEPTH = 32
"""deepest nesting of mappings and lists a file may have"""


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a cap on aliases and on nesting depth, checked while the file is composed."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_text(path: Path, what: str = "a spec file", kind: str = "YAML") -> str:
    """A spec file's text; a missing, oversized or binary file is one BadInput line (``what`` it should be)."""
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise BadInput(f"{path}: file is over {MAX_YAML_BYTES // 1024} KiB; {what} is a few KiB", "file")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{str(path)[:200]}: cannot read file ({exc.strerror})", "file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a text file (expected UTF-8 {kind})", "file") from None


BUNDLED = Path(__file__).resolve().parent
"""the catalog's own YAML files: trusted, so parsed by libyaml's C loader where PyYAML has it (several times faster);
any other file goes through :class:`_LimitedLoader` and its limits"""
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing, oversized, binary or malformed file is one BadInput line."""
    text = read_text(path)
    if _FAST_LOADER is not None and Path(path).resolve().is_relative_to(BUNDLED):
        return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - libyaml's safe loader, on our own files
    return parse_yaml(text, str(path))


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML (or JSON) text with the same limits as a file; ``where`` names it in the one-line error."""
    if len(text) > MAX_YAML_BYTES:
        raise BadInput(f"{where}: over {MAX_YAML_BYTES // 1024} KiB; a spec is a few KiB", "file")
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise BadInput(f"{where}: malformed YAML{at}: {problem}; fix the syntax", "file") from None


def _mapping(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping of fields, got {type(data).__name__}", "file")
    return data


def _check_keys(data: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadInput(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}", unknown[0])
    missing = sorted(k for k in required if data.get(k) is None)
    if missing:
        raise BadInput(f"{where}: missing field {missing[0]!r}; add it to the file", missing[0])


def _quantity(data: dict, key: str, kind: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return parse_quantity(value, kind)
    except UnitError as exc:
        raise BadInput(f"{where}: field {key!r}: {exc}", key) from None


def _int(data: dict, key: str, where: str, default: int | None = None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise BadInput(f"{where}: field {key!r} must be a whole number, got {value!r}", key)
    return int(value)


def _name_list(data: dict, key: str, where: str, what: str) -> tuple[str, ...]:
    """A file's list of names (``Model.unquantized``'s parts) as a tuple."""
    value = data.get(key)
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise BadInput(f"{where}: {key} must be a list of {what}, got {value!r:.60}", key)
    return tuple(value)


def _host_time_scale(cpu: dict, where: str) -> float | None:
    """``host_cpu.time_scale``: None (an x86 server host) where the file gives none; a positive ratio otherwise."""
    value = cpu.get("time_scale")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 20:
        raise BadInput(f"{where}: time_scale must be a ratio in (0, 20] (host time against an x86 server's), got "
                       f"{value!r}", "host_cpu.time_scale")
    return float(value)


def with_base(data: dict, directory: Path, known, where: str, seen: tuple[str, ...] = ()) -> dict:
    """A file that names a base file of its directory (``like: <id>``): the base's keys (not its ``covers``), the
    file's own on top, its ``sources`` ahead of the base's; a base may itself name a base (an older release says
    how it differs from the next newer one); a file without ``like`` as it is."""
    base = data.pop("like", None)
    if base is None:
        return data
    name = Path(where).name
    if base not in known or f"{base}.yaml" == name:
        raise BadInput(f"{where}: like must name another file of {directory.name}/, got {base!r}", "like")
    if base in seen:
        raise BadInput(f"{where}: like forms a cycle through {base}", "like")
    parent_where = f"{directory.name}/{base}.yaml"
    parent = with_base(dict(_mapping(read_yaml(directory / f"{base}.yaml"), parent_where)), directory, known,
                       parent_where, seen + (name.removesuffix(".yaml"),))
    merged = {**{k: v for k, v in parent.items() if k not in ("covers", "like")}, **data}
    if "sources" in data and "sources" in parent:
        merged["sources"] = list(data["sources"]) + list(parent["sources"])
    return merged


def _sources(data: dict) -> tuple[str, ...]:
    out = []
    for item in data.get("sources") or ():
        if isinstance(item, dict):
            ref = item.get("ref") or item.get("url") or ""
            if item.get("url") and item.get("url") not in ref:
                ref = f"{ref} ({item['url']})"
            out.append(f"{ref} [{item['confidence']}]" if item.get("confidence") else ref)
        else:
            out.append(str(item))
    return tuple(out)
