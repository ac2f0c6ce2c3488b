"""Rows of a sweep into a pandas DataFrame and a Parquet file, and back (resumption).

The table depends only on its rows: rows sorted by ``point``, then the columns ``point, status, error``, the spec's
inputs in the order written, every result column in name order, and ``key``. A column whose values are of mixed
kinds (a number in one row, text in another) is stored as text. So a sweep run in one go, resumed after an
interruption, run in local processes or on Ray writes the same file.

A write replaces the file whole and at once (a temporary file, then a rename), so an interrupted sweep leaves the
last complete chunk, never half a file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import BadInput
from .points import KEY, META
from .spec import Spec


def pandas():
    """pandas, or one line naming the extra that brings it."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (Parquet)
    except ImportError:
        raise BadInput("a sweep needs pandas and pyarrow (dependencies of xpuplan): pip install pandas pyarrow",
                       "out") from None
    return pd


def frame(rows: list[dict], spec: Spec):
    """The table of ``rows`` (see the module docstring for its order and types)."""
    pd = pandas()
    rows = sorted(rows, key=lambda r: r["point"])
    fixed = set(META) | set(spec.columns) | {KEY}
    results = sorted({name for r in rows for name in r} - fixed)
    columns = [*META, *spec.columns, *results, KEY]
    rows = [{name: r.get(name) for name in columns} for r in rows]  # absent and None alike, fresh or read back
    table = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    for name in table.columns:
        if table[name].dtype == object:
            kinds = {type(v) for v in table[name] if v is not None and not _nan(v)}
            if len(kinds) > 1:  # Parquet holds one type per column
                table[name] = [None if v is None or _nan(v) else str(v) for v in table[name]]
    return table


def _nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def write(table, out: Path) -> None:
    """``table`` to ``out`` as Parquet, replacing the file at once."""
    partial = out.with_name(f".{out.name}.partial")
    table.to_parquet(partial, index=False)
    os.replace(partial, out)


def read_rows(out: Path, spec: Spec) -> dict[str, dict]:
    """The rows already in ``out`` by key, re-numbered in this spec's order; none when the file does not exist.

    Rows with status ``error`` (a bug, or a worker lost) are left out, so they run again. A file with rows of other
    points was written by another spec: refused, so that no result is ever overwritten.
    """
    if not out.exists():
        return {}
    pd = pandas()
    try:
        table = pd.read_parquet(out)
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors have no common base worth naming
        raise BadInput(f"--out {out}: not a Parquet file ({type(exc).__name__}); give a new file or delete it",
                       "out") from None
    if KEY not in table.columns or "status" not in table.columns:
        raise BadInput(f"--out {out}: not a sweep's output (no '{KEY}' column); give a new file", "out")
    index = {p.key: p.index for p in spec.points}
    foreign = [k for k in table[KEY] if k not in index]
    if foreign:
        raise BadInput(f"--out {out}: {len(foreign)} of its rows are points of another spec (e.g. {foreign[0][:120]}); "
                       "give a new --out file, or the spec that wrote it", "out")
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    done = {}
    for record in records:
        if record["status"] == "error":
            continue
        record["point"] = index[record[KEY]]
        done[record[KEY]] = record
    return done
