"""SPEC.yaml of a sweep into its points, checked on load: one BadInput line naming the file, the field and the fix.

The format is drawn in :mod:`xpuplan.sweep`. The structure is checked here (keys, option names, lists, required
options, one device count per plan point); the values are checked per point by :func:`xpuplan.api.run`, so a bad
value is a ``bad_input`` row, never a failed sweep.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.files import parse_yaml, read_yaml
from ..errors import BadInput
from ..flags import options

COMMANDS = ("train", "plan", "inference", "rl")
"""the commands a sweep point may call"""
KEYS = ("command", "fixed", "grid")
"""the top-level keys of a spec"""
REFUSED = {"json": "a sweep writes Parquet; leave out json",
           "plot": "a sweep draws no plots; plot from the Parquet file",
           "top": "a sweep keeps each plan point's best plan; leave out top",
           "config": "a sweep spec is the job file: put its options under fixed"}
"""options of the commands that have no meaning in a sweep, with the fix (and every other output option)"""
MAX_POINTS = 1_000_000
"""most points in one sweep"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Point:
    """One call of the sweep."""

    index: int
    """place in the spec's order (the row order of the output)"""
    key: str
    """the command and the inputs as canonical JSON: the same point in any spec has the same key (resumption)"""
    inputs: dict
    """the command's options by table name, as given"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Spec:
    """A checked sweep spec."""

    command: str
    """train, plan, inference or rl"""
    columns: tuple[str, ...]
    """every input named by the spec, in the order written (fixed, then the grid)"""
    points: tuple[Point, ...]
    """every point, in order, each once"""
    where: str
    """how messages name the spec (its file, or 'spec' for a mapping)"""


def load_spec(spec: Any) -> Spec:
    """A spec file (path), YAML/JSON text (``{...}``), or the mapping itself -> the checked :class:`Spec`."""
    data, where = _document(spec)
    return parse_spec(data, where)


def _document(spec: Any) -> tuple[dict, str]:
    if isinstance(spec, dict):
        data, where = spec, "spec"
    elif isinstance(spec, (str, Path)) and str(spec).strip():
        text = str(spec).strip()
        inline = isinstance(spec, str) and (text.startswith("{") or "\n" in text)
        data, where = (parse_yaml(text, "spec (inline)"), "spec (inline)") if inline else (read_yaml(Path(text)), text)
    else:
        raise BadInput(f"the sweep spec must be a YAML file, YAML text or a mapping, got {type(spec).__name__}", "spec")
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping with command, fixed and grid, got {type(data).__name__}", "spec")
    return data, where


def parse_spec(data: dict, where: str = "spec") -> Spec:
    """A spec mapping -> the checked :class:`Spec` (see :mod:`xpuplan.sweep` for the format)."""
    _known(data, KEYS, where, "key", "spec")
    command = data.get("command")
    if command not in COMMANDS:
        close = difflib.get_close_matches(str(command), COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadInput(f"{where}: command must be one of {', '.join(COMMANDS)}, got {command!r}{hint}", "command")
    names = {o.name for o in options(command)} - set(REFUSED) - _outputs(command)
    fixed = _options(data.get("fixed") or {}, command, names, f"{where}: fixed")
    for name, value in fixed.items():
        if isinstance(value, list) and not any(o.many for o in options(command) if o.name == name):
            raise BadInput(f"{where}: fixed.{name} is a list; to sweep its values, put it under grid", name)
    grids = data.get("grid")
    if grids is None:
        grids = [{}]
    elif isinstance(grids, dict):
        grids = [grids]
    elif not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise BadInput(f"{where}: grid must be a mapping of lists (model: [llama3-8b, llama3-70b]) or a list of such "
                       "mappings", "grid")
    grids = [_options(g, command, names, f"{where}: grid" + (f"[{i}]" if len(grids) > 1 else ""))
             for i, g in enumerate(grids)]
    for i, grid in enumerate(grids):
        _check_grid(grid, fixed, command, where + (f": grid[{i}]" if len(grids) > 1 else ": grid"))
    columns = tuple(dict.fromkeys([*fixed, *(name for grid in grids for name in grid)]))
    return Spec(command=command, columns=columns, points=_points(command, fixed, grids, where), where=where)


def _known(data: dict, known, where: str, what: str, field: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise BadInput(f"{where}: unknown {what} {str(key)[:40]!r}{hint}", field)


def _outputs(command: str) -> set[str]:
    """The command line's output options of ``command`` (--json, --plot, --csv, ...)."""
    return {o.name for o in options(command) if o.panel == "output"}


def _options(values: Any, command: str, names: set[str], where: str) -> dict:
    """A mapping of options by table name (``seq-len`` read as ``seq_len``), every name an option of ``command``."""
    if not isinstance(values, dict):
        raise BadInput(f"{where} must be a mapping of options (seq_len: 4096), got {type(values).__name__}",
                       where.rsplit(": ", 1)[-1])
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name in REFUSED or name in _outputs(command):
            fix = REFUSED.get(name, f"an output of `xpuplan {command}`; a sweep writes its rows to --out")
            raise BadInput(f"{where}.{name}: {fix}", name)
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"see `xpuplan {command} --help`"
            raise BadInput(f"{where}: {str(key)[:40]!r} is not an option of {command}; {hint}", name)
        if name in out:
            raise BadInput(f"{where}: {name} is given twice", name)
        out[name] = value
    return out


def _check_grid(grid: dict, fixed: dict, command: str, where: str) -> None:
    for name, values in grid.items():
        if name in fixed:
            raise BadInput(f"{where}.{name}: {name} is also under fixed; keep it in one place", name)
        if not isinstance(values, list) or not values:
            raise BadInput(f"{where}.{name} must be a non-empty list of values, e.g. {name}: [{_example(values)}]",
                           name)
    for o in options(command):
        if command in o.required and o.name not in fixed and o.name not in grid:
            raise BadInput(f"{where}: {o.name} is required for {command}; give it under fixed or grid", o.name)
    if command == "plan":
        for value in grid.get("devices") or [fixed.get("devices")]:
            if isinstance(value, str) and not value.strip().isdigit():
                raise BadInput(f"{where}: a plan point prices one device count; list the counts (devices: [1024, "
                               f"2048, 4096]) instead of {value!r}", "devices")


def _example(value: Any) -> str:
    return json.dumps(value, default=str)[:40] if value not in (None, [], {}) else "..."


def _points(command: str, fixed: dict, grids: list[dict], where: str) -> tuple[Point, ...]:
    total = sum(math.prod(len(v) for v in grid.values()) for grid in grids)
    if total > MAX_POINTS:
        raise BadInput(f"{where}: the grid has {total:,} points (more than {MAX_POINTS:,}); split the sweep", "grid")
    points, seen = [], set()
    for grid in grids:
        for values in itertools.product(*grid.values()):
            inputs = {**fixed, **dict(zip(grid, values))}
            key = point_key(command, inputs)
            if key not in seen:
                seen.add(key)
                points.append(Point(index=len(points), key=key, inputs=inputs))
    return tuple(points)


def point_key(command: str, inputs: dict) -> str:
    """The command and the inputs as canonical JSON (keys sorted, no spaces): the identity of a point."""
    return json.dumps({"command": command, **inputs}, sort_keys=True, separators=(",", ":"), default=str)
