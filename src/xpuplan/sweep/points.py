"""One point of a sweep: one call of :func:`xpuplan.api.run`, its result flattened into one row.

This is what a worker runs (a local process or a Ray task), so it needs nothing but the package: no pandas. A point
that does not fit or has a bad value is a row with its ``status`` and ``error``, never an exception; an exception
nobody meant (a bug) is a row with status ``error``, which a resumed sweep runs again.
"""

from __future__ import annotations

import json
import math
import warnings

from ..errors import BadInput, DoesNotFit

META = ("point", "status", "error")
"""the columns every row starts with"""
KEY = "key"
"""the column holding each point's identity (the last column)"""
STATUSES = ("ok", "does_not_fit", "bad_input", "error")
"""``ok``; ``does_not_fit`` (the job cannot run as asked); ``bad_input`` (a value to fix, named in ``error``);
``error`` (a bug, with its type and message)"""
RESULT_PREFIX = "result."
"""a result field named like an input (or a column above) whose value differs from it is kept under this prefix"""


def run_batch(command: str, batch: list[tuple[int, str, dict]]) -> list[dict]:
    """Run ``(index, key, inputs)`` points one after the other; one row per point, in the same order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same note on every point of a grid; the results carry their warnings
        return [row(command, index, key, inputs) for index, key, inputs in batch]


def row(command: str, index: int, key: str, inputs: dict) -> dict:
    """One point's row: the columns of :data:`META`, the inputs, the flattened result and the key."""
    status, error, result = _call(command, inputs)
    out = {"point": index, "status": status, "error": error}
    given = {name: cell(value) for name, value in inputs.items()}
    out.update(given)
    for name, value in flatten(result).items():
        if name in given and given[name] == value:
            continue  # the input again (model, chip, devices): one column
        out[RESULT_PREFIX + name if name in given or name in META or name == KEY else name] = value
    out[KEY] = key
    return out


def _call(command: str, inputs: dict) -> tuple[str, str | None, dict]:
    from .. import api

    args = dict(inputs, top=1) if command == "plan" else dict(inputs)
    try:
        result = _best(api.run(command, args))
    except DoesNotFit as exc:
        return "does_not_fit", str(exc), {}
    except BadInput as exc:
        return "bad_input", str(exc), {}
    except Exception as exc:  # noqa: BLE001 - a bug in one point is recorded; the sweep goes on
        return "error", f"{type(exc).__name__}: {exc}", {}
    data = result.to_dict() if hasattr(result, "to_dict") else {"result": result}
    if data.get("fits") is False:
        reason = result.not_fit_reason() if hasattr(result, "not_fit_reason") else "does not fit"
        return "does_not_fit", reason, data
    return "ok", None, data


def _best(result):
    """The one result a point keeps: a plan search's best plan, a list's first answer."""
    if hasattr(result, "plans") and hasattr(result, "to_list"):  # PlanResult, best first
        if not result.plans:
            raise DoesNotFit("no plan fits")
        return result.plans[0]
    if isinstance(result, list):  # an SLO search: best first, chips with none last as the reason
        if not result:
            raise DoesNotFit("no configuration found")
        if isinstance(result[0], Exception):
            raise result[0]
        return result[0]
    return result


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested mappings into one level, names joined with ``.`` (``breakdown.compute_s``, ``cost.usd``)."""
    out = {}
    for name, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = cell(value)
    return out


def cell(value):
    """A value Parquet stores in a column of one type: numbers, text, yes/no; lists as JSON text."""
    if isinstance(value, float) and math.isnan(value):
        return None  # one spelling of "no value", as a file read back gives it
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), default=str, separators=(",", ":"))
    item = getattr(value, "item", None)  # a numpy scalar
    return item() if callable(item) else str(value)
