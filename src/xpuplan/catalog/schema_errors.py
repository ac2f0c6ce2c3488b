"""The words of a spec file's refusal: the schema's own value checks, and pydantic's validation errors as the loader's
one line naming the file, the field and the fix.

The first error in this order is told: an unknown field (with the closest known one and every allowed name), a
missing field (null counts as missing for a required one), then a value of the wrong type or range::

    chips/x.yaml: unknown field 'hbm_size'; did you mean 'hbm'? allowed: confidence, display_name, ...
    chips/x.yaml: missing field 'hbm'; add it to the file
    chips/x.yaml: field 'tdp': cannot read 'lots' as a quantity (write e.g. 700W)
    chips/x.yaml: price.usd_per_hour must be a positive number, got 'cheap'
    models/m.yaml: moe: expected a mapping of fields, got list

A top-level field is named ``field 'x'``; one inside a block by its dotted path (``scale_up.domain``, ``sources[2]``).
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
import typing
from typing import Any

from ..units import UnitError, parse_quantity

EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "string_type": "text", "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "a list", "tuple_type": "a list", "too_long": "shorter", "too_short": "longer",
}
"""what a value must be, by pydantic error type"""
MAPPING_ERRORS = ("dict_type", "model_type", "model_attributes_type")
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
QUANTITY_PATTERN = rf"^\s*\+?{_NUMBER}\s*[A-Za-z/]*\s*$"
NUMERIC_PATTERN = rf"^\s*[-+]?{_NUMBER}\s*$"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integral(value: Any) -> Any:
    """A whole number written as a float (``8.0``) is the whole number, as the loader reads it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def positive(value: Any) -> Any:
    """A finite number above zero (a price)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f" must be a positive number, got {_shown(value)}")
    return value


def numeric(value: Any) -> Any:
    """A finite number, or numeric text (YAML reads 671e9 as text)."""
    if isinstance(value, str) and re.match(NUMERIC_PATTERN, value):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f" must be a number (or numeric text: 671e9), got {_shown(value)}")
    return value


def dated(value: Any) -> Any:
    """Text, or a date (YAML reads an unquoted 2026-03-01 as one)."""
    if not isinstance(value, (str, datetime.date)):
        raise ValueError(f" must be text (a date such as 2026-03), got {_shown(value)}")
    return value


def quantity_check(kind: str, above_zero: bool):
    """A check of a figure with a unit of ``kind`` (units.parse_quantity's words when it cannot be read)."""
    def check(value: Any) -> Any:
        try:
            number = parse_quantity(value, kind)
        except UnitError as exc:
            raise ValueError(f": {exc}") from None
        if above_zero and number <= 0:
            raise ValueError(f" must be > 0, got {_shown(value)}")
        return value
    return check


def _path(parts: list) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _inner_model(annotation: Any):
    """The pydantic model a field's annotation holds (through Optional, list, Annotated, unions), if any."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _model_at(root, parts: list):
    """The pydantic model of the block at ``parts`` (list indices pass through to the item's model)."""
    model = root
    for p in parts:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(p) if model is not None else None
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _is_missing(root, error: dict, parts: list) -> bool:
    if error["type"] == "missing":
        return True
    if error.get("input", ...) is not None or not parts or not isinstance(parts[-1], str):
        return False
    model = _model_at(root, parts[:-1])
    field = model.model_fields.get(parts[-1]) if model is not None else None
    return field is not None and field.is_required()


def one_line(root, errors: list[dict], where: str) -> tuple[str, str]:
    """The message and the field's name of the error to tell first, among pydantic's ``errors``."""
    def parts_of(error: dict) -> list:
        return [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("<"))]  # union tags

    def rank(error: dict) -> int:
        return 0 if error["type"] == "extra_forbidden" else 1 if _is_missing(root, error, parts_of(error)) else 2

    error = min(errors, key=rank)
    parts = parts_of(error)
    key, block = parts[-1] if parts else "", parts[:-1]
    head = f"{where}: {_path(block)}" if block else where
    name = _path(parts) or "file"
    if error["type"] == "extra_forbidden":
        model = _model_at(root, block)
        allowed = sorted(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{head}: unknown field {str(key)!r}; {hint}allowed: {', '.join(allowed)}", str(key)
    if rank(error) == 1:
        return f"{head}: missing field {str(key)!r}; add it to the file", str(key)
    value = error.get("input")
    if error["type"] in MAPPING_ERRORS:
        return f"{where}: {name}: expected a mapping of fields, got {type(value).__name__}", name
    if parts and parts[-1] == "[key]":  # a mapping's key outside the allowed ones
        allowed = (error.get("ctx") or {}).get("expected", "")
        return f"{where}: {_path(parts[:-2])}: unknown key {_shown(parts[-2])}; allowed: {allowed}", _path(parts[:-2])
    subject = f"field {str(key)!r}" if len(parts) == 1 else name
    if error["type"] == "value_error":  # an xpuplan check (catalog/schema.py leaves) says why
        return f"{where}: {subject}{(error.get('ctx') or {}).get('error', '')}", name
    ctx = error.get("ctx") or {}
    expected = EXPECTED.get(error["type"])
    if error["type"] == "literal_error":  # pydantic says "'a' or 'b'"; the loader's messages list them plainly
        expected = "one of " + ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    elif error["type"].startswith(("greater", "less")):
        expected = error["msg"].removeprefix("Input should be ")
    return f"{where}: {subject} must be {expected or error['msg'].lower()}, got {_shown(value)}", name
