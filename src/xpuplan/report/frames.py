"""A command's result as rows of a table, written as CSV or Parquet (``--csv FILE``, ``--parquet FILE``).

The rows are the ``--json`` object's: a list gives one row per entry (plans, chips compared, catalog entries), a
fleet plan one per allocation, a validation one per run, anything else one row. Nested mappings become dotted
columns (``breakdown.compute_s``, ``plan.tp``); lists are kept as JSON text; NaN and infinities are empty. pandas
(and pyarrow for Parquet) load only when a file is written, so ``xpuplan --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import BadInput

LIST_KEYS = ("allocation", "runs")
"""the list a mapping's rows are (fleet: its allocation; validate: its runs)"""


def _flat(value, prefix: str, out: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = json.dumps(value, default=str)
    elif isinstance(value, float) and not math.isfinite(value):
        out[prefix] = None
    else:
        out[prefix] = value


def flatten(row) -> dict:
    """One row: nested mappings as dotted columns."""
    out: dict = {}
    _flat(row if isinstance(row, dict) else {"value": row}, "", out)
    return out


def rows(obj) -> list[dict]:
    """The rows of a ``--json`` object."""
    if isinstance(obj, dict):
        for key in LIST_KEYS:
            if isinstance(obj.get(key), list):
                return [flatten(r) for r in obj[key]]
        return [flatten(obj)]
    if isinstance(obj, (list, tuple)):
        return [flatten(r) for r in obj]
    return [flatten(obj)]


def check_targets(paths: dict) -> None:
    """Each file's folder exists (said before any work starts)."""
    for flag, path in paths.items():
        if path is None:
            continue
        folder = Path(path).expanduser().resolve().parent
        if not folder.is_dir():
            raise BadInput(f"--{flag} {path}: folder {folder} does not exist; create it or write elsewhere", flag)


def _frame(table: list[dict]):
    try:
        import pandas as pd
    except ImportError:
        raise BadInput("--csv and --parquet need pandas: pip install pandas pyarrow", "csv") from None
    frame = pd.DataFrame(table)
    for column in frame.columns:  # one type per column, as Parquet needs: mixed text and numbers become text
        kinds = {type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if len(kinds - {int, float}) and len(kinds) > 1:
            frame[column] = [None if v is None else str(v) for v in frame[column]]
    return frame


def write(obj, *, csv: str | None = None, parquet: str | None = None) -> list[str]:
    """Write the rows of ``obj`` to the files asked for; returns the paths written."""
    targets = {"csv": csv, "parquet": parquet}
    check_targets(targets)
    if csv is None and parquet is None:
        return []
    frame = _frame(rows(obj))
    if csv is not None:
        frame.to_csv(Path(csv).expanduser(), index=False)
    if parquet is not None:
        try:
            frame.to_parquet(Path(parquet).expanduser(), index=False)
        except ImportError:
            raise BadInput("--parquet needs pyarrow: pip install pyarrow", "parquet") from None
    return [p for p in (csv, parquet) if p is not None]
